"""Random-forest surrogate (SMAC's model), on scikit-learn's tree ensembles.

Hutter, Hoos and Leyton-Brown, "Sequential Model-Based Optimization for General
Algorithm Configuration", LION 2011: the predictive mean is the mean of the trees'
predictions and the spread their standard deviation.
"""

import numbers

import numpy as np
from sklearn import config_context
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import check_random_state

__all__ = ["RandomForest"]

# Value of the columns of other sub-spaces: outside [0, 1], so that a tree can
# separate the points of a sub-space with one split.
_INACTIVE = -1.0


class RandomForest:
    """Tree-ensemble surrogate: mean and spread of the trees' predictions.

    Used by :class:`Optimizer` with ``surrogate="rf"``. Columns of other
    sub-spaces (NaN in the encoding) are imputed with -1, outside the unit
    interval, so trees split conditional spaces on the selector or on activity.

    The defaults follow SMAC's hyperparameter-optimization facade: ten trees on
    bootstrap samples, down to leaves of one point, every column considered at
    each split; the splits are the best ones, where SMAC 2.4 draws random
    thresholds (the same score on the benchmark below: 0.1 +- 0.5 points
    apart, seeds 0-19). On the 18-problem benchmark of
    ``benchmarks/bench_smbo.py`` (50 evaluations, seeds 0-9) they scored 1.3
    points above 32 extremely randomized trees (``kind="extra"``, the previous
    default, whose smooth average kept sampling plateaus of equal losses), 0.9
    above the same forest with leaves of three points, and 1.0 above leaves of
    three with ``max_features=5/6`` (SMAC's algorithm-configuration setting).
    The :class:`Optimizer` fits the forest on the losses' logarithm as SMAC
    scales it, so that outliers (diverged fits, imputed failures) do not
    dominate, and ranks candidates by the expected improvement of log-normal
    predictions.

    Parameters
    ----------
    n_estimators : int, default=10
        Number of trees.
    kind : {"random", "extra"}, default="random"
        ``"random"`` for bootstrapped trees with best splits (a random forest),
        ``"extra"`` for extremely randomized trees (random thresholds, no
        bootstrap).
    min_samples_leaf : int, default=1
        Smallest leaf; larger values smooth the mean.
    max_features : float, default=1.0
        Fraction of the columns considered at each split.
    random_state : int, RandomState instance or None, default=None
        Seeds the trees; an instance is drawn from at each fit.

    Attributes
    ----------
    estimators_ : list of DecisionTreeRegressor
        The fitted trees.

    Examples
    --------
    >>> import numpy as np
    >>> from skhpo.samplers import RandomForest
    >>> rng = np.random.RandomState(0)
    >>> U = rng.uniform(size=(50, 2))
    >>> y = (U[:, 0] - 0.5) ** 2
    >>> rf = RandomForest(random_state=0).fit(U, y)
    >>> mean, std = rf.predict([[0.5, 0.5], [0.0, 0.5]], return_std=True)
    >>> bool(mean[0] < mean[1])
    True
    """

    # Tells the Optimizer to fit on log-scaled losses (and to use the EI of
    # log-normal predictions).
    _target_transform = "log"
    # Tells the Optimizer to propose a random point while it samples a plateau.
    _escape_plateaus = True

    def __init__(
        self,
        *,
        n_estimators=10,
        kind="random",
        min_samples_leaf=1,
        max_features=1.0,
        random_state=None,
    ):
        if kind not in ("random", "extra"):
            raise ValueError(
                f"kind must be 'random' (random forest) or 'extra' (extra trees), "
                f"got {kind!r}."
            )
        if (
            not isinstance(n_estimators, numbers.Integral)
            or isinstance(n_estimators, bool)
            or n_estimators < 1
        ):
            raise ValueError(
                f"n_estimators must be an integer >= 1, got {n_estimators!r}."
            )
        self.n_estimators = int(n_estimators)
        self.kind = kind
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, U, y):
        """Fit the forest on encoded points and their finite losses.

        Parameters
        ----------
        U : array-like of shape (n, n_columns)
            Encoded points; NaN in inactive columns.
        y : array-like of shape (n,)

        Returns
        -------
        self
        """
        U = np.nan_to_num(np.asarray(U, dtype=float), nan=_INACTIVE)
        y = np.asarray(y, dtype=float).ravel()
        if len(U) != len(y):
            raise ValueError(
                f"fit got {len(U)} points but {len(y)} losses; pass one per point."
            )
        rng = check_random_state(self.random_state)
        X = np.ascontiguousarray(U, dtype=np.float32)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_estimators)
        extra = self.kind == "extra"
        self.estimators_ = []
        # The trees are grown one by one as sklearn's forests grow them (random
        # splits without bootstrap, or best splits on a bootstrap sample), without
        # the forest's per-tree parameter handling, which dominates at this size.
        with config_context(skip_parameter_validation=True, assume_finite=True):
            for seed in seeds:
                tree = DecisionTreeRegressor(
                    splitter="random" if extra else "best",
                    min_samples_leaf=self.min_samples_leaf,
                    max_features=self.max_features,
                    random_state=seed,
                )
                weight = None
                if not extra:
                    boot = np.random.RandomState(seed).randint(len(X), size=len(X))
                    weight = np.bincount(boot, minlength=len(X)).astype(float)
                self.estimators_.append(
                    tree.fit(X, y, sample_weight=weight, check_input=False)
                )
        return self

    def predict(self, U, return_std=False):
        """Mean (and standard deviation) of the trees' predictions at ``U``.

        Parameters
        ----------
        U : array-like of shape (n, n_columns)
        return_std : bool, default=False

        Returns
        -------
        mean : ndarray of shape (n,)
        std : ndarray of shape (n,), if ``return_std``
        """
        X = np.nan_to_num(np.asarray(U, dtype=np.float32), nan=_INACTIVE)
        X = np.ascontiguousarray(X.reshape(len(X), -1))
        # The trees' own predict validates its input every call; the fitted
        # tree structure predicts directly.
        per_tree = np.stack(
            [tree.tree_.predict(X)[:, 0] for tree in self.estimators_]
        ).reshape(len(self.estimators_), len(X))
        mean = per_tree.mean(axis=0)
        if not return_std:
            return mean
        return mean, per_tree.std(axis=0)
