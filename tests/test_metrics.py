"""skhpo.metrics: every dask-aware scorer against scikit-learn's, on numpy and dask.

In-memory inputs must give scikit-learn's score exactly; dask inputs the same score
up to summation order (1e-12), without any task materialising all the rows.
"""

import functools
import pickle
import re
import threading
import warnings

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import sklearn.metrics as skm
from dask.callbacks import Callback
from distributed import Client, LocalCluster, get_task_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    TunedThresholdClassifierCV,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import skhpo.metrics
from skhpo.metrics import (
    DaskGatherWarning,
    check_scoring,
    get_scorer,
    get_scorer_names,
    make_scorer,
)

N = 120
RTOL = ATOL = 1e-12
REGRESSION = [
    "explained_variance",
    "neg_mean_absolute_error",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "r2",
]
CLASSIFICATION = [n for n in get_scorer_names(dask_aware=True) if n not in REGRESSION]
BINARY_ONLY = {"average_precision", "f1", "jaccard", "precision", "recall", "roc_auc"}
PROBABILISTIC = ["average_precision", "neg_log_loss", "roc_auc"]
# one block; irregular blocks including a one-row block
CHUNKINGS = [(N,), (7, 50, 1, 62)]
# (weighted, chunks): weights are checked on the irregular blocks only
VARIANTS = pytest.mark.parametrize(
    ("weighted", "chunks"),
    [(False, CHUNKINGS[0]), (False, CHUNKINGS[1]), (True, CHUNKINGS[1])],
    ids=["one-block", "irregular-blocks", "weighted"],
)


def _close(a, b):
    return np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)


def _kw(sample_weight):
    return {} if sample_weight is None else {"sample_weight": sample_weight}


def _dask(a, chunks):
    a = np.asarray(a)
    return da.from_array(a, chunks=(chunks,) + a.shape[1:])


@functools.cache
def _classification(n_classes, estimator="logistic", labels=None):
    """X, y, a fitted classifier and random weights (cached: fit once)."""
    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(N, 4))
    score = X[:, 0] + X[:, 1] + rng.normal(size=N)
    y = (score > 0).astype(int) if n_classes == 2 else np.digitize(score, [-0.8, 0.8])
    if labels is not None:
        y = np.asarray(labels, dtype=object)[y]
    if estimator == "logistic":
        clf = LogisticRegression().fit(X, y)
    else:
        clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    return X, y, clf, rng.uniform(0, 2, size=N)


@functools.cache
def _regression(n_outputs):
    rng = np.random.default_rng(10 + n_outputs)
    X = rng.normal(size=(N, 3))
    Y = X @ rng.normal(size=(3, n_outputs)) + rng.normal(size=(N, n_outputs))
    y = Y[:, 0] if n_outputs == 1 else Y
    return X, y, Ridge(alpha=10.0).fit(X, y), rng.uniform(0, 2, size=N)


def _check_against_sklearn(name, est, X, y, w, chunks):
    expected = skm.get_scorer(name)(est, X, y, **_kw(w))
    scorer = get_scorer(name)
    assert scorer(est, X, y, **_kw(w)) == expected  # in memory: sklearn's result
    wd = None if w is None else _dask(w, chunks)
    got = scorer(est, _dask(X, chunks), _dask(y, chunks), **_kw(wd))
    assert isinstance(got, float)
    assert _close(got, expected), (name, got, expected)


# ---------------------------------------------------------------------------
# every supported name, binary and multiclass, with and without weights


CLASSIFICATION_CASES = [(name, 2) for name in CLASSIFICATION] + [
    (name, 3) for name in CLASSIFICATION if name not in BINARY_ONLY
]


@VARIANTS
@pytest.mark.parametrize(("name", "n_classes"), CLASSIFICATION_CASES)
def test_classification_scorer_matches_sklearn(name, n_classes, weighted, chunks):
    X, y, clf, w = _classification(n_classes)
    _check_against_sklearn(name, clf, X, y, w if weighted else None, chunks)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("name", "n_classes"),
    [(name, 2) for name in PROBABILISTIC] + [("neg_log_loss", 3)],
)
def test_probability_scorers_with_tied_scores(name, n_classes, weighted):
    # A shallow tree has predict_proba only (no decision_function) and few
    # distinct scores: many ties in the ranking tables.
    X, y, clf, w = _classification(n_classes, "tree")
    _check_against_sklearn(name, clf, X, y, w if weighted else None, 25)


