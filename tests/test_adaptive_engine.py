"""The adaptive-search engine on real dask clusters: data, scoring, robustness."""

import asyncio
import logging
import os
import signal
import threading
import time

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, wait
from distributed.utils_test import gen_cluster
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import SGDClassifier, SGDRegressor

from skhpo._execution import RunSpec, _data, run_adaptive, run_on_client
from skhpo._hyperband import HyperbandSearchCV
from skhpo._incremental import IncrementalSearchCV, InverseDecaySearchCV
from skhpo._successive_halving import SuccessiveHalvingSearchCV
from skhpo.metrics import check_scoring
from skhpo.schedules import (
    IncrementalPolicy,
    InverseDecayPolicy,
    SuccessiveHalvingPolicy,
    simulate,
)

X, Y = make_classification(n_samples=400, n_features=6, random_state=0)
XR, YR = make_regression(n_samples=400, n_features=6, noise=1.0, random_state=0)
ALPHAS = {"alpha": np.logspace(-4, -1, 20)}


class FakeModel(BaseEstimator):
    """Deterministic model: its score depends only on ``quality`` and its calls."""

    seen_rows = []  # rows of every predict call (in-process workers share it)

    def __init__(self, quality=0.5, fail_at=None, sleep=0.0):
        self.quality = quality
        self.fail_at = fail_at
        self.sleep = sleep

    def partial_fit(self, X, y=None, **fit_params):
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.fail_at is not None and self.calls_ >= self.fail_at:
            raise RuntimeError(f"boom at call {self.calls_}")
        if self.sleep:
            time.sleep(self.sleep)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        FakeModel.seen_rows.append(len(X))
        return np.zeros(len(X), dtype=int)

    def score(self, X, y=None):
        return fake_score(self.quality, self.calls_)


def fake_score(quality, calls):
    return quality * (1 - 0.5**calls)


# -- inputs -------------------------------------------------------------------


def _inputs(kind):
    if kind == "numpy":
        return X, Y
    if kind == "dask-array":
        return da.from_array(X, chunks=100), da.from_array(Y, chunks=100)
    if kind == "dask-array, y rechunked":
        return da.from_array(X, chunks=100), da.from_array(Y, chunks=150)
    if kind == "dask-array, numpy y":
        return da.from_array(X, chunks=100), Y
    if kind == "dask-dataframe":
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        return dd.from_pandas(frame, npartitions=4), dd.from_pandas(
            pd.Series(Y), npartitions=4
        )
    if kind == "dask-dataframe, y cut elsewhere":  # 4 partitions of 120, .., 40
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        return dd.from_pandas(frame, npartitions=4), dd.from_pandas(
            pd.Series(Y), chunksize=120
        )
    if kind == "dask-array, masked":  # unknown chunks, the mask's graph shared
        X_, y_ = da.from_array(X, chunks=100), da.from_array(Y, chunks=100)
        keep = X_[:, 0] > -100
        return X_[keep], y_[keep]
    if kind == "dask-dataframe, dask-array y":
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        return dd.from_pandas(frame, npartitions=4), da.from_array(Y, chunks=80)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "numpy",
        "dask-array",
        "dask-array, y rechunked",
        "dask-array, numpy y",
        "dask-dataframe",
        "dask-dataframe, y cut elsewhere",
        "dask-dataframe, dask-array y",
        "dask-array, masked",
    ],
)
def test_inputs_train_chunk_by_chunk(client, kind, caplog):
    X_, y_ = _inputs(kind)
    search = IncrementalSearchCV(
        SGDClassifier(random_state=0),
        ALPHAS,
        n_initial_parameters=3,
        max_iter=2,
        decay_rate=None,
        random_state=0,
    )
    with caplog.at_level(logging.INFO, logger="skhpo"):
        search.fit(X_, y_, classes=[0, 1])
    # X[mask] and y[mask] share the mask's graph: sent once, not twice
    assert "run_spec" not in caplog.text
    n_train = 320 if kind == "numpy" else 80  # 0.2 of one block, or 1/4 of 4
    assert f"between {n_train} and {n_train} examples" in caplog.text
    assert search.cv_results_["partial_fit_calls"].tolist() == [2, 2, 2]
    assert 0.5 < search.best_score_ <= 1
    predictions = search.predict(X_)
    if kind == "numpy":
        assert isinstance(predictions, np.ndarray)
    else:
        assert isinstance(predictions, da.Array)  # lazy
        assert predictions.numblocks[0] == 4
        assert predictions.compute().shape == (400,)


