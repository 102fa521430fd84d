"""IncrementalSearchCV and InverseDecaySearchCV: dask-ml's API on real clusters."""

import contextlib
import inspect
import pickle
import warnings

import dask.array as da
import numpy as np
import pytest
from distributed import SchedulerPlugin
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import ParameterSampler
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skhpo._incremental import IncrementalSearchCV, InverseDecaySearchCV
from skhpo.space import Real

X, Y = make_classification(n_samples=300, n_features=5, random_state=0)
XR, YR = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
ALPHAS = {"alpha": np.logspace(-4, -1, 30)}


class IncrementalPipeline(Pipeline):
    """A Pipeline with ``partial_fit``: scikit-learn's Pipeline has none (1.9).

    Each step with ``partial_fit`` is updated on the block, then transforms it
    for the next step; the last step is updated on the transformed block.
    """

    def partial_fit(self, X, y=None, **params):
        for _, step in self.steps[:-1]:
            step.partial_fit(X, y)
            X = step.transform(X)
        self.steps[-1][1].partial_fit(X, y, **params)
        return self


# -- scikit-learn's estimator checks -------------------------------------------


def _expected_failed_checks(estimator):
    return {
        # dask-ml's searches have max_iter (the most partial_fit calls of a
        # model) but they are not an iterative estimator with a fitted n_iter_.
        "check_non_transformer_estimators_n_iter": (
            "max_iter is dask-ml's per-model budget; there is no n_iter_"
        ),
    }


