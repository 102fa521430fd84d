"""Plots of search results (skhpo.plot), drawn with the Agg backend."""

import ast
import pathlib
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from skhpo import SMBOSearchCV
from skhpo.plot import (
    param_importances,
    plot_adaptive_history,
    plot_optimization_history,
    plot_parallel_coordinates,
    plot_param_importances,
    plot_slice,
)
from skhpo.space import Categorical, Integer, Real

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

X, Y = load_iris(return_X_y=True)
PLOT_DIR = pathlib.Path(__file__).resolve().parents[1] / "skhpo" / "plot"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- searches and results ------------------------------------------------------


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


@pytest.fixture(scope="module")
def smbo_multimetric():
    search = SMBOSearchCV(
        RidgeClassifier(),
        {"alpha": Real(1e-3, 1e3, log=True)},
        n_iter=4,
        cv=2,
        scoring={"acc": "accuracy", "bacc": "balanced_accuracy"},
        refit="bacc",
        random_state=0,
    )
    return search.fit(X, Y)


@pytest.fixture(scope="module")
def grid():
    search = GridSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 2, None], "criterion": ["gini", "entropy"]},
        cv=2,
    )
    return search.fit(X, Y)


def fake_history(brackets=True):
    """An adaptive search's history_ (dask-ml's record shape): 5 models."""
    plan = [(0, [1, 3, 9, 27]), (0, [1, 3, 9]), (1, [1, 3]), (1, [1]), (2, [1])]
    history = []
    for i, (bracket, calls) in enumerate(plan):
        model_id = f"bracket={bracket}-{i}" if brackets else i
        for k, c in enumerate(calls):
            record = {
                "model_id": model_id,
                "params": {"alpha": 10.0**-i},
                "partial_fit_calls": c,
                "partial_fit_time": 0.01,
                "score": 0.4 + 0.1 * k + 0.01 * i,
                "score_time": 0.001,
                "elapsed_wall_time": 0.1 * (k + 1),
            }
            if brackets:
                record["bracket"] = bracket
            history.append(record)
    return history


def fake_adaptive_cv_results():
    """cv_results_ of an adaptive search over fake_history()."""
    models = {}
    for record in fake_history():
        models.setdefault(record["model_id"], []).append(record)
    last = [records[-1] for records in models.values()]
    score = np.array([r["score"] for r in last])
    return {
        "test_score": score,
        "mean_test_score": score,
        "model_id": np.array(list(models)),
        "bracket": np.array([r["bracket"] for r in last]),
        "partial_fit_calls": np.array([r["partial_fit_calls"] for r in last]),
        "params": [r["params"] for r in last],
        "param_alpha": np.ma.MaskedArray([r["params"]["alpha"] for r in last]),
    }


SOURCES = ["smbo", "grid", "grid_list", "random_search", "adaptive"]


def source(name, request):
    """``(object to plot, cv_results_ dict)`` of a named source."""
    if name == "adaptive":
        results = fake_adaptive_cv_results()
        return results, results
    search = request.getfixturevalue(name)
    return search, search.cv_results_


def n_params(results):
    return len([k for k in results if k.startswith("param_")])


def assert_labelled(ax):
    assert isinstance(ax, Axes)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


# -- plot_optimization_history -------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_history_one_point_per_trial_and_best_so_far(name, request):
    obj, results = source(name, request)
    ax = plot_optimization_history(obj)
    assert_labelled(ax)
    scores = np.asarray(results["mean_test_score"], dtype=float)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == len(scores)
    (best,) = ax.get_lines()
    best_y = best.get_ydata()
    assert np.all(np.diff(best_y) >= 0)
    assert best_y[-1] == pytest.approx(np.max(scores))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "trial",
        "best so far",
    ]


