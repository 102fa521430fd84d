import pickle
import warnings

import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris, make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skhpo import SMBOSearchCV
from skhpo.space import Categorical, Integer, Real

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SURROGATES = ["random", "tpe", "gp", "rf"]


# -- scikit-learn's estimator checks, as it runs them on its own searches ------

_CHECK_KW = dict(cv=2, error_score="raise", n_iter=2, random_state=0)


def _expected_failed_checks(est):
    # The same checks scikit-learn marks as expected failures for GridSearchCV.
    return {
        "check_supervised_y_2d": "DataConversionWarning not caught",
        "check_requires_y_none": "Doesn't fail gracefully",
    }


@parametrize_with_checks(
    [
        SMBOSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, **_CHECK_KW),
        SMBOSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, **_CHECK_KW),
        SMBOSearchCV(
            Pipeline([("pca", PCA()), ("ridge", Ridge())]),
            {"ridge__alpha": Real(0.1, 1.0)},
            **_CHECK_KW,
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_search(estimator, check):
    check(estimator)


# -- the search itself ---------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_search_runs_every_surrogate(surrogate):
    space = {
        "C": Real(1e-2, 1e2, log=True),
        "gamma": Real(1e-3, 1e1, log=True),
        "shrinking": Categorical([True, False]),
    }
    search = SMBOSearchCV(
        SVC(),
        space,
        n_iter=8,
        n_initial_points=4,
        surrogate=surrogate,
        cv=3,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    res = search.cv_results_
    assert list(res["iter"]) == list(range(8))
    assert len(res["params"]) == 8
    assert search.best_params_ == res["params"][search.best_index_]
    assert search.best_score_ == np.nanmax(res["mean_test_score"])
    assert 1e-2 <= search.best_params_["C"] <= 1e2
    assert search.predict(X_IRIS).shape == Y_IRIS.shape
    assert len(search.optimizer_.history) == 8


def test_rounds_of_n_points_are_distinct_and_counted():
    search = SMBOSearchCV(
        RidgeClassifier(),
        {"alpha": Real(1e-3, 1e3, log=True)},
        n_iter=7,
        n_points=3,
        n_initial_points=3,
        cv=2,
        random_state=1,
    ).fit(X_IRIS, Y_IRIS)
    iters = np.asarray(search.cv_results_["iter"])
    assert iters.tolist() == [0, 0, 0, 1, 1, 1, 2]
    cs = [p["alpha"] for p in search.cv_results_["params"]]
    assert len(set(cs)) == 7


def test_same_seed_same_candidates_whatever_n_jobs():
    def run(n_jobs):
        return (
            SMBOSearchCV(
                RidgeClassifier(),
                {"alpha": Real(1e-3, 1e3, log=True)},
                n_iter=6,
                n_initial_points=3,
                cv=3,
                n_jobs=n_jobs,
                random_state=7,
            )
            .fit(X_IRIS, Y_IRIS)
            .cv_results_["params"]
        )

    assert run(1) == run(1) == run(2)


def test_multimetric_with_refit_name_and_callable():
    space = {"alpha": Real(1e-3, 1e2, log=True)}
    scoring = {"acc": "accuracy", "f1": "f1_macro"}
    search = SMBOSearchCV(
        RidgeClassifier(),
        space,
        n_iter=5,
        n_initial_points=2,
        scoring=scoring,
        refit="f1",
        cv=3,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    assert search.multimetric_
    assert search.best_score_ == search.cv_results_["mean_test_f1"][search.best_index_]
    told = [score for _, score in search.optimizer_.history]
    np.testing.assert_allclose(told, search.cv_results_["mean_test_f1"])

    def lowest_c(results):
        return int(np.argmin([p["alpha"] for p in results["params"]]))

    search = SMBOSearchCV(
        RidgeClassifier(),
        space,
        n_iter=4,
        scoring=scoring,
        refit=lowest_c,
        cv=2,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    assert search.best_index_ == lowest_c(search.cv_results_)
    with pytest.raises(ValueError, match="refit must be set to a scorer key"):
        SMBOSearchCV(
            RidgeClassifier(), space, n_iter=2, scoring=scoring, refit=True
        ).fit(X_IRIS, Y_IRIS)


class FoldRecorder(ClassifierMixin, BaseEstimator):
    """Records the training rows it sees; fails for ``fail=True``."""

    seen = []

    def __init__(self, c=1.0, fail=False, value=None):
        self.c = c
        self.fail = fail
        self.value = value

    def fit(self, X, y):
        if self.fail:
            raise RuntimeError("this candidate always fails")
        FoldRecorder.seen.append(tuple(np.round(X[:, 0], 6)))
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_every_candidate_sees_the_same_folds_with_an_unseeded_shuffle():
    FoldRecorder.seen = []
    SMBOSearchCV(
        FoldRecorder(),
        {"c": Real(0, 1)},
        n_iter=6,
        n_initial_points=2,
        cv=KFold(3, shuffle=True),
        random_state=0,
        refit=False,
    ).fit(X_IRIS, Y_IRIS)
    assert len(FoldRecorder.seen) == 18
    assert len(set(FoldRecorder.seen)) == 3


def test_a_cv_iterable_that_can_be_read_once():
    folds = list(KFold(3).split(X_IRIS))
    search = SMBOSearchCV(
        FoldRecorder(),
        {"c": Real(0, 1)},
        n_iter=4,
        cv=(f for f in folds),
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    assert search.n_splits_ == 3
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_groups_reach_the_splitter():
    rng = np.random.RandomState(0)
    groups = rng.randint(0, 5, size=len(Y_IRIS))
    FoldRecorder.seen = []
    SMBOSearchCV(
        FoldRecorder(),
        {"c": Real(0, 1)},
        n_iter=2,
        cv=GroupKFold(5),
        random_state=0,
        refit=False,
    ).fit(X_IRIS, Y_IRIS, groups=groups)
    assert len(set(FoldRecorder.seen)) == 5


def test_failing_candidates_do_not_abort_and_warn_once():
    space = {"fail": Categorical([False, True]), "c": Real(0, 1)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = SMBOSearchCV(
            FoldRecorder(),
            space,
            n_iter=8,
            n_initial_points=4,
            cv=2,
            random_state=0,
        ).fit(X_IRIS, Y_IRIS)
    failed = [p["fail"] for p in search.cv_results_["params"]]
    assert any(failed) and not all(failed)
    scores = search.cv_results_["mean_test_score"]
    assert np.isnan(scores[np.array(failed)]).all()
    assert search.best_params_["fail"] is False
    fit_warnings = [w for w in caught if issubclass(w.category, FitFailedWarning)]
    assert len(fit_warnings) == 1
    n_failed = 2 * sum(failed)
    assert f"{n_failed} fits failed out of a total of 16" in str(
        fit_warnings[0].message
    )


def test_all_fits_failing_raises_sklearns_error():
    with pytest.raises(ValueError, match="All the 6 fits failed"):
        SMBOSearchCV(
            FoldRecorder(fail=True),
            {"c": Real(0, 1)},
            n_iter=3,
            cv=2,
            random_state=0,
        ).fit(X_IRIS, Y_IRIS)


def test_error_score_raise_surfaces_the_error():
    with pytest.raises(RuntimeError, match="always fails"):
        SMBOSearchCV(
            FoldRecorder(fail=True),
            {"c": Real(0, 1)},
            n_iter=3,
            cv=2,
            error_score="raise",
        ).fit(X_IRIS, Y_IRIS)


def test_candidate_values_are_the_users_own_objects():
    arr = np.array([1.0, 2.0])
    est = LogisticRegression()
    choices = [None, (1, 2), arr, est]
    search = SMBOSearchCV(
        FoldRecorder(),
        {"value": Categorical(choices)},
        n_iter=4,
        cv=2,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    seen = [p["value"] for p in search.cv_results_["params"]]
    assert all(any(v is c for c in choices) for v in seen)
    assert len({id(v) for v in seen}) == 4  # the grid of 4 is exhausted


def test_a_sub_space_swaps_a_pipeline_step_with_its_own_parameters():
    # scikit-learn's "choose the classifier" space: the tree's max_depth is not
    # a parameter of the pipeline's default step.
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    space = [
        {"clf": [LogisticRegression()], "clf__C": Real(0.01, 10, log=True)},
        {"clf": [DecisionTreeClassifier(random_state=0)], "clf__max_depth": [1, 2, 3]},
    ]
    search = SMBOSearchCV(pipe, space, n_iter=8, cv=3, random_state=0)
    search.fit(X_IRIS, Y_IRIS)
    trees = [p for p in search.cv_results_["params"] if "clf__max_depth" in p]
    assert trees and len(trees) < 8
    for p in trees:
        assert isinstance(p["clf"], DecisionTreeClassifier)
    best, step = search.best_params_, search.best_estimator_.named_steps["clf"]
    assert type(step) is type(best["clf"])
    for name, value in best.items():
        if name.startswith("clf__"):
            assert step.get_params()[name.removeprefix("clf__")] == value


def test_pipeline_parameters_clone_and_pickle():
    pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC())])
    search = SMBOSearchCV(
        pipe,
        {"svc__C": Real(1e-2, 1e2, log=True), "svc__kernel": ["rbf", "linear"]},
        n_iter=5,
        cv=3,
        random_state=0,
        surrogate="gp",
    )
    unfitted = clone(search)
    assert unfitted.get_params()["n_iter"] == 5
    search.fit(X_IRIS, Y_IRIS)
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X_IRIS), search.predict(X_IRIS))
    assert restored.best_params_ == search.best_params_


def test_integer_and_conditional_spaces():
    X, y = make_classification(200, 6, random_state=0)
    space = [
        {"kernel": ["linear"], "C": Real(1e-2, 1e2, log=True)},
        {"kernel": ["poly"], "degree": Integer(2, 4), "C": Real(1e-2, 1e2, log=True)},
    ]
    search = SMBOSearchCV(
        SVC(), space, n_iter=8, n_initial_points=4, cv=2, random_state=0
    ).fit(X, y)
    for p in search.cv_results_["params"]:
        assert ("degree" in p) == (p["kernel"] == "poly")


# -- bad input, refused before any fit -----------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"param_distributions": {"cc": Real(0, 1)}},
            ValueError,
            "Invalid parameter 'cc'",
        ),
        ({"param_distributions": {"c": []}}, ValueError, "list of values is empty"),
        ({"param_distributions": 5}, InvalidParameterError, "param_distributions"),
        ({"n_iter": 0}, InvalidParameterError, "'n_iter' parameter"),
        ({"surrogate": "bayes"}, InvalidParameterError, "'surrogate' parameter"),
        ({"acquisition": "ucb"}, InvalidParameterError, "'acquisition' parameter"),
        ({"n_points": 0}, InvalidParameterError, "'n_points' parameter"),
        ({"n_initial_points": 0}, InvalidParameterError, "'n_initial_points'"),
    ],
)
def test_bad_input_is_refused_before_any_fit(kwargs, error, match):
    FoldRecorder.seen = []
    params = {"param_distributions": {"c": Real(0, 1)}, **kwargs}
    search = SMBOSearchCV(FoldRecorder(), **params)
    with pytest.raises(error, match=match):
        search.fit(X_IRIS, Y_IRIS)
    assert FoldRecorder.seen == []


