"""skhpo._compat: replay_fits and record_fits around scikit-learn's own searches."""

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV

from skhpo._compat import fit_and_score, record_fits, replay_fits

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
GRID = {"alpha": [0.1, 1.0, 10.0]}


def _comparable(results):
    return {k: v for k, v in results.items() if "time" not in k}


def _assert_same_results(a, b):
    a, b = _comparable(a), _comparable(b)
    assert set(a) == set(b)
    for key in a:
        if key == "params":
            assert a[key] == b[key]
        else:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_replay_with_real_fits_gives_the_same_cv_results(n_jobs):
    search = GridSearchCV(RidgeClassifier(), GRID, cv=3, n_jobs=n_jobs)
    with joblib.parallel_config(backend="threading"):  # no process pool to start
        plain = search.fit(X_IRIS, Y_IRIS).cv_results_
    seen = []

    def provider(estimator, X, y, **kwargs):
        seen.append((kwargs["candidate_progress"], kwargs["split_progress"]))
        kwargs.pop("caller", None)
        kwargs.pop("callback_ctx", None)
        return fit_and_score(estimator, X, y, **kwargs)

    with replay_fits(provider):
        replayed = search.fit(X_IRIS, Y_IRIS).cv_results_
    _assert_same_results(plain, replayed)
    # Every (candidate, split), in this thread, in scikit-learn's order.
    assert seen == [((c, 3), (s, 3)) for c in range(3) for s in range(3)]


def test_recorded_outputs_replay_without_fitting():
    search = GridSearchCV(RidgeClassifier(), GRID, cv=3)
    recorded = []
    with record_fits(recorded.extend):
        plain = search.fit(X_IRIS, Y_IRIS).cv_results_
    assert len(recorded) == 9
    assert all({"test_scores", "fit_time", "fit_error"} <= set(o) for o in recorded)

    def provider(estimator, X, y, *, candidate_progress, split_progress, **kwargs):
        return dict(recorded[candidate_progress[0] * 3 + split_progress[0]])

    with replay_fits(provider):
        replayed = search.fit(X_IRIS, Y_IRIS).cv_results_
    _assert_same_results(plain, replayed)
    np.testing.assert_array_equal(plain["mean_fit_time"], replayed["mean_fit_time"])


def test_outside_the_contexts_nothing_is_replayed_or_recorded():
    recorded = []
    with record_fits(recorded.extend):
        pass
    GridSearchCV(RidgeClassifier(), GRID, cv=2).fit(X_IRIS, Y_IRIS)
    assert recorded == []