@parametrize_with_checks(
    [
        InverseDecaySearchCV(
            SGDRegressor(random_state=0),
            {"alpha": [1e-4, 1e-3]},
            n_initial_parameters=2,
            max_iter=3,
            random_state=0,
        )
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(client, estimator, check):
    check(estimator)


# -- the API is dask-ml's -------------------------------------------------------


@pytest.mark.parametrize(
    "ours, name",
    [
        (IncrementalSearchCV, "IncrementalSearchCV"),
        (InverseDecaySearchCV, "InverseDecaySearchCV"),
    ],
)
def test_signature_is_dask_mls(ours, name):
    dask_ml = pytest.importorskip("dask_ml.model_selection")
    theirs = inspect.signature(getattr(dask_ml, name)).parameters
    mine = inspect.signature(ours).parameters
    # skhpo's extras (reliability), last and defaulting to None.
    extras = ["checkpoint", "max_time"]
    assert list(mine) == list(theirs) + extras
    assert all(mine[name].default is None for name in extras)
    for key, parameter in theirs.items():
        if key == "decay_rate" and name == "IncrementalSearchCV":
            # dask-ml's default is a private sentinel object; scikit-learn's
            # convention (and clone) needs a plain value.
            assert mine[key].default == "deprecated"
        else:
            assert mine[key].default == parameter.default, key


def test_positional_arguments_and_clone():
    search = IncrementalSearchCV(SGDClassifier(), ALPHAS, 7, None, 0.3)
    assert (search.n_initial_parameters, search.decay_rate, search.test_size) == (
        7,
        None,
        0.3,
    )
    cloned = clone(search)
    assert cloned.get_params()["n_initial_parameters"] == 7
    assert clone(IncrementalSearchCV(SGDClassifier(), ALPHAS)).decay_rate == (
        "deprecated"
    )


def test_same_seed_samples_dask_mls_parameters(client):
    params = {"alpha": loguniform(1e-5, 1e-1), "average": [True, False]}
    search = IncrementalSearchCV(
        SGDClassifier(random_state=0),
        params,
        4,
        decay_rate=None,
        max_iter=1,
        random_state=7,
    ).fit(X, Y, classes=[0, 1])
    expected = list(ParameterSampler(params, 4, random_state=7))
    assert list(search.cv_results_["params"]) == expected


# -- deprecations (dask-ml's) --------------------------------------------------


def test_decay_rate_is_deprecated_and_ignored(client):
    search = IncrementalSearchCV(SGDClassifier(random_state=0), ALPHAS, 3, max_iter=2)
    with pytest.warns(FutureWarning, match="decay_rate has been deprecated"):
        search.fit(X, Y, classes=[0, 1])
    assert search.cv_results_["partial_fit_calls"].tolist() == [2, 2, 2]
    with pytest.warns(FutureWarning, match="Use InverseDecaySearchCV"):
        search.set_params(decay_rate=1.0).fit(X, Y, classes=[0, 1])
    assert search.cv_results_["partial_fit_calls"].tolist() == [2, 2, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.set_params(decay_rate=None).fit(X, Y, classes=[0, 1])
        InverseDecaySearchCV(SGDClassifier(random_state=0), ALPHAS, 3, max_iter=2).fit(
            X, Y, classes=[0, 1]
        )


def test_scores_per_fit_is_a_deprecated_alias(client):
    search = IncrementalSearchCV(
        SGDClassifier(random_state=0),
        ALPHAS,
        2,
        decay_rate=None,
        max_iter=4,
        scores_per_fit=2,
    )
    with pytest.warns(FutureWarning, match="fits_per_score=2 instead"):
        search.fit(X, Y, classes=[0, 1])
    assert [r["partial_fit_calls"] for r in search.model_history_[0]] == [1, 3, 5]
    assert search.fits_per_score == 1  # parameters are never modified
    with pytest.raises(ValueError, match="Specify fits_per_score, not scores_per_fit"):
        search.set_params(fits_per_score=3).fit(X, Y, classes=[0, 1])


# -- errors, raised before any work --------------------------------------------


class NoPartialFit(BaseEstimator):
    def fit(self, X, y=None):
        return self


@pytest.mark.parametrize(
    "estimator, kwargs, error, match",
    [
        (
            SGDClassifier(),
            {"max_iter": 0},
            ValueError,
            "max_iter must be an integer >= 1",
        ),
        (SGDClassifier(), {"max_iter": None}, ValueError, "never stops training"),
        (
            SGDClassifier(),
            {"max_iter": None, "patience": 3, "tol": None},
            ValueError,
            "tol=None turns off the plateau test",
        ),
        (SGDClassifier(), {"patience": 1}, ValueError, "patience <= 1 would detect"),
        (
            SGDClassifier(),
            {"patience": True},
            ValueError,
            "only understood by Hyperband",
        ),
        (
            SGDClassifier(),
            {"patience": 2.5},
            ValueError,
            "patience must be False or an integer >= 2",
        ),
        (
            SGDClassifier(),
            {"verbose": 2},
            ValueError,
            "verbose must be a bool or a number between 0 and 1",
        ),
        (SGDClassifier(), {"verbose": -0.5}, ValueError, "0 <= verbose <= 1"),
        (SGDClassifier(), {"tol": "big"}, ValueError, "tol must be a number or None"),
        (
            SGDClassifier(),
            {"scoring": ["accuracy", "f1"]},
            ValueError,
            "several metrics are not supported",
        ),
        (SGDClassifier(), {"scoring": "accurcy"}, ValueError, "accurcy"),
        (
            SGDClassifier(),
            {"test_size": 1.5},
            ValueError,
            "test_size must be a float in",
        ),
        (
            SGDClassifier(),
            {"n_initial_parameters": 0},
            InvalidParameterError,
            "n_initial_parameters",
        ),
        (
            SGDClassifier(),
            {"fits_per_score": 0},
            InvalidParameterError,
            "fits_per_score",
        ),
        (SVC(), {}, ValueError, "estimator must implement partial_fit"),
        (NoPartialFit(), {}, ValueError, "estimator must implement partial_fit"),
    ],
)
def test_clear_errors(client, estimator, kwargs, error, match):
    kwargs = {"n_initial_parameters": 1, "decay_rate": None, **kwargs}
    space = {"alpha": [1e-3]} if hasattr(estimator, "alpha") else {}
    search = IncrementalSearchCV(estimator, space, **kwargs)
    # Refused before any work reached the cluster: no new key was submitted or
    # scattered (keys of earlier tests may still be being released).
    with _new_keys(client) as new_keys:
        with pytest.raises(error, match=match):
            search.fit(X, Y, classes=[0, 1])
    assert new_keys == set()


class _KeyRecorder(SchedulerPlugin):
    name = "skhpo-test-key-recorder"

    def __init__(self):
        self.keys = set()

    def transition(self, key, start, finish, *args, **kwargs):
        self.keys.add(key)


@contextlib.contextmanager
def _new_keys(client):
    """Yield a set that, on exit, holds the keys the scheduler first saw inside."""
    before = client.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.tasks))
    client.register_plugin(_KeyRecorder())
    new = set()
    try:
        yield new
    finally:
        seen = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins[_KeyRecorder.name].keys
        )
        client.unregister_scheduler_plugin(_KeyRecorder.name)
        new.update(seen - before)


def test_key_recorder_sees_a_search(client):
    # The check above can fail: a fit that does reach the cluster is seen.
    search = IncrementalSearchCV(SGDClassifier(), {"alpha": [1e-3]}, 1, max_iter=1)
    with _new_keys(client) as new_keys:
        search.fit(X, Y, classes=[0, 1])
    assert new_keys


