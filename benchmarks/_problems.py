"""Bayesmark-style test problems: a scikit-learn model, a bundled data set, a metric.

Each :class:`Problem` is a black box ``loss = problem.evaluate(params)`` to
minimize: the mean 3-fold cross-validated loss of ``model(**fixed, **params)``.
Search spaces follow bayesmark's ``sklearn_funcs.py`` (Uber, 2019), with these
changes, all to make one evaluation cheap (about 10-100 ms) or to run on current
scikit-learn:

- 3 folds instead of 5; features standardized once; data sets subsampled to at
  most :data:`MAX_SAMPLES` rows (stratified for classification);
- MLPs: ``max_iter=40``; boosting: at most 30 estimators; a gradient-boosting
  model (not in bayesmark) is added;
- bayesmark's "logit" scales become linear, since skhpo, optuna and hyperopt
  have no logit scale; SVM's ``C``/``gamma`` ranges are widened (bayesmark's
  ``gamma`` in ``[1e-4, 1e-3]`` is nearly flat on standardized data);
- ``LogisticRegression(penalty=...)`` becomes ``l1_ratio`` with liblinear inside
  ``OneVsRestClassifier`` (scikit-learn >= 1.8); ``Lasso``/``Ridge`` lose
  ``normalize`` (removed from scikit-learn); kNN gains a categorical ``weights``.

Spaces are written in a neutral form (:class:`Param`) that
``benchmarks._optimizers`` translates for each library.
"""

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import sklearn
from sklearn import datasets
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

__all__ = [
    "Param",
    "Problem",
    "PROBLEMS",
    "SUITE",
    "QUICK",
    "TINY",
    "get_problems",
    "real",
    "integer",
    "categorical",
    "sample_params",
]

N_FOLDS = 3
MAX_SAMPLES = 500


# -- neutral search-space description --------------------------------------------


@dataclass(frozen=True)
class Param:
    """One hyperparameter: ``kind`` is "real", "int" or "cat"."""

    kind: str
    low: float = None
    high: float = None
    log: bool = False
    choices: tuple = ()


def real(low, high, log=False):
    return Param("real", low, high, log)


def integer(low, high, log=False):
    return Param("int", low, high, log)


def categorical(*choices):
    return Param("cat", choices=tuple(choices))


def sample_params(space, rng):
    """One uniform random point of a neutral space (log-uniform on log scales).

    This is the benchmark's own sampler, used for the reference random search
    that defines the normalization, so that the yardstick does not depend on
    the code under test.
    """
    params = {}
    for name, p in space.items():
        if p.kind == "cat":
            params[name] = p.choices[rng.randint(len(p.choices))]
        elif p.kind == "int" and p.log:  # log-uniform on [low, high + 1), floored
            u = rng.uniform(math.log(p.low), math.log(p.high + 1))
            params[name] = int(min(math.floor(math.exp(u)), p.high))
        elif p.kind == "int":
            params[name] = int(rng.randint(p.low, p.high + 1))
        elif p.log:
            params[name] = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
        else:
            params[name] = float(rng.uniform(p.low, p.high))
    return params


# -- data ------------------------------------------------------------------------

_LOADERS = {
    "iris": (datasets.load_iris, True),
    "wine": (datasets.load_wine, True),
    "breast": (datasets.load_breast_cancer, True),
    "digits": (datasets.load_digits, True),
    "diabetes": (datasets.load_diabetes, False),
}


@functools.cache
def load_data(name):
    """Standardized features, targets and CV folds of a bundled data set."""
    loader, is_clf = _LOADERS[name]
    X, y = loader(return_X_y=True)
    rng = np.random.RandomState(0)
    if len(y) > MAX_SAMPLES:
        if is_clf:
            # Stratified subsample: the same fraction of every class.
            keep = np.concatenate(
                [
                    rng.choice(idx, round(len(idx) * MAX_SAMPLES / len(y)), False)
                    for idx in (np.flatnonzero(y == c) for c in np.unique(y))
                ]
            )
        else:
            keep = rng.choice(len(y), MAX_SAMPLES, replace=False)
        keep.sort()
        X, y = X[keep], y[keep]
    X = StandardScaler().fit_transform(X)
    cv = (StratifiedKFold if is_clf else KFold)(N_FOLDS, shuffle=True, random_state=0)
    folds = tuple(cv.split(X, y))
    return X, y, folds, is_clf


# -- models ----------------------------------------------------------------------


def _ovr_logistic(l1_ratio):
    def build(C, intercept_scaling):
        return OneVsRestClassifier(
            LogisticRegression(
                C=C,
                intercept_scaling=intercept_scaling,
                l1_ratio=l1_ratio,
                solver="liblinear",
                random_state=0,  # liblinear shuffles its coordinates
            )
        )

    return build


