"""Searches on dask through joblib: joblib's dask backend and skhpo's tuned one.

Every search gives the cv_results_ scores of its sequential run; the tuned
backend sends each large argument once to every worker; dask_backend accepts a
Client, a scheduler address or a cluster object and closes only what it opened.
"""

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings

import dask
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_client, get_task_stream
from distributed.scheduler import KilledWorker
from distributed.utils_test import gen_cluster
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ParameterGrid,
    RandomizedSearchCV,
    cross_val_score,
    cross_validate,
)
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo._execution._client import scatter_to_every_worker
from skhpo._execution._joblib import TunedDaskBackend, _Timed
from skhpo.metrics import get_scorer
from skhpo.parallel import dask_backend
from skhpo.space import Real

try:
    import resource
except ImportError:  # Windows
    resource = None

X, y = make_classification(n_samples=120, n_features=6, random_state=0)
GRID = {"C": [0.1, 1.0, 10.0], "gamma": [0.01, 0.1]}


def _grid():
    return GridSearchCV(SVC(), GRID, cv=3)


def _random():
    return RandomizedSearchCV(
        SVC(), {"C": loguniform(1e-2, 1e2)}, n_iter=5, cv=3, random_state=0
    )


def _smbo():
    # Rounds of 2 candidates through joblib (several Parallel calls per fit).
    return SMBOSearchCV(
        SVC(),
        {"C": Real(1e-2, 1e2, log=True), "gamma": Real(1e-3, 1.0, log=True)},
        n_iter=6,
        n_points=2,
        cv=3,
        random_state=0,
        execution="joblib",
    )


SEARCHES = {"grid": _grid, "random": _random, "smbo": _smbo}


@pytest.fixture(scope="module")
def sequential_results():
    return {name: make().fit(X, y).cv_results_ for name, make in SEARCHES.items()}


def _same_scores(results, expected):
    assert [str(p) for p in results["params"]] == [str(p) for p in expected["params"]]
    for key in ("split0_test_score", "split2_test_score", "mean_test_score"):
        np.testing.assert_allclose(results[key], expected[key])
    np.testing.assert_array_equal(
        results["rank_test_score"], expected["rank_test_score"]
    )


@pytest.mark.parametrize("name", sorted(SEARCHES))
@pytest.mark.parametrize("backend", ["joblib-dask", "skhpo"])
def test_searches_on_dask_score_as_sequential(
    name, backend, client, sequential_results
):
    context = (
        joblib.parallel_config(backend="dask")
        if backend == "joblib-dask"
        else dask_backend(client)
    )
    with context:
        search = SEARCHES[name]().fit(X, y)
    _same_scores(search.cv_results_, sequential_results[name])


def test_large_arguments_are_sent_once_per_context(client):
    """X, y and the folds are scattered once and reused by later calls."""
    X_big, y_big = make_classification(n_samples=300, n_features=6, random_state=0)
    folds = list(KFold(3).split(X_big))
    with dask_backend(client):
        backend, _ = joblib.parallel.get_active_backend()
        assert isinstance(backend, TunedDaskBackend)
        GridSearchCV(SVC(), GRID, cv=folds).fit(X_big, y_big)
        first = dict(backend.data_futures)
        # A second call (as an SMBO round makes) reuses them.
        GridSearchCV(SVC(), GRID, cv=folds).fit(X_big, y_big)
        assert backend.data_futures == first
        who_has = client.who_has(list(first.values()))
        # (dask's active memory manager drops replicas no task waits for.)
        assert all(holders for holders in who_has.values())
    # X, y and the 3 folds' train indices (200 int64s; the test folds' 100 are
    # small enough to travel with their tasks).
    assert set(first) == {id(X_big), id(y_big)} | {id(train) for train, _ in folds}


def test_data_changed_in_place_between_calls_is_sent_again(process_cluster):
    # (Worker processes: in-process workers would share the array itself.)
    X_big, y_big = make_classification(n_samples=300, n_features=6, random_state=0)
    with dask_backend(process_cluster):
        before = cross_val_score(LogisticRegression(), X_big, y_big, cv=3)
        np.random.default_rng(0).shuffle(y_big)  # same object, other contents
        after = cross_val_score(LogisticRegression(), X_big, y_big, cv=3)
    expected = cross_val_score(LogisticRegression(), X_big, y_big, cv=3)
    np.testing.assert_array_equal(after, expected)
    assert not np.array_equal(before, after)


