"""HyperbandSearchCV: dask-ml's brackets and metadata, brackets run concurrently."""

import logging

import dask.array as da
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import ParameterSampler

from skhpo._hyperband import HyperbandSearchCV
from skhpo.schedules import hyperband_brackets

X, Y = make_classification(n_samples=300, n_features=5, random_state=0)
QUALITY = {"quality": np.linspace(0, 1, 1001)}


class FakeModel(BaseEstimator):
    """Score ``quality * (1 - 0.5 ** calls)``, or flat with ``plateau``."""

    def __init__(self, quality=0.5, plateau=False):
        self.quality = quality
        self.plateau = plateau

    def partial_fit(self, X, y=None):
        self.calls_ = getattr(self, "calls_", 0) + 1
        return self

    def predict(self, X):
        return np.full(len(X), self.quality)

    def score(self, X, y=None):
        return self.quality if self.plateau else self.quality * (1 - 0.5**self.calls_)


# -- the plan: brackets and metadata --------------------------------------------

# Table 1 of Li et al. (JMLR 2018) for R=81, eta=3 (as dask-ml computes it): the
# (models, calls per model) each bracket starts with.
PAPER_TABLE = {4: (81, 1), 3: (34, 3), 2: (15, 9), 1: (8, 27), 0: (5, 81)}

# max_iter, aggressiveness -> (models, partial_fit calls) of dask-ml's metadata.
PLANNED = [
    (1, 3, 1, 1),
    (3, 3, 5, 11),
    (9, 3, 17, 69),
    (27, 3, 49, 357),
    (81, 3, 143, 1581),
    (243, 3, 143, 4743),  # log(243, 3) rounds down: 5 brackets, not 6
    (16, 2, 43, 278),
    (100, 4, 98, 1252),
]


def test_brackets_of_the_paper():
    brackets = hyperband_brackets(81, 3)
    assert {b: (x.n_models, x.n_initial_iter) for b, x in brackets.items()} == (
        PAPER_TABLE
    )
    search = HyperbandSearchCV(SGDClassifier(), QUALITY, max_iter=81)
    planned = {
        b["bracket"]: (
            b["n_models"],
            b["SuccessiveHalvingSearchCV params"]["n_initial_iter"],
        )
        for b in search.metadata["brackets"]
    }
    assert planned == PAPER_TABLE


@pytest.mark.parametrize("max_iter, eta, n_models, calls", PLANNED)
def test_metadata_table(max_iter, eta, n_models, calls):
    search = HyperbandSearchCV(
        SGDClassifier(),
        QUALITY,
        max_iter=max_iter,
        aggressiveness=eta,
        random_state=0,
    )
    meta = search.metadata
    assert (meta["n_models"], meta["partial_fit_calls"]) == (n_models, calls)
    dask_ml = pytest.importorskip("dask_ml.model_selection")
    theirs = dask_ml.HyperbandSearchCV(
        SGDClassifier(),
        QUALITY,
        max_iter=max_iter,
        aggressiveness=eta,
        random_state=0,
    ).metadata
    assert meta == theirs


def test_metadata_with_patience_is_dask_mls():
    dask_ml = pytest.importorskip("dask_ml.model_selection")
    for patience in [True, 30]:
        kwargs = dict(max_iter=81, patience=patience, tol=0.1, random_state=42)
        ours = HyperbandSearchCV(SGDClassifier(), QUALITY, **kwargs).metadata
        theirs = dask_ml.HyperbandSearchCV(SGDClassifier(), QUALITY, **kwargs)
        assert ours == theirs.metadata
        params = ours["brackets"][0]["SuccessiveHalvingSearchCV params"]
        assert params["patience"] == (27 if patience is True else 30)


# -- the run -----------------------------------------------------------------


@pytest.mark.parametrize("max_iter, eta", [(9, 3), (8, 2)])
def test_work_done_is_the_work_planned(client, max_iter, eta):
    search = HyperbandSearchCV(
        FakeModel(), QUALITY, max_iter=max_iter, aggressiveness=eta, random_state=0
    ).fit(X, Y)
    assert search.metadata_ == search.metadata
    results = search.cv_results_
    assert len(results["model_id"]) == search.metadata["n_models"]
    assert (
        sum(h[-1]["partial_fit_calls"] for h in search.model_history_.values())
        == (search.metadata["partial_fit_calls"])
    )
    # dask-ml's model ids and bracket column.
    for model_id, bracket in zip(results["model_id"], results["bracket"]):
        assert model_id.startswith(f"bracket={bracket}-")
    assert set(results["bracket"].tolist()) == set(hyperband_brackets(max_iter, eta))
    # The best model has the highest score over every bracket's survivors.
    best = search.best_index_
    assert results["model_id"][best] in search.model_history_
    assert search.best_score_ == results["test_score"][best]
    assert search.best_params_ == results["params"][best]
    assert search.best_score_ == max(results["test_score"])


