"""Ask/tell Bayesian optimization over a search space."""

import math
import numbers
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from ..space import SearchSpace
from ._acquisition import maximize, utility
from ._forest import RandomForest
from ._gp import GaussianProcess
from ._layout import Layout, default_n_initial_points
from ._tpe import TreeParzenEstimator

__all__ = ["Optimizer", "Observation", "SURROGATES", "ACQUISITIONS"]

SURROGATES = ("random", "tpe", "gp", "rf")
ACQUISITIONS = ("ei", "pi", "lcb")

# Acquisition maximization: uniform candidates, best observations used as seeds.
_N_CANDIDATES = 1000
_N_SEEDS = 5
# Small finite spaces: the acquisition is maximized over every unseen point.
_EXHAUSTIVE_LIMIT = 4096
# ask gives up after this many fallback points that all decode to points seen
# (a distribution whose ppf takes few values, seen as continuous).
_MAX_REDRAWS = 100
# Told points tied at the best loss that make a plateau (see Optimizer's Notes).
_PLATEAU_TIES = 3
# The forest proposes a random point when this many of the last told losses
# (_RECENT) tie at the best: it is sampling a plateau (see Optimizer's Notes).
_RECENT, _RECENT_TIES = 5, 3


def _log_transform(y):
    """SMAC's log scaling: ``log((y - floor) / (max - floor))``, whose floor lies
    below the minimum by the distance from the minimum to the 5th percentile,
    plus 1e-10 of the range (the floor stays below the minimum where the two
    coincide). The differences among the best losses are stretched, the tail of
    bad ones compressed."""
    low, high = y.min(), y.max()
    if not high > low:
        return np.zeros_like(y)
    floor = low - (np.percentile(y, 5) - low) - 1e-10 * (high - low)
    return np.log((y - floor) / (high - floor))


# Exponents tried by the power transform (0 and 2, its special cases, excluded).
_LAMBDAS = np.linspace(-1.95, 3.95, 60)