def test_data_of_earlier_calls_is_dropped(client):
    # Each call keeps what it used for the next one (an SMBO round); what the
    # next call does not use is dropped, so the client and the workers free it.
    with dask_backend(client):
        backend, _ = joblib.parallel.get_active_backend()
        for seed in range(3):
            X_i, y_i = make_classification(n_samples=300, random_state=seed)
            cross_val_score(LogisticRegression(), X_i, y_i, cv=3)
            kept = list(backend._scatter.values())
            assert len(kept) == 2 + 3  # X, y and the 3 train folds of this call
            assert any(a is X_i for a in kept) and any(a is y_i for a in kept)
            assert set(backend.data_futures) == set(backend._scatter)


class _Unrebuildable(Exception):
    """Pickles, but its pickle cannot be loaded (two required arguments)."""

    def __init__(self, a, b):
        super().__init__(f"{a}-{b}")


class _RaisesUnrebuildable(ClassifierMixin, BaseEstimator):
    def __init__(self, p=0):
        self.p = p

    def fit(self, X, y):
        raise _Unrebuildable(1, 2)


@pytest.mark.timeout(120)
def test_a_result_that_cannot_come_back_fails_the_search(process_cluster):
    # The client could not unpickle the batch's exception: the search waited
    # forever (joblib's backend too).
    search = GridSearchCV(
        _RaisesUnrebuildable(), {"p": [0, 1]}, cv=2, error_score="raise"
    )
    with (
        dask_backend(process_cluster),
        pytest.raises(RuntimeError, match="could not be brought back to the client"),
    ):
        search.fit(X, y)


def test_scatter_to_every_worker_leaves_a_copy_on_each(client):
    data = [np.arange(1000), np.ones((50, 4))]
    client.amm.stop()  # (it would drop the copies no task waits for)
    try:
        futures = client.sync(scatter_to_every_worker, client, data)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            holders = client.who_has(futures)
            if all(len(workers) == 2 for workers in holders.values()):
                break
            time.sleep(0.05)
    finally:
        client.amm.start()
    assert all(len(workers) == 2 for workers in holders.values())
    assert [f.result().tolist() for f in futures] == [d.tolist() for d in data]


@pytest.mark.parametrize(
    ("timed", "sizes"),
    [
        # (batch size, compute seconds) reported -> the next batch sizes
        ([(1, 0.001)], [8]),  # joblib: 2
        ([(1, 0.001), (8, 0.008)], [8, 64]),
        ([(1, 0.5)], [4]),  # 2 x the size that lasts 1 s
        ([(1, 0.001), (8, 5.0)], [8, 2]),  # too long: joblib shrinks it
        ([(1, 2.0)], [1]),  # within 1-3 s
    ],
)
def test_batches_grow_up_to_eight_times_at_once(client, timed, sizes):
    backend = TunedDaskBackend(client)
    backend.configure(n_jobs=-1, parallel=joblib.Parallel())
    got = []
    for batch_size, seconds in timed:
        backend.retrieve_result_callback(_Timed(seconds, [None] * batch_size))
        backend.batch_completed(batch_size, duration=60.0)  # waiting included
        got.append(backend.compute_batch_size())
    assert got == sizes


def test_each_call_starts_from_one_fit_per_batch(client):
    """The batch size one call grew to does not carry over to the next call
    (a second search would start with batches sized for the first one's end)."""
    with dask_backend(client):
        backend, _ = joblib.parallel.get_active_backend()
        submit, calls = backend.submit, []

        def spy(batch, *args, **kwargs):
            calls[-1].append(len(batch))
            return submit(batch, *args, **kwargs)

        backend.submit = spy
        for _ in range(2):
            calls.append([])
            joblib.Parallel()(joblib.delayed(abs)(-i) for i in range(2000))
    first, second = calls
    assert max(first) > 8  # quick calls: the batches grew
    assert first[0] == second[0] == 1