@VARIANTS
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_scorer_matches_sklearn(name, n_outputs, weighted, chunks):
    X, y, reg, w = _regression(n_outputs)
    _check_against_sklearn(name, reg, X, y, w if weighted else None, chunks)


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (skm.r2_score, {"multioutput": "variance_weighted"}),
        (skm.r2_score, {"multioutput": [0.3, 0.7], "force_finite": False}),
        (skm.explained_variance_score, {"multioutput": "variance_weighted"}),
        (skm.mean_squared_error, {"multioutput": [1.0, 3.0]}),
        (skm.mean_absolute_error, {"multioutput": "raw_values"}),
        (skm.root_mean_squared_error, {"multioutput": "raw_values"}),
    ],
)
def test_regression_multioutput_options(metric, kwargs):
    X, y, reg, w = _regression(2)
    greater = metric in (skm.r2_score, skm.explained_variance_score)
    ours = make_scorer(metric, greater_is_better=greater, **kwargs)
    expected = skm.make_scorer(metric, greater_is_better=greater, **kwargs)(
        reg, X, y, sample_weight=w
    )
    got = ours(reg, _dask(X, 30), _dask(y, 30), sample_weight=_dask(w, 30))
    assert _close(got, expected)


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (skm.fbeta_score, {"beta": 2, "average": "macro"}),
        (skm.precision_score, {"labels": [0, 2], "average": "micro"}),
        (skm.cohen_kappa_score, {"weights": "quadratic"}),
        (skm.hamming_loss, {}),
        (skm.zero_one_loss, {"normalize": False}),
        (skm.accuracy_score, {"normalize": False}),
        (skm.balanced_accuracy_score, {"adjusted": True}),
        (skm.recall_score, {"average": None}),
    ],
)
def test_label_metrics_keep_sklearn_options(metric, kwargs):
    X, y, clf, w = _classification(3)
    expected = skm.make_scorer(metric, **kwargs)(clf, X, y, sample_weight=w)
    got = make_scorer(metric, **kwargs)(
        clf, _dask(X, 40), _dask(y, 40), sample_weight=_dask(w, 40)
    )
    assert _close(got, expected)


def test_integer_and_zero_sample_weights():
    X, y, clf, _ = _classification(3)
    w = np.random.default_rng(0).integers(0, 3, size=N)
    for name in ["accuracy", "balanced_accuracy", "f1_weighted", "neg_log_loss"]:
        _check_against_sklearn(name, clf, X, y, w, 33)
    Xr, yr, reg, _ = _regression(1)
    _check_against_sklearn("r2", reg, Xr, yr, w, 33)


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (skm.roc_auc_score, {"max_fpr": 0.3}),
        (skm.average_precision_score, {"pos_label": 0}),
        (skm.log_loss, {"labels": [0, 1], "normalize": False}),
    ],
)
def test_probability_metric_options(metric, kwargs):
    X, y, clf, w = _classification(2)
    response = "predict_proba"
    expected = skm.make_scorer(metric, response_method=response, **kwargs)(
        clf, X, y, sample_weight=w
    )
    ours = make_scorer(metric, response_method=response, **kwargs)
    got = ours(clf, _dask(X, 25), _dask(y, 25), sample_weight=_dask(w, 25))
    assert _close(got, expected)


# ---------------------------------------------------------------------------
# labels, DataFrames, alignment of y and sample_weight


@pytest.mark.parametrize(
    ("name", "n_classes"),
    [
        (name, n_classes)
        for name in ["accuracy", "balanced_accuracy", "f1_macro", "neg_log_loss"]
        for n_classes in [2, 3]
    ]
    + [("roc_auc", 2)],
)
def test_string_labels(name, n_classes):
    X, y, clf, w = _classification(n_classes, labels=("ant", "bee", "cat"))
    _check_against_sklearn(name, clf, X, y, w, 30)


def test_string_labels_binary_f1_needs_pos_label_like_sklearn():
    X, y, clf, _ = _classification(2, labels=("no", "yes"))
    dX, dy = _dask(X, 30), _dask(y, 30)
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        skm.get_scorer("f1")(clf, X, y)
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        get_scorer("f1")(clf, dX, dy)
    f1_yes = make_scorer(skm.f1_score, pos_label="yes")
    assert _close(f1_yes(clf, dX, dy), skm.f1_score(y, clf.predict(X), pos_label="yes"))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_validation_labels_missing_a_class():
    # Only two of the estimator's three classes occur in this fold: the labels
    # come from the data, as in scikit-learn, not from estimator.classes_.
    X, y, clf, _ = _classification(3)
    keep = y != 2
    X, y = X[keep], y[keep]
    for name in ["accuracy", "f1_macro", "balanced_accuracy"]:
        _check_against_sklearn(name, clf, X, y, None, 20)
    with pytest.raises(ValueError, match="different number of classes: 2 vs 3"):
        get_scorer("neg_log_loss")(clf, _dask(X, 20), _dask(y, 20))