_DT = {
    "max_depth": integer(1, 15),
    "min_samples_split": real(0.01, 0.99),
    "min_samples_leaf": real(0.01, 0.49),
    "min_weight_fraction_leaf": real(0.01, 0.49),
    "max_features": real(0.01, 0.99),
    "min_impurity_decrease": real(0.0, 0.5),
}
_MLP = {
    "hidden_layer_sizes": integer(50, 200),
    "alpha": real(1e-5, 1e1, log=True),
    "batch_size": integer(10, 250),
    "learning_rate_init": real(1e-5, 1e-1, log=True),
    "tol": real(1e-5, 1e-1, log=True),
    "validation_fraction": real(0.1, 0.9),
    "beta_1": real(0.5, 0.99),
    "beta_2": real(0.9, 1.0 - 1e-6),
    "epsilon": real(1e-9, 1e-6, log=True),
}
_SVM = {
    "C": real(1e-2, 1e3, log=True),
    "gamma": real(1e-4, 1.0, log=True),
    "tol": real(1e-5, 1e-1, log=True),
}
_KNN = {
    "n_neighbors": integer(1, 25),
    "p": integer(1, 4),
    "weights": categorical("uniform", "distance"),
}
_ADA = {
    "n_estimators": integer(5, 20),
    "learning_rate": real(1e-4, 1e1, log=True),
}
_GB = {
    "n_estimators": integer(5, 20),
    "learning_rate": real(1e-3, 1.0, log=True),
    "max_depth": integer(1, 6),
    "subsample": real(0.3, 1.0),
    "min_samples_leaf": integer(1, 50, log=True),
    "max_features": real(0.1, 1.0),
}
_LOGISTIC = {
    "C": real(1e-2, 1e2, log=True),
    "intercept_scaling": real(1e-2, 1e2, log=True),
}
_LASSO_REG = {
    "alpha": real(1e-2, 1e2, log=True),
    "fit_intercept": categorical(True, False),
    "max_iter": integer(10, 5000, log=True),
    "tol": real(1e-5, 1e-1, log=True),
    "positive": categorical(True, False),
}
_RIDGE_REG = {
    "alpha": real(1e-2, 1e2, log=True),
    "fit_intercept": categorical(True, False),
    "max_iter": integer(10, 5000, log=True),
    "tol": real(1e-4, 1e-1, log=True),
}
_MLP_FIXED = {"solver": "adam", "early_stopping": True, "max_iter": 20}

# model name -> (classifier builder, regressor builder, fixed kwargs, space);
# regression-only spaces are given as (classification space, regression space).
MODELS = {
    "DT": (DecisionTreeClassifier, DecisionTreeRegressor, {"random_state": 0}, _DT),
    "RF": (
        RandomForestClassifier,
        RandomForestRegressor,
        {"n_estimators": 10, "random_state": 0, "n_jobs": 1},
        _DT,
    ),
    "MLP-adam": (MLPClassifier, MLPRegressor, {**_MLP_FIXED, "random_state": 0}, _MLP),
    "SVM": (SVC, SVR, {"kernel": "rbf"}, _SVM),
    "kNN": (KNeighborsClassifier, KNeighborsRegressor, {}, _KNN),
    "ada": (AdaBoostClassifier, AdaBoostRegressor, {"random_state": 0}, _ADA),
    "GB": (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        {"random_state": 0},
        _GB,
    ),
    "lasso": (_ovr_logistic(1.0), Lasso, {}, (_LOGISTIC, _LASSO_REG)),
    "linear": (_ovr_logistic(0.0), Ridge, {}, (_LOGISTIC, _RIDGE_REG)),
}


# -- metrics (all losses: lower is better) -----------------------------------------


def _nll(model, X, y):
    return log_loss(y, model.predict_proba(X), labels=model.classes_)


def _acc(model, X, y):
    return 1.0 - accuracy_score(y, model.predict(X))


def _mse(model, X, y):
    return mean_squared_error(y, model.predict(X))


def _mae(model, X, y):
    return mean_absolute_error(y, model.predict(X))


METRICS = {"nll": _nll, "acc": _acc, "mse": _mse, "mae": _mae}