class _ParallelInFit(ClassifierMixin, BaseEstimator):
    """Makes a 2-call ``Parallel(n_jobs)`` in its fit; scores 1 if the calls ran
    as in loky's workers, in the fit's process: in its thread with
    ``n_jobs=None``, on 2 threads at once with ``n_jobs=2``; else 0."""

    def __init__(self, n_jobs=None, alpha=1.0):
        self.n_jobs = n_jobs
        self.alpha = alpha  # for a search to vary; it changes nothing

    def fit(self, X, y):
        # With 2 jobs, each call waits for the other: they must run at once.
        barrier = threading.Barrier(2, timeout=5) if self.n_jobs == 2 else None

        def where():
            if barrier is not None:
                barrier.wait()
            return os.getpid(), threading.get_ident()

        self.fit_thread_ = os.getpid(), threading.get_ident()
        calls = (joblib.delayed(where)() for _ in range(2))
        self.call_threads_ = joblib.Parallel(n_jobs=self.n_jobs)(calls)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        threads = set(self.call_threads_)
        if self.n_jobs is None:
            return float(threads == {self.fit_thread_})
        processes = {pid for pid, _ in threads}
        return float(len(threads) == 2 and processes == {self.fit_thread_[0]})


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_parallel_calls_inside_a_fit_run_in_its_worker(client, n_jobs):
    """Never as tasks on the cluster: joblib's dask backend sends them there,
    from a task that waits for them."""
    with dask_backend(client), get_task_stream(client) as tasks:
        scores = cross_validate(_ParallelInFit(n_jobs), X, y, cv=3)["test_score"]
    assert scores.tolist() == [1.0] * 3
    # (and the tasks that copy X, y and the folds to the second worker)
    keys = [task["key"] for task in tasks.data]
    assert all("fit_and_score" in key or "copy_to_worker" in key for key in keys)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_parallel_calls_inside_an_async_smbo_fit_run_in_its_worker(n_jobs):
    """Not on loky processes started from the worker (in a nanny's daemonic
    worker joblib would fall back to one job and warn)."""
    search = SMBOSearchCV(
        _ParallelInFit(n_jobs),
        {"alpha": Real(0.1, 1.0)},
        n_iter=2,
        cv=2,
        refit=False,  # (in this process: on the cluster, under dask_backend)
        random_state=0,
        execution="async",
    )
    with dask_backend(n_workers=1):
        search.fit(X, y)
    assert search.cv_results_["mean_test_score"].tolist() == [1.0, 1.0]


def test_random_forest_trees_are_not_tasks_of_their_own(client):
    forest = RandomForestClassifier(n_estimators=8, random_state=0)
    expected = cross_validate(forest, X, y, cv=3)["test_score"]
    with dask_backend(client), get_task_stream(client) as tasks:
        scores = cross_validate(forest, X, y, cv=3)["test_score"]
    np.testing.assert_array_equal(scores, expected)
    assert not any("build_trees" in task["key"] for task in tasks.data)


@pytest.mark.parametrize("n_siblings", [3, 300])
def test_each_fit_carries_its_context_path_not_the_whole_tree(n_siblings):
    """scikit-learn >= 1.9 links a fit's callback context to all its siblings."""
    callback = pytest.importorskip("sklearn.callback")
    from skhpo._execution._joblib import _without_sibling_contexts

    search = _grid()
    root = search._init_callback_context(max_subtasks=2)
    evaluations = root.subcontext(task_name="search", max_subtasks=n_siblings)
    leaves = [
        evaluations.subcontext(task_name="candidate-split-evaluation")
        for _ in range(n_siblings)
    ]
    kwargs = {"parameters": {"C": 1.0}, "caller": search, "callback_ctx": leaves[1]}
    func, args, light = _without_sibling_contexts((len, (), kwargs))
    assert (func, args) == (len, ())
    assert light["parameters"] is kwargs["parameters"]
    # The same path from the root, one context per level.
    path = callback._callback_context.get_context_path(light["callback_ctx"])
    original = callback._callback_context.get_context_path(leaves[1])
    assert [(c.task_name, c.task_id) for c in path] == [
        (c.task_name, c.task_id) for c in original
    ]
    assert all(len(c._children_map) == 1 for c in path[:-1])
    assert light["caller"]._callback_fit_ctx is path[0]
    assert light["caller"].get_params() == search.get_params()
    # Its pickle does not grow with the siblings; the originals are untouched.
    assert len(pickle.dumps(light)) < 4000
    assert len(evaluations._children_map) == n_siblings
    assert leaves[1].parent is evaluations
    assert search._callback_fit_ctx is root
    # Calls without a context are left alone.
    plain = (len, (), {"parameters": {}})
    assert _without_sibling_contexts(plain) is plain