def test_dask_dataframe_inputs_keep_feature_names():
    X, y, _, w = _classification(2, labels=("no", "yes"))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    target = pd.Series(y, name="target")
    clf = LogisticRegression().fit(frame, target)
    dX = dd.from_pandas(frame, npartitions=4)
    dy = dd.from_pandas(target, npartitions=4)
    dw = dd.from_pandas(pd.Series(w), npartitions=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
        for name in ["accuracy", "neg_log_loss", "roc_auc", "f1_weighted"]:
            expected = skm.get_scorer(name)(clf, frame, target, sample_weight=w)
            assert get_scorer(name)(clf, frame, target, sample_weight=w) == expected
            assert _close(get_scorer(name)(clf, dX, dy, sample_weight=dw), expected)
        # y as a numpy array, weights as a dask array: aligned to the partitions
        got = get_scorer("accuracy")(clf, dX, y, sample_weight=_dask(w, 50))
        assert _close(got, skm.accuracy_score(y, clf.predict(frame), sample_weight=w))


def test_dask_dataframe_regression():
    X, y, _, w = _regression(1)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    reg = LinearRegression().fit(frame, y)
    dX = dd.from_pandas(frame, npartitions=3)
    dy = dd.from_pandas(pd.Series(y), npartitions=3)
    for name in REGRESSION:
        expected = skm.get_scorer(name)(reg, frame, y, sample_weight=w)
        assert _close(get_scorer(name)(reg, dX, dy, sample_weight=w), expected)


def _masked(a, mask, chunks):
    """A dask array with unknown chunk sizes (boolean indexing)."""
    return _dask(a, chunks)[_dask(mask, chunks)]


ALIGNMENTS = {
    "y numpy": lambda X, y, m: (_dask(X, 30), y),
    "y other chunks": lambda X, y, m: (_dask(X, 30), _dask(y, 17)),
    "X column blocks": lambda X, y, m: (
        da.from_array(X, chunks=(30, 2)),
        _dask(y, 30),
    ),
    "X unknown, y numpy": lambda X, y, m: (_masked(X, m, 30), y[m]),
    "X unknown, y unknown": lambda X, y, m: (_masked(X, m, 30), _masked(y, m, 30)),
    "X unknown, y other chunks": lambda X, y, m: (_masked(X, m, 30), _dask(y[m], 11)),
    "X dask, y dask Series": lambda X, y, m: (
        _dask(X, 30),
        dd.from_pandas(pd.Series(y), npartitions=5),
    ),
}


@pytest.mark.parametrize("case", list(ALIGNMENTS))
def test_y_and_weights_are_aligned_to_X_row_blocks(case):
    X, y, clf, w = _classification(2)
    mask = X[:, 2] > -0.3
    dX, dy = ALIGNMENTS[case](X, y, mask)
    if "unknown" in case:
        X, y, w = X[mask], y[mask], w[mask]
    for weights in [None, w, _dask(w, 13)]:
        expected = skm.get_scorer("roc_auc")(clf, X, y, **_kw(weights))
        got = get_scorer("roc_auc")(clf, dX, dy, **_kw(weights))
        assert _close(got, expected)


def test_in_memory_X_with_dask_y():
    X, y, clf, w = _classification(2)
    got = get_scorer("accuracy")(clf, X, _dask(y, 40), sample_weight=_dask(w, 40))
    assert got == skm.get_scorer("accuracy")(clf, X, y, sample_weight=w)


# ---------------------------------------------------------------------------
# errors


def test_unknown_scorer_name_lists_the_valid_names():
    with pytest.raises(
        ValueError,
        match=r"'accurracy' is not a valid scoring value\. Valid names are: .*"
        r"accuracy, .*roc_auc",
    ):
        get_scorer("accurracy")
    with pytest.raises(ValueError, match="is not a valid scoring value"):
        check_scoring(LogisticRegression(), "accurracy")


@pytest.mark.parametrize("dask_input", [False, True])
def test_neg_log_loss_needs_predict_proba(dask_input):
    X, y, _, _ = _classification(2)
    svc = LinearSVC().fit(X, y)
    if dask_input:
        X, y = _dask(X, 30), _dask(y, 30)
    with pytest.raises(
        AttributeError,
        match="LinearSVC has none of the following attributes: predict_proba",
    ):
        get_scorer("neg_log_loss")(svc, X, y)


def test_y_with_a_different_length_than_X():
    X, y, clf, w = _classification(2)
    with pytest.raises(ValueError, match="inconsistent numbers of samples: X has 120"):
        get_scorer("accuracy")(clf, _dask(X, 30), y[:100])
    with pytest.raises(ValueError, match="X has 120 rows but y_true has 100"):
        get_scorer("accuracy")(clf, _dask(X, 30), _dask(y[:100], 30))
    with pytest.raises(ValueError, match="X has 120 rows but sample_weight has 119"):
        get_scorer("r2")(clf, _dask(X, 30), _dask(y, 30), sample_weight=w[:-1])


def test_unknown_chunks_with_other_totals_raise():
    # Same number of blocks, unknown sizes: paired, then counted when they differ.
    X, y, clf, _ = _classification(2)
    dX = _masked(X, X[:, 2] > -0.3, 30)
    dy = _masked(y, X[:, 3] > -0.3, 30)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: X has"):
        get_scorer("accuracy")(clf, dX, dy)


#: X and y (or weights) with as many row blocks, of unknown sizes on one side
#: that do not line up: the blocks are counted and realigned.
MISALIGNED = {
    "X frame, y array": lambda X, y, m: (
        dd.from_pandas(pd.DataFrame(X), npartitions=4),
        _dask(y, 31),
    ),
    "X frame, y frame": lambda X, y, m: (
        dd.from_pandas(pd.DataFrame(X), npartitions=4),
        dd.from_pandas(pd.Series(y, index=np.arange(N) * 7), npartitions=4),
    ),
    "X unknown, y array": lambda X, y, m: (_masked(X, m, 30), _dask(y[m], 20)),
}


def _n_blocks(collection):
    return getattr(collection, "npartitions", None) or collection.numblocks[0]


@pytest.mark.parametrize("case", list(MISALIGNED))
def test_unknown_row_blocks_that_do_not_line_up_are_realigned(case):
    X, y, clf, w = _classification(2)
    mask = np.arange(N) % 3 != 0
    dX, dy = MISALIGNED[case](X, y, mask)
    assert _n_blocks(dX) == _n_blocks(dy) == 4
    if "unknown" in case:
        X, y, w = X[mask], y[mask], w[mask]
    weights = _dask(w, len(y) // 4 + 1)
    for name in ["accuracy", "roc_auc", "neg_log_loss"]:
        want = skm.get_scorer(name)(clf, X, y, sample_weight=w)
        assert _close(get_scorer(name)(clf, dX, dy, sample_weight=weights), want)
    got = check_scoring(clf, ["accuracy", "roc_auc"], raise_exc=False)(clf, dX, dy)
    assert got == pytest.approx(
        {n: skm.get_scorer(n)(clf, X, y) for n in ["accuracy", "roc_auc"]}
    )


def test_unsupported_dask_collection():
    X, y, clf, _ = _classification(2)
    bag = db.from_sequence(list(X), npartitions=2)
    with pytest.raises(TypeError, match="X is a Bag; skhpo's dask-aware scorers take"):
        get_scorer("accuracy")(clf, bag, y)


def test_sklearn_errors_and_warnings_are_kept():
    X, y, clf, _ = _classification(2)
    one_class = np.zeros(N, dtype=int)
    with pytest.warns(UndefinedMetricWarning, match="Only one class is present"):
        got = get_scorer("roc_auc")(clf, _dask(X, 30), _dask(one_class, 30))
    assert np.isnan(got)
    with pytest.raises(ValueError, match="y_true contains only one label"):
        get_scorer("neg_log_loss")(clf, _dask(X, 30), _dask(one_class, 30))
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        X3, y3, clf3, _ = _classification(3)
        get_scorer("f1")(clf3, _dask(X3, 30), _dask(y3, 30))


def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


class _DivergedRegressor(RegressorMixin, BaseEstimator):
    """A fitted regressor whose predictions hold a NaN."""

    def predict(self, X):
        return _with(np.asarray(X)[:, 0], 5, np.nan)


class _DivergedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities hold a NaN."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        return _with(np.full((len(X), 2), 0.5), 5, np.nan)


WEIGHTS = {
    "NaN": _with(np.ones(N), 3, np.nan),
    "zero": np.zeros(N),
    "summing to zero": _with(np.zeros(N), [0, 1], [1.0, -1.0]),
}
#: scorer, estimator, value put in y_true, weights: scikit-learn raises, and so
#: must the blockwise reductions, with its message.
INVALID_INPUTS = [
    ("neg_mean_squared_error", "regressor", np.nan, None),
    ("neg_mean_absolute_error", "regressor", np.inf, None),
    ("r2", "diverged", None, None),
    ("explained_variance", "regressor", None, "NaN"),
    ("r2", "regressor", None, "zero"),
    ("neg_root_mean_squared_error", "regressor", None, "zero"),
    ("r2", "regressor", None, "summing to zero"),
    ("neg_log_loss", "classifier", None, "NaN"),
    ("neg_log_loss", "classifier", None, "zero"),
    ("neg_log_loss", "diverged", None, None),
    ("accuracy", "classifier", None, "NaN"),
]


@pytest.mark.parametrize(("name", "estimator", "y_value", "weights"), INVALID_INPUTS)
def test_invalid_values_raise_sklearn_errors(name, estimator, y_value, weights):
    X, y, reg, _ = _regression(1)
    if name in CLASSIFICATION:
        X, y, clf, _ = _classification(2)
        estimator = _DivergedClassifier() if estimator == "diverged" else clf
    else:
        estimator = _DivergedRegressor() if estimator == "diverged" else reg
    if y_value is not None:
        y = _with(y, 5, y_value)
    w = None if weights is None else WEIGHTS[weights]
    with pytest.raises((ValueError, ZeroDivisionError)) as expected:
        skm.get_scorer(name)(estimator, X, y, **_kw(w))
    dw = None if w is None else _dask(w, 30)
    with pytest.raises(expected.type, match=re.escape(str(expected.value))):
        get_scorer(name)(estimator, _dask(X, 30), _dask(y, 30), **_kw(dw))


def test_concurrent_calls_leave_the_warning_state_alone():
    # roc_auc evaluates its table inside dask under catch_warnings; two calls
    # at once on the threaded scheduler used to leave its filter and recorder
    # behind, hiding every later warning of the process.
    X, y, clf, _ = _classification(2)
    dX, dy = _dask(X, 20), _dask(y, 20)
    filters, show = list(warnings.filters), warnings._showwarnmsg_impl

    def work():
        for _ in range(100):
            get_scorer("roc_auc")(clf, dX, dy)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == filters
    assert warnings._showwarnmsg_impl is show


@pytest.mark.filterwarnings("ignore:`positive_likelihood_ratio` is ill-defined")
@pytest.mark.filterwarnings("ignore:`negative_likelihood_ratio` is ill-defined")
def test_names_without_a_blockwise_reduction_keep_sklearn_attributes():
    # TunedThresholdClassifierCV reads _score_func, _sign, _kwargs and
    # _response_method of the scorer it is given.
    X, y, _, _ = _classification(2)
    want, got = (
        TunedThresholdClassifierCV(
            LogisticRegression(), scoring=scoring, random_state=0
        ).fit(X, y)
        for scoring in [
            "positive_likelihood_ratio",
            get_scorer("positive_likelihood_ratio"),
        ]
    )
    assert got.best_threshold_ == want.best_threshold_
    assert repr(get_scorer("positive_likelihood_ratio")) == (
        "get_scorer('positive_likelihood_ratio')"
    )


# ---------------------------------------------------------------------------
# fallbacks, pickling, check_scoring, scikit-learn integration


@pytest.mark.parametrize(
    ("name", "n_classes"),
    [("neg_median_absolute_error", 0), ("roc_auc_ovr", 3), ("neg_brier_score", 2)],
)
def test_other_sklearn_names_gather_with_a_warning(name, n_classes):
    X, y, est, _ = _regression(1) if n_classes == 0 else _classification(n_classes)
    expected = skm.get_scorer(name)(est, X, y)
    with pytest.warns(DaskGatherWarning, match="y_true and the predictions"):
        got = get_scorer(name)(est, _dask(X, 30), _dask(y, 30))
    assert _close(got, expected)


def _custom_metric(y_true, y_pred, *, sample_weight=None):
    return float(np.average(np.abs(y_true - y_pred) < 0.5, weights=sample_weight))


def test_make_scorer_with_a_custom_metric_gathers_predictions_only():
    X, y, reg, w = _regression(1)
    scorer = make_scorer(_custom_metric)
    expected = skm.make_scorer(_custom_metric)(reg, X, y, sample_weight=w)
    assert scorer(reg, X, y, sample_weight=w) == expected
    with pytest.warns(DaskGatherWarning):
        got = scorer(reg, _dask(X, 30), _dask(y, 30), sample_weight=_dask(w, 30))
    assert _close(got, expected)


@pytest.mark.parametrize("name", get_scorer_names(dask_aware=True))
def test_scorers_pickle_and_repr(name):
    scorer = get_scorer(name)
    assert scorer.dask_aware
    assert repr(scorer) == repr(skm.get_scorer(name))
    X, y, est, _ = _regression(1) if name in REGRESSION else _classification(2)
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone(est, X, y) == scorer(est, X, y)


def test_make_scorer_repr_matches_sklearn():
    ours = make_scorer(skm.fbeta_score, beta=2, average="macro")
    assert repr(ours) == repr(skm.make_scorer(skm.fbeta_score, beta=2, average="macro"))
    ours = make_scorer(
        skm.log_loss, greater_is_better=False, response_method="predict_proba"
    )
    assert "greater_is_better=False" in repr(ours)
    assert repr(get_scorer("neg_brier_score")) == "get_scorer('neg_brier_score')"
    assert not get_scorer("neg_brier_score").dask_aware


class _ScoreOnly(BaseEstimator):
    def fit(self, X, y):
        return self

    def score(self, X, y):
        return 0.25


class _NoScore(BaseEstimator):
    def fit(self, X, y):
        return self


def test_check_scoring_none_uses_the_estimator_score():
    X, y, clf, w = _classification(2)
    scorer = check_scoring(clf)
    assert scorer(clf, X, y, sample_weight=w) == clf.score(X, y, sample_weight=w)
    # ClassifierMixin.score on dask inputs: blockwise accuracy
    got = scorer(clf, _dask(X, 30), _dask(y, 30), sample_weight=_dask(w, 30))
    assert _close(got, clf.score(X, y, sample_weight=w))
    Xr, yr, reg, _ = _regression(1)
    assert _close(
        check_scoring(reg)(reg, _dask(Xr, 30), _dask(yr, 30)), reg.score(Xr, yr)
    )
    assert check_scoring(_ScoreOnly())(_ScoreOnly(), X, y) == 0.25
    assert check_scoring(_NoScore(), allow_none=True) is None


@pytest.mark.parametrize(
    ("scoring", "error", "match"),
    [
        (None, TypeError, "should have a 'score' method"),
        (skm.accuracy_score, ValueError, "looks like it is a metric function"),
        ([], ValueError, "An empty list was passed as scoring"),
        (["accuracy", "accuracy"], ValueError, "Duplicate scorer names"),
        ([skm.get_scorer("accuracy")], ValueError, "must contain only scorer names"),
        ({}, ValueError, "An empty dict was passed as scoring"),
        (3, ValueError, "scoring is invalid"),
    ],
)
def test_check_scoring_errors(scoring, error, match):
    with pytest.raises(error, match=match):
        check_scoring(_NoScore(), scoring)


@pytest.mark.parametrize("as_dict", [False, True])
def test_multimetric_scoring_shares_one_computation(as_dict):
    X, y, clf, w = _classification(2)
    names = ["accuracy", "roc_auc", "neg_log_loss", "f1"]
    scoring = {n: get_scorer(n) for n in names} if as_dict else names
    scorer = check_scoring(clf, scoring)
    dX, dy = _dask(X, 30), _dask(y, 30)
    computes = []

    class _Count(Callback):
        def _start(self, dsk):
            computes.append(len(dsk))

    with _Count():
        got = scorer(clf, dX, dy, sample_weight=w)
    assert len(computes) == 1
    assert list(got) == names
    for n in names:
        assert _close(got[n], skm.get_scorer(n)(clf, X, y, sample_weight=w))
    assert scorer(clf, X, y) == {n: skm.get_scorer(n)(clf, X, y) for n in names}


def test_multimetric_raise_exc_false_reports_tracebacks():
    X, y, clf, _ = _classification(3)
    scorer = check_scoring(clf, ["accuracy", "f1"], raise_exc=False)
    for X_, y_ in [(X, y), (_dask(X, 30), _dask(y, 30))]:
        got = scorer(clf, X_, y_)
        assert _close(got["accuracy"], clf.score(X, y))
        assert "Target is multiclass but average='binary'" in got["f1"]
    with pytest.raises(ValueError, match="Target is multiclass"):
        check_scoring(clf, ["accuracy", "f1"])(clf, _dask(X, 30), _dask(y, 30))


def test_inside_sklearn_search_and_cross_validate():
    X, y, _, w = _classification(2)
    cv = KFold(3)
    grid = {"C": [0.01, 1.0]}
    names = ["roc_auc", "neg_log_loss", "f1_macro"]
    ours = GridSearchCV(
        LogisticRegression(),
        grid,
        cv=cv,
        scoring={n: get_scorer(n) for n in names},
        refit="roc_auc",
    ).fit(X, y)
    theirs = GridSearchCV(
        LogisticRegression(), grid, cv=cv, scoring=names, refit="roc_auc"
    ).fit(X, y)
    for n in names:
        key = f"mean_test_{n}"
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    got = cross_validate(
        LogisticRegression(), X, y, cv=cv, scoring=get_scorer("accuracy")
    )
    want = cross_validate(LogisticRegression(), X, y, cv=cv, scoring="accuracy")
    np.testing.assert_array_equal(got["test_score"], want["test_score"])
    # skhpo's multimetric callable is a "callable returning a dict" for sklearn
    both = check_scoring(LogisticRegression(), ["accuracy", "roc_auc"])
    got = cross_validate(LogisticRegression(), X, y, cv=cv, scoring=both)
    want = cross_validate(
        LogisticRegression(), X, y, cv=cv, scoring=["accuracy", "roc_auc"]
    )
    for key in ["test_accuracy", "test_roc_auc"]:
        np.testing.assert_array_equal(got[key], want[key])


def test_metadata_routing_passes_sample_weight():
    X, y, _, w = _classification(2)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("accuracy").set_score_request(sample_weight=True)
        got = cross_validate(
            LogisticRegression().set_fit_request(sample_weight=False),
            X,
            y,
            cv=KFold(3),
            scoring=scorer,
            params={"sample_weight": w},
        )
        sk = skm.get_scorer("accuracy").set_score_request(sample_weight=True)
        want = cross_validate(
            LogisticRegression().set_fit_request(sample_weight=False),
            X,
            y,
            cv=KFold(3),
            scoring=sk,
            params={"sample_weight": w},
        )
    np.testing.assert_array_equal(got["test_score"], want["test_score"])
    with pytest.raises(RuntimeError, match="metadata routing is enabled"):
        get_scorer("accuracy").set_score_request(sample_weight=True)


@pytest.mark.parametrize("dask_input", [False, True])
def test_metadata_routing_of_several_scorers(dask_input):
    # Each scorer gets sample_weight only if it requests it, as in scikit-learn.
    X, y, clf, w = _classification(2)
    Xs, ys, ws = (_dask(X, 30), _dask(y, 30), _dask(w, 30)) if dask_input else (X, y, w)
    with sklearn.config_context(enable_metadata_routing=True):
        scores = {}
        for module in [skm, skhpo.metrics]:
            scoring = {
                "weighted": module.get_scorer("accuracy").set_score_request(
                    sample_weight=True
                ),
                "unweighted": module.get_scorer("roc_auc").set_score_request(
                    sample_weight=False
                ),
            }
            scorer = module.check_scoring(clf, scoring)
            scores[module.__name__] = scorer(clf, Xs, ys, sample_weight=ws)
            cv = cross_validate(
                LogisticRegression().set_fit_request(sample_weight=False),
                X,
                y,
                cv=KFold(3),
                scoring=scorer,
                params={"sample_weight": w},
            )
            scores[module.__name__, "cv"] = cv["test_weighted"]
    assert scores["skhpo.metrics"] == pytest.approx(scores["sklearn.metrics"])
    assert scores["skhpo.metrics"]["weighted"] != clf.score(X, y)
    np.testing.assert_array_equal(
        scores["skhpo.metrics", "cv"], scores["sklearn.metrics", "cv"]
    )


class _NoGather(TransformerMixin, BaseEstimator):
    """Passes row blocks through; fails if given the whole dask collection."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        assert not dask.is_dask_collection(X), "X was gathered"
        return X


def test_check_scoring_none_scores_a_pipeline_blockwise():
    X, y, _, w = _classification(2)
    pipe = make_pipeline(_NoGather(), LogisticRegression()).fit(X, y)
    got = check_scoring(pipe)(pipe, _dask(X, 30), _dask(y, 30), sample_weight=w)
    assert _close(got, pipe.score(X, y, sample_weight=w))


# ---------------------------------------------------------------------------
# what is computed: never all the rows in one task


def _rows(value):
    """Largest number of rows of any array inside a task result."""
    if isinstance(value, (np.ndarray, pd.Series, pd.DataFrame)):
        return value.shape[0] if value.ndim else 0
    if isinstance(value, (tuple, list)):
        return max((_rows(v) for v in value), default=0)
    if isinstance(value, dict):
        return max((_rows(v) for v in value.values()), default=0)
    return 0


class _LargestResult(Callback):
    """Records the largest task result produced by tasks outside ``inputs``."""

    def __init__(self, inputs):
        super().__init__()
        self.inputs = set(inputs)
        self.largest = {}

    def _posttask(self, key, result, dsk, state, worker_id):
        if key not in self.inputs:
            self.largest[key] = _rows(result)


@functools.cache
def _large_problem(estimator, n=2000):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    if estimator == "ridge":
        y = X @ [1.0, 2.0, 3.0] + rng.normal(size=n)
        est = Ridge().fit(X, y)
    else:
        y = (X[:, 0] + rng.normal(size=n) > 0).astype(int)
        est = (
            LogisticRegression()
            if estimator == "logistic"
            else DecisionTreeClassifier(max_depth=4, random_state=0)
        ).fit(X, y)
    return X, y, rng.uniform(size=n), est


@pytest.mark.parametrize(
    ("name", "estimator"),
    [(n, "logistic") for n in CLASSIFICATION if n not in PROBABILISTIC]
    + [(n, "tree") for n in PROBABILISTIC]
    + [(n, "ridge") for n in REGRESSION],
)
def test_no_task_holds_all_rows(name, estimator):
    X, y, w, est = _large_problem(estimator)
    chunk = 250
    dX = da.from_array(X, chunks=(chunk, 2))  # column blocks are merged per row block
    dy, dw = _dask(y, 100), _dask(w, chunk)  # y is rechunked to X's row blocks
    inputs = [*dX.__dask_graph__(), *dy.__dask_graph__(), *dw.__dask_graph__()]
    with dask.config.set(scheduler="sync"), _LargestResult(inputs) as seen:
        got = get_scorer(name)(est, dX, dy, sample_weight=dw)
    assert seen.largest, "the callback saw no task"
    assert max(seen.largest.values()) <= chunk, sorted(
        seen.largest.items(), key=lambda kv: -kv[1]
    )[:3]
    expected = skm.get_scorer(name)(est, X, y, sample_weight=w)
    assert _close(got, expected)


# ---------------------------------------------------------------------------
# property-based: random sizes and chunkings


@st.composite
def _chunked_problem(draw):
    n = draw(st.integers(2, 60))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6)))
    chunks = tuple(np.diff([0, *cuts, n]).tolist())
    seed = draw(st.integers(0, 2**16))
    weighted = draw(st.booleans())
    return n, chunks, seed, weighted


def _outcome(scorer, *args, **kwargs):
    """Score, or (exception type, message); warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return scorer(*args, **kwargs)
        except (ValueError, ZeroDivisionError) as error:
            return type(error), str(error)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _chunked_problem(),
    st.sampled_from(["accuracy", "f1_macro", "neg_log_loss", "roc_auc", "recall"]),
)
def test_random_chunkings_classification(problem, name):
    n, chunks, seed, weighted = problem
    _, _, clf, _ = _classification(2)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = rng.integers(0, 2, size=n)
    w = rng.uniform(0, 2, size=n) if weighted else None
    expected = _outcome(skm.get_scorer(name), clf, X, y, **_kw(w))
    wd = None if w is None else _dask(w, chunks)
    got = _outcome(get_scorer(name), clf, _dask(X, chunks), _dask(y, chunks), **_kw(wd))
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert _close(got, expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunked_problem(), st.sampled_from(REGRESSION))
def test_random_chunkings_regression(problem, name):
    n, chunks, seed, weighted = problem
    _, _, reg, _ = _regression(1)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.normal(size=n) * 3
    w = rng.uniform(0, 2, size=n) if weighted else None
    expected = _outcome(skm.get_scorer(name), reg, X, y, **_kw(w))
    wd = None if w is None else _dask(w, chunks)
    got = _outcome(get_scorer(name), reg, _dask(X, chunks), _dask(y, chunks), **_kw(wd))
    assert _close(got, expected)


class _PredictsInParallel(BaseEstimator):
    """Predicts zeros through a ``Parallel(n_jobs=2)`` whose two calls wait for
    each other: they must run at once, on threads of this process."""

    def predict(self, X):
        barrier = threading.Barrier(2, timeout=5)

        def zeros(rows):
            barrier.wait()
            return np.zeros(len(rows))

        halves = joblib.delayed(zeros)
        return np.concatenate(joblib.Parallel(n_jobs=2)(map(halves, np.split(X, 2))))


def test_parallel_calls_inside_blockwise_predictions_run_on_threads():
    """As in loky's workers (in a dask worker, joblib's default backend would
    start processes, or in a nanny's daemonic worker run one job and warn)."""
    X, y = np.ones((40, 2)), np.zeros(40)
    scorer = get_scorer("neg_mean_squared_error")
    assert scorer(_PredictsInParallel(), _dask(X, 10), _dask(y, 10)) == 0


# ---------------------------------------------------------------------------
# a real cluster: scoring through the client and inside worker tasks


@pytest.fixture(scope="module")
def client():
    # Nothing defined in this module may run on the workers: they cannot import it.
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_scoring_a_dask_array_through_the_client(client):
    X, y, clf, w = _classification(3)
    dX, dy, dw = _dask(X, 30), _dask(y, 30), _dask(w, 30)
    names = ["accuracy", "f1_macro", "neg_log_loss", "matthews_corrcoef"]
    with client.as_current(), get_task_stream(client) as stream:
        got = {n: get_scorer(n)(clf, dX, dy, sample_weight=dw) for n in names}
    # the predictions ran on the workers, block by block
    keys = [str(task["key"]) for task in stream.data]
    assert sum("skhpo-predict" in k for k in keys) >= 4 * len(names)
    for n in names:
        assert _close(got[n], skm.get_scorer(n)(clf, X, y, sample_weight=w))


def test_blocks_that_do_not_line_up_are_realigned_on_the_cluster(client):
    # The workers' mismatch error reaches the client as itself: the scorer
    # counts the rows and scores again.
    X, y, clf, _ = _classification(2)
    mask = np.arange(N) % 3 != 0
    with client.as_current():
        for case, make in MISALIGNED.items():
            rows = mask if "unknown" in case else slice(None)
            got = get_scorer("accuracy")(clf, *make(X, y, mask))
            assert got == skm.get_scorer("accuracy")(clf, X[rows], y[rows])


def test_scorer_inside_worker_tasks_does_not_deadlock(client):
    # 2 workers x 1 thread, 4 scoring tasks at once: each task's sub-graph needs
    # worker threads, so the scoring tasks must secede while they wait.
    X, y, clf, _ = _classification(2)
    dX, dy = _dask(X, 20), _dask(y, 20)
    names = ["roc_auc", "neg_log_loss", "accuracy", "balanced_accuracy"]
    # The task is the scorer itself; a partial hides the dask arrays from
    # Client.submit, which would otherwise compute them before the task runs.
    tasks = [functools.partial(get_scorer(n), clf, dX, dy) for n in names]
    with get_task_stream(client) as stream:
        got = client.gather([client.submit(t, pure=False) for t in tasks])
    for n, score in zip(names, got):
        assert _close(score, skm.get_scorer(n)(clf, X, y))
    # the tasks' own graphs ran on the cluster, block by block
    keys = [str(task["key"]) for task in stream.data]
    assert any("skhpo-predict" in k for k in keys)


def test_scorer_in_grid_search_on_the_cluster(client):
    X, y, _, _ = _classification(2)
    scoring = {"auc": get_scorer("roc_auc"), "ll": get_scorer("neg_log_loss")}
    grid = {"C": [0.1, 1.0]}
    with client.as_current(), joblib.parallel_config(backend="dask"):
        ours = GridSearchCV(
            LogisticRegression(), grid, cv=KFold(3), scoring=scoring, refit="auc"
        ).fit(X, y)
    theirs = GridSearchCV(
        LogisticRegression(),
        grid,
        cv=KFold(3),
        scoring={"auc": "roc_auc", "ll": "neg_log_loss"},
        refit="auc",
    ).fit(X, y)
    for key in ["mean_test_auc", "mean_test_ll"]:
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key])
