"""SMBOSearchCV on dask.distributed, asynchronously: results, grouping, failures.

Every test runs real LocalCluster workers (threads in this process, or
processes where a worker is killed) and fits real estimators.
"""

import os
import pickle
import signal
import threading
import time

import dask
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from distributed.scheduler import KilledWorker
from distributed.utils_test import gen_cluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import RidgeClassifier
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo.samplers import Optimizer
from skhpo.space import Real

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SPACE = {"c": Real(0.0, 1.0)}


class Sleepy(ClassifierMixin, BaseEstimator):
    """Sleeps ``delay`` seconds in fit; its score peaks at ``c = 0.3``.

    ``fail_above``: fit raises for larger ``c``; ``interrupt_above``: fit raises
    KeyboardInterrupt for larger ``c``, as a Ctrl-C inside the fit would.
    """

    def __init__(self, c=0.5, delay=0.0, fail_above=None, interrupt_above=None):
        self.c = c
        self.delay = delay
        self.fail_above = fail_above
        self.interrupt_above = interrupt_above

    def fit(self, X, y):
        if self.interrupt_above is not None and self.c > self.interrupt_above:
            raise KeyboardInterrupt
        if self.fail_above is not None and self.c > self.fail_above:
            raise ValueError(f"c={self.c} is too large for this fit")
        time.sleep(self.delay)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return 1.0 - abs(self.c - 0.3)


def _busy_tasks(client):
    """Keys of the tasks the cluster still holds (processing or waiting)."""
    return sum(len(v) for v in client.processing().values())


@pytest.fixture(scope="module")
def threads_cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture
def client(threads_cluster):
    with Client(threads_cluster) as client:
        yield client


# -- the results are the synchronous path's kind -------------------------------


@pytest.mark.parametrize(
    "scoring, refit",
    [(None, True), (["accuracy", "balanced_accuracy"], "balanced_accuracy")],
)
def test_async_results_have_the_synchronous_kind(client, scoring, refit):
    kw = dict(n_iter=8, cv=3, random_state=0, scoring=scoring, refit=refit)
    space = {"alpha": Real(1e-3, 1e2, log=True)}
    on_dask = SMBOSearchCV(RidgeClassifier(), space, **kw).fit(X_IRIS, Y_IRIS)
    local = SMBOSearchCV(RidgeClassifier(), space, execution="joblib", **kw)
    local.fit(X_IRIS, Y_IRIS)
    results = on_dask.cv_results_
    assert set(results) == set(local.cv_results_)
    assert sorted(results["iter"]) == list(range(8))  # each its own round
    assert len({p["alpha"] for p in results["params"]}) == 8
    assert on_dask.optimizer_.n_told == 8 and not on_dask.optimizer_.pending
    # The surrogate was told what cv_results_ holds, in the same order.
    metric = "score" if scoring is None else refit
    told = [obs.score for obs in on_dask.optimizer_.history]
    np.testing.assert_allclose(told, results[f"mean_test_{metric}"])
    assert on_dask.best_params_ == results["params"][on_dask.best_index_]
    assert on_dask.best_estimator_.alpha == on_dask.best_params_["alpha"]
    assert on_dask.multimetric_ == (scoring is not None)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n_iter=st.integers(1, 12),
    cv=st.integers(2, 4),
    surrogate=st.sampled_from(["random", "tpe", "gp"]),
)
def test_every_asked_candidate_is_accounted_for(client, n_iter, cv, surrogate):
    search = SMBOSearchCV(
        Sleepy(), SPACE, n_iter=n_iter, cv=cv, surrogate=surrogate, random_state=0
    ).fit(X_IRIS, Y_IRIS)
    results = search.cv_results_
    assert sorted(results["iter"]) == list(range(n_iter))
    assert len({p["c"] for p in results["params"]}) == n_iter
    assert search.optimizer_.n_told == n_iter and not search.optimizer_.pending
    assert f"split{cv - 1}_test_score" in results
    np.testing.assert_allclose(
        results["mean_test_score"], [1 - abs(p["c"] - 0.3) for p in results["params"]]
    )