def test_history_follows_iter_and_shows_failed_trials():
    results = {
        "params": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}],
        "mean_test_score": [0.9, np.nan, 0.5, 0.7],
        "iter": [2, 1, 0, 1],
    }
    ax = plot_optimization_history(results)
    points, failed = ax.collections
    # Evaluation order by iter: rows 2, 1, 3, 0.
    np.testing.assert_allclose(points.get_offsets(), [[1, 0.5], [3, 0.7], [4, 0.9]])
    np.testing.assert_allclose(failed.get_offsets()[:, 0], [2])
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.5, 0.5, 0.7, 0.9])
    assert "failed (1)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_history_draws_on_given_axes_from_a_frame(smbo):
    from skhpo.results import cv_results_frame

    fig, ax = plt.subplots()
    assert plot_optimization_history(cv_results_frame(smbo), ax=ax) is ax
    assert ax.get_title() == "Optimization history"


def test_history_multimetric(smbo_multimetric):
    ax = plot_optimization_history(smbo_multimetric)
    assert ax.get_ylabel() == "mean test bacc"  # the refit metric
    ax = plot_optimization_history(smbo_multimetric, metric="acc")
    assert ax.get_ylabel() == "mean test acc"
    with pytest.raises(ValueError, match=r"Unknown metric 'f1'.*\['acc', 'bacc'\]"):
        plot_optimization_history(smbo_multimetric, metric="f1")
    with pytest.raises(ValueError, match="several metrics .* metric='acc'"):
        plot_optimization_history(smbo_multimetric.cv_results_)


def test_history_names_the_scoring():
    search = GridSearchCV(
        RidgeClassifier(), {"alpha": [0.1, 1.0]}, scoring="accuracy", cv=2
    ).fit(X, Y)
    ax = plot_optimization_history(search)
    assert ax.get_ylabel() == "mean test score (accuracy)"


# -- plot_parallel_coordinates -------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_parallel_coordinates_one_line_per_trial(name, request):
    obj, results = source(name, request)
    ax = plot_parallel_coordinates(obj)
    assert_labelled(ax)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == len(results["params"])
    k = n_params(results)
    assert all(len(seg) == k + 1 for seg in lines.get_segments())
    assert len(ax.get_xticks()) == k + 1
    np.testing.assert_allclose(
        sorted(lines.get_array()), sorted(results["mean_test_score"])
    )
    colorbar = ax.figure.axes[-1]
    assert colorbar.get_ylabel() == ax.get_xticklabels()[-1].get_text()


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "smbo",
            ["ccp_alpha\n(log)", "criterion", "max_depth", "min_samples_leaf\n(log)"],
        ),
        ("random_search", ["alpha\n(log)", "fit_intercept"]),
        ("grid", ["criterion", "max_depth"]),
    ],
)
def test_parallel_coordinates_log_axes_from_the_space(name, expected, request):
    ax = plot_parallel_coordinates(request.getfixturevalue(name))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:-1] == expected
    assert labels[-1] == "mean test score"


def test_parallel_coordinates_categories_and_absent_params(grid_list):
    ax = plot_parallel_coordinates(grid_list)
    texts = [t.get_text() for t in ax.texts]
    assert {"1", "2", "None", "5", "(absent)"} <= set(texts)
    assert texts.count("(absent)") == 2


def test_parallel_coordinates_params_and_failed_trials(smbo):
    results = dict(smbo.cv_results_)
    results["mean_test_score"] = results["mean_test_score"].copy()
    results["mean_test_score"][[0, 3]] = np.nan
    ax = plot_parallel_coordinates(results, params=["max_depth", "criterion"])
    lines, failed = ax.collections
    assert len(lines.get_segments()) == 4
    assert len(failed.get_segments()) == 2
    assert all(len(seg) == 2 for seg in failed.get_segments())  # no score point
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == [
        "max_depth",
        "criterion",
    ]
    with pytest.raises(ValueError, match=r"Unknown parameter 'depth'.*max_depth"):
        plot_parallel_coordinates(smbo, params=["depth"])


# -- plot_slice ----------------------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_slice_one_panel_per_parameter(name, request):
    obj, results = source(name, request)
    fig = plot_slice(obj)
    assert isinstance(fig, Figure)
    assert fig.get_suptitle()
    panels = fig.axes[:-1]  # the last one is the colour bar
    assert len(panels) == n_params(results)
    assert fig.axes[-1].get_ylabel() == "trial (evaluation order)"
    for panel in panels:
        assert_labelled(panel)
        name = panel.get_xlabel()
        (points,) = panel.collections
        present = [name in p for p in results["params"]]
        assert len(points.get_offsets()) == sum(present)