def test_history_is_merged_by_time_and_brackets_run_concurrently(client):
    search = HyperbandSearchCV(FakeModel(), QUALITY, max_iter=27, random_state=0)
    search.fit(X, Y)
    times = [r["elapsed_wall_time"] for r in search.history_]
    assert times == sorted(times)
    assert {r["bracket"] for r in search.history_} == {0, 1, 2, 3}
    for model_id, records in search.model_history_.items():
        assert all(r["model_id"] == model_id for r in records)
    # Concurrent brackets: every bracket started before any other finished.
    spans = {}
    for record in search.history_:
        start, end = spans.get(record["bracket"], (np.inf, -np.inf))
        t = record["elapsed_wall_time"]
        spans[record["bracket"]] = (min(start, t), max(end, t))
    assert max(start for start, _ in spans.values()) < min(
        end for _, end in spans.values()
    )


def test_patience_stops_models_early(client):
    search = HyperbandSearchCV(
        FakeModel(plateau=True),
        QUALITY,
        max_iter=27,
        patience=True,
        tol=0.1,
        random_state=0,
    ).fit(X, Y)
    assert search.metadata_["partial_fit_calls"] < search.metadata["partial_fit_calls"]
    assert search.metadata_["n_models"] == search.metadata["n_models"]


def test_small_patience_warns():
    search = HyperbandSearchCV(SGDClassifier(), QUALITY, max_iter=81, patience=3)
    with pytest.warns(UserWarning, match="patience=3 is smaller than"):
        assert search.metadata["n_models"] == 143


def test_same_random_state_same_search(client):
    kwargs = dict(max_iter=9, random_state=3)
    first = HyperbandSearchCV(FakeModel(), QUALITY, **kwargs).fit(X, Y)
    second = HyperbandSearchCV(FakeModel(), QUALITY, **kwargs).fit(X, Y)
    assert list(first.cv_results_["params"]) == list(second.cv_results_["params"])
    assert first.metadata_ == second.metadata_ == first.metadata


def test_same_seed_samples_dask_mls_parameters(client):
    # dask-ml samples each bracket's settings with ParameterSampler and the
    # bracket's random_state, as listed in its metadata.
    search = HyperbandSearchCV(FakeModel(), QUALITY, max_iter=9, random_state=5)
    search.fit(X, Y)
    results = search.cv_results_
    for info in search.metadata["brackets"]:
        params = info["SuccessiveHalvingSearchCV params"]
        expected = list(
            ParameterSampler(
                QUALITY,
                params["n_initial_parameters"],
                random_state=params["random_state"],
            )
        )
        rows = np.flatnonzero(results["bracket"] == info["bracket"])
        assert [results["params"][i] for i in rows] == expected


def test_logging_prefixes_brackets(client, caplog):
    with caplog.at_level(logging.INFO, logger="skhpo"):
        HyperbandSearchCV(
            SGDClassifier(random_state=0),
            {"alpha": np.logspace(-4, -1, 20)},
            max_iter=3,
            random_state=0,
            prefix="!",
        ).fit(X, Y, classes=[0, 1])
    messages = [r.getMessage() for r in caplog.records if r.name == "skhpo"]
    assert "[CV!, bracket=1] creating 3 models" in messages
    assert "[CV!, bracket=0] creating 2 models" in messages
    assert any(m.startswith("[CV!, bracket=1] validation score of") for m in messages)


def test_sgd_on_dask_arrays_predicts_lazily(client):
    X_, y_ = da.from_array(X, chunks=75), da.from_array(Y, chunks=75)
    search = HyperbandSearchCV(
        SGDClassifier(loss="log_loss", random_state=0),
        {"alpha": np.logspace(-4, -1, 20), "average": [True, False]},
        max_iter=9,
        random_state=0,
    ).fit(X_, y_, classes=[0, 1])
    assert search.best_score_ > 0.7
    for method in ["predict", "predict_proba", "decision_function"]:
        out = getattr(search, method)(X_)
        assert isinstance(out, da.Array) and out.numblocks[0] == 4
        np.testing.assert_allclose(
            out.compute(), getattr(search.best_estimator_, method)(X)
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"aggressiveness": 1.5}, "aggressiveness must be a finite number >= 2"),
        ({"patience": 1}, "patience <= 1"),
        ({"patience": "yes"}, "patience must be False, True or an integer >= 2"),
        ({"max_iter": 3, "patience": True}, "patience=True resolves to"),
        ({"verbose": 1.5}, "verbose must be a bool or a number between 0 and 1"),
    ],
)
def test_clear_errors(kwargs, match):
    search = HyperbandSearchCV(SGDClassifier(), QUALITY, **kwargs)
    with pytest.raises(ValueError, match=match):
        search.fit(X, Y)