def test_unknown_parameter_name_is_a_clear_error(client):
    search = IncrementalSearchCV(SGDClassifier(), {"alpah": [1.0]}, 1, decay_rate=None)
    with pytest.raises(ValueError, match="Invalid parameter 'alpah'"):
        search.fit(X, Y, classes=[0, 1])


def test_inverse_decay_errors():
    search = InverseDecaySearchCV(SGDClassifier(), ALPHAS, decay_rate=-1)
    with pytest.raises(InvalidParameterError, match="decay_rate"):
        search.fit(X, Y)


# -- behaviour -----------------------------------------------------------------


def test_classifier_on_dask_arrays(client):
    X_, y_ = da.from_array(X, chunks=60), da.from_array(Y, chunks=60)
    search = IncrementalSearchCV(
        SGDClassifier(loss="log_loss", random_state=0),
        {"alpha": Real(1e-4, 1e-1, log=True)},
        4,
        decay_rate=None,
        max_iter=4,
        random_state=0,
        scoring="neg_log_loss",
    ).fit(X_, y_, classes=[0, 1])
    results = search.cv_results_
    for key in [
        "mean_partial_fit_time",
        "std_partial_fit_time",
        "mean_score_time",
        "std_score_time",
        "test_score",
        "rank_test_score",
        "model_id",
        "partial_fit_calls",
        "params",
        "param_alpha",
        "mean_test_score",
        "std_test_score",
        "split0_test_score",
        "mean_fit_time",
        "std_fit_time",
    ]:
        assert len(results[key]) == 4, key
    assert results["rank_test_score"][search.best_index_] == 1
    assert search.best_score_ == results["test_score"][search.best_index_] < 0
    assert search.best_params_ == results["params"][search.best_index_]
    assert set(search.history_[0]) == {
        "model_id",
        "params",
        "partial_fit_calls",
        "partial_fit_time",
        "score",
        "score_time",
        "elapsed_wall_time",
    }
    assert len(search.history_) == 16
    assert search.model_history_[0] == [
        r for r in search.history_ if r["model_id"] == 0
    ]
    assert (search.n_splits_, search.multimetric_) == (1, False)
    proba = search.predict_proba(X_)
    assert isinstance(proba, da.Array) and proba.chunks == (X_.chunks[0], (2,))
    np.testing.assert_allclose(proba.compute(), search.best_estimator_.predict_proba(X))
    assert isinstance(search.decision_function(X_), da.Array)
    assert search.score(X_, y_) == pytest.approx(search.score(X, Y))
    assert pickle.loads(pickle.dumps(search)).best_index_ == search.best_index_


def test_regressor_pipeline_with_partial_fit(client):
    pipe = IncrementalPipeline(
        [("scale", StandardScaler()), ("sgd", SGDRegressor(random_state=0))]
    )
    search = InverseDecaySearchCV(
        pipe,
        {"sgd__alpha": np.logspace(-5, -1, 50)},
        20,
        max_iter=6,
        random_state=0,
    ).fit(da.from_array(XR, chunks=100), da.from_array(YR, chunks=100))
    assert search.best_score_ > 0
    assert isinstance(search.best_estimator_, IncrementalPipeline)
    # Every step was trained incrementally, on the training blocks only.
    seen = search.best_estimator_.named_steps["scale"].n_samples_seen_
    assert seen == 80 * search.cv_results_["partial_fit_calls"][search.best_index_]
    assert search.predict(da.from_array(XR, chunks=100)).numblocks == (3,)
    # Inverse decay: fewer models are trained as time goes on.
    calls = sorted(search.cv_results_["partial_fit_calls"].tolist())
    assert calls[0] < calls[-1]


def test_patience_stops_a_plateau_early(client):
    # A learning rate of 0 never changes the model: the score plateaus at once.
    search = IncrementalSearchCV(
        SGDClassifier(learning_rate="constant", eta0=1e-12, random_state=0),
        ALPHAS,
        2,
        decay_rate=None,
        max_iter=50,
        patience=3,
        tol=1e-3,
        random_state=0,
    ).fit(X, Y, classes=[0, 1])
    assert search.cv_results_["partial_fit_calls"].max() < 10


def test_grid_takes_every_point(client):
    search = IncrementalSearchCV(
        SGDClassifier(random_state=0),
        {"alpha": [1e-4, 1e-2], "average": [True, False]},
        "grid",
        decay_rate=None,
        max_iter=1,
    ).fit(X, Y, classes=[0, 1])
    assert sorted(
        map(sorted, (p.items() for p in search.cv_results_["params"]))
    ) == sorted(
        [
            sorted(p.items())
            for p in [
                {"alpha": a, "average": b} for a in [1e-4, 1e-2] for b in [True, False]
            ]
        ]
    )