def test_inconsistent_y_is_a_clear_error(client):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        IncrementalSearchCV(SGDClassifier(), ALPHAS, max_iter=2, decay_rate=None).fit(
            da.from_array(X, chunks=100), Y[:-5], classes=[0, 1]
        )


def test_unsupervised_estimator_without_y(client):
    from sklearn.cluster import MiniBatchKMeans

    search = IncrementalSearchCV(
        MiniBatchKMeans(n_clusters=2, n_init=1, random_state=0),
        {"batch_size": [16, 64]},
        n_initial_parameters=2,
        max_iter=2,
        decay_rate=None,
        random_state=0,
    ).fit(da.from_array(X, chunks=100))
    assert search.best_score_ < 0  # KMeans' score is minus the inertia
    transformed = search.transform(da.from_array(X, chunks=100))
    assert isinstance(transformed, da.Array) and transformed.shape == (400, 2)


# -- validation stays chunked -------------------------------------------------


def test_validation_blocks_are_never_gathered(client, monkeypatch):
    # test_size=0.5 on 4 blocks of 100 rows: 200 validation rows, merged into
    # blocks no larger than the largest input block (without the 32 MiB floor
    # that makes small validation sets one block).
    monkeypatch.setattr(_data, "MIN_VALIDATION_BLOCK_BYTES", 0)
    FakeModel.seen_rows.clear()
    X_ = da.from_array(X, chunks=100)
    y_ = da.from_array(Y, chunks=100)
    search = IncrementalSearchCV(
        FakeModel(),
        {"quality": [0.5, 0.6]},
        n_initial_parameters=2,
        max_iter=2,
        decay_rate=None,
        test_size=0.5,
        scoring="accuracy",
        random_state=0,
    ).fit(X_, y_)
    assert FakeModel.seen_rows, "the scorer never predicted"
    assert max(FakeModel.seen_rows) <= 100 < 200
    # Each score predicted every validation row, one block at a time.
    assert sum(FakeModel.seen_rows) == 200 * len(search.history_)


def test_chunked_score_equals_in_memory_score(client):
    # The engine scores a chunked validation set blockwise (dask-aware
    # scorer); the result is the score of the whole validation set.
    X_ = da.from_array(X, chunks=100)
    y_ = da.from_array(Y, chunks=100)
    scorer = check_scoring(SGDClassifier(), "accuracy")

    async def run(client):
        return await run_adaptive(
            client,
            estimator=SGDClassifier(random_state=0),
            X=X_,
            y=y_,
            fit_params={"classes": [0, 1]},
            scorer=scorer,
            specs=[
                RunSpec(IncrementalPolicy(max_iter=1), [{}], np.random.RandomState(0))
            ],
            test_size=0.5,
            random_state=np.random.RandomState(0),
            max_validation_bytes=2000,
        )

    [chunked] = run_on_client(run)
    [one] = run_on_client(
        lambda c: run_adaptive(
            c,
            estimator=SGDClassifier(random_state=0),
            X=X_,
            y=y_,
            fit_params={"classes": [0, 1]},
            scorer=scorer,
            specs=[
                RunSpec(IncrementalPolicy(max_iter=1), [{}], np.random.RandomState(0))
            ],
            test_size=0.5,
            random_state=np.random.RandomState(0),
            max_validation_bytes=10**9,
        )
    )
    assert chunked.history[0]["score"] == pytest.approx(one.history[0]["score"])


@pytest.mark.parametrize(
    "test_size, match",
    [
        (0.0, "test_size must be a float in \\(0, 1\\)"),
        (1.0, "test_size must be a float in \\(0, 1\\)"),
        (50, "Absolute sizes are not supported"),
        (0.999, "leaves 0 training"),
    ],
)
def test_validation_split_too_small(client, test_size, match, wait_for_no_tasks):
    search = IncrementalSearchCV(
        SGDClassifier(), ALPHAS, max_iter=2, decay_rate=None, test_size=test_size
    )
    with pytest.raises(ValueError, match=match):
        search.fit(da.from_array(X, chunks=100), da.from_array(Y, chunks=100))
    assert wait_for_no_tasks(client) == 0


def test_one_row_block_cannot_be_split(client):
    with pytest.raises(ValueError, match="1 sample block cannot be split"):
        IncrementalSearchCV(SGDClassifier(), ALPHAS, decay_rate=None).fit(
            X[:1], Y[:1], classes=[0, 1]
        )


def test_no_rows_is_a_clear_error(client):
    with pytest.raises(ValueError, match="X has no rows"):
        IncrementalSearchCV(SGDClassifier(), ALPHAS, decay_rate=None).fit(
            da.zeros((0, 3), chunks=10), da.zeros(0, chunks=10)
        )