def _power_transform(y):
    """Standardize, then Yeo-Johnson with the maximum-likelihood exponent (on a
    grid of step 0.1): tames heavy tails (diverged fits) while keeping the shape
    of smooth losses."""
    sd = y.std()
    if not sd > 0:
        return np.zeros_like(y)
    x = (y - y.mean()) / sd
    pos = x >= 0
    lam = _LAMBDAS[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.where(
            pos,
            np.expm1(lam * np.log1p(np.abs(x))) / lam,
            -np.expm1((2 - lam) * np.log1p(np.abs(x))) / (2 - lam),
        )
        log_lik = -0.5 * len(x) * np.log(t.var(axis=1)) + (_LAMBDAS - 1) * np.sum(
            np.sign(x) * np.log1p(np.abs(x))
        )
    log_lik = np.where(np.all(np.isfinite(t), axis=1), log_lik, -np.inf)
    if not np.isfinite(log_lik).any():
        return x
    t = t[int(np.nanargmax(log_lik))]
    return (t - t.mean()) / (t.std() or 1.0)


_TRANSFORMS = {"log": _log_transform, "power": _power_transform}


class Observation(NamedTuple):
    """One told evaluation, as stored in :attr:`Optimizer.history`.

    Attributes
    ----------
    params : dict
        The parameters, as told.
    score : float
        The score as told (higher is better); NaN or infinite for a failure.
    """

    params: dict
    score: float


class Optimizer:
    """Sequential model-based (Bayesian) optimization with an ask/tell interface.

    The optimizer proposes parameter dicts with :meth:`ask` and learns from their
    scores with :meth:`tell`. As in scikit-learn, a **higher score is better**
    (tell it ``cv_results_["mean_test_score"]``, or minus a loss). It is pure
    policy: it never evaluates anything and can drive a sequential loop, batches
    or an asynchronous pool of workers.

    Parameters
    ----------
    space : SearchSpace, dict or list of dicts
        Anything :class:`~skhpo.space.SearchSpace` accepts. A list of dicts is a
        conditional space: proposals always belong to exactly one sub-space.
    surrogate : {"tpe", "gp", "rf", "random"} or object, default="tpe"
        The model that decides where to look next:

        - ``"tpe"``: tree-structured Parzen estimator
          (:class:`TreeParzenEstimator`); cheapest, robust on mixed and
          conditional spaces.
        - ``"gp"``: Gaussian process with a Matern 5/2 ARD kernel
          (:class:`GaussianProcess`); the most sample-efficient on small
          continuous spaces, cubic in the number of observations.
        - ``"rf"``: random forest with the trees' spread as uncertainty
          (:class:`RandomForest`, as in SMAC); suited to many categorical
          dimensions.
        - ``"random"``: uniform random search, the baseline.
        - an object with ``fit(U, y)`` and ``predict(U, return_std=True)`` on the
          encoded space (NaN in the columns of other sub-spaces) and losses
          (lower is better).
    acquisition : {"ei", "pi", "lcb"}, default="ei"
        Expected improvement, probability of improvement or lower confidence
        bound (kappa 1.96), see :func:`expected_improvement`. TPE maximizes
        ``l(x) / g(x)``, which is equivalent to both EI and PI, and has no LCB;
        the random surrogate ignores it.
    n_initial_points : int, default=None
        Points of an initial design before the model is used (counting told
        and pending points, so that parallel workers all get design points
        first): a Latin hypercube, which covers every dimension evenly where
        independent random points leave gaps.
        The default, at most half of a finite grid, is 10 for TPE (optuna's
        ``n_startup_trials``) and ``2 * n_dims`` clipped to ``[10, 20]`` for the
        GP and the forest (about two points per length scale), which leaves most
        of a typical 50-100 evaluation budget to the model.
    random_state : int, RandomState instance or None, default=None
        Same seed and same tells give the same asks.
    **surrogate_options
        Passed to the surrogate's class: for instance ``gamma``, ``prior_weight``,
        ``n_ei_candidates`` or ``multivariate`` for TPE, ``noise`` for the GP,
        ``n_estimators`` or ``kind`` for the forest.

    Attributes
    ----------
    history : list of Observation
        Every told ``(params, score)``, in the order told.
    pending : list of dict
        Points asked but not told yet.
    n_told : int
    best_params : dict or None
        Parameters of the best finite score told; None before any.
    best_score : float
        Best finite score told; NaN before any.
    n_initial_points : int
        The number of initial (design) points actually used.

    Notes
    -----
    **Pending points.** Points asked and not yet told steer later asks away: TPE
    counts them in its bad group (constant liar, as optuna), the GP conditions on
    them at its own predicted mean (kriging believer), the forest on the mean
    observed loss (constant liar). A batch ``ask(n)`` adds its points as pending
    one by one, so a batch is spread out, and an asynchronous executor can call
    ``ask(1)`` whenever a worker frees up.

    **Failures.** Non-finite scores (NaN, ``-inf``, ``+inf``) are failures: they
    are kept in :attr:`history`, TPE puts them in its bad group and model
    surrogates see them as a loss worse than the worst finite one by 10 % of the
    range. Telling never raises for a failed score.

    **Model targets.** Model surrogates see losses (minus the scores). The GP is
    fitted on their Yeo-Johnson power transform (standardized, exponent by
    maximum likelihood) and the forest on their logarithm as SMAC scales it
    (the losses less a floor just below the best one, over their range), so
    that a few diverged fits do not flatten the model where the good scores
    are; the incumbent of the acquisition is transformed alike. The forest's
    expected improvement is then that of the losses themselves, whose
    prediction is log-normal, as in SMAC's hyperparameter-optimization
    facade. On the 18-problem benchmark of ``benchmarks/bench_smbo.py`` (50
    evaluations, seeds 0-19) this scored 0.4 +- 0.4 points above the forest on
    normal scores of the ranks with Gaussian expected improvement (figures in
    ``benchmarks/README.md``).

    **Plateaus.** When three or more told points tie at the best loss (distinct
    parameters that give one model, such as decision trees pruned to the same
    stump), more points on that plateau cannot improve on it, yet expected
    improvement keeps finding them attractive. The GP then measures improvement
    from 0.3 standard deviations (of its transformed losses) below the best loss,
    which sends the search beyond the plateau. On the 18-problem benchmark of
    ``benchmarks/bench_smbo.py`` (50 evaluations, seeds 10-19, chosen on seeds
    0-9) this raised the GP's mean normalized score by 0.5 points. The forest,
    for which the same rule made no difference, is certain instead that the
    plateau's region is the best one and keeps sampling it: when three of the
    last five told losses tie exactly at the best, its next point is drawn at
    random. On DT-diabetes-mse that cut the runs stuck on the stump plateau from
    7 to 2 of 30; over the 18 problems, +0.5 (seeds 0-9) and +0.1 (seeds 10-19)
    points.

    **Duplicates and finite spaces.** :meth:`ask` never returns a point that was
    told or is pending, nor twice the same point in a batch. When every point of
    a finite space has been told or is pending, :meth:`ask` returns fewer points
    than requested (an empty list once nothing is left): a loop can stop on an
    empty batch. Points told without being asked (warm start, resume) count as
    seen too.

    **Conditional spaces.** Proposals pick one sub-space and values in it. TPE
    decomposes the model into the sub-space selector and one estimator per
    sub-space; the GP fits one independent GP per sub-space; the forest sees
    inactive columns as -1. Candidates for the acquisition are drawn per
    sub-space and local moves never leave it.

    Examples
    --------
    >>> from skhpo.samplers import Optimizer
    >>> from skhpo.space import Real
    >>> opt = Optimizer({"x": Real(-5, 5), "kind": ["a", "b"]}, random_state=0)
    >>> for _ in range(15):
    ...     batch = opt.ask(2)
    ...     scores = [-(p["x"] - 1) ** 2 - (p["kind"] == "b") for p in batch]
    ...     opt.tell(batch, scores)
    >>> opt.n_told
    30
    >>> opt.best_params["kind"], round(opt.best_params["x"])
    ('a', 1)
    """

    def __init__(
        self,
        space,
        surrogate="tpe",
        acquisition="ei",
        n_initial_points=None,
        random_state=None,
        **surrogate_options,
    ):
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self._layout = Layout(self.space)
        self.surrogate = surrogate
        self.acquisition = acquisition
        self.random_state = random_state
        self._check_acquisition(surrogate, acquisition)
        if n_initial_points is None:
            n_initial_points = default_n_initial_points(self._layout, surrogate)
        elif (
            not isinstance(n_initial_points, numbers.Integral)
            or isinstance(n_initial_points, bool)
            or n_initial_points < 1
        ):
            raise ValueError(
                f"n_initial_points must be an integer >= 1 (or None for the "
                f"default), got {n_initial_points!r}."
            )
        self.n_initial_points = int(n_initial_points)
        self._rng = check_random_state(random_state)
        self._model = self._build_surrogate(surrogate, surrogate_options)

        self.history = []
        self._U = np.empty((0, self._layout.n_columns))
        self._scores = np.empty(0)
        self._told_keys = set()
        # Encoded points whose parameters are those of a point already seen (two
        # sub-spaces sharing parameters): never proposed.
        self._merged_keys = set()
        self._pending = {}  # key -> (params, encoded row)
        self._version = 0  # bumped by every tell
        self._fitted_version = None
        self._design = None  # initial Latin hypercube, drawn at the first ask
        self._n_design = 0  # its points used so far

    # -- construction --------------------------------------------------------

    @staticmethod
    def _check_acquisition(surrogate, acquisition):
        if acquisition not in ACQUISITIONS:
            raise ValueError(
                f"Unknown acquisition {acquisition!r}; expected one of "
                f"{', '.join(map(repr, ACQUISITIONS))}."
            )
        if isinstance(surrogate, str) and surrogate not in SURROGATES:
            raise ValueError(
                f"Unknown surrogate {surrogate!r}; expected one of "
                f"{', '.join(map(repr, SURROGATES))}, or an object with fit(U, y) "
                "and predict(U, return_std=True)."
            )
        if surrogate == "tpe" and acquisition == "lcb":
            raise ValueError(
                "acquisition='lcb' needs a surrogate with a predictive mean and "
                "standard deviation; TPE has neither. Use surrogate='gp' or 'rf' "
                "with 'lcb', or acquisition='ei' with TPE."
            )
        if not isinstance(surrogate, str) and not (
            callable(getattr(surrogate, "fit", None))
            and callable(getattr(surrogate, "predict", None))
        ):
            raise ValueError(
                f"surrogate must be one of {', '.join(map(repr, SURROGATES))} or an "
                f"object with fit(U, y) and predict(U, return_std=True); got "
                f"{surrogate!r}."
            )

    def _build_surrogate(self, surrogate, options):
        if not isinstance(surrogate, str):
            if options:
                raise ValueError(
                    f"Options {sorted(options)} were given with a surrogate object; "
                    "set them on the object instead."
                )
            return surrogate
        if surrogate == "random":
            if options:
                raise ValueError(
                    f"surrogate='random' takes no options, got {sorted(options)}."
                )
            return None
        try:
            if surrogate == "tpe":
                return TreeParzenEstimator(self._layout, **options)
            if surrogate == "gp":
                return GaussianProcess(self._layout, **options)
            options.setdefault("random_state", self._rng)
            return RandomForest(**options)
        except TypeError as exc:
            raise ValueError(
                f"Invalid option for surrogate={surrogate!r}: {exc}. See the "
                "surrogate's class for its options."
            ) from None

    # -- state -----------------------------------------------------------------

    @property
    def n_told(self):
        """Number of told evaluations."""
        return len(self.history)

    @property
    def pending(self):
        """Parameters asked and not told yet, oldest first."""
        return [params for params, _ in self._pending.values()]

    @property
    def _best_index(self):
        finite = np.isfinite(self._scores)
        if not finite.any():
            return None
        return int(np.argmax(np.where(finite, self._scores, -np.inf)))

    @property
    def best_params(self):
        """Parameters of the best finite score told (None before any)."""
        i = self._best_index
        return None if i is None else self.history[i].params

    @property
    def best_score(self):
        """Best finite score told (NaN before any)."""
        i = self._best_index
        return math.nan if i is None else float(self._scores[i])

    def __repr__(self):
        surrogate = (
            repr(self.surrogate)
            if isinstance(self.surrogate, str)
            else type(self.surrogate).__name__ + "(...)"
        )
        return (
            f"Optimizer({self.space!r}, surrogate={surrogate}, "
            f"acquisition={self.acquisition!r}, n_told={self.n_told}, "
            f"n_pending={len(self._pending)})"
        )

    # -- tell ------------------------------------------------------------------

    def tell(self, params_list, scores):
        """Record the scores of evaluated points.

        Parameters
        ----------
        params_list : list of dict, or dict
            Points of the space, asked or not (warm start).
        scores : sequence of float, or float
            One score per point, higher is better. NaN, None or infinite values
            are failures: recorded, and avoided by later asks.

        Raises
        ------
        ValueError
            If the lengths differ or a point is not in the space.
        """
        if isinstance(params_list, Mapping):
            params_list = [params_list]
            if np.ndim(scores) == 0:
                scores = [scores]
        params_list = list(params_list)
        scores = [scores] if np.ndim(scores) == 0 else list(np.ravel(scores))
        if len(params_list) != len(scores):
            raise ValueError(
                f"tell got {len(params_list)} parameter dicts but {len(scores)} "
                "scores; pass exactly one score per dict."
            )
        values = []
        for score in scores:
            try:
                if isinstance(score, (str, bytes, complex, np.complexfloating)):
                    raise TypeError
                values.append(math.nan if score is None else float(score))
            except (TypeError, ValueError):
                raise ValueError(
                    f"Scores must be numbers (NaN for a failure), got {score!r}."
                ) from None
        rows = []
        for params in params_list:
            if not isinstance(params, Mapping) or params not in self.space:
                raise ValueError(
                    f"Cannot tell {params!r}: it is not a point of {self.space!r}. "
                    "Tell dicts with exactly the names of one sub-space and values "
                    "within their dimensions."
                )
            rows.append(self.space.encode(params))
        if not rows:
            return
        U = np.vstack(rows)
        for params, value, key in zip(params_list, values, self._layout.keys(U)):
            self._pending.pop(key, None)
            self._told_keys.add(key)
            self.history.append(Observation(params, value))
        self._U = np.vstack([self._U, U])
        self._scores = np.concatenate([self._scores, values])
        self._version += 1

    def cancel(self, params_list):
        """Forget pending points that will not be told (cancelled evaluations).

        Parameters
        ----------
        params_list : list of dict, or dict
            Points returned by :meth:`ask`; points that are not pending are
            ignored.
        """
        if isinstance(params_list, Mapping):
            params_list = [params_list]
        params_list = list(params_list)
        if not params_list:
            return
        rows = np.vstack([self.space.encode(params) for params in params_list])
        for key in self._layout.keys(rows):
            self._pending.pop(key, None)

    # -- ask -------------------------------------------------------------------

    def ask(self, n=1):
        """Propose ``n`` new points, distinct from each other and from every point
        told or pending.

        Parameters
        ----------
        n : int, default=1

        Returns
        -------
        list of dict
            ``n`` parameter dicts, now pending. Fewer (possibly none) once a
            finite space has no unseen point left.
        """
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"ask(n) needs an integer n >= 1, got {n!r}.")
        batch = []
        for _ in range(int(n)):
            u = self._propose()
            if u is None:
                break
            params = self.space.decode(u)
            row = self.space.encode(params)
            key = self._layout.keys(row)[0]
            redraws = 0
            while self._is_seen(key):
                # Decoding merged u with a point already seen.
                self._merged_keys.add(self._layout.keys(u[None])[0])
                u = self._fallback(scorer=None)
                redraws += 1
                if u is None or redraws > _MAX_REDRAWS:
                    # No unseen point left, or none that decodes to a new one
                    # (a distribution whose ppf takes few values).
                    return batch
                params = self.space.decode(u)
                row = self.space.encode(params)
                key = self._layout.keys(row)[0]
            self._pending[key] = (params, row)
            batch.append(params)
        return batch

    def _propose(self):
        finite = np.isfinite(self._scores)
        n_seen = len(self._scores) + len(self._pending)
        if self._model is not None and n_seen < self.n_initial_points:
            u = self._next_design_point()
            if u is not None:
                return u
        if (
            self._model is None
            or n_seen < self.n_initial_points
            or finite.sum() < 2
            or (getattr(self._model, "_escape_plateaus", False) and self._on_plateau())
        ):
            return self._first_unseen(self._layout.sample(16, self._rng), None)
        if isinstance(self._model, TreeParzenEstimator):
            return self._propose_tpe()
        return self._propose_model()

    def _on_plateau(self):
        """Whether most of the last told scores tie exactly at the best one."""
        recent = self._scores[-_RECENT:]
        return np.count_nonzero(recent == self.best_score) >= _RECENT_TIES

    def _next_design_point(self):
        """The next unseen point of the initial design, a Latin hypercube of
        ``n_initial_points`` drawn at the first ask (None once it is used up)."""
        if self._design is None:
            self._design = self._layout.latin_hypercube(
                self.n_initial_points, self._rng
            )
        while self._n_design < len(self._design):
            row = self._design[self._n_design]
            self._n_design += 1
            if not self._is_seen(self._layout.keys(row[None])[0]):
                return row
        return None

    def _pending_rows(self):
        if not self._pending:
            return np.empty((0, self._layout.n_columns))
        return np.vstack([row for _, row in self._pending.values()])

    def _propose_tpe(self):
        losses = np.where(np.isfinite(self._scores), -self._scores, np.inf)
        tpe = self._model.fit(self._U, losses, pending=self._pending_rows())
        candidates, _ = tpe.propose(self._rng)
        return self._first_unseen(candidates, tpe.score)

    def _training_data(self):
        """Told points, losses (failures imputed as worse than the worst) and the
        incumbent."""
        losses = -self._scores
        finite = np.isfinite(losses)
        worst, best = losses[finite].max(), losses[finite].min()
        span = worst - best if worst > best else max(abs(worst), 1.0)
        y = np.where(finite, losses, worst + 0.1 * span)
        # Told points at exactly the best loss make a plateau (different
        # parameters, one model, e.g. trees pruned to the same stump).
        margin = getattr(self._model, "_plateau_margin", 0.0)
        plateau = margin and np.count_nonzero(losses[finite] == best) >= _PLATEAU_TIES
        transform = getattr(self._model, "_target_transform", None)
        if transform is not None:
            y = _TRANSFORMS[transform](y)
            best = y[finite].min()
        if plateau:
            # More points on the plateau cannot improve on it: ask for more.
            best -= margin * (y[finite].std() or 1.0)
        return self._U, y, best

    def _propose_model(self):
        U, y, incumbent = self._training_data()
        pending = self._pending_rows()
        model = self._model
        if hasattr(model, "_condition"):
            # Kriging believer: hyperparameters fitted on told points only.
            if self._fitted_version != self._version:
                model.fit(U, y)
                self._fitted_version = self._version
            if len(pending):
                # The believed values count as observed, incumbent included.
                incumbent = min(incumbent, float(np.min(model.predict(pending))))
                model = model._condition(pending)
        else:
            # Constant liar at the mean observed loss.
            if len(pending):
                U = np.vstack([U, pending])
                y = np.concatenate([y, np.full(len(pending), y.mean())])
            model.fit(U, y)
            self._fitted_version = None

        log_losses = getattr(self._model, "_target_transform", None) == "log"

        def score(C):
            mean, std = model.predict(C, return_std=True)
            return utility(self.acquisition, mean, std, incumbent, log_losses)

        grid = self._layout.grid()
        if grid is not None and len(grid[0]) <= _EXHAUSTIVE_LIMIT:
            return self._fallback(score)
        finite = np.isfinite(self._scores)
        order = np.argsort(np.where(finite, -self._scores, np.inf), kind="stable")
        seeds = self._U[order[: min(_N_SEEDS, finite.sum())]]
        candidates, _ = maximize(
            score, self._layout, self._rng, seeds, n_random=_N_CANDIDATES
        )
        return self._first_unseen(candidates, score)

    # -- de-duplication ------------------------------------------------------------

    def _is_seen(self, key):
        return (
            key in self._told_keys or key in self._pending or key in self._merged_keys
        )

    def _first_unseen(self, candidates, scorer):
        """The first candidate never told nor pending, else the best unseen point
        of a fallback pool (None when a finite space is exhausted)."""
        for start in range(0, len(candidates), 256):
            chunk = candidates[start : start + 256]
            for row, key in zip(chunk, self._layout.keys(chunk)):
                if not self._is_seen(key):
                    return row
        return self._fallback(scorer)

    def _fallback(self, scorer):
        grid = self._layout.grid()
        if grid is not None:
            U, keys = grid
            unseen = np.array([not self._is_seen(k) for k in keys], dtype=bool)
            pool = U[unseen]
        else:
            n_seen = len(self._told_keys) + len(self._pending)
            if n_seen >= self.space.n_grid_points:
                return None
            pool = None
            for _ in range(64):
                R = self._layout.sample(256, self._rng)
                mask = [not self._is_seen(k) for k in self._layout.keys(R)]
                if any(mask):
                    pool = R[np.array(mask)]
                    break
            if pool is None:
                return None
        if len(pool) == 0:
            return None
        if scorer is None:
            return pool[self._rng.randint(len(pool))]
        values = np.concatenate(
            [scorer(pool[i : i + 1024]) for i in range(0, len(pool), 1024)]
        )
        values = np.where(np.isnan(values), -np.inf, values)
        return pool[int(np.argmax(values))]
