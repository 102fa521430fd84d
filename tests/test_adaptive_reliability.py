"""Adaptive searches under faults: resume, max_time, Ctrl-C, dead workers."""

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPClassifier

from skhpo import (
    HyperbandSearchCV,
    IncrementalSearchCV,
    InverseDecaySearchCV,
    SuccessiveHalvingSearchCV,
)
from skhpo._execution import ClusterLostError

X, Y = make_classification(n_samples=300, n_features=6, random_state=0)
ALPHAS = {"alpha": np.logspace(-5, 0, 30)}
XL, YL = make_classification(n_samples=2000, n_features=20, random_state=0)


class SlowSGD(SGDClassifier):
    """SGDClassifier whose partial_fit takes a while (to interrupt it), and
    crashes at its third call while the file ``crash_file`` exists."""

    def __init__(self, alpha=1e-4, delay=0.0, crash_file=None, random_state=0):
        super().__init__(alpha=alpha, random_state=random_state)
        self.delay = delay
        self.crash_file = crash_file

    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        time.sleep(self.delay)
        self.n_calls_ = getattr(self, "n_calls_", 0) + 1
        if self.n_calls_ == 3 and self.crash_file and os.path.exists(self.crash_file):
            raise RuntimeError("simulated crash")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


SEARCHES = {
    "incremental": lambda est, **kw: IncrementalSearchCV(
        est, ALPHAS, 4, decay_rate=None, max_iter=6, random_state=0, **kw
    ),
    "inverse-decay": lambda est, **kw: InverseDecaySearchCV(
        est, ALPHAS, 20, max_iter=10, decay_rate=0.5, random_state=0, **kw
    ),
    "successive-halving": lambda est, **kw: SuccessiveHalvingSearchCV(
        est, ALPHAS, 9, 1, max_iter=9, random_state=0, **kw
    ),
    "hyperband": lambda est, **kw: HyperbandSearchCV(
        est, ALPHAS, max_iter=9, random_state=0, **kw
    ),
}


def _trace(search):
    """What a run did, independent of timing."""
    return sorted(
        (str(r["model_id"]), r["partial_fit_calls"], round(r["score"], 12))
        for r in search.history_
    )


def _nan_above(limit):
    """Accuracy, NaN for models whose alpha is above ``limit`` (a metric that
    is undefined for them)."""

    def score(estimator, X, y):
        if estimator.alpha > limit:
            return np.nan
        return float(np.mean(estimator.predict(X) == y))

    return score


#: models with NaN scores come first in the grid
NAN_FIRST = {"alpha": [1.0, 0.5, 1e-3, 1e-4]}
NAN_SEARCHES = {
    "incremental": lambda est, **kw: IncrementalSearchCV(
        est, NAN_FIRST, "grid", decay_rate=None, max_iter=2, **kw
    ),
    "inverse-decay": lambda est, **kw: InverseDecaySearchCV(
        est, NAN_FIRST, "grid", max_iter=4, decay_rate=1.0, **kw
    ),
    "successive-halving": lambda est, **kw: SuccessiveHalvingSearchCV(
        est, NAN_FIRST, "grid", 1, max_iter=3, **kw
    ),
    "hyperband": lambda est, **kw: HyperbandSearchCV(
        est, NAN_FIRST, max_iter=3, random_state=0, **kw
    ),
}


@pytest.mark.parametrize("name", list(NAN_SEARCHES))
def test_nan_scores_rank_last_and_never_win(client, name):
    # NaN compares false with every score: max() and heapq kept the first model
    # seen, NaN or not, and promoted NaN models over scored ones.
    search = NAN_SEARCHES[name](SGDClassifier(random_state=0), scoring=_nan_above(0.01))
    search.fit(X, Y, classes=[0, 1])
    scores = search.cv_results_["test_score"]
    assert np.isnan(scores).any() and np.isfinite(scores).any()
    assert np.isfinite(search.best_score_)
    assert search.best_params_["alpha"] <= 0.01
    assert search.best_index_ == np.argmin(search.cv_results_["rank_test_score"])


class BrokenSGD(SGDClassifier):
    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        raise RuntimeError("broken partial_fit")


def test_a_failed_fit_leaves_nothing_of_an_earlier_fit(client):
    search = SEARCHES["hyperband"](SGDClassifier(random_state=0))
    search.fit(X, Y, classes=[0, 1])
    assert hasattr(search, "metadata_") and hasattr(search, "best_score_")
    search.set_params(estimator=BrokenSGD(random_state=0))
    with pytest.raises(RuntimeError, match="broken partial_fit"):
        search.fit(X, Y, classes=[0, 1])
    assert search.history_ == []
    for name in ["cv_results_", "best_score_", "best_params_", "metadata_"]:
        assert not hasattr(search, name), name
    with pytest.raises(NotFittedError):
        search.predict(X)