# -- the engine follows the policy ---------------------------------------------


@pytest.mark.parametrize(
    "make_search, make_policy",
    [
        (
            lambda: IncrementalSearchCV(
                FakeModel(),
                {"quality": np.linspace(0, 1, 50)},
                5,
                decay_rate=None,
                max_iter=6,
                random_state=0,
            ),
            lambda n: IncrementalPolicy(max_iter=6),
        ),
        (
            lambda: IncrementalSearchCV(
                FakeModel(),
                {"quality": np.linspace(0, 1, 50)},
                5,
                decay_rate=None,
                max_iter=30,
                patience=3,
                tol=0.05,
                random_state=0,
            ),
            lambda n: IncrementalPolicy(max_iter=30, patience=3, tol=0.05),
        ),
        (
            lambda: InverseDecaySearchCV(
                FakeModel(),
                {"quality": np.linspace(0, 1, 50)},
                10,
                max_iter=20,
                random_state=0,
            ),
            lambda n: InverseDecayPolicy(max_iter=20, n_initial_parameters=10),
        ),
        (
            lambda: SuccessiveHalvingSearchCV(
                FakeModel(),
                {"quality": np.linspace(0, 1, 50)},
                9,
                2,
                max_iter=18,
                random_state=0,
            ),
            lambda n: SuccessiveHalvingPolicy(
                n_initial_iter=2, n_initial_parameters=9, max_iter=18
            ),
        ),
    ],
)
def test_engine_makes_the_policy_decisions(client, make_search, make_policy):
    search = make_search().fit(X, Y)
    qualities = [p["quality"] for p in search.cv_results_["params"]]
    expected = simulate(
        make_policy(len(qualities)),
        len(qualities),
        lambda model, calls: fake_score(qualities[model], calls),
    )
    calls = {m: h[-1]["partial_fit_calls"] for m, h in search.model_history_.items()}
    assert calls == expected.partial_fit_calls
    # Every record is one score, with the policy's inputs.
    for model_id, records in search.model_history_.items():
        assert [r["score"] for r in records] == pytest.approx(
            [fake_score(qualities[model_id], r["partial_fit_calls"]) for r in records]
        )
    best = max(
        expected.survivors,
        key=lambda m: fake_score(qualities[m], expected.partial_fit_calls[m]),
    )
    assert search.best_index_ == best


def test_speculative_calls_fill_the_gaps_and_are_not_counted(client):
    # A slow model makes the other finish their round first: their next call
    # is submitted speculatively and reused by the next round.
    scorer = check_scoring(FakeModel(), None)
    params = [{"quality": q, "sleep": s} for q, s in [(0.9, 0.05), (0.5, 0.0)]]

    async def run(client):
        return await run_adaptive(
            client,
            estimator=FakeModel(),
            X=X,
            y=Y,
            fit_params={},
            scorer=scorer,
            specs=[
                RunSpec(IncrementalPolicy(max_iter=4), params, np.random.RandomState(0))
            ],
            test_size=0.2,
            random_state=np.random.RandomState(0),
        )

    [result] = run_on_client(run)
    assert result.speculative_calls >= 3  # after each score below max_iter
    calls = [r["partial_fit_calls"] for r in result.model_history[1]]
    assert calls == [1, 2, 3, 4]  # speculative calls are the next rounds' calls


# -- clients ------------------------------------------------------------------


@gen_cluster(client=True)
async def test_async_client_fit_is_awaitable(c, s, a, b):
    estimator = c.submit(lambda: SGDClassifier(random_state=0))
    classes = c.submit(lambda: np.array([0, 1]))
    search = SuccessiveHalvingSearchCV(
        estimator, ALPHAS, 4, 1, max_iter=3, random_state=0, test_size=0.5
    )
    awaitable = search.fit(
        da.from_array(X, chunks=100), da.from_array(Y, chunks=100), classes=classes
    )
    assert asyncio.iscoroutine(awaitable)
    assert await awaitable is search
    assert search.metadata_ == search.metadata
    assert isinstance(search.best_estimator_, SGDClassifier)


@gen_cluster(client=True)
async def test_async_failure_cancels_the_search(c, s, a, b):
    search = IncrementalSearchCV(
        FakeModel(fail_at=3),
        {"quality": [0.1, 0.2, 0.3]},
        3,
        decay_rate=None,
        max_iter=5,
    )
    with pytest.raises(RuntimeError, match="boom at call 3") as info:
        await search.fit(X, Y)
    assert any("model" in note for note in getattr(info.value, "__notes__", []))
    deadline = time.time() + 5
    while s.tasks and time.time() < deadline:
        await asyncio.sleep(0.05)
    assert not s.tasks