# -- on a dask cluster -----------------------------------------------------------


@pytest.fixture
def dask_client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cl,
        Client(cl) as client,
    ):
        yield client


def test_under_joblibs_dask_backend_results_match_sequential(dask_client):
    kw = dict(n_iter=6, n_initial_points=3, n_points=2, cv=3, random_state=3)
    space = {"alpha": Real(1e-3, 1e2, log=True)}
    # execution="joblib": a client is active, which "auto" would run async.
    local = SMBOSearchCV(RidgeClassifier(), space, execution="joblib", **kw)
    local.fit(X_IRIS, Y_IRIS)
    on_dask = SMBOSearchCV(RidgeClassifier(), space, **kw)
    with joblib.parallel_config(backend="dask"):
        on_dask.fit(X_IRIS, Y_IRIS)
    assert on_dask.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


# -- interruption and budgets ----------------------------------------------------


class Interrupting(FoldRecorder):
    """Raises KeyboardInterrupt at the ``after``-th fit, as Ctrl-C would."""

    def __init__(self, c=1.0, after=7):
        self.c = c
        self.after = after

    def fit(self, X, y):
        if len(FoldRecorder.seen) + 1 >= self.after:
            raise KeyboardInterrupt
        self.fail = False
        return super().fit(X, y)


def test_interrupt_keeps_the_finished_rounds():
    FoldRecorder.seen = []
    search = SMBOSearchCV(
        Interrupting(after=7), {"c": Real(0, 1)}, n_iter=10, cv=2, random_state=0
    )
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_IRIS, Y_IRIS)
    # Fits 1-6 are three finished rounds; the fourth round was interrupted.
    assert len(search.cv_results_["params"]) == 3
    assert search.best_params_ == search.cv_results_["params"][search.best_index_]
    assert np.isfinite(search.best_score_)
    assert not hasattr(search, "best_estimator_")


