"""Fixtures shared by the test modules that run searches on a dask cluster."""

import copy
import os
import signal
import time

import dask
import pytest
from distributed import Client, LocalCluster
from hypothesis import settings
from scipy.stats import loguniform
from sklearn.datasets import load_iris
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.tree import DecisionTreeClassifier

# In CI (.ci/run sets CI), hypothesis draws the same examples on every run, so
# that a submission's result does not depend on the luck of the draw; elsewhere
# every run draws new ones, and a failure it finds becomes a regular test.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def sigint():
    """Python's Ctrl-C handler, for a test that sends itself a SIGINT.

    A test run started as a background job of a non-interactive shell inherits
    SIGINT ignored, and Python keeps it so: the signal would do nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _restore_dask_config():
    """Undo changes a test leaves in dask's global configuration.

    Tasks that call ``get_client()`` on an in-process worker (joblib's dask
    backend does, in every batch) create worker clients that set
    ``scheduler="dask.distributed"`` globally; closed in another order than
    they were opened they leave it set, and later ``dask.compute`` calls
    without a client would fail.
    """
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


@pytest.fixture(scope="module")
def cluster():
    """An in-process LocalCluster with 2 single-threaded workers, per module."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture
def process_cluster():
    """A LocalCluster of 2 single-threaded worker processes (with nannies, which
    restart a worker that dies), per test: ``gen_cluster`` tests terminate
    every child process of the test process, a running cluster's workers too."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        yield cluster


@pytest.fixture
def crashing_classifier(monkeypatch):
    """tests/_crashing.py, importable by name here and in worker processes."""
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    from _crashing import CrashingClassifier

    return CrashingClassifier


@pytest.fixture(scope="module")
def module_client(cluster):
    with Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture
def client(module_client):
    """The module's client, made the current client for one test."""
    with module_client.as_current():
        yield module_client


# scikit-learn's own searches, fitted on iris, for the results and plot tests.


@pytest.fixture(scope="module")
def grid_list():
    """A GridSearchCV over a list of two grids (parameters absent in some rows)."""
    search = GridSearchCV(
        DecisionTreeClassifier(random_state=0),
        [{"max_depth": [1, 2, None]}, {"min_samples_leaf": [1, 5]}],
        cv=2,
    )
    return search.fit(*load_iris(return_X_y=True))


@pytest.fixture(scope="module")
def random_search():
    search = RandomizedSearchCV(
        RidgeClassifier(),
        {"alpha": loguniform(1e-3, 1e3), "fit_intercept": [True, False]},
        n_iter=5,
        cv=2,
        random_state=0,
    )
    return search.fit(*load_iris(return_X_y=True))


@pytest.fixture
def wait_for_no_tasks():
    """``wait(client, timeout=10)``: wait until the scheduler holds no task;
    returns the number still held (0 unless the timeout passed)."""

    def n_tasks(client):
        return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))

    def wait(client, timeout=10):
        deadline = time.time() + timeout
        while n_tasks(client) and time.time() < deadline:
            time.sleep(0.05)
        return n_tasks(client)

    return wait