@gen_cluster(client=True)
async def test_cancelling_the_coroutine_cancels_its_tasks(c, s, a, b):
    search = IncrementalSearchCV(
        FakeModel(sleep=0.05),
        {"quality": [0.1, 0.2, 0.3, 0.4]},
        4,
        decay_rate=None,
        max_iter=50,
    )
    task = asyncio.ensure_future(search.fit(X, Y))
    while not any("partial-fit" in str(key) for key in s.tasks):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.time() + 5
    while s.tasks and time.time() < deadline:
        await asyncio.sleep(0.05)
    assert not s.tasks


def test_failing_partial_fit_raises_and_cancels(client, wait_for_no_tasks):
    search = HyperbandSearchCV(
        FakeModel(fail_at=4),
        {"quality": np.linspace(0, 1, 10)},
        max_iter=9,
    )
    with pytest.raises(RuntimeError, match="boom at call 4") as info:
        search.fit(X, Y)
    assert "skhpo: raised while training or scoring model" in "".join(
        info.value.__notes__
    )
    assert wait_for_no_tasks(client) == 0
    assert not hasattr(search, "best_estimator_")


def test_keyboard_interrupt_cancels_submitted_futures(
    client, wait_for_no_tasks, sigint
):
    search = IncrementalSearchCV(
        FakeModel(sleep=0.05),
        {"quality": np.linspace(0, 1, 10)},
        4,
        decay_rate=None,
        max_iter=200,
    )
    # A real SIGINT (as Ctrl-C), which interrupts the wait in Client.sync.
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            search.fit(X, Y)
    finally:
        timer.cancel()
    assert wait_for_no_tasks(client) == 0


def test_without_a_client_a_temporary_cluster_runs_the_search():
    from skhpo._execution import active_client

    # No earlier test may leave a default client behind.
    assert active_client() is None
    search = IncrementalSearchCV(
        SGDRegressor(random_state=0),
        ALPHAS,
        n_initial_parameters=2,
        max_iter=2,
        decay_rate=None,
        random_state=0,
    ).fit(XR, YR)
    assert search.best_score_ > 0.5
    assert active_client() is None  # closed, and never the default


def test_remote_scheduler_address(cluster):
    # A client connected to a scheduler by its address, as for a remote cluster.
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        with client.as_current():
            search = HyperbandSearchCV(
                SGDClassifier(random_state=0), ALPHAS, max_iter=3, random_state=0
            ).fit(X, Y, classes=[0, 1])
    assert search.metadata_ == search.metadata


# -- logging ------------------------------------------------------------------


@pytest.mark.parametrize("verbose, n_score_lines", [(False, 3), (0, 0), (0.5, 2)])
def test_logging_fraction_of_rounds(client, caplog, capsys, verbose, n_score_lines):
    with caplog.at_level(logging.INFO, logger="skhpo"):
        IncrementalSearchCV(
            SGDClassifier(random_state=0),
            ALPHAS,
            2,
            decay_rate=None,
            max_iter=3,
            verbose=verbose,
            prefix="-demo",
        ).fit(X, Y, classes=[0, 1])
    messages = [r.getMessage() for r in caplog.records if r.name == "skhpo"]
    assert messages[0] == "[CV-demo] creating 2 models"
    scores = [m for m in messages if "validation score of" in m]
    assert len(scores) == n_score_lines
    # Printed to stdout only when verbose is truthy.
    assert ("[CV-demo] creating" in capsys.readouterr().out) == bool(verbose)


def test_verbose_prints_to_stdout(client, capsys):
    logger = logging.getLogger("skhpo")
    level, handlers = logger.level, list(logger.handlers)
    IncrementalSearchCV(
        SGDClassifier(random_state=0),
        ALPHAS,
        2,
        decay_rate=None,
        max_iter=2,
        verbose=True,
    ).fit(X, Y, classes=[0, 1])
    out = capsys.readouterr().out
    assert "[CV] creating 2 models" in out
    assert "[CV] validation score of" in out
    assert logger.level == level and logger.handlers == handlers  # restored


def test_futures_are_released_after_fit(client, wait_for_no_tasks):
    IncrementalSearchCV(
        SGDClassifier(random_state=0), ALPHAS, 3, decay_rate=None, max_iter=3
    ).fit(da.from_array(X, chunks=100), da.from_array(Y, chunks=100), classes=[0, 1])
    assert wait_for_no_tasks(client) == 0
    wait([])  # nothing left to wait for