def test_a_context_that_cannot_be_trimmed_is_sent_whole():
    from skhpo._execution._joblib import _light_batch

    class Odd:  # looks like a context, but its parent has no task_id
        parent = object()
        _children_map = {}

    item = (len, (), {"callback_ctx": Odd()})
    assert _light_batch([item])[0] is item


def test_a_batch_is_pickled_once_with_refs_to_its_scattered_arguments():
    from skhpo._execution._joblib import _pack, _unpack

    data, small = np.arange(10_000.0), np.arange(3)
    futures_by_id = {id(data): "future-of-data"}
    items = [
        (np.dot, (data[:3], small), {}),
        (np.sum, (), {"a": data}),
        (lambda a, b: a[-1] + b, (data, small[-1]), {}),  # cloudpickle's
    ]
    payload, futures = _pack(items, futures_by_id)
    assert futures == ["future-of-data"]  # once for the batch
    assert len(payload) < data.nbytes / 10
    calls = _unpack(payload, [data])
    assert calls[1][2]["a"] is data and calls[2][1][0] is data
    assert [func(*args, **kwargs) for func, args, kwargs in calls] == [
        func(*args, **kwargs) for func, args, kwargs in items
    ]


class _Unpicklable:
    def __deepcopy__(self, memo):  # scikit-learn's clone copies it
        return _Unpicklable()

    def __reduce__(self):
        raise TypeError("_Unpicklable objects cannot be pickled")


class _UnpicklableParam(ClassifierMixin, BaseEstimator):
    def __init__(self, param=None, alpha=1.0):
        self.param, self.alpha = param, alpha

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_a_search_whose_fits_cannot_be_pickled_raises(client):
    """joblib's dask backend logs the error and waits for the batch forever."""
    search = GridSearchCV(_UnpicklableParam(_Unpicklable()), {"alpha": [1, 2]}, cv=2)
    with (
        dask_backend(client),
        pytest.raises(
            pickle.PicklingError,
            match=r"dask_backend could not pickle batch_of__fit_and_score_1_calls "
            r"to send it to the workers \(TypeError: _Unpicklable objects cannot be "
            r"pickled\)\. .* must be picklable by pickle or cloudpickle",
        ),
    ):
        search.fit(X, y)


def _warns_from(module):
    """The messages of a DeprecationWarning raised as if from ``module``."""
    with warnings.catch_warnings(record=True) as records:
        warnings.warn_explicit("old", DeprecationWarning, "script.py", 1, module)
    return [str(r.message) for r in records]


def test_warning_filters_naming_main_are_rewritten_with_the_same_meaning():
    from sklearn.utils.parallel import delayed

    from skhpo._execution._joblib import _light_batch

    # Python's defaults: DeprecationWarnings shown in __main__, ignored elsewhere.
    filters = [
        ("default", None, DeprecationWarning, "__main__", 0),
        ("ignore", None, DeprecationWarning, None, 0),
    ]
    config, items = {"assume_finite": False}, []
    for module in ["__main__", "other"]:
        func, args, kwargs = delayed(_warns_from)(module)
        items.append(
            (func.with_config_and_warning_filters(config, filters), args, kwargs)
        )
    # distributed pickles a task again, with cloudpickle, when it spells __main__.
    assert b"__main__" in pickle.dumps([f.warning_filters for f, _, _ in items])
    light = _light_batch(items)
    assert b"__main__" not in pickle.dumps([f.warning_filters for f, _, _ in light])
    # One list for every call (pickled once per batch); the originals unchanged.
    assert light[0][0].warning_filters is light[1][0].warning_filters
    assert items[0][0].warning_filters is filters
    assert filters[0][3] == "__main__"
    # The worker applies them as before: shown in __main__, ignored elsewhere.
    with warnings.catch_warnings():
        assert [f(*a, **k) for f, a, k in light] == [["old"], []]
        assert [f(*a, **k) for f, a, k in items] == [["old"], []]
    # Calls without __main__ filters are left alone.
    other = delayed(len)([1])
    other[0].with_config_and_warning_filters(config, filters[1:])
    assert _light_batch([other])[0][0] is other[0]