def test_auto_is_async_with_a_client_and_joblib_under_the_dask_backend(client):
    kw = dict(n_iter=6, n_points=2, cv=2, random_state=0)
    auto = SMBOSearchCV(Sleepy(), SPACE, **kw).fit(X_IRIS, Y_IRIS)
    assert len(set(auto.cv_results_["iter"])) == 6  # asked one by one
    with joblib.parallel_config(backend="dask"):
        rounds = SMBOSearchCV(Sleepy(), SPACE, **kw).fit(X_IRIS, Y_IRIS)
    assert list(rounds.cv_results_["iter"]) == [0, 0, 1, 1, 2, 2]


def test_async_without_a_client_is_refused():
    search = SMBOSearchCV(Sleepy(), SPACE, n_iter=2, cv=2, execution="async")
    with pytest.raises(ValueError, match="execution='async' needs an active"):
        search.fit(X_IRIS, Y_IRIS)


def test_cheap_fits_are_grouped_into_fewer_tasks(client):
    search = SMBOSearchCV(
        Sleepy(), SPACE, n_iter=60, cv=3, surrogate="random", random_state=0
    )
    with get_task_stream(client) as stream:
        search.fit(X_IRIS, Y_IRIS)
    n_tasks = sum(1 for t in stream.data if t["key"].startswith("_fit_items"))
    assert len(search.cv_results_["params"]) == 60
    assert n_tasks < 60 * 3 / 2  # 180 fits


