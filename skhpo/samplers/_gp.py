"""Gaussian-process surrogate on the encoded space, in numpy and scipy.

Kernel: ``k(x, x') = s * Matern52(r)`` with ``r**2 = sum_j rho_j * d_j(x, x')``,
``d_j = (x_j - x'_j)**2`` for real and integer columns (integers enter at the centre
of their bin, where every point is snapped) and ``d_j = [x_j != x'_j]`` for
categorical ones (Hamming distance, one length scale per categorical parameter).
The ARD inverse squared length scales ``rho``, the signal variance ``s`` and the
noise variance are fitted by maximizing the log marginal likelihood plus log
priors (those of optuna's GP sampler) with L-BFGS-B and analytic gradients,
warm-started from the previous fit. When the new training points extend the
previous ones by less than 2 %, the hyperparameters are kept and only the kernel
matrix is refactorized (one more point moves the estimates by O(1/n)). Losses are
standardized before fitting.

Conditional spaces get one independent GP per sub-space (a block-diagonal kernel:
points of different sub-spaces are uncorrelated), sharing the standardization.
"""

import contextlib
import copy
import functools
import math

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from ._layout import CATEGORICAL, Layout

__all__ = ["GaussianProcess"]

_MIN_NOISE = 1e-6
_LOG_2PI = math.log(2 * math.pi)
# Bounds of the log hyperparameters: rho (1/length scale**2), s, noise.
_RHO_BOUNDS = (math.log(1e-3), math.log(1e4))
_S_BOUNDS = (math.log(1e-2), math.log(1e2))
_NOISE_BOUNDS = (math.log(1e-9), math.log(2.0))
# Largest number of points the marginal likelihood is maximized on.
_MAX_FIT_POINTS = 300
# Hyperparameters are re-estimated once the training set extending the previous
# one has grown by this fraction (at every new point below 50 points).
_REFIT_GROWTH = 0.02


@functools.cache
def _controller():
    return ThreadpoolController()


def _one_blas_thread(func):
    """Run ``func`` with one BLAS thread: the matrices are small, and threads
    spinning on a machine shared with the estimators' fits only slow it down."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            limit = _controller().limit(limits=1, user_api="blas")
        except Exception:  # pragma: no cover - threadpoolctl cannot inspect
            limit = contextlib.nullcontext()
        with limit:
            return func(*args, **kwargs)

    return wrapper


def _matern52(r2):
    """Matern 5/2 of the squared distance and its derivative w.r.t. r2."""
    r = np.sqrt(np.maximum(5.0 * r2, 0.0))
    e = np.exp(-r)
    de = (-5.0 / 6.0) * (1.0 + r) * e
    k = r * r
    k /= 3.0
    k += r
    k += 1.0
    k *= e
    return k, de


def _matern52_value(r2, scale):
    """``scale * Matern52`` of the squared distance, in place (``r2`` is
    overwritten): the predictions' hot path, without the derivative."""
    r = r2
    r *= 5.0
    np.maximum(r, 0.0, out=r)
    np.sqrt(r, out=r)
    e = np.exp(-r)
    e *= scale
    k = r * r
    k /= 3.0
    k += r
    k += 1.0
    k *= e
    return k