# -- checkpoint / resume ---------------------------------------------------------


@pytest.mark.parametrize("name", list(SEARCHES))
def test_resume_after_a_crash_matches_an_uninterrupted_run(client, tmp_path, name):
    make = SEARCHES[name]
    reference = make(SlowSGD()).fit(X, Y, classes=[0, 1])
    path = tmp_path / "search.jsonl"
    crash = tmp_path / "crash"
    crash.touch()
    estimator = SlowSGD(crash_file=str(crash))
    # The first model reaching its third partial_fit call crashes the search.
    first = make(estimator, checkpoint=path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        first.fit(X, Y, classes=[0, 1])
    n_first = len(first.history_)
    assert 0 < n_first < len(reference.history_)
    assert len(path.read_text().splitlines()) == 1 + n_first
    # Resumed: continues, and ends as if never stopped.
    crash.unlink()
    resumed = make(estimator, checkpoint=path).fit(X, Y, classes=[0, 1])
    assert _trace(resumed) == _trace(reference)
    assert resumed.best_params_ == reference.best_params_
    np.testing.assert_array_equal(
        resumed.cv_results_["partial_fit_calls"],
        reference.cv_results_["partial_fit_calls"],
    )
    assert resumed.predict(X[:5]).shape == (5,)
    # Fitting a finished checkpoint again trains nothing and gives the same.
    again = make(estimator, checkpoint=path).fit(X, Y, classes=[0, 1])
    assert _trace(again) == _trace(reference)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + len(reference.history_)


def test_resume_from_a_torn_journal_and_without_saved_models(client, tmp_path):
    make = SEARCHES["successive-halving"]
    reference = make(SlowSGD()).fit(X, Y, classes=[0, 1])
    path = tmp_path / "search.jsonl"
    make(SlowSGD(), checkpoint=path, max_time=None).fit(X, Y, classes=[0, 1])
    lines = path.read_bytes().splitlines(keepends=True)
    # A crash while writing record 12, and every saved model lost.
    path.write_bytes(b"".join(lines[:12]) + lines[12][:20])
    shutil.rmtree(f"{path}.models")
    with pytest.warns(RuntimeWarning, match="partially written"):
        resumed = make(SlowSGD(), checkpoint=path).fit(X, Y, classes=[0, 1])
    # The models were retrained from their parameters: same results.
    assert _trace(resumed) == _trace(reference)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(estimator=SlowSGD(random_state=1)), r"\['estimator'\]"),
        (dict(parameters={"alpha": [0.1, 0.2]}), r"\['parameters'\]"),
        (dict(max_iter=27), r"\['settings'\]\['max_iter'\]"),
        (dict(X=X + 1), r"\['X'\]"),
    ],
)
def test_checkpoint_of_another_search_is_refused(client, tmp_path, change, match):
    path = tmp_path / "search.jsonl"
    kwargs = dict(n_initial_parameters=3, n_initial_iter=1, max_iter=3)
    SuccessiveHalvingSearchCV(
        SlowSGD(), ALPHAS, checkpoint=path, random_state=0, **kwargs
    ).fit(X, Y, classes=[0, 1])
    before = path.read_bytes()
    data = change.pop("X", X)
    search = SuccessiveHalvingSearchCV(
        change.pop("estimator", SlowSGD()),
        change.pop("parameters", ALPHAS),
        checkpoint=path,
        random_state=0,
        **{**kwargs, **change},
    )
    with pytest.raises(ValueError, match="belongs to another search") as info:
        search.fit(data, Y, classes=[0, 1])
    assert info.match(match)
    assert path.read_bytes() == before


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(0)])
def test_checkpoint_needs_an_integer_random_state(tmp_path, random_state):
    search = IncrementalSearchCV(
        SlowSGD(),
        ALPHAS,
        decay_rate=None,
        random_state=random_state,
        checkpoint=tmp_path / "x.jsonl",
    )
    with pytest.raises(ValueError, match="needs an integer random_state"):
        search.fit(X, Y)
    assert not (tmp_path / "x.jsonl").exists()


