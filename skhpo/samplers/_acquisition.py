"""Acquisition functions and their maximization over the encoded space.

The acquisition functions are pure functions of a surrogate's predictive ``mean``
and ``std`` and of the ``incumbent``, in the convention of scikit-optimize: the
surrogate models a **loss** (lower is better; the :class:`Optimizer` models minus
the score), the incumbent is the lowest loss observed so far. Expected improvement
and probability of improvement are maximized, the lower confidence bound is
minimized.
"""

import math

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from ._layout import Layout

__all__ = [
    "expected_improvement",
    "probability_of_improvement",
    "lower_confidence_bound",
]

_SQRT_HALF_PI = math.sqrt(math.pi / 2)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_LOG2 = math.log(2)


def _z(mean, std, incumbent, xi):
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (incumbent - xi - mean) / std, mean, std


def expected_improvement(mean, std, incumbent, xi=0.0):
    """Expected improvement of a Gaussian prediction over the incumbent loss.

    ``EI = E[max(incumbent - xi - f, 0)]`` for ``f ~ N(mean, std**2)``, that is
    ``std * (z * Phi(z) + phi(z))`` with ``z = (incumbent - xi - mean) / std``.
    Where ``std`` is 0 it is ``max(incumbent - xi - mean, 0)``.

    Parameters
    ----------
    mean, std : array-like
        Predictive mean and standard deviation of the loss (lower is better).
    incumbent : float
        Lowest loss observed so far.
    xi : float, default=0.0
        Improvement required to count; larger values explore more.

    Returns
    -------
    ndarray
        Non-negative; higher is more promising.

    Examples
    --------
    >>> from skhpo.samplers import expected_improvement
    >>> round(float(expected_improvement(0.0, 1.0, incumbent=0.0)), 6)  # phi(0)
    0.398942
    >>> expected_improvement([1.0, -1.0], [0.0, 0.0], incumbent=0.0).tolist()
    [0.0, 1.0]
    """
    z, mean, std = _z(mean, std, incumbent, xi)
    pdf = np.exp(-0.5 * z**2 - _LOG_SQRT_2PI)
    with np.errstate(invalid="ignore"):
        ei = std * (z * ndtr(z) + pdf)
    exact = np.maximum(incumbent - xi - mean, 0.0)
    return np.where(std > 0, np.maximum(ei, 0.0), exact)


def log_expected_improvement(mean, std, incumbent, xi=0.0):
    """Logarithm of :func:`expected_improvement`, accurate far in the tails.

    Used to rank candidates where the expected improvement underflows to 0.
    ``std`` must be positive.
    """
    z, mean, std = _z(mean, std, incumbent, xi)
    z = np.asarray(z, dtype=float)
    # log(z * Phi(z) + phi(z)) = log phi(z) + log(1 + z * Phi(z) / phi(z)), and
    # Phi(z) / phi(z) = sqrt(pi / 2) * erfcx(-z / sqrt(2)) is finite for every z.
    log_phi = -0.5 * z**2 - _LOG_SQRT_2PI
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = 1.0 + z * _SQRT_HALF_PI * erfcx(-z / math.sqrt(2))
        # Asymptotic expansion where the subtraction above loses precision.
        z2 = z * z
        tail = 1.0 / z2 - 3.0 / (z2 * z2) + 15.0 / (z2 * z2 * z2)
        log_h = log_phi + np.log(np.where(z < -30, tail, ratio))
        log_h = np.where(z > 30, np.log(np.maximum(z, 1e-300)), log_h)
    return np.log(std) + log_h


def probability_of_improvement(mean, std, incumbent, xi=0.0):
    """Probability that a Gaussian prediction improves on the incumbent loss.

    ``PI = Phi((incumbent - xi - mean) / std)``; where ``std`` is 0 it is 1 if
    ``mean < incumbent - xi`` and 0 otherwise.

    Parameters
    ----------
    mean, std : array-like
        Predictive mean and standard deviation of the loss (lower is better).
    incumbent : float
        Lowest loss observed so far.
    xi : float, default=0.0
        Improvement required to count.

    Returns
    -------
    ndarray
        In ``[0, 1]``; higher is more promising.

    Examples
    --------
    >>> from skhpo.samplers import probability_of_improvement
    >>> probability_of_improvement([0.0, 1.0], [1.0, 0.0], incumbent=0.0).tolist()
    [0.5, 0.0]
    """
    z, mean, std = _z(mean, std, incumbent, xi)
    exact = (mean < incumbent - xi).astype(float)
    return np.where(std > 0, ndtr(z), exact)


