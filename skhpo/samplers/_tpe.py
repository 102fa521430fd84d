"""Tree-structured Parzen estimator (TPE), in the encoded space.

Bergstra, Bardenet, Bengio and Kegl, "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011; the multivariate variant of Falkner, Klein and Hutter
(BOHB, ICML 2018) as optuna implements it (``TPESampler(multivariate=True)``).

The observations are split by loss into a good group (the best ``gamma(n)``) and a
bad group. Each group is modelled by a Parzen estimator ``l(x)`` (good) and
``g(x)`` (bad): a weighted mixture with one kernel per observation plus a prior
kernel. Candidates are drawn from ``l`` and the one maximizing ``l(x) / g(x)`` is
proposed, which maximizes expected improvement under the TPE model.

Kernels live in the unit interval of the encoding: truncated Gaussians for real
dimensions (log scales are already linear in the encoding), Gaussians integrated
over each value's bin for integers, and optuna's categorical kernel (mass 1 on the
observed choice plus ``prior_weight / n_kernels`` on every choice, normalized).
Failed observations (non-finite losses) and pending points always belong to the
bad group: the sampler steers away from them. Failures also train a classifier of
success (the ratio of Parzen estimators of successful and failed points) whose log
probability is added to the score, as constrained EI multiplies EI by the
probability of feasibility.
"""

import math
import numbers

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri
from sklearn.utils import check_random_state

from ._layout import CATEGORICAL, INTEGER, Layout

