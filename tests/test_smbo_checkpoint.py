"""SMBOSearchCV(checkpoint=...): every finished candidate is journaled; a fit with
the same checkpoint resumes without refitting them."""

import numpy as np
import pytest
from distributed import Client, LocalCluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skhpo import SMBOSearchCV
from skhpo.space import Categorical, Real

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SPACE = {"c": Real(0.0, 1.0)}


class Counting(ClassifierMixin, BaseEstimator):
    """Counts its fits (in this process); scores peak at ``c = 0.3``.

    ``Counting.interrupt_at``: the fit with that number raises KeyboardInterrupt
    (a class attribute, so that the checkpoint sees the same estimator).
    """

    fits = 0
    interrupt_at = None

    def __init__(self, c=0.5, value=None):
        self.c = c
        self.value = value

    def fit(self, X, y):
        Counting.fits += 1
        if Counting.interrupt_at is not None and Counting.fits >= Counting.interrupt_at:
            raise KeyboardInterrupt
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return 1.0 - abs(self.c - 0.3)


def _search(path, n_iter, estimator=None, **kw):
    kw = {"cv": 2, "random_state": 0, "execution": "joblib", **kw}
    return SMBOSearchCV(
        estimator or Counting(), SPACE, n_iter=n_iter, checkpoint=path, **kw
    )


def _rows(search, n=None):
    results = search.cv_results_
    keys = ["params", "iter", "split0_test_score", "split1_test_score"]
    return [
        tuple(results[k][i] for k in keys)
        for i in range(len(results["params"]) if n is None else n)
    ]


def test_resume_fits_only_the_missing_candidates(tmp_path):
    path = tmp_path / "search.jsonl"
    Counting.fits = 0
    first = _search(path, 4).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 4 * 2 + 1  # 4 candidates x 2 splits + refit
    Counting.fits = 0
    resumed = _search(path, 7).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 3 * 2 + 1
    assert _rows(resumed, 4) == _rows(first)
    assert len(resumed.cv_results_["params"]) == 7
    assert resumed.optimizer_.n_told == 7
    assert resumed.best_params_ == resumed.cv_results_["params"][resumed.best_index_]
    # Everything is there already: nothing but the refit.
    Counting.fits = 0
    again = _search(path, 7).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 1
    assert _rows(again) == _rows(resumed)


def test_an_interrupted_search_resumes_from_its_finished_candidates(tmp_path):
    path = tmp_path / "search.jsonl"
    interrupted = _search(path, 8, n_initial_points=3)
    Counting.fits, Counting.interrupt_at = 0, 9
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupted.fit(X_IRIS, Y_IRIS)
    finally:
        Counting.interrupt_at = None
    assert len(interrupted.cv_results_["params"]) == 4  # fits 1-8 finished
    Counting.fits = 0
    resumed = _search(path, 8, n_initial_points=3).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 4 * 2 + 1
    assert _rows(resumed, 4) == _rows(interrupted)
    # The surrogate was told the restored candidates: past the 3 random initial
    # points, the new candidates come from the model, near the best (c = 0.3).
    assert len(resumed.cv_results_["params"]) == 8
    assert resumed.optimizer_.n_told == 8
    assert list(resumed.cv_results_["iter"]) == [0, 1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("surrogate", ["tpe", "gp", "rf"])
@pytest.mark.parametrize("n_points", [1, 2])
def test_resumed_search_proposes_what_an_uninterrupted_one_does(
    tmp_path, surrogate, n_points
):
    """The optimizer replays the journaled asks: same random state, same model."""
    kw = dict(n_initial_points=3, surrogate=surrogate, n_points=n_points)
    Counting.fits = 0
    uninterrupted = _search(None, 10, **kw).fit(X_IRIS, Y_IRIS)
    path = tmp_path / "search.jsonl"
    Counting.fits, Counting.interrupt_at = 0, 13  # during the 4th round (n_points 2)
    try:
        with pytest.raises(KeyboardInterrupt):
            _search(path, 10, **kw).fit(X_IRIS, Y_IRIS)
    finally:
        Counting.interrupt_at = None
    Counting.fits = 0
    resumed = _search(path, 10, **kw).fit(X_IRIS, Y_IRIS)
    assert Counting.fits < 10 * 2
    assert _rows(resumed) == _rows(uninterrupted)


def test_a_journal_of_other_rounds_is_told_as_written(tmp_path):
    """Candidates journaled with another n_points are told, not asked again."""
    path = tmp_path / "search.jsonl"
    first = _search(path, 4, n_initial_points=2, n_points=2).fit(X_IRIS, Y_IRIS)
    resumed = _search(path, 6, n_initial_points=2).fit(X_IRIS, Y_IRIS)
    assert _rows(resumed, 4) == _rows(first)
    assert resumed.optimizer_.n_told == 6
    assert resumed.optimizer_.pending == []


def test_user_objects_round_trip_through_the_checkpoint(tmp_path):
    choices = [None, (1, 2), LogisticRegression(C=3.0), "text"]
    space = {"c": Real(0.0, 1.0), "value": Categorical(choices)}
    path = tmp_path / "objects.jsonl"
    kw = dict(cv=2, random_state=0, checkpoint=path, execution="joblib")
    first = SMBOSearchCV(Counting(), space, n_iter=6, **kw).fit(X_IRIS, Y_IRIS)
    resumed = SMBOSearchCV(Counting(), space, n_iter=6, **kw).fit(X_IRIS, Y_IRIS)
    for a, b in zip(first.cv_results_["params"], resumed.cv_results_["params"]):
        assert a["c"] == b["c"]
        assert any(b["value"] is choice for choice in choices)  # the user's own
        assert repr(a["value"]) == repr(b["value"])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(estimator=LogisticRegression()), r"\['estimator'\]"),
        (dict(space={"c": Real(0.0, 2.0)}), r"\['space'\]"),
        (dict(X=X_IRIS[::-1]), r"\['X'\]"),
        (dict(scoring="accuracy"), r"\['scoring'\]"),
        (dict(cv=3), r"\['folds'\]"),
    ],
)
def test_a_checkpoint_of_another_search_is_refused(tmp_path, change, match):
    path = tmp_path / "search.jsonl"
    _search(path, 2).fit(X_IRIS, Y_IRIS)
    X = change.pop("X", X_IRIS)
    space = change.pop("space", SPACE)
    estimator = change.pop("estimator", Counting())
    kw = {"cv": 2, "random_state": 0, "checkpoint": path, **change}
    other = SMBOSearchCV(estimator, space, n_iter=2, **kw)
    if isinstance(estimator, LogisticRegression):
        other.set_params(param_distributions={"C": Real(0.1, 1.0)})
    with pytest.raises(ValueError, match=rf"belongs to another search: .*{match}"):
        other.fit(X, Y_IRIS)