class Slow(FoldRecorder):
    def __init__(self, c=1.0, delay=0.05):
        self.c = c
        self.delay = delay

    def fit(self, X, y):
        import time

        time.sleep(self.delay)
        self.fail = False
        return super().fit(X, y)


def test_ctrl_c_signal_stops_promptly_and_keeps_results(sigint):
    import os
    import signal
    import threading
    import time

    FoldRecorder.seen = []
    search = SMBOSearchCV(
        Slow(delay=0.1), {"c": Real(0, 1)}, n_iter=200, cv=2, random_state=0
    )
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            search.fit(X_IRIS, Y_IRIS)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 10
    n_done = len(search.cv_results_["params"])
    assert 1 <= n_done < 200
    assert search.best_params_ in search.cv_results_["params"]


def test_max_time_stops_between_rounds_with_results():
    search = SMBOSearchCV(
        Slow(delay=0.05),
        {"c": Real(0, 1)},
        n_iter=500,
        cv=2,
        max_time=0.5,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    n_done = len(search.cv_results_["params"])
    assert 1 <= n_done < 500
    assert hasattr(search, "best_estimator_")
    with pytest.raises(InvalidParameterError, match="'max_time' parameter"):
        SMBOSearchCV(Slow(), {"c": Real(0, 1)}, max_time=0).fit(X_IRIS, Y_IRIS)


def test_a_grid_smaller_than_n_iter_is_evaluated_once_per_point():
    search = SMBOSearchCV(
        FoldRecorder(),
        {"c": [0.1, 0.2, 0.3]},
        n_iter=10,
        n_points=2,
        cv=2,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    assert sorted(p["c"] for p in search.cv_results_["params"]) == [0.1, 0.2, 0.3]


class WeightRecorder(FoldRecorder):
    """Records the sample weights its fit receives."""

    weights = []

    def fit(self, X, y, sample_weight=None):
        WeightRecorder.weights.append(sample_weight)
        return super().fit(X, y)


def test_metadata_routing_sends_sample_weight_to_fit():
    import sklearn

    weights = np.linspace(0.5, 1.5, len(Y_IRIS))
    WeightRecorder.weights = []
    with sklearn.config_context(enable_metadata_routing=True):
        est = WeightRecorder().set_fit_request(sample_weight=True)
        est.set_score_request(sample_weight=False)
        search = SMBOSearchCV(
            est, {"c": Real(0, 1)}, n_iter=2, cv=3, random_state=0, refit=False
        )
        search.fit(X_IRIS, Y_IRIS, sample_weight=weights)
    assert len(WeightRecorder.weights) == 6
    for w in WeightRecorder.weights:
        assert w is not None and len(w) == 100  # the training rows of a fold