def test_few_candidates_are_asked_ahead_of_the_scores(client, monkeypatch):
    # Cheap fits used to be grouped by asking dozens of candidates blind: most
    # of a 60-candidate search ran before the first score was told. At most
    # two per worker thread may be in flight, or a tenth of the search.
    in_flight = []
    ask = Optimizer.ask

    def counting_ask(self, n=1):
        batch = ask(self, n)
        in_flight.append(len(self.pending))
        return batch

    monkeypatch.setattr(Optimizer, "ask", counting_ask)
    search = SMBOSearchCV(Sleepy(), SPACE, n_iter=60, cv=3, random_state=0)
    search.fit(X_IRIS, Y_IRIS)
    assert len(search.cv_results_["params"]) == 60
    assert max(in_flight) <= max(2 * 2, 60 // 10)


def test_verbose_says_fitting_before_the_fits_not_after(client, capsys):
    # The line came from the replay of the results into scikit-learn's
    # bookkeeping, once every fit was over.
    search = SMBOSearchCV(Sleepy(), SPACE, n_iter=4, cv=2, verbose=1, random_state=0)
    search.fit(X_IRIS, Y_IRIS)
    out = capsys.readouterr().out
    assert out.count("Fitting 2 folds for each of") == 1
    assert "up to 4 candidates, asynchronously on the dask cluster (" in out


def test_slow_fits_keep_one_task_per_fit(client):
    search = SMBOSearchCV(Sleepy(delay=0.1), SPACE, n_iter=4, cv=2, random_state=0)
    with get_task_stream(client) as stream:
        search.fit(X_IRIS, Y_IRIS)
    n_tasks = sum(1 for t in stream.data if t["key"].startswith("_fit_items"))
    assert n_tasks == 8


def test_n_iter_no_change_stops_early(client):
    # Every candidate has the same score: nothing improves after the first.
    search = SMBOSearchCV(
        RidgeClassifier(),
        {"alpha": Real(1e3, 1e4)},
        n_iter=40,
        cv=2,
        scoring=lambda est, X, y: 0.5,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    n_done = len(search.cv_results_["params"])
    # Stops asking after 1 + 3 finished; those in flight (at most 2 per worker
    # thread) still finish.
    assert 4 <= n_done <= 4 + 2 * 2


# -- failures ----------------------------------------------------------------------


@pytest.mark.parametrize("execution", ["async", "joblib"])
def test_error_score_raise_names_the_parameters_and_keeps_finished(client, execution):
    search = SMBOSearchCV(
        Sleepy(fail_above=0.9),
        SPACE,
        n_iter=40,
        cv=2,
        error_score="raise",
        surrogate="random",
        # The first candidate above 0.9 is the 20th: with a few in flight,
        # earlier ones have finished when it fails.
        random_state=2,
        execution=execution,
    )
    with pytest.raises(ValueError, match=r"(?s)too large.*candidates? \[?\{'c': 0\.9"):
        search.fit(X_IRIS, Y_IRIS)
    results = search.cv_results_
    assert 1 <= len(results["params"]) < 40
    assert all(p["c"] <= 0.9 for p in results["params"])
    assert search.best_params_ == results["params"][search.best_index_]


def test_a_keyboard_interrupt_inside_a_fit_keeps_finished(client):
    search = SMBOSearchCV(
        Sleepy(interrupt_above=0.9),
        SPACE,
        n_iter=60,
        cv=2,
        surrogate="random",
        # The first c > 0.9 is the 20th candidate: the first ones finish before
        # it is asked. (With random_state=1 it was the 3rd, which could run in
        # the same first tasks as the two before it and interrupt the search
        # before either finished: a failure seen once in a full run.)
        random_state=2,
    )
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_IRIS, Y_IRIS)
    assert 1 <= len(search.cv_results_["params"]) < 60
    assert np.isfinite(search.best_score_)


def test_ctrl_c_stops_promptly_cancels_and_keeps_finished(client, sigint):
    search = SMBOSearchCV(Sleepy(delay=0.2), SPACE, n_iter=200, cv=2, random_state=0)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            search.fit(X_IRIS, Y_IRIS)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 15
    assert 1 <= len(search.cv_results_["params"]) < 200
    assert search.best_params_ in search.cv_results_["params"]
    # The pending fits were cancelled: the workers are soon idle.
    deadline = time.monotonic() + 10
    while _busy_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _busy_tasks(client) == 0


def test_losing_the_cluster_ends_fit_with_a_clear_error_and_keeps_finished():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = Client(cluster)
    search = SMBOSearchCV(Sleepy(delay=0.1), SPACE, n_iter=300, cv=2, random_state=0)
    timer = threading.Timer(2.0, cluster.close)
    try:
        timer.start()
        with pytest.raises(RuntimeError, match="dask cluster went away"):
            search.fit(X_IRIS, Y_IRIS)
    finally:
        timer.cancel()
        timer.join()
        client.close()
        cluster.close()
    assert 1 <= len(search.cv_results_["params"]) < 300
    assert search.best_params_ in search.cv_results_["params"]


def _kill_a_worker_during_a_fit(client, pids, killed):
    """Kill (SIGKILL) the process of the first worker seen running a fit."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(key).startswith("_fit_items") for key in keys):
                os.kill(pids[address], signal.SIGKILL)
                killed.append(pids[address])
                return
        time.sleep(0.02)


@pytest.mark.parametrize("error_score", [np.nan, "raise"])
def test_a_fit_that_kills_its_workers_is_a_failed_fit(crashing_classifier, error_score):
    """KilledWorker: the fit is scored error_score, the search goes on."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    # One of the 6 candidates (c > 0.9) kills every worker that fits it.
    search = SMBOSearchCV(
        crashing_classifier(crash_above=0.9), SPACE, n_iter=6, cv=2, random_state=0
    ).set_params(error_score=error_score)
    with cluster, Client(cluster):
        if error_score == "raise":
            with pytest.raises(KilledWorker) as info:
                search.fit(X_IRIS, Y_IRIS)
            assert "error_score='raise'" in "\n".join(info.value.__notes__)
            assert "cv_results_" not in vars(search) or all(
                np.isfinite(search.cv_results_["mean_test_score"])
            )
            return
        with pytest.warns(FitFailedWarning, match="killed the dask workers"):
            search.fit(X_IRIS, Y_IRIS)
    results = search.cv_results_
    crashed = np.array([p["c"] > 0.9 for p in results["params"]])
    assert len(results["params"]) == 6 and crashed.sum() == 1
    assert np.isnan(results["mean_test_score"][crashed]).all()
    # Fits that shared a task or a worker with it were rerun, not failed.
    assert np.isfinite(results["mean_test_score"][~crashed]).all()
    assert search.best_params_["c"] <= 0.9


def test_a_killed_worker_process_costs_no_candidate():
    # Worker processes cannot import this test module: a scikit-learn model.
    X, y = make_classification(n_samples=600, n_features=20, random_state=0)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        search = SMBOSearchCV(
            SVC(), {"C": Real(0.1, 10.0, log=True)}, n_iter=8, cv=2, random_state=0
        )
        killed = []
        killer = threading.Thread(
            target=_kill_a_worker_during_a_fit, args=(client, pids, killed)
        )
        killer.start()
        try:
            search.fit(X, y)
        finally:
            killer.join()
        pids_after = list(client.run(os.getpid).values())
    assert killed and killed[0] not in pids_after  # killed (and restarted)
    results = search.cv_results_
    assert len(results["params"]) == 8
    assert np.isfinite(results["mean_test_score"]).all()
    assert sorted(results["iter"]) == list(range(8))


# -- the cluster given as ``client`` ------------------------------------------------


def _transitions(cluster):
    return cluster.scheduler.transition_counter


@pytest.mark.parametrize("how", ["client", "address", "cluster"])
def test_a_given_client_runs_the_search_on_its_cluster(threads_cluster, how):
    n_clients = len(threads_cluster.scheduler.clients)
    before = _transitions(threads_cluster)
    with Client(threads_cluster, set_as_default=False) as given:
        client = {
            "client": given,
            "address": threads_cluster.scheduler_address,
            "cluster": threads_cluster,
        }[how]
        kw = dict(n_iter=6, n_points=2, cv=2, random_state=0)
        search = SMBOSearchCV(Sleepy(), SPACE, client=client, **kw).fit(X_IRIS, Y_IRIS)
    assert len(set(search.cv_results_["iter"])) == 6  # asynchronous: one by one
    assert _transitions(threads_cluster) > before  # ran there, whatever is active
    assert search.client is client  # unchanged, as scikit-learn requires
    # A client created from an address or a cluster is closed by fit.
    assert len(threads_cluster.scheduler.clients) == n_clients


def test_a_given_client_runs_joblib_rounds_on_its_cluster(threads_cluster):
    before = _transitions(threads_cluster)
    search = SMBOSearchCV(
        Sleepy(),
        SPACE,
        n_iter=4,
        n_points=2,
        cv=2,
        random_state=0,
        execution="joblib",
        client=threads_cluster.scheduler_address,
    ).fit(X_IRIS, Y_IRIS)
    assert list(search.cv_results_["iter"]) == [0, 0, 1, 1]
    assert _transitions(threads_cluster) > before


def test_a_given_client_is_shared_by_clone_and_pickled_as_its_address(
    threads_cluster,
):
    with Client(threads_cluster, set_as_default=False) as given:
        search = SMBOSearchCV(Sleepy(), SPACE, n_iter=2, cv=2, client=given)
        twin = clone(search)
        assert twin.client is given and twin.estimator is not search.estimator
        restored = pickle.loads(pickle.dumps(search))
        assert search.client is given  # pickling leaves the search alone
    assert restored.client == threads_cluster.scheduler_address
    restored.fit(X_IRIS, Y_IRIS)  # connects to the address
    assert len(restored.cv_results_["params"]) == 2


@pytest.mark.parametrize(
    "client, error, match",
    [
        (8786, TypeError, "client of SMBOSearchCV must be None, a distributed"),
        ([], TypeError, r"got list: \[\]"),
    ],
)
def test_a_bad_client_is_refused_before_any_fit(client, error, match):
    search = SMBOSearchCV(Sleepy(), SPACE, n_iter=2, cv=2, client=client)
    with pytest.raises(error, match=match):
        search.fit(X_IRIS, Y_IRIS)
    assert not hasattr(search, "cv_results_")


@gen_cluster(client=True)
async def test_an_asynchronous_client_is_refused(c, s, a, b):
    search = SMBOSearchCV(Sleepy(), SPACE, n_iter=2, cv=2, client=c)
    with pytest.raises(ValueError, match="SMBOSearchCV needs a synchronous"):
        search.fit(X_IRIS, Y_IRIS)