class _GP:
    """A zero-mean GP on one set of columns (no NaN), hyperparameters fixed."""

    def __init__(self, X, z, is_cat, n_values, theta, fixed_noise):
        self.X, self.z = X, z
        self.is_cat, self.n_values = is_cat, n_values
        self.theta, self.fixed_noise = theta, fixed_noise
        d = X.shape[1]
        self.rho = np.exp(theta[:d])
        self.s = math.exp(theta[d])
        self.noise = (
            fixed_noise if fixed_noise is not None else math.exp(theta[d + 1])
        ) + _MIN_NOISE
        self.Z = self._embed(X)
        if len(X):
            K = _matern52_value(self._sqdist(self.Z, self.Z), self.s)
            K[np.diag_indices_from(K)] += self.noise
            self.L = _cholesky(K)
            self.alpha = cho_solve((self.L, True), z, check_finite=False)

    def _embed(self, X):
        """Points whose squared Euclidean distances are sum_j rho_j d_j."""
        parts = []
        cont = ~self.is_cat
        if cont.any():
            parts.append(X[:, cont] * np.sqrt(self.rho[cont]))
        for j in np.flatnonzero(self.is_cat):
            k = self.n_values[j]
            idx = np.minimum((X[:, j] * k).astype(int), k - 1)
            onehot = np.zeros((len(X), k))
            onehot[np.arange(len(X)), idx] = math.sqrt(self.rho[j] / 2.0)
            parts.append(onehot)
        return np.hstack(parts) if parts else np.zeros((len(X), 0))

    @staticmethod
    def _sqdist(A, B):
        d = A @ (-2.0 * B.T)
        d += (A * A).sum(1)[:, None]
        d += (B * B).sum(1)[None, :]
        return np.maximum(d, 0.0, out=d)

    def predict(self, X):
        if len(self.X) == 0:
            return np.zeros(len(X)), np.full(len(X), math.sqrt(self.s))
        Ks = _matern52_value(self._sqdist(self._embed(X), self.Z), self.s)
        mean = Ks @ self.alpha
        V = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = self.s - np.einsum("ij,ij->j", V, V)
        return mean, np.sqrt(np.maximum(var, 1e-12 * self.s))

    def with_points(self, X, z):
        return _GP(
            np.vstack([self.X, X]),
            np.concatenate([self.z, z]),
            self.is_cat,
            self.n_values,
            self.theta,
            self.fixed_noise,
        )


