"""SuccessiveHalvingSearchCV: dask-ml's API and work, on a real cluster."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

from skhpo._successive_halving import SuccessiveHalvingSearchCV

X, Y = make_classification(n_samples=300, n_features=5, random_state=0)
QUALITY = {"quality": np.linspace(0, 1, 101)}


class FakeModel(BaseEstimator):
    """Score ``quality * (1 - 0.5 ** calls)``, or flat with ``plateau``."""

    def __init__(self, quality=0.5, plateau=False):
        self.quality = quality
        self.plateau = plateau

    def partial_fit(self, X, y=None):
        self.calls_ = getattr(self, "calls_", 0) + 1
        return self

    def score(self, X, y=None):
        return self.quality if self.plateau else self.quality * (1 - 0.5**self.calls_)


def test_positional_arguments_are_dask_mls():
    model = SGDClassifier()
    search = SuccessiveHalvingSearchCV(model, QUALITY, 10, 5)
    assert (search.n_initial_parameters, search.n_initial_iter) == (10, 5)
    dask_ml = pytest.importorskip("dask_ml.model_selection")
    theirs = dask_ml.SuccessiveHalvingSearchCV(model, QUALITY, 10, 5)
    extras = {"checkpoint": None, "max_time": None}  # skhpo's, not dask-ml's
    assert search.get_params() == {**theirs.get_params(), **extras}


# n_initial_parameters, n_initial_iter, aggressiveness, max_iter -> planned work,
# as dask-ml's SuccessiveHalvingSearchCV.metadata computes it.
METADATA = [
    ((9, 1, 3, 9), {"partial_fit_calls": 21, "n_models": 9, "max_iter": 9}),
    ((10, 5, 3, None), {"partial_fit_calls": 110, "n_models": 10, "max_iter": 45}),
    ((4, 4, 2, 9), {"partial_fit_calls": 32, "n_models": 4, "max_iter": 16}),
    ((81, 1, 3, 81), {"partial_fit_calls": 297, "n_models": 81, "max_iter": 81}),
    ((27, 3, 4, 100), {"partial_fit_calls": 171, "n_models": 27, "max_iter": 48}),
]


@pytest.mark.parametrize("args, expected", METADATA)
def test_metadata_table(args, expected):
    n, r, eta, max_iter = args
    search = SuccessiveHalvingSearchCV(
        SGDClassifier(), QUALITY, n, r, max_iter=max_iter, aggressiveness=eta
    )
    assert search.metadata == expected
    dask_ml = pytest.importorskip("dask_ml.model_selection")
    theirs = dask_ml.SuccessiveHalvingSearchCV(
        SGDClassifier(), QUALITY, n, r, max_iter=max_iter, aggressiveness=eta
    )
    assert search.metadata == theirs.metadata


@pytest.mark.parametrize("args, expected", METADATA[:3])
def test_work_done_is_the_work_planned(client, args, expected):
    n, r, eta, max_iter = args
    search = SuccessiveHalvingSearchCV(
        FakeModel(),
        QUALITY,
        n,
        r,
        max_iter=max_iter,
        aggressiveness=eta,
        random_state=0,
    ).fit(X, Y)
    assert search.metadata_ == search.metadata == expected
    # The best model is the best survivor, trained the longest.
    assert (
        search.cv_results_["partial_fit_calls"][search.best_index_]
        == (expected["max_iter"])
    )


def test_patience_stops_plateaued_models(client):
    search = SuccessiveHalvingSearchCV(
        FakeModel(plateau=True),
        QUALITY,
        9,
        3,
        max_iter=81,
        patience=2,
        tol=0.01,
        random_state=0,
    ).fit(X, Y)
    assert search.metadata["partial_fit_calls"] == 63
    done = search.metadata_["partial_fit_calls"]
    assert done < search.metadata["partial_fit_calls"]
    # patience caps the calls between two scores of a model.
    for records in search.model_history_.values():
        calls = [r["partial_fit_calls"] for r in records]
        assert max(np.diff(calls), default=0) <= 2


def test_grid(client):
    space = {"quality": [0.1, 0.2, 0.3, 0.4]}
    search = SuccessiveHalvingSearchCV(FakeModel(), space, "grid", 2, max_iter=4)
    assert search.metadata["n_models"] == 4
    search.fit(X, Y)
    assert search.metadata_ == search.metadata
    assert search.best_params_ == {"quality": 0.4}


def test_classifier_on_a_dask_dataframe(client):
    frame = pd.DataFrame(X, columns=list("abcde"))
    X_ = dd.from_pandas(frame, npartitions=3)
    y_ = dd.from_pandas(pd.Series(Y), npartitions=3)
    search = SuccessiveHalvingSearchCV(
        SGDClassifier(random_state=0),
        {"alpha": np.logspace(-4, -1, 20)},
        4,
        1,
        max_iter=4,
        aggressiveness=2,
        random_state=0,
    ).fit(X_, y_, classes=[0, 1])
    assert search.best_score_ > 0.7
    assert list(search.feature_names_in_) == list("abcde")
    predictions = search.predict(X_)
    assert predictions.compute().shape == (300,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_initial_iter": None}, "n_initial_iter must be an integer >= 1"),
        ({"aggressiveness": 1}, "aggressiveness must be a finite number >= 2"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"patience": 1}, "patience <= 1"),
    ],
)
def test_clear_errors(kwargs, match):
    search = SuccessiveHalvingSearchCV(
        SGDClassifier(), QUALITY, **{"n_initial_iter": 1, **kwargs}
    )
    with pytest.raises(ValueError, match=match):
        search.fit(X, Y)