def test_slice_scales_and_categories(smbo, grid):
    fig = plot_slice(smbo)
    scales = {ax.get_xlabel(): ax.get_xscale() for ax in fig.axes[:-1]}
    assert scales == {
        "ccp_alpha": "log",
        "criterion": "linear",
        "max_depth": "linear",
        "min_samples_leaf": "log",
    }
    fig = plot_slice(grid, params=["max_depth"])
    (panel,) = fig.axes[:-1]
    assert [t.get_text() for t in panel.get_xticklabels()] == ["1", "2", "None"]


def test_slice_on_given_axes(random_search):
    fig, axs = plt.subplots(1, 2)
    assert plot_slice(random_search, ax=axs) is fig
    with pytest.raises(ValueError, match="got 1 Axes for 2 parameters"):
        plot_slice(random_search, ax=axs[:1])


def test_slice_multimetric_and_unknown_names(smbo_multimetric):
    fig = plot_slice(smbo_multimetric, metric="acc")
    assert fig.axes[0].get_ylabel() == "mean test acc"
    with pytest.raises(ValueError, match="Unknown metric 'score'"):
        plot_slice(smbo_multimetric, metric="score")
    with pytest.raises(ValueError, match="Unknown parameter 'C'"):
        plot_slice(smbo_multimetric, params="C")


# -- param_importances / plot_param_importances --------------------------------


def synthetic_results(n=40, seed=0):
    """Trials where only ``x1`` changes the score."""
    rng = np.random.RandomState(seed)
    x1, x2 = rng.uniform(size=n), rng.uniform(1e-3, 1, size=n)
    x3, c = rng.randint(1, 10, size=n), rng.choice(["a", "b", "c"], size=n)
    params = [
        {"x1": a, "x2": b, "x3": int(k), "c": str(s)}
        for a, b, k, s in zip(x1, x2, x3, c)
    ]
    return {"params": params, "mean_test_score": -((x1 - 0.3) ** 2)}


def test_importance_finds_the_only_parameter_that_matters():
    importances = param_importances(synthetic_results(), random_state=0)
    assert isinstance(importances, pd.Series)
    assert importances.name == "importance"
    assert importances.index[0] == "x1"
    assert importances["x1"] > 0.8
    assert importances.drop("x1").max() < 0.05
    assert (importances >= 0).all() and importances.sum() <= 1 + 1e-12


@pytest.mark.parametrize("name", SOURCES)
def test_importances_are_shares_and_deterministic(name, request):
    obj, results = source(name, request)
    first = param_importances(obj, n_estimators=10, random_state=0)
    again = param_importances(obj, n_estimators=10, random_state=0)
    pd.testing.assert_series_equal(first, again)
    assert sorted(first.index) == sorted(k[6:] for k in results if k[:6] == "param_")
    assert (first >= 0).all() and first.sum() <= 1 + 1e-12
    assert list(first) == sorted(first, reverse=True)


def test_importances_ignore_failed_trials_and_need_two():
    results = synthetic_results(n=20)
    results["mean_test_score"][:5] = np.nan
    assert param_importances(results, random_state=0).index[0] == "x1"
    results["mean_test_score"][5:19] = np.nan
    with pytest.raises(ValueError, match="at least two trials with a finite score"):
        param_importances(results)
    with pytest.raises(ValueError, match="n_estimators must be a positive integer"):
        param_importances(synthetic_results(), n_estimators=0)


def test_constant_scores_have_no_importance():
    results = {"params": [{"a": i} for i in range(5)], "mean_test_score": [0.5] * 5}
    importances = param_importances(results, random_state=0)
    assert (importances == 0).all()
    ax = plot_param_importances(results, random_state=0)
    assert "nothing to explain" in ax.get_title()