def _cholesky(K):
    jitter = 0.0
    for _ in range(6):
        try:
            return cholesky(K + jitter * np.eye(len(K)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            jitter = max(10 * jitter, 1e-8 * np.mean(np.diag(K)))
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


def _distances(X, is_cat):
    """Per-column distances d_j between training points, shape (d, n, n)."""
    D = X.T[:, :, None] - X.T[:, None, :]
    D = D * D
    D[is_cat] = D[is_cat] > 0
    return D


def _neg_log_posterior(theta, D, z, fixed_noise):
    """Minus (log marginal likelihood + log prior) and its gradient in theta."""
    d, n = D.shape[0], len(z)
    rho = np.exp(theta[:d])
    s = math.exp(theta[d])
    raw_noise = fixed_noise if fixed_noise is not None else math.exp(theta[d + 1])
    noise = raw_noise + _MIN_NOISE
    r2 = np.tensordot(rho, D, axes=1)
    M, dM = _matern52(r2)
    K = s * M
    K[np.diag_indices(n)] += noise
    try:
        L = cholesky(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = cho_solve((L, True), z, check_finite=False)
    nll = 0.5 * z @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * _LOG_2PI
    K_inv, info = dpotri(L, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    K_inv = np.tril(K_inv) + np.tril(K_inv, -1).T
    W = np.outer(alpha, alpha) - K_inv
    grad = np.zeros_like(theta)
    grad[:d] = -0.5 * s * rho * (D.reshape(d, -1) @ (W * dM).ravel())
    grad[d] = -0.5 * s * np.sum(W * M)
    if fixed_noise is None:
        grad[d + 1] = -0.5 * raw_noise * np.trace(W)
    # Priors (optuna's): on rho, -(0.1 / rho + 0.1 * rho); s ~ Gamma(2, 1);
    # noise ~ Gamma(1.1, 30).
    log_prior = -(0.1 / rho + 0.1 * rho).sum() + (math.log(s) - s)
    grad[:d] -= 0.1 / rho - 0.1 * rho
    grad[d] -= 1.0 - s
    if fixed_noise is None:
        log_prior += 0.1 * math.log(noise) - 30.0 * noise
        grad[d + 1] -= (0.1 / noise - 30.0) * raw_noise
    return nll - log_prior, grad


def _default_theta(d, fixed_noise):
    return np.concatenate(
        [np.zeros(d), [0.0], [] if fixed_noise is not None else [math.log(0.01)]]
    )


def _fit_theta(X, z, is_cat, theta0, fixed_noise):
    d = X.shape[1]
    if len(X) > _MAX_FIT_POINTS:
        # Hyperparameters from a random subset (the kernel matrix of every point
        # is only factorized once, after): cubic cost capped, same estimates up to
        # sampling noise.
        keep = np.random.RandomState(len(X)).choice(
            len(X), _MAX_FIT_POINTS, replace=False
        )
        X, z = X[keep], z[keep]
    D = _distances(X, is_cat)
    bounds = [_RHO_BOUNDS] * d + [_S_BOUNDS]
    if fixed_noise is None:
        bounds.append(_NOISE_BOUNDS)
    best = None
    starts = [theta0]
    default = _default_theta(d, fixed_noise)
    if not np.array_equal(theta0, default):
        starts.append(default)
    for start in starts:
        res = minimize(
            _neg_log_posterior,
            np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds]),
            args=(D, z, fixed_noise),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"gtol": 1e-3, "maxiter": 200},
        )
        if best is None or res.fun < best.fun:
            best = res
        if start is theta0 and res.success and res.nit > 0:
            # The warm start converged: no need for the default start.
            break
    return best.x


class GaussianProcess:
    """Gaussian-process surrogate with a Matern 5/2 ARD kernel.

    Used by :class:`Optimizer` with ``surrogate="gp"``. It models a loss on the
    encoded space (``space.encode``) and predicts a mean and a standard deviation.

    Parameters
    ----------
    space : SearchSpace or anything SearchSpace accepts
    noise : float or None, default=None
        Noise variance, relative to the variance of the losses. None fits it
        (cross-validated scores are noisy); a small value such as ``1e-6`` treats
        the objective as deterministic.

    Attributes
    ----------
    length_scales_ : list of ndarray
        Fitted length scales per sub-space, one per column of the sub-space (per
        categorical parameter for categoricals); small means influential.

    Notes
    -----
    The :class:`Optimizer` fits it on power-transformed losses (Yeo-Johnson),
    which tames the heavy tails of hyperparameter searches (diverged fits).
    Integer columns enter the kernel at the centre of their bin, where the
    optimizer snaps every candidate: the GP is continuous but only evaluated on
    valid points. Categorical columns use a Hamming distance with their own length
    scale, as optuna's GP does, rather than one-hot columns. In conditional spaces
    each sub-space has an independent GP on its own columns (points of two
    sub-spaces are uncorrelated) and all share the standardization of the losses.

    Refitting is incremental: the hyperparameters are re-estimated from the
    previous estimates (a warm start), and only when the training points extend
    those of the last estimation by 2 % or more (or are different points); in
    between, :meth:`fit` only conditions on the new data. Below 50 points every
    new point triggers a re-estimation.

    Examples
    --------
    >>> import numpy as np
    >>> from skhpo.samplers import GaussianProcess
    >>> from skhpo.space import Categorical, Real, SearchSpace
    >>> space = SearchSpace({"x": Real(0, 1), "kind": Categorical(["a", "b"])})
    >>> rng = np.random.RandomState(0)
    >>> U = space.encode(space.sample(20, random_state=0))
    >>> y = (U[:, 1] - 0.3) ** 2 + (U[:, 0] > 0.5)
    >>> gp = GaussianProcess(space).fit(U, y)
    >>> mean, std = gp.predict(U[:3], return_std=True)
    >>> bool(np.allclose(mean, y[:3], atol=0.05))
    True
    """

    # Tells the Optimizer to fit on power-transformed losses.
    _target_transform = "power"
    # Margin of the acquisition's incumbent on a plateau of tied best losses.
    _plateau_margin = 0.3

    def __init__(self, space, *, noise=None):
        if noise is not None and not (
            isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0
        ):
            raise ValueError(
                f"noise must be None (fitted) or a variance >= 0, got {noise!r}."
            )
        self.layout = space if isinstance(space, Layout) else Layout(space)
        self.space = self.layout.space
        self.noise = noise
        self._theta = {}  # sub-space -> (hyperparameters, points they were fit on)

    @_one_blas_thread
    def fit(self, U, y):
        """Fit the hyperparameters and condition on ``(U, y)``.

        Parameters
        ----------
        U : array-like of shape (n, n_columns)
            Encoded points; NaN in the columns of other sub-spaces.
        y : array-like of shape (n,)
            Finite losses.

        Returns
        -------
        self
        """
        U, y = self._check(U, y)
        self._mu = float(np.mean(y)) if len(y) else 0.0
        sd = float(np.std(y)) if len(y) else 1.0
        self._sd = sd if sd > 1e-12 else 1.0
        z = (y - self._mu) / self._sd
        layout = self.layout
        sub = layout.subspace_index(U)
        self._models = []
        for s, cols in enumerate(layout.subspace_columns):
            rows = sub == s
            X = U[np.ix_(rows, cols)]
            is_cat = layout.kinds[cols] == CATEGORICAL
            theta, X_fit = self._theta.get(
                s, (_default_theta(len(cols), self.noise), X[:0])
            )
            if len(X) >= 2 and len(cols) and self._needs_refit(X, X_fit):
                theta = _fit_theta(X, z[rows], is_cat, theta, self.noise)
                self._theta[s] = (theta, X)
            model = _GP(X, z[rows], is_cat, layout.n_values[cols], theta, self.noise)
            self._models.append(model)
        return self

    @staticmethod
    def _needs_refit(X, X_fit):
        """Re-estimate the hyperparameters unless ``X`` extends the points they
        were fit on by less than ``_REFIT_GROWTH``."""
        n_fit = len(X_fit)
        return not (
            n_fit
            and len(X) < n_fit * (1 + _REFIT_GROWTH)
            and len(X) >= n_fit
            and np.array_equal(X[:n_fit], X_fit)
        )

    @property
    def length_scales_(self):
        return [1.0 / np.sqrt(m.rho) for m in self._models]

    def _check(self, U, y):
        U = np.asarray(U, dtype=float).reshape(-1, self.layout.n_columns)
        y = np.asarray(y, dtype=float).ravel()
        if len(U) != len(y):
            raise ValueError(
                f"fit got {len(U)} points but {len(y)} losses; pass one per point."
            )
        if not np.isfinite(y).all():
            raise ValueError(
                "GaussianProcess.fit needs finite losses; replace failures by a bad "
                "finite value first (the Optimizer does)."
            )
        return U, y

    @_one_blas_thread
    def predict(self, U, return_std=False):
        """Predictive mean (and standard deviation) of the loss at ``U``.

        Parameters
        ----------
        U : array-like of shape (n, n_columns)
        return_std : bool, default=False

        Returns
        -------
        mean : ndarray of shape (n,)
        std : ndarray of shape (n,), if ``return_std``
            Of the latent function, noise excluded.
        """
        U = np.asarray(U, dtype=float).reshape(-1, self.layout.n_columns)
        mean, std = np.empty(len(U)), np.empty(len(U))
        sub = self.layout.subspace_index(U)
        for s, cols in enumerate(self.layout.subspace_columns):
            rows = np.flatnonzero(sub == s)
            if len(rows):
                mean[rows], std[rows] = self._models[s].predict(U[np.ix_(rows, cols)])
        mean = self._mu + self._sd * mean
        return (mean, self._sd * std) if return_std else mean

    @_one_blas_thread
    def _condition(self, U):
        """A copy conditioned on ``U`` at its own predicted mean (kriging believer),
        hyperparameters unchanged."""
        U = np.asarray(U, dtype=float).reshape(-1, self.layout.n_columns)
        z = (self.predict(U) - self._mu) / self._sd
        new = copy.copy(self)
        new._models = list(self._models)
        sub = self.layout.subspace_index(U)
        for s, cols in enumerate(self.layout.subspace_columns):
            rows = sub == s
            if rows.any():
                new._models[s] = self._models[s].with_points(
                    U[np.ix_(rows, cols)], z[rows]
                )
        return new