def test_nan_parameters_resume_and_other_values_are_refused(tmp_path):
    # NaN != NaN: a search whose estimator holds a NaN (a nested search's
    # error_score, an imputer's missing_values) must still resume.
    path = tmp_path / "search.jsonl"
    _search(path, 2, Counting(value=np.nan)).fit(X_IRIS, Y_IRIS)
    Counting.fits = 0
    resumed = _search(path, 3, Counting(value=float("nan"))).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 2 + 1
    assert len(resumed.cv_results_["params"]) == 3
    with pytest.raises(
        ValueError, match=r"\['value'\] is NaN in the checkpoint but 0.0"
    ):
        _search(path, 3, Counting(value=0.0)).fit(X_IRIS, Y_IRIS)


def test_a_nested_search_is_neither_recorded_nor_replayed(tmp_path):
    # The estimator is itself a search, fitted in the same thread: its own fits
    # used to be journaled as the outer candidates' splits and told mixed in.
    inner = GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0]}, cv=2)
    space = {"estimator__fit_intercept": [True, False], "estimator__tol": [1e-4, 1e-3]}
    path = tmp_path / "nested.jsonl"
    kw = dict(n_iter=4, cv=3, random_state=0, checkpoint=path, execution="joblib")
    fresh = SMBOSearchCV(inner, space, **kw).fit(X_IRIS, Y_IRIS)
    means = fresh.cv_results_["mean_test_score"]
    told = [o.score for o in fresh.optimizer_.history]
    np.testing.assert_allclose(told, means)
    resumed = SMBOSearchCV(inner, space, **kw).fit(X_IRIS, Y_IRIS)
    np.testing.assert_array_equal(resumed.cv_results_["mean_test_score"], means)


def test_a_torn_last_line_is_dropped_and_refitted(tmp_path):
    path = tmp_path / "search.jsonl"
    _search(path, 4).fit(X_IRIS, Y_IRIS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # a crash in the middle of a line
    Counting.fits = 0
    with pytest.warns(RuntimeWarning, match="only partially written"):
        resumed = _search(path, 4).fit(X_IRIS, Y_IRIS)
    assert Counting.fits == 1 * 2 + 1
    assert len(resumed.cv_results_["params"]) == 4


@pytest.mark.parametrize("execution", ["joblib", "async"])
def test_n_iter_no_change_counts_restored_candidates(tmp_path, execution):
    path = tmp_path / "flat.jsonl"
    flat = {"scoring": lambda est, X, y: 0.5, "n_iter_no_change": 3}
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        first = _search(path, 40, execution=execution, **flat).fit(X_IRIS, Y_IRIS)
        n_first = len(first.cv_results_["params"])
        assert 4 <= n_first < 40
        Counting.fits = 0
        _search(path, 40, execution=execution, **flat).fit(X_IRIS, Y_IRIS)
    assert Counting.fits in (0, 1)  # nothing new, at most the in-process refit


def test_async_search_resumes_a_checkpoint(tmp_path):
    path = tmp_path / "async.jsonl"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        first = _search(path, 5, execution="async").fit(X_IRIS, Y_IRIS)
        resumed = _search(path, 9, execution="async").fit(X_IRIS, Y_IRIS)
    assert _rows(resumed, 5) == _rows(first)
    assert len(resumed.cv_results_["params"]) == 9
    assert sorted(resumed.cv_results_["iter"]) == list(range(9))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(n_first=st.integers(1, 5), n_more=st.integers(0, 4))
def test_resuming_never_refits_and_keeps_every_row(tmp_path_factory, n_first, n_more):
    path = tmp_path_factory.mktemp("prop") / "search.jsonl"
    first = _search(path, n_first, surrogate="random").fit(X_IRIS, Y_IRIS)
    Counting.fits = 0
    total = n_first + n_more
    resumed = _search(path, total, surrogate="random").fit(X_IRIS, Y_IRIS)
    assert Counting.fits == n_more * 2 + 1
    assert _rows(resumed, n_first) == _rows(first)
    assert len(resumed.cv_results_["params"]) == total