def test_the_scheduler_need_not_import_the_estimators_module(tmp_path, monkeypatch):
    """Only the client and the workers import the estimator's module.

    Under joblib's dask backend the scheduler unpickles every fit: one that
    cannot import the estimator's module fails to, and the search waits forever.
    """
    (tmp_path / "skhpo_user_module.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\n"
        "class UserClassifier(LogisticRegression):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from skhpo_user_module import UserClassifier

    elsewhere = tmp_path / "elsewhere"  # the current directory of both
    elsewhere.mkdir()
    scheduler_file = str(tmp_path / "scheduler.json")
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def start(command, *options, **env):
        module = f"distributed.cli.dask_{command}"
        options += ("--scheduler-file", scheduler_file, "--no-dashboard")
        return subprocess.Popen(
            [sys.executable, "-m", module, *options],
            cwd=elsewhere,
            env={**environ, **env},
            stderr=subprocess.DEVNULL,
        )

    search = GridSearchCV(UserClassifier(), {"C": [0.1, 1.0]}, cv=2)
    processes = [start("scheduler", "--port", "0")]
    try:
        processes.append(start("worker", "--nthreads", "2", PYTHONPATH=str(tmp_path)))
        with Client(scheduler_file=scheduler_file, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)

            def fit():
                with dask_backend(client):
                    search.fit(X, y)

            thread = threading.Thread(target=fit, daemon=True)
            thread.start()
            thread.join(timeout=60)
            assert not thread.is_alive(), "the search did not finish in 60 s"
    finally:
        for process in processes[::-1]:
            process.terminate()
            process.wait(timeout=30)
    assert search.best_params_["C"] in (0.1, 1.0)


_STARTED = []  # the fits of _SlowOrFailingFit started (threads of one process)


class _SlowOrFailingFit(ClassifierMixin, BaseEstimator):
    def __init__(self, fail=False):
        self.fail = fail

    def fit(self, X, y):
        _STARTED.append(self.fail)
        if self.fail:
            time.sleep(0.1)
            raise ValueError("this fit fails")
        time.sleep(2.0)
        self.classes_ = np.unique(y)
        return self

    def score(self, X, y):
        return 0.5


def test_a_failed_search_cancels_the_batches_it_sent(client):
    """4 batches of one fit are sent at once (pre_dispatch); the first fails at
    0.1 s, and the batches not started by then (one or two, as the scheduler
    placed them) are cancelled. (joblib's backend runs them: 4 fits start.)
    The fits start on two threads, so their order is the scheduler's."""
    _STARTED.clear()
    search = GridSearchCV(
        _SlowOrFailingFit(),
        {"fail": [True, False, False, False]},
        cv=[(np.arange(60), np.arange(60, 120))],
        error_score="raise",
    )
    with dask_backend(client), pytest.raises(ValueError, match="this fit fails"):
        search.fit(X, y)
    time.sleep(2.5)  # the fits started with the failure are over
    assert sorted(_STARTED) in ([False, True], [False, False, True])


# -- dead workers ---------------------------------------------------------------


def _kill_every_worker(client):
    """SIGKILL the worker processes of ``client``'s cluster (their nannies start
    new ones); the scattered data they held is lost with them."""
    for pid in client.run(os.getpid).values():
        os.kill(pid, signal.SIGKILL)


def test_workers_dying_between_searches_cost_no_search(
    process_cluster, sequential_results
):
    """The data kept for later calls was lost: it is scattered again. (joblib's
    backend fails every later search: its tasks are cancelled for lost data.)"""
    with Client(process_cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        with dask_backend(client):
            _grid().fit(X, y)
            _kill_every_worker(client)
            search = _grid().fit(X, y)
    _same_scores(search.cv_results_, sequential_results["grid"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_workers_dying_during_a_search_cost_no_fit(process_cluster):
    """Batches cancelled because their data died with the workers are sent again."""
    X_slow, y_slow = make_classification(n_samples=1500, random_state=0)
    search = GridSearchCV(
        MLPClassifier((50,), max_iter=100, random_state=0),
        {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]},
        cv=3,
    )
    expected = clone(search).fit(X_slow, y_slow).cv_results_
    killed = []
    with Client(process_cluster, set_as_default=False) as client:
        client.wait_for_workers(2)

        def kill_after_the_first_fits():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                keys = [k for ks in client.processing().values() for k in ks]
                if any("fit_and_score" in str(key) for key in keys):
                    time.sleep(0.3)  # a fit (0.2 s) or two done
                    _kill_every_worker(client)
                    killed.append(time.monotonic())
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_after_the_first_fits, daemon=True)
        with dask_backend(client):
            killer.start()
            search.fit(X_slow, y_slow)
            finished = time.monotonic()
        killer.join()
    assert killed and killed[0] < finished  # in the middle of the search
    _same_scores(search.cv_results_, expected)


@pytest.mark.parametrize(
    ("n_workers", "n_samples", "error", "match"),
    [
        # X scattered to the only worker, lost with it each time the fit kills
        # it: the batch is sent again MAX_RESENDS times.
        (1, 100, RuntimeError, "to the cluster 2 times.*lost with the workers"),
        # X small enough to travel with the task: dask's KilledWorker. (joblib's
        # backend waits for the batch forever.)
        (2, 20, KilledWorker, "all those workers died"),
    ],
)
def test_a_fit_that_kills_its_workers_fails_the_search(
    crashing_classifier, monkeypatch, n_workers, n_samples, error, match
):
    monkeypatch.setattr(TunedDaskBackend, "MAX_RESENDS", 1)
    X_small, y_small = make_classification(
        n_samples=n_samples, n_features=2, n_informative=2, n_redundant=0
    )
    search = GridSearchCV(crashing_classifier(), {"c": [0.1, 0.9]}, cv=2)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
    with cluster, dask_backend(cluster), pytest.raises(error, match=match):
        search.fit(X_small, y_small)


def test_sklearn_progress_bar_under_dask_backend(client, sequential_results):
    callback = pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    search = _grid().set_callbacks(callback.ProgressBar())
    with dask_backend(client), warnings.catch_warnings():
        # SVC itself does not support callbacks: scikit-learn warns about it.
        warnings.filterwarnings("ignore", "The estimator .* does not support")
        search.fit(X, y)
    _same_scores(search.cv_results_, sequential_results["grid"])


def test_a_cluster_of_one_thread_runs_the_fits():
    """joblib runs a call in the calling process when its backend reports one
    job: the fits would run beside the client."""
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        dask_backend(cluster) as one_thread,
    ):
        with get_task_stream(one_thread) as tasks:
            search = _grid().fit(X, y)
    assert sum("fit_and_score" in task["key"] for task in tasks.data) >= 1
    assert len(search.cv_results_["params"]) == 6


def test_small_and_lazy_arguments_travel_with_their_tasks(client):
    import dask.array as da

    from skhpo._execution._joblib import _worth_scattering

    assert _worth_scattering(np.zeros(1000))
    assert not _worth_scattering(np.zeros(10))
    assert not _worth_scattering(da.zeros(1000, chunks=100))
    assert not _worth_scattering({"C": np.zeros(1000)})


@pytest.mark.parametrize("how", ["address", "cluster", "config"])
def test_address_or_cluster_object_gets_its_own_client(cluster, how):
    """The same script runs on any cluster: argument or DASK_SCHEDULER_ADDRESS."""
    target = {"address": cluster.scheduler_address, "cluster": cluster}.get(how)
    address = cluster.scheduler_address if how == "config" else None
    with (
        dask.config.set({"scheduler-address": address}),
        dask_backend(target) as client,
    ):
        assert get_client() is client
        assert client.scheduler.address == cluster.scheduler_address
        search = _grid().fit(X, y)
    if how != "config":  # (with the setting, a running client comes first)
        assert client.status == "closed"
    # The cluster belongs to the caller: it still runs.
    with Client(cluster, set_as_default=False) as other:
        assert len(other.scheduler_info()["workers"]) == 2
    assert search.best_params_ in search.cv_results_["params"]


def test_active_client_is_used_and_left_open(client):
    with dask_backend() as used:
        assert used is client
    assert client.status == "running"


def test_without_a_client_a_local_cluster_of_processes_is_started():
    with dask_backend(n_workers=2) as client:
        assert get_client() is client
        workers = client.scheduler_info()["workers"].values()
        assert [w["nthreads"] for w in workers] == [1, 1]
        scores = cross_validate(SVC(), X, y, cv=3)["test_score"]
        # Workers started by a nanny run BLAS single-threaded.
        env = client.run(lambda: __import__("os").environ.get("OMP_NUM_THREADS"))
        # No statistical profiler taking the GIL from the fits.
        profiled = client.run(
            lambda dask_worker: "profile" in dask_worker.periodic_callbacks
        )
        # The lean settings were for the cluster, not the rest of the program.
        assert dask.config.get("distributed.worker.profile.enabled") is True
    assert set(env.values()) == {"1"}
    assert set(profiled.values()) == {False}
    assert client.status == "closed"
    np.testing.assert_allclose(scores, cross_validate(SVC(), X, y, cv=3)["test_score"])


def _page_faults_of_svc_fits(n_fits):
    """Minor page faults of the calling thread over ``n_fits`` fits and scores of
    an SVC on 1000 samples (candidates spread over a 13 x 13 grid)."""
    X, y = make_classification(n_samples=1000, n_features=20, random_state=0)
    grid = ParameterGrid({"C": np.logspace(-3, 3, 13), "gamma": np.logspace(-4, 2, 13)})
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for params in list(grid)[:: len(grid) // n_fits]:
        SVC(**params).fit(X[:667], y[:667]).score(X[667:], y[667:])
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@pytest.mark.skipif(
    not hasattr(resource, "RUSAGE_THREAD"), reason="page faults per thread: Linux"
)
def test_workers_do_not_fault_their_memory_in_again_at_every_fit(monkeypatch):
    # Under dask's MALLOC_TRIM_THRESHOLD_ alone, a worker's task thread gives
    # its malloc arena back to the system after each fit: 150 faults per fit.
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)  # the nanny sets it here
    with dask_backend(n_workers=1) as client:
        client.submit(_page_faults_of_svc_fits, 2, pure=False).result()  # imports
        faults = client.submit(_page_faults_of_svc_fits, 20, pure=False).result()
    assert faults < 20 * 10


def test_worker_environment_set_by_the_user_is_kept(monkeypatch):
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_": 4096}),
        dask_backend(n_workers=1) as client,
    ):
        env = client.run(lambda: __import__("os").environ["MALLOC_TOP_PAD_"])
    assert set(env.values()) == {"4096"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"client": 8786}, TypeError, "client of dask_backend must be None, a"),
        ({"client": object()}, TypeError, r"got object: <object object"),
        ({"n_workers": 0}, ValueError, "n_workers must be a positive integer"),
        ({"n_workers": 1.5}, ValueError, "n_workers must be a positive integer"),
        ({"n_workers": True}, ValueError, "n_workers must be a positive integer"),
        ({"client": " "}, ValueError, "client of dask_backend is an empty sched"),
        (
            {"wait_for_workers_timeout": -1},
            ValueError,
            "wait_for_workers_timeout must be a number of seconds >= 0; got -1",
        ),
        (
            {"wait_for_workers_timeout": "10"},
            ValueError,
            "wait_for_workers_timeout must be a number",
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        with dask_backend(**kwargs):
            pass


def test_n_workers_with_a_client_is_an_error(client):
    with pytest.raises(ValueError, match="n_workers sizes the LocalCluster"):
        with dask_backend(client, n_workers=2):
            pass


@gen_cluster(client=True, nthreads=[("127.0.0.1", 1)])
async def test_asynchronous_client_is_refused(c, s, a):
    with pytest.raises(ValueError, match="needs a synchronous distributed.Client"):
        with dask_backend(c):
            pass


@pytest.mark.parametrize(
    ("estimator", "data", "names"),
    [
        (
            LogisticRegression(),
            (X, y),
            ["accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc", "f1"],
        ),
        (
            Ridge(),
            make_regression(n_samples=90, n_features=4, noise=1.0, random_state=0),
            ["r2", "neg_mean_squared_error", "neg_mean_absolute_error"],
        ),
    ],
    ids=["classifier", "regressor"],
)
def test_skhpo_scorers_in_sklearn_searches_on_numpy(estimator, data, names):
    grid = {"C": [0.1, 1.0]} if hasattr(estimator, "C") else {"alpha": [0.1, 10.0]}
    ours = GridSearchCV(
        estimator, grid, cv=3, scoring={n: get_scorer(n) for n in names}, refit=False
    ).fit(*data)
    theirs = GridSearchCV(estimator, grid, cv=3, scoring=names, refit=False).fit(*data)
    for name in names:
        np.testing.assert_allclose(
            ours.cv_results_[f"mean_test_{name}"],
            theirs.cv_results_[f"mean_test_{name}"],
        )


# -- modules the workers cannot import -------------------------------------------

_USER_MODULE = """
import numpy as np
from sklearn.linear_model import SGDClassifier


class UserSGD(SGDClassifier):
    pass


class Weights(np.ndarray):
    pass
"""


@pytest.fixture
def module_only_here(process_cluster, tmp_path, monkeypatch):
    """A module importable in this process, not on the (already started)
    workers of ``process_cluster``, as a module of one's own on a remote
    cluster: (its path, the module)."""
    path = tmp_path / "skhpo_user_module.py"
    path.write_text(_USER_MODULE)
    monkeypatch.delitem(sys.modules, "skhpo_user_module", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    import skhpo_user_module

    yield str(path), skhpo_user_module
    sys.modules.pop("skhpo_user_module", None)


def _fit_with_a_module_only_here(kind, module, client):
    from skhpo import HyperbandSearchCV

    X_c, y_c = make_classification(n_samples=200, random_state=0)
    if kind == "dask_backend":
        search = GridSearchCV(module.UserSGD(), {"alpha": [1e-4, 1e-3]}, cv=2)
        with dask_backend(client):
            return search.fit(X_c, y_c)
    if kind == "hyperband":
        search = HyperbandSearchCV(
            module.UserSGD(), {"alpha": [1e-4, 1e-3, 1e-2]}, max_iter=3
        )
        return search.fit(
            dask.array.from_array(X_c, 50),
            dask.array.from_array(y_c, 50),
            classes=[0, 1],
        )
    estimator, space, fit_params = SGDClassifier(), {"alpha": Real(1e-4, 1e-2)}, {}
    if kind == "smbo, the estimator":
        estimator = module.UserSGD()
    elif kind == "smbo, a parameter":  # the estimator of a pipeline's step
        estimator = Pipeline([("clf", SGDClassifier())])
        space = {"clf": [module.UserSGD(), SGDClassifier(alpha=0.01)]}
    elif kind == "smbo, a fit parameter":
        fit_params = {"sample_weight": np.ones(len(y_c)).view(module.Weights)}
    search = SMBOSearchCV(
        estimator, space, n_iter=3, cv=2, scoring="accuracy", execution="async"
    )
    return search.fit(X_c, y_c, **fit_params)


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("dask_backend", r"the fits \(estimator, parameters, fit arguments\)"),
        ("hyperband", "the estimator, its parameters and the scorer"),
        ("smbo, the estimator", "the estimator, its parameters and the scorer"),
        ("smbo, a parameter", "the estimator, its parameters and the scorer"),
        ("smbo, a fit parameter", "the data and fit arguments"),
    ],
)
def test_a_module_the_workers_cannot_import_is_a_clear_error(
    process_cluster, module_only_here, kind, what
):
    """Not a task waiting forever, nor (as the objects of a task's arguments
    fail the worker's connection) the cluster reported gone; and the hint
    works: once the module is uploaded, the same search runs."""
    path, module = module_only_here
    with Client(process_cluster) as client:
        client.wait_for_workers(2)
        start = time.monotonic()
        with pytest.raises(
            ModuleNotFoundError,
            match=f"The search sends {what} to the dask workers, and .* cannot "
            "load them: ModuleNotFoundError: No module named 'skhpo_user_module'. "
            "Every module they refer to must be importable on the workers: "
            "install it on every worker",
        ) as error:
            _fit_with_a_module_only_here(kind, module, client)
        assert time.monotonic() - start < 30
        assert error.value.name == "skhpo_user_module"
        assert f"client.upload_file({path!r})" in str(error.value)
        client.upload_file(path)
        assert _fit_with_a_module_only_here(kind, module, client).best_params_