def test_journal_is_json_lines(client, tmp_path):
    path = tmp_path / "search.jsonl"
    search = SEARCHES["hyperband"](SlowSGD(), checkpoint=str(path))
    search.fit(X, Y, classes=[0, 1])
    header, *records = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["fingerprint"]["search"] == "HyperbandSearchCV"
    assert len(records) == len(search.history_)
    assert {r["run"] for r in records} == {0, 1, 2}
    # Only the models still in the search keep a saved state.
    saved = os.listdir(f"{path}.models")
    survivors = sum(
        1 for h in search.model_history_.values() if h[-1]["partial_fit_calls"] == 9
    )
    assert 1 <= len(saved) <= survivors + 3


# -- max_time --------------------------------------------------------------------


def test_max_time_stops_with_the_finished_results(client, wait_for_no_tasks):
    search = IncrementalSearchCV(
        SlowSGD(delay=0.05),
        ALPHAS,
        4,
        decay_rate=None,
        max_iter=1000,
        max_time=1.0,
        random_state=0,
    ).fit(X, Y, classes=[0, 1])
    calls = search.cv_results_["partial_fit_calls"]
    assert 1 <= calls.min() and calls.max() < 1000
    assert search.best_score_ == max(search.cv_results_["test_score"])
    assert isinstance(search.best_estimator_, SlowSGD)
    assert wait_for_no_tasks(client) == 0


def test_max_time_before_any_score_is_a_clear_error(client):
    search = SEARCHES["hyperband"](SlowSGD(delay=0.2), max_time=0.01)
    with pytest.raises(RuntimeError, match="passed before any model was scored"):
        search.fit(X, Y, classes=[0, 1])


# -- Ctrl-C ------------------------------------------------------------------------


def test_keyboard_interrupt_keeps_the_finished_work(client, wait_for_no_tasks, sigint):
    search = IncrementalSearchCV(
        SlowSGD(delay=0.05), ALPHAS, 4, decay_rate=None, max_iter=500, random_state=0
    )
    wait_for_no_tasks(client)  # workers free: the search starts at once
    previous = signal.getsignal(signal.SIGALRM)
    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    start = time.time()
    try:
        with pytest.raises(KeyboardInterrupt):
            search.fit(X, Y, classes=[0, 1])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.time() - start < 30  # stopped, did not run the 500 calls
    assert wait_for_no_tasks(client) == 0
    assert len(search.history_) >= 1
    assert set(search.cv_results_["model_id"]) <= {0, 1, 2, 3}
    assert search.best_params_ in [r["params"] for r in search.history_]
    assert not hasattr(search, "best_estimator_")


# -- dead workers, lost cluster ------------------------------------------------------


def _holder_of_most_data(dask_scheduler):
    counts = {}
    for key, ts in dask_scheduler.tasks.items():
        if str(key).startswith("getitem"):
            for ws in ts.who_has or ():
                counts[ws.address] = counts.get(ws.address, 0) + 1
    return max(counts, key=counts.get) if counts else None


@pytest.mark.parametrize("name", ["successive-halving", "hyperband"])
def test_killed_worker_costs_only_its_running_tasks(process_cluster, name):
    with Client(process_cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        with client.as_current():
            # A model that worker processes can import, slow enough to be killed
            # in the middle of the search.
            model = MLPClassifier((100, 100), random_state=0)
            reference = SEARCHES[name](model).fit(XL, YL, classes=[0, 1])
            killed = []

            def kill():
                address = None
                while address is None:
                    time.sleep(0.3)
                    address = client.run_on_scheduler(_holder_of_most_data)
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

            killer = threading.Thread(target=kill, daemon=True)
            killer.start()
            search = SEARCHES[name](model).fit(XL, YL, classes=[0, 1])
            killer.join()
        assert killed
        # Every model accounted for, trained as planned: nothing lost.
        assert _trace(search) == _trace(reference)
        assert search.metadata_ == search.metadata
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_losing_the_cluster_is_a_clear_error_and_keeps_the_records():
    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=50,
    )
    client = Client(cluster, set_as_default=False)
    search = IncrementalSearchCV(
        SlowSGD(delay=0.05), ALPHAS, 4, decay_rate=None, max_iter=500, random_state=0
    )
    timer = threading.Timer(1.5, cluster.close)
    timer.start()
    try:
        with client.as_current():
            with pytest.raises(ClusterLostError, match="Restart the cluster"):
                search.fit(X, Y, classes=[0, 1])
    finally:
        timer.cancel()
        client.close()
        cluster.close()
    assert len(search.history_) >= 1
    assert len(search.cv_results_["model_id"]) >= 1