@pytest.mark.parametrize("name", SOURCES)
def test_plot_param_importances_one_bar_per_parameter(name, request):
    obj, results = source(name, request)
    ax = plot_param_importances(obj, n_estimators=10, random_state=0)
    assert_labelled(ax)
    assert len(ax.patches) == n_params(results)
    importances = param_importances(obj, n_estimators=10, random_state=0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(importances.index[::-1])  # largest on top
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, importances.to_numpy()[::-1])


def test_plot_param_importances_params_and_metric(smbo_multimetric, smbo):
    ax = plot_param_importances(smbo_multimetric, metric="acc", n_estimators=10)
    assert "acc" in ax.get_xlabel()
    ax = plot_param_importances(
        smbo, params=["max_depth", "ccp_alpha"], n_estimators=10
    )
    assert len(ax.patches) == 2
    with pytest.raises(ValueError, match="Unknown parameter 'gamma'"):
        plot_param_importances(smbo, params=["gamma"])


# -- plot_adaptive_history -----------------------------------------------------


def test_adaptive_history_one_line_per_model_coloured_by_bracket():
    history = fake_history()
    ax = plot_adaptive_history(history)
    assert_labelled(ax)
    lines = ax.get_lines()
    assert len(lines) == 5
    assert [len(line.get_xdata()) for line in lines] == [4, 3, 2, 1, 1]
    colors = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
    assert colors[0] == colors[1] != colors[2] == colors[3] != colors[4]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["bracket 0", "bracket 1", "bracket 2"]
    assert legend[3] == "best: model bracket=0-0"
    (star,) = ax.collections
    np.testing.assert_allclose(star.get_offsets(), [[27, 0.7]])


def test_adaptive_history_without_brackets_from_a_search():
    class Fitted:  # an adaptive search's public surface
        def get_params(self):
            return {}

        def fit(self):
            return self

    search = Fitted()
    search.history_ = fake_history(brackets=False)
    ax = plot_adaptive_history(search)
    assert len(ax.get_lines()) == 5
    assert len({line.get_color() for line in ax.get_lines()}) == 1
    assert ax.get_title() == "Adaptive search: 5 models (Fitted)"
    models = {}
    for record in search.history_:
        models.setdefault(record["model_id"], []).append(record)
    assert len(plot_adaptive_history(models).get_lines()) == 5


def test_adaptive_history_legend_lists_brackets_in_order():
    history = fake_history()[::-1]  # Hyperband may record the last bracket first
    ax = plot_adaptive_history(history)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["bracket 0", "bracket 1", "bracket 2", "best: model bracket=0-0"]


@pytest.mark.parametrize(
    "obj, error, match",
    [
        ([], ValueError, "The history is empty"),
        ("grid", TypeError, "GridSearchCV has no history_"),
        ("unfitted", NotFittedError, "not fitted yet"),
    ],
)
def test_adaptive_history_errors(obj, error, match, grid):
    if obj == "grid":
        obj = grid
    elif obj == "unfitted":
        obj = GridSearchCV(RidgeClassifier(), {"alpha": [1.0]})
    with pytest.raises(error, match=match):
        plot_adaptive_history(obj)


# -- errors shared by every plot -----------------------------------------------

PLOTS = [
    plot_optimization_history,
    plot_parallel_coordinates,
    plot_slice,
    plot_param_importances,
]


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
def test_unfitted_search_and_unknown_metric(plot, smbo):
    unfitted = SMBOSearchCV(RidgeClassifier(), {"alpha": Real(0.1, 10)})
    with pytest.raises(NotFittedError, match="SMBOSearchCV has no cv_results_"):
        plot(unfitted)
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        plot(smbo, metric="auc")
    with pytest.raises(TypeError, match="Expected a fitted search"):
        plot("results")


@pytest.mark.parametrize(
    "plot", [*PLOTS, plot_adaptive_history], ids=lambda f: f.__name__
)
def test_missing_matplotlib_says_how_to_install(plot, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skhpo\[plot\]"'):
        plot(fake_adaptive_cv_results())


def test_matplotlib_is_imported_lazily():
    """No module of skhpo.plot imports matplotlib at import time."""
    for path in PLOT_DIR.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.startswith("matplotlib") for n in names), path.name
