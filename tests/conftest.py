"""Fixtures shared by the test modules that run searches on a dask cluster."""

import copy

import dask
import pytest
from distributed import Client, LocalCluster


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


@pytest.fixture(scope="module")
def module_client(cluster):
    with Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture
def client(module_client):
    """The module's client, made the current client for one test."""
    with module_client.as_current():
        yield module_client