def lower_confidence_bound(mean, std, incumbent=None, kappa=1.96):
    """Lower confidence bound of the loss, ``mean - kappa * std``.

    Parameters
    ----------
    mean, std : array-like
        Predictive mean and standard deviation of the loss (lower is better).
    incumbent : float, default=None
        Ignored; accepted so that every acquisition function has the same
        signature.
    kappa : float, default=1.96
        Weight of the uncertainty; larger values explore more.

    Returns
    -------
    ndarray
        Lower is more promising (the only acquisition function here to be
        minimized).

    Examples
    --------
    >>> from skhpo.samplers import lower_confidence_bound
    >>> lower_confidence_bound([1.0, 0.0], [0.5, 0.0], kappa=2.0).tolist()
    [0.0, 0.0]
    """
    return np.asarray(mean, dtype=float) - kappa * np.asarray(std, dtype=float)


def log_expected_improvement_of_exp(mean, std, incumbent):
    """Logarithm of the expected improvement of ``exp(f)`` over ``exp(incumbent)``.

    For a surrogate of log losses (``f ~ N(mean, std**2)``, so the loss is
    log-normal), the improvement of the loss itself:
    ``EI = exp(incumbent) * Phi(v) - exp(mean + std**2 / 2) * Phi(v - std)`` with
    ``v = (incumbent - mean) / std`` (SMAC's ``EI(log=True)``), computed as
    ``incumbent + log Phi(v) + log(1 - exp(b - log Phi(v)))`` with ``b`` the log
    of the second term over ``exp(incumbent)``. ``std`` must be positive; -inf
    where the improvement underflows.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    v = (incumbent - mean) / std
    a = log_ndtr(v)
    b = mean - incumbent + 0.5 * std**2 + log_ndtr(v - std)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # log(1 - exp(d)) for d = b - a < 0, accurate at both ends.
        d = np.minimum(b - a, 0.0)
        log1mexp = np.where(d > -_LOG2, np.log(-np.expm1(d)), np.log1p(-np.exp(d)))
        out = incumbent + a + log1mexp
    return np.where(np.isnan(out), -np.inf, out)


def utility(name, mean, std, incumbent, log_losses=False):
    """The acquisition ``name`` as a score to maximize, finite where possible.

    EI and PI are ranked by their logarithm so that candidates keep an order where
    the functions themselves underflow to 0. ``log_losses``: the surrogate
    predicts log losses, and EI is that of the losses themselves
    (:func:`log_expected_improvement_of_exp`).
    """
    std = np.maximum(std, 1e-12)
    if name == "ei":
        if log_losses:
            return log_expected_improvement_of_exp(mean, std, incumbent)
        return log_expected_improvement(mean, std, incumbent)
    if name == "pi":
        return log_ndtr((incumbent - np.asarray(mean)) / std)
    return -lower_confidence_bound(mean, std)


def maximize(func, layout, rng, seeds=None, n_random=1000, n_starts=5, n_steps=6):
    """Maximize ``func`` over the encoded space by random search and local moves.

    ``n_random`` uniform candidates and as many neighbours of the ``seeds`` (for
    instance the best points observed) are scored; the best ``n_starts`` are then
    refined by a stochastic hill climb whose Gaussian steps shrink from 0.1 to
    0.005 (integers and categories are snapped, categories flipped at random).

    Parameters
    ----------
    func : callable
        Maps encoded points ``(n, n_columns)`` to the values to maximize.
    layout : Layout
    rng : RandomState
    seeds : ndarray of shape (n_seeds, n_columns), default=None
    n_random, n_starts, n_steps : int

    Returns
    -------
    U : ndarray of shape (n_evaluated, n_columns)
        Every evaluated point, best first.
    values : ndarray of shape (n_evaluated,)
    """
    pool = [layout.sample(n_random, rng)]
    if seeds is not None and len(seeds):
        per_seed = max(1, n_random // (2 * len(seeds)))
        pool.append(layout.perturb(np.repeat(seeds, per_seed, axis=0), rng, 0.1))
    U = np.vstack(pool)
    values = np.asarray(func(U), dtype=float)
    all_U, all_values = [U], [values]

    order = np.argsort(-values, kind="stable")
    starts = _distinct(U[order], n_starts)
    X, fx = U[order][starts], values[order][starts]
    n_neighbours = 24
    for scale in np.geomspace(0.1, 0.005, n_steps):
        N = layout.perturb(np.repeat(X, n_neighbours, axis=0), rng, scale)
        fn = np.asarray(func(N), dtype=float)
        all_U.append(N)
        all_values.append(fn)
        fn = fn.reshape(len(X), n_neighbours)
        best = np.argmax(fn, axis=1)
        better = fn[np.arange(len(X)), best] > fx
        X[better] = N.reshape(len(X), n_neighbours, -1)[better, best[better]]
        fx[better] = fn[better, best[better]]

    U, values = np.vstack(all_U), np.concatenate(all_values)
    values = np.where(np.isnan(values), -np.inf, values)
    order = np.argsort(-values, kind="stable")
    return U[order], values[order]


def _distinct(U, n):
    """Indices of the first ``n`` distinct rows of ``U``."""
    seen, out = set(), []
    for i, key in enumerate(Layout.keys(U[: 50 * n])):
        if key not in seen:
            seen.add(key)
            out.append(i)
            if len(out) == n:
                break
    return np.array(out, dtype=int)