# -- problems --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A model x data set x metric test function, bayesmark's "test case".

    ``evaluate(params)`` is deterministic (fixed folds, fixed model seeds) and
    never raises: a fit that fails or a non-finite loss counts as the loss of a
    constant predictor (the majority class or the mean), see
    :meth:`failure_loss`.
    """

    model: str
    dataset: str
    metric: str
    space: dict = field(compare=False, repr=False, hash=False)

    @property
    def name(self):
        return f"{self.model}-{self.dataset}-{self.metric}"

    def _build(self, params):
        clf, reg, fixed, _ = MODELS[self.model]
        is_clf = _LOADERS[self.dataset][1]
        return (clf if is_clf else reg)(**fixed, **params)

    def _cv_loss(self, model_factory):
        X, y, folds, _ = load_data(self.dataset)
        losses = []
        # The data are finite and the spaces valid: skip scikit-learn's checks,
        # a large part of the cost of fitting small models.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            for train, test in folds:
                model = model_factory().fit(X[train], y[train])
                losses.append(METRICS[self.metric](model, X[test], y[test]))
        return float(np.mean(losses))

    @functools.cached_property
    def failure_loss(self):
        """The CV loss of a constant predictor, used for failed evaluations."""
        from sklearn.dummy import DummyClassifier, DummyRegressor

        is_clf = _LOADERS[self.dataset][1]
        dummy = DummyClassifier if is_clf else DummyRegressor
        return self._cv_loss(dummy)

    def evaluate(self, params):
        """Mean cross-validated loss of the model with ``params`` (lower is better)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                loss = self._cv_loss(lambda: self._build(params))
            except (ValueError, FloatingPointError, ArithmeticError):
                loss = math.nan
        return loss if math.isfinite(loss) else self.failure_loss


def _problem(name):
    model, dataset, metric = name.rsplit("-", 2)
    space = MODELS[model][3]
    if isinstance(space, tuple):
        space = space[0] if _LOADERS[dataset][1] else space[1]
    return Problem(model, dataset, metric, space)


# Every problem the suite knows; classification uses acc/nll, regression mse/mae.
_NAMES = [
    "DT-wine-acc",
    "DT-digits-acc",
    "DT-diabetes-mse",
    "DT-breast-nll",
    "RF-breast-nll",
    "RF-wine-acc",
    "RF-diabetes-mae",
    "RF-digits-acc",
    "MLP-adam-wine-nll",
    "MLP-adam-digits-acc",
    "MLP-adam-diabetes-mse",
    "MLP-adam-iris-acc",
    "SVM-breast-acc",
    "SVM-digits-acc",
    "SVM-diabetes-mae",
    "kNN-digits-acc",
    "kNN-wine-nll",
    "kNN-diabetes-mse",
    "ada-breast-acc",
    "ada-wine-nll",
    "ada-diabetes-mae",
    "GB-breast-nll",
    "GB-wine-acc",
    "GB-diabetes-mse",
    "lasso-breast-nll",
    "lasso-wine-acc",
    "lasso-diabetes-mse",
    "linear-digits-nll",
    "linear-breast-acc",
    "linear-diabetes-mae",
]
PROBLEMS = {p.name: p for p in map(_problem, _NAMES)}

# The default suite: 18 problems, two per model, picked among the cheaper ones
# (~70 ms per evaluation on average on an idle core). The first nine cover every
# model once, so that a run stopped after them is still balanced.
SUITE = [
    # one classification problem per model ...
    "DT-wine-acc",
    "RF-wine-acc",
    "MLP-adam-wine-nll",
    "SVM-breast-acc",
    "kNN-wine-nll",
    "ada-breast-acc",
    "GB-breast-nll",
    "lasso-breast-nll",
    "linear-breast-acc",
    # ... then a second one: regression, but for the MLP (iris: its regressor
    # is slow to train)
    "DT-diabetes-mse",
    "RF-diabetes-mae",
    "MLP-adam-iris-acc",
    "SVM-diabetes-mae",
    "kNN-diabetes-mse",
    "ada-diabetes-mae",
    "GB-diabetes-mse",
    "lasso-diabetes-mse",
    "linear-diabetes-mae",
]
# --quick: three cheap problems (reals only; integers and a categorical; a tree).
QUICK = ["SVM-diabetes-mae", "kNN-wine-nll", "DT-wine-acc"]
# The smoke test's problem: ~15 ms per evaluation, real/integer (log) and
# categorical dimensions.
TINY = ["linear-diabetes-mae"]


def get_problems(names):
    """Problems by name; ``"all"`` is every known problem."""
    if names in ("all", ["all"]):
        return list(PROBLEMS.values())
    unknown = [n for n in names if n not in PROBLEMS]
    if unknown:
        raise ValueError(
            f"Unknown problem(s) {unknown}; choose among {sorted(PROBLEMS)} "
            "(python -m benchmarks.bench_smbo --list shows them)."
        )
    return [PROBLEMS[n] for n in names]