__all__ = ["TreeParzenEstimator", "default_gamma", "default_weights"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def default_gamma(n):
    """Size of the good group among ``n`` observations.

    10 % of the observations, rounded up, at most 25 (optuna's default).

    Examples
    --------
    >>> from skhpo.samplers import default_gamma
    >>> default_gamma(10), default_gamma(101), default_gamma(1000)
    (1, 11, 25)
    """
    return min(math.ceil(0.1 * n), 25)


def default_weights(n):
    """Kernel weights of ``n`` observations of a group, oldest first.

    The 25 latest observations weigh 1, older ones linearly less (hyperopt's and
    optuna's default), so that the estimator follows the search as it moves.

    Examples
    --------
    >>> from skhpo.samplers import default_weights
    >>> default_weights(3).tolist()
    [1.0, 1.0, 1.0]
    >>> w = default_weights(30)
    >>> float(w[0]), float(w[-1])
    (0.0333..., 1.0)
    """
    if n == 0:
        return np.empty(0)
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


def _log1mexp(x):
    """log(1 - exp(x)) for x <= 0."""
    x = np.minimum(x, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(x > -math.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _log_gauss_mass(a, b):
    """log(Phi(b) - Phi(a)) for a <= b, accurate in both tails."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    # Mirror intervals on the right of 0 to the left, where Phi is accurate.
    right = a > 0
    lo = np.where(right, -b, a)
    hi = np.where(right, -a, b)
    mass = ndtr(hi) - ndtr(lo)
    with np.errstate(divide="ignore"):
        out = np.log(mass)
    tiny = mass < 1e-8
    if tiny.any():
        # Tiny masses in log space: log Phi(hi) + log(1 - Phi(lo) / Phi(hi)).
        lo, hi = lo[tiny], hi[tiny]
        log_hi = log_ndtr(hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[tiny] = log_hi + _log1mexp(log_ndtr(lo) - log_hi)
    return out


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


class _Parzen:
    """Mixture of product kernels over some columns: one kernel per observation
    and one prior kernel (uniform-ish: a wide Gaussian, uniform choices)."""

    def __init__(self, layout, cols, X, weights, params):
        prior_weight, multivariate, magic_clip = params
        self.layout = layout
        self.cols = np.asarray(cols)
        self.multivariate = multivariate
        kinds = layout.kinds[self.cols]
        n = len(X)
        w = np.append(weights, prior_weight) if n else np.ones(1)
        n_k = len(w)
        with np.errstate(divide="ignore"):
            self.log_w = np.log(w / w.sum())
        self.w = np.exp(self.log_w)

        self.num = np.flatnonzero(kinds != CATEGORICAL)
        self.is_int = kinds[self.num] == INTEGER
        mus = X[:, self.num]
        sigmas = self._sigmas(mus, n_k, magic_clip)
        self.mu = np.vstack([mus, np.full((1, len(self.num)), 0.5)])
        self.sigma = np.vstack([sigmas, np.ones((1, len(self.num)))])
        self.log_z = _log_gauss_mass(-self.mu / self.sigma, (1 - self.mu) / self.sigma)

        self.cat = np.flatnonzero(kinds == CATEGORICAL)
        self.cat_w = []
        for c in self.cat:
            k = layout.n_values[self.cols[c]]
            W = np.full((n_k, k), prior_weight / n_k)
            idx = np.minimum((X[:, c] * k).astype(int), k - 1)
            W[np.arange(n), idx] += 1.0
            if n == 0 or prior_weight == 0:
                W[-1] = 1.0
            W /= W.sum(axis=1, keepdims=True)
            self.cat_w.append(W)
        with np.errstate(divide="ignore"):
            self.cat_log_w = [np.log(W) for W in self.cat_w]

    @staticmethod
    def _sigmas(mus, n_k, magic_clip):
        """Bandwidth of each kernel: distance to its farther neighbour along each
        column, box ends included (hyperopt's heuristic, with optuna's
        consider_endpoints=False), clipped to ``[1 / min(100, n_k + 1), 1]``."""
        n = len(mus)
        if n == 0:
            return np.empty((0, mus.shape[1]))
        order = np.argsort(mus, axis=0, kind="stable")
        s = np.take_along_axis(mus, order, axis=0)
        ends = np.vstack([np.zeros((1, s.shape[1])), s, np.ones((1, s.shape[1]))])
        sorted_sig = np.maximum(ends[1:-1] - ends[:-2], ends[2:] - ends[1:-1])
        if len(ends) >= 4:
            sorted_sig[0] = ends[2] - ends[1]
            sorted_sig[-1] = ends[-2] - ends[-3]
        sigmas = np.empty_like(sorted_sig)
        np.put_along_axis(sigmas, order, sorted_sig, axis=0)
        low = 1.0 / min(100.0, 1.0 + n_k) if magic_clip else 1e-12
        return np.clip(sigmas, low, 1.0)

    def bin_edges(self, X):
        """Encoded bins of the integer values of ``X``, per column position."""
        return {
            j: self.layout.bin_edges(self.cols[j], X[:, j])
            for i, j in enumerate(self.num)
            if self.is_int[i]
        }

    def _log_kernels(self, X, edges=None):
        """Per-column log densities, shape (n_columns, n_points, n_kernels)."""
        m = len(X)
        out = np.empty((len(self.cols), m, len(self.w)))
        if edges is None:
            edges = self.bin_edges(X)
        for i, j in enumerate(self.num):
            x = X[:, j][:, None]
            mu, sigma = self.mu[:, i], self.sigma[:, i]
            if self.is_int[i]:
                lo, hi = edges[j]
                lp = _log_gauss_mass(
                    (lo[:, None] - mu) / sigma, (hi[:, None] - mu) / sigma
                )
            else:
                z = (x - mu) / sigma
                lp = -0.5 * z * z - np.log(sigma) - _LOG_SQRT_2PI
            out[j] = lp - self.log_z[:, i]
        for c, log_w in zip(self.cat, self.cat_log_w):
            k = log_w.shape[1]
            idx = np.minimum((X[:, c] * k).astype(int), k - 1)
            out[c] = log_w[:, idx].T
        return out

    def log_pdf(self, X, edges=None):
        """Log density of each row (multivariate) or of each value (per column,
        shape (n_points, n_columns), univariate)."""
        logs = self._log_kernels(X, edges)
        if self.multivariate:
            return _logsumexp(self.log_w + logs.sum(axis=0), axis=1)
        return _logsumexp(self.log_w + logs, axis=2).T

    def sample(self, rng, m):
        n_k, d = len(self.w), len(self.cols)
        if self.multivariate:
            comp = np.repeat(rng.choice(n_k, size=(m, 1), p=self.w), d, axis=1)
        else:
            comp = rng.choice(n_k, size=(m, d), p=self.w)
        out = np.empty((m, d))
        for i, j in enumerate(self.num):
            mu, sigma = self.mu[comp[:, j], i], self.sigma[comp[:, j], i]
            a, b = ndtr(-mu / sigma), ndtr((1 - mu) / sigma)
            x = mu + sigma * ndtri(a + rng.uniform(size=m) * (b - a))
            out[:, j] = np.clip(x, 0.0, 1.0)
        for c, W in zip(self.cat, self.cat_w):
            cum = np.cumsum(W[comp[:, c]], axis=1)
            r = rng.uniform(size=(m, 1)) * cum[:, -1:]
            idx = np.minimum((cum < r).sum(axis=1), W.shape[1] - 1)
            out[:, c] = (idx + 0.5) / W.shape[1]
        return out


class TreeParzenEstimator:
    """Tree-structured Parzen estimator over an encoded search space.

    Used by :class:`Optimizer` with ``surrogate="tpe"``; it can also be used on its
    own: :meth:`fit` on encoded points and their losses, then :meth:`propose`.

    Parameters
    ----------
    space : SearchSpace or anything SearchSpace accepts
    gamma : callable, default=None
        ``gamma(n)`` is the number of observations in the good group out of ``n``;
        None uses :func:`default_gamma`, 10 % of them up to 25.
    prior_weight : float, default=1.0
        Weight of the prior kernel relative to one observation.
    n_ei_candidates : int, default=24
        Number of candidates drawn from ``l(x)`` per proposal; more candidates
        exploit more.
    multivariate : bool, default=True
        Model the dimensions jointly (one product kernel per observation), which
        captures interactions between hyperparameters; if False, model and choose
        each dimension on its own as the original TPE does. Either way the
        bandwidth of a kernel along a dimension is the distance to its farther
        neighbour (hyperopt's heuristic, which optuna 5 uses in both modes).
    consider_magic_clip : bool, default=True
        Keep every bandwidth above ``1 / min(100, n_kernels + 1)`` of the range.

    Notes
    -----
    Conditional spaces (several sub-spaces) are decomposed as optuna does with
    ``group=True``: one estimator over the sub-space selector, fitted on every
    observation, and one per sub-space over its own dimensions, fitted on the
    observations of that sub-space. A candidate picks a sub-space from the
    selector's ``l``, then values from that sub-space's ``l``; its score is the sum
    of the two log ratios. Points never mix sub-spaces.

    Examples
    --------
    >>> import numpy as np
    >>> from skhpo.samplers import TreeParzenEstimator
    >>> from skhpo.space import Real, SearchSpace
    >>> space = SearchSpace({"x": Real(-5, 5)})
    >>> rng = np.random.RandomState(0)
    >>> U = rng.uniform(size=(30, 1))
    >>> x = -5 + 10 * U[:, 0]  # what space.decode(U) gives
    >>> tpe = TreeParzenEstimator(space).fit(U, (x - 2) ** 2)
    >>> candidates, scores = tpe.propose(random_state=0)
    >>> abs(space.decode(candidates[0])["x"] - 2) < 1
    True
    """

    def __init__(
        self,
        space,
        *,
        gamma=None,
        prior_weight=1.0,
        n_ei_candidates=24,
        multivariate=True,
        consider_magic_clip=True,
    ):
        if gamma is not None and not callable(gamma):
            raise ValueError(
                f"gamma must be a callable n -> number of good observations, or "
                f"None for the default; got {gamma!r}."
            )
        if (
            not isinstance(prior_weight, numbers.Real)
            or not math.isfinite(prior_weight)
            or prior_weight < 0
        ):
            raise ValueError(
                f"prior_weight must be a finite number >= 0, got {prior_weight!r}."
            )
        if (
            not isinstance(n_ei_candidates, numbers.Integral)
            or isinstance(n_ei_candidates, bool)
            or n_ei_candidates < 1
        ):
            raise ValueError(
                f"n_ei_candidates must be an integer >= 1, got {n_ei_candidates!r}."
            )
        self.layout = space if isinstance(space, Layout) else Layout(space)
        self.space = self.layout.space
        self.gamma = gamma
        self.prior_weight = float(prior_weight)
        self.n_ei_candidates = int(n_ei_candidates)
        self.multivariate = bool(multivariate)
        self.consider_magic_clip = bool(consider_magic_clip)

    def fit(self, U, losses, pending=None):
        """Split the observations and build the two Parzen estimators.

        Parameters
        ----------
        U : array-like of shape (n, n_columns)
            Encoded points (``space.encode``).
        losses : array-like of shape (n,)
            Lower is better. Non-finite losses (failures) go to the bad group.
        pending : array-like of shape (n_pending, n_columns), default=None
            Points being evaluated: they join the bad group (constant liar) without
            counting in ``gamma(n)``.

        Returns
        -------
        self
        """
        layout = self.layout
        U = np.asarray(U, dtype=float).reshape(-1, layout.n_columns)
        losses = np.asarray(losses, dtype=float).ravel()
        if len(U) != len(losses):
            raise ValueError(
                f"fit got {len(U)} points but {len(losses)} losses; pass one loss "
                "per point."
            )
        gamma = self.gamma or default_gamma
        n_below = int(gamma(len(losses)))
        n_pending = 0
        if pending is not None and len(pending):
            pending = np.asarray(pending, dtype=float).reshape(-1, layout.n_columns)
            n_pending = len(pending)
            U = np.vstack([U, pending])
            losses = np.concatenate([losses, np.full(n_pending, np.inf)])
        n = len(losses)
        finite = np.isfinite(losses)
        n_below = int(min(max(n_below, 0), finite.sum()))
        order = np.argsort(np.where(finite, losses, np.inf), kind="stable")
        below = np.zeros(n, dtype=bool)
        below[order[:n_below]] = True
        self._groups = self._build(U, below, ~below)

        # Failures (not pending points) also train a classifier of success,
        # P(ok | x) from the Parzen estimators of successes and of failures.
        failed = ~finite
        failed[len(failed) - n_pending :] = False
        self._feasibility = None
        if failed.any():
            self._feasibility = (
                self._build(U, finite, failed),
                math.log(finite.sum() / failed.sum()) if finite.any() else -np.inf,
            )
        return self

    def _build(self, U, first, second):
        """Pairs of Parzen estimators of the rows ``first`` and ``second``, per
        group of columns: all of them, or the sub-space selector and each
        sub-space of a conditional space."""
        layout = self.layout
        params = (self.prior_weight, self.multivariate, self.consider_magic_clip)
        all_rows = np.ones(len(U), dtype=bool)
        if layout.conditional:
            sub = layout.subspace_index(U)
            groups = [(np.array([0]), all_rows)] + [
                (cols, sub == s) for s, cols in enumerate(layout.subspace_columns)
            ]
        else:
            groups = [(np.arange(layout.n_columns), all_rows)]
        pairs = []
        for cols, rows in groups:
            pair = []
            for mask in (first & rows, second & rows):
                X = U[np.ix_(mask, cols)]
                pair.append(_Parzen(layout, cols, X, default_weights(len(X)), params))
            pairs.append(tuple(pair))
        return pairs

    def _group_score(self, g, X, per_column=False, groups=None):
        first, second = (groups or self._groups)[g]
        edges = first.bin_edges(X)
        ratio = first.log_pdf(X, edges) - second.log_pdf(X, edges)
        if self.multivariate or per_column:
            return ratio
        return ratio.sum(axis=1)

    def _log_ratio(self, U, groups):
        layout = self.layout
        if not layout.conditional:
            return self._group_score(0, U, groups=groups)
        out = self._group_score(0, U[:, :1], groups=groups)
        sub = layout.subspace_index(U)
        for s, cols in enumerate(layout.subspace_columns):
            rows = np.flatnonzero(sub == s)
            if len(rows) and len(cols):
                out[rows] += self._group_score(
                    s + 1, U[np.ix_(rows, cols)], groups=groups
                )
        return out

    def score(self, U):
        """``log l(x) - log g(x)`` of encoded points: higher is more promising.

        When some observations failed, ``log P(ok | x)`` is added, the
        probability that ``x`` does not fail according to the Parzen estimators of
        the successful and of the failed points (as constrained EI multiplies EI by
        the probability of feasibility).

        Parameters
        ----------
        U : array-like of shape (n, n_columns)

        Returns
        -------
        ndarray of shape (n,)
        """
        U = np.asarray(U, dtype=float).reshape(-1, self.layout.n_columns)
        out = self._log_ratio(U, self._groups)
        if self._feasibility is not None:
            groups, log_prior_odds = self._feasibility
            odds = log_prior_odds + self._log_ratio(U, groups)
            out = out - np.logaddexp(0.0, -odds)
        return out

    def sample(self, n, random_state=None):
        """Draw ``n`` encoded points from ``l(x)``, the model of the good group."""
        rng = check_random_state(random_state)
        layout = self.layout
        U = np.full((n, layout.n_columns), np.nan)
        if not layout.conditional:
            U[:] = self._groups[0][0].sample(rng, n)
            return layout.snap(U)
        U[:, :1] = self._groups[0][0].sample(rng, n)
        sub = layout.subspace_index(U)
        for s, cols in enumerate(layout.subspace_columns):
            rows = np.flatnonzero(sub == s)
            if len(rows) and len(cols):
                U[np.ix_(rows, cols)] = self._groups[s + 1][0].sample(rng, len(rows))
        return layout.snap(U)

    def propose(self, random_state=None):
        """Candidates drawn from ``l(x)``, best ``l(x) / g(x)`` first.

        Returns
        -------
        U : ndarray of shape (n_candidates, n_columns)
        scores : ndarray of shape (n_candidates,)
            ``log l(x) - log g(x)``.
        """
        rng = check_random_state(random_state)
        U = self.sample(self.n_ei_candidates, rng)
        scores = self.score(U)
        if not self.multivariate:
            # Univariate TPE picks the best value of each dimension on its own.
            best = self._best_per_column(U, rng)
            U = np.vstack([best, U])
            scores = np.concatenate([self.score(best), scores])
        order = np.argsort(-scores, kind="stable")
        return U[order], scores[order]

    def _best_per_column(self, U, rng):
        layout = self.layout
        if not layout.conditional:
            ratio = self._group_score(0, U, per_column=True)
            return U[np.argmax(ratio, axis=0), np.arange(layout.n_columns)][None]
        best = np.full((1, layout.n_columns), np.nan)
        ratio = self._group_score(0, U[:, :1], per_column=True)
        best[0, 0] = U[np.argmax(ratio[:, 0]), 0]
        s = layout.subspace_index(best)[0]
        cols = layout.subspace_columns[s]
        if len(cols):
            X = self._groups[s + 1][0].sample(rng, self.n_ei_candidates)
            X = layout.snap(_embed(X, cols, best[0, 0], layout))[:, cols]
            ratio = self._group_score(s + 1, X, per_column=True)
            best[0, cols] = X[np.argmax(ratio, axis=0), np.arange(len(cols))]
        return best


def _embed(X, cols, selector, layout):
    U = np.full((len(X), layout.n_columns), np.nan)
    U[:, 0] = selector
    U[:, cols] = X
    return U
