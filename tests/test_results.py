"""Search results as pandas DataFrames (skhpo.results)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import (
    GridSearchCV,
    HalvingRandomSearchCV,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skhpo import SMBOSearchCV
from skhpo.results import cv_results_frame, history_frame
from skhpo.space import Categorical, Integer, Real

X, Y = load_iris(return_X_y=True)


def fake_history(brackets=True):
    """An adaptive search's history_: records of dask-ml's shape."""
    history = []
    plan = [(0, 0, [1, 3, 9]), (0, 1, [1, 3]), (1, 0, [1]), (1, 1, [1, 2])]
    for bracket, i, calls in plan:
        model_id = f"bracket={bracket}-{i}" if brackets else 2 * bracket + i
        alpha = 10.0 ** -(bracket + i)
        for k, c in enumerate(calls):
            record = {
                "model_id": model_id,
                "params": {"alpha": alpha, "penalty": "l2"},
                "partial_fit_calls": c,
                "partial_fit_time": 0.01,
                "score": 0.5 + 0.1 * k - 0.05 * i,
                "score_time": 0.001,
                "elapsed_wall_time": 0.1 * (k + 1),
            }
            if brackets:
                record["bracket"] = bracket
            history.append(record)
    return history


def fake_adaptive_cv_results(history):
    """The cv_results_ an adaptive search builds from that history."""
    models = {}
    for record in history:
        models.setdefault(record["model_id"], []).append(record)
    last = [records[-1] for records in models.values()]
    score = np.array([r["score"] for r in last])
    results = {
        "test_score": score,
        "model_id": np.array(list(models)),
        "params": [r["params"] for r in last],
        "partial_fit_calls": np.array([r["partial_fit_calls"] for r in last]),
        "param_alpha": np.ma.MaskedArray([r["params"]["alpha"] for r in last]),
        "mean_test_score": score,
        "rank_test_score": (-score).argsort().argsort() + 1,
    }
    if "bracket" in history[0]:
        results["bracket"] = np.array([r["bracket"] for r in last])
    return results


class FakeAdaptiveSearch(BaseEstimator):
    """Stands for a fitted adaptive search: fit() sets history_."""

    def __init__(self, history=None):
        self.history = history

    def fit(self, X=None, y=None):
        self.history_ = self.history
        self.model_history_ = {}
        for record in self.history:
            self.model_history_.setdefault(record["model_id"], []).append(record)
        if self.history:
            self.cv_results_ = fake_adaptive_cv_results(self.history)
        return self


@pytest.fixture(scope="module")
def smbo():
    space = {
        "max_depth": Integer(1, 8),
        "min_samples_leaf": Integer(1, 30, log=True),
        "criterion": Categorical(["gini", "entropy"]),
        "ccp_alpha": Real(1e-4, 1e-1, log=True),
    }
    search = SMBOSearchCV(
        DecisionTreeClassifier(random_state=0),
        space,
        n_iter=6,
        n_points=2,
        cv=2,
        random_state=0,
    )
    return search.fit(X, Y)


# -- cv_results_frame ----------------------------------------------------------


def _check_frame(frame, search):
    results = search.cv_results_
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(results["params"])
    assert set(results) <= set(frame.columns)
    assert list(frame["params"]) == list(results["params"])
    best = frame.loc[search.best_index_]
    assert best["params"] == search.best_params_
    for name, value in search.best_params_.items():
        assert best[f"param_{name}"] is value or best[f"param_{name}"] == value


@pytest.mark.parametrize("name", ["smbo", "grid_list", "random_search"])
def test_cv_results_frame_has_one_row_per_candidate(name, request):
    search = request.getfixturevalue(name)
    frame = cv_results_frame(search)
    _check_frame(frame, search)
    np.testing.assert_allclose(
        frame["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    # The same from the plain dict, and from a frame (a copy).
    pd.testing.assert_frame_equal(cv_results_frame(search.cv_results_), frame)
    again = cv_results_frame(frame)
    pd.testing.assert_frame_equal(again, frame)
    assert again is not frame


def test_results_saved_as_json_keep_numeric_columns(random_search):
    # Numbers loaded back from JSON are lists: they were object columns.
    saved = {
        key: np.asarray(values).tolist()
        for key, values in random_search.cv_results_.items()
        if key != "params"
    }
    saved["params"] = list(random_search.cv_results_["params"])
    frame = cv_results_frame(json.loads(json.dumps(saved)))
    reference = cv_results_frame(random_search)
    for key in ["mean_test_score", "rank_test_score", "mean_fit_time"]:
        assert frame[key].dtype.kind == reference[key].dtype.kind, key
    assert frame.nlargest(1, "mean_test_score").index[0] == random_search.best_index_


def test_smbo_frame_keeps_iter_and_numeric_params(smbo):
    frame = cv_results_frame(smbo)
    assert list(frame["iter"]) == list(smbo.cv_results_["iter"])
    assert frame["param_max_depth"].dtype == np.int64
    assert frame["param_ccp_alpha"].dtype == np.float64
    assert set(frame["param_criterion"]) <= {"gini", "entropy"}


def test_grid_frame_keeps_none_and_marks_absent_params_nan(grid_list):
    frame = cv_results_frame(grid_list)
    depth = frame["param_max_depth"]
    assert depth[2] is None  # a real value, not an absent one
    assert depth[:3].tolist()[:2] == [1, 2]
    assert depth[3:].isna().all()
    leaf = frame["param_min_samples_leaf"]
    assert leaf[:3].isna().all() and leaf[3:].tolist() == [1.0, 5.0]


def test_frame_keeps_the_users_objects():
    scalers = [StandardScaler(), MinMaxScaler()]
    pipe = Pipeline([("scale", StandardScaler()), ("clf", RidgeClassifier())])
    search = GridSearchCV(pipe, {"scale": scalers}, cv=2).fit(X, Y)
    frame = cv_results_frame(search)
    assert frame["param_scale"].dtype == object
    assert all(a is b for a, b in zip(frame["param_scale"], scalers))


def test_halving_frame_keeps_iter_and_resources():
    search = HalvingRandomSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 2, 3, 4]},
        n_candidates=4,
        factor=2,
        min_resources=30,
        cv=2,
        random_state=0,
    ).fit(X, Y)
    frame = cv_results_frame(search)
    _check_frame(frame, search)
    assert {"iter", "n_resources"} <= set(frame.columns)
    assert list(frame["n_resources"]) == list(search.cv_results_["n_resources"])


@pytest.mark.parametrize("brackets", [True, False])
def test_adaptive_cv_results_keep_model_id_and_bracket(brackets):
    search = FakeAdaptiveSearch(fake_history(brackets)).fit()
    frame = cv_results_frame(search)
    assert len(frame) == 4
    assert list(frame["model_id"]) == list(search.cv_results_["model_id"])
    assert ("bracket" in frame.columns) == brackets
    assert list(frame["partial_fit_calls"]) == [9, 3, 1, 2]
    assert frame["param_alpha"].tolist() == [1.0, 0.1, 0.1, 0.01]
    assert list(frame["param_penalty"]) == ["l2"] * 4


@pytest.mark.parametrize(
    "obj, error, match",
    [
        (
            GridSearchCV(RidgeClassifier(), {"alpha": [1.0]}),
            NotFittedError,
            "GridSearchCV has no cv_results_: it is not fitted yet. Call fit",
        ),
        (
            SMBOSearchCV(RidgeClassifier(), {"alpha": [1.0]}),
            ValueError,  # NotFittedError is a ValueError
            "SMBOSearchCV has no cv_results_",
        ),
        (42, TypeError, "Expected a fitted search .* got int 42"),
        ([{"a": 1}], TypeError, "Pass search or search.cv_results_"),
        ({"mean_test_score": [0.5]}, ValueError, "no 'params' key"),
        ({"params": [1, 2]}, ValueError, r"\['params'\]\[0\] is 1, expected a dict"),
        (
            {"params": [{"a": 1}, {"a": 2}], "mean_test_score": [0.1]},
            ValueError,
            r"cv_results_\['mean_test_score'\] has 1 values but there are 2",
        ),
        (pd.DataFrame({"x": [1]}), ValueError, "does not look like search results"),
    ],
)
def test_cv_results_frame_errors(obj, error, match):
    with pytest.raises(error, match=match):
        cv_results_frame(obj)


# -- history_frame -------------------------------------------------------------


def test_history_frame_one_row_per_record():
    history = fake_history()
    frame = history_frame(history)
    assert len(frame) == len(history)
    assert list(frame.columns[:8]) == [
        "model_id",
        "bracket",
        "partial_fit_calls",
        "score",
        "partial_fit_time",
        "score_time",
        "elapsed_wall_time",
        "params",
    ]
    assert list(frame["model_id"]) == [r["model_id"] for r in history]
    assert list(frame["score"]) == [r["score"] for r in history]
    assert frame["partial_fit_calls"].dtype == np.int64
    assert frame["param_alpha"].dtype == np.float64
    assert list(frame["param_penalty"]) == ["l2"] * len(history)
    assert frame["params"][0] is history[0]["params"]


def test_history_frame_from_search_and_model_history():
    search = FakeAdaptiveSearch(fake_history(brackets=False)).fit()
    frame = history_frame(search)
    assert "bracket" not in frame.columns
    pd.testing.assert_frame_equal(frame, history_frame(search.history_))
    by_model = history_frame(search.model_history_)
    assert len(by_model) == len(frame)
    assert sorted(by_model["score"]) == sorted(frame["score"])


@pytest.mark.parametrize(
    "obj, error, match",
    [
        ([], ValueError, "The history is empty"),
        (FakeAdaptiveSearch([]).fit, ValueError, "The history is empty"),
        (FakeAdaptiveSearch(), NotFittedError, "no history_: it is not fitted yet"),
        ("grid", TypeError, "GridSearchCV has no history_: only the adaptive"),
        ([{"model_id": 0, "score": 1.0}], ValueError, "no 'partial_fit_calls'"),
        ([1, 2], TypeError, r"history_\[0\] is int, expected a dict record"),
        ({"a": 1}, TypeError, "whose values are not lists"),
        (3.5, TypeError, "Expected a fitted adaptive search"),
    ],
)
def test_history_frame_errors(obj, error, match, grid_list):
    if obj == "grid":
        obj = grid_list
    elif callable(obj) and not isinstance(obj, BaseEstimator):
        obj = obj()
    with pytest.raises(error, match=match):
        history_frame(obj)
