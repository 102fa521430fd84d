"""Which ``distributed.Client`` a search runs on, synchronously or not.

:func:`run_on_client` runs ``coroutine_function(client, ...)``:

- on the active client (``distributed.get_client()``: the default client, or
  the worker's client inside a task). A synchronous client runs the coroutine
  on its event loop and blocks (``Client.sync``); an asynchronous client (one
  created with ``asynchronous=True`` and used from its loop, as under
  ``gen_cluster(client=True)``) gets the coroutine back, to be awaited.
- with no active client, on a temporary in-process cluster
  (``LocalCluster(processes=False)``, one worker with a thread per core) that is
  closed when the call returns. It is not made the default client.

A ``KeyboardInterrupt`` while a synchronous call waits cancels the coroutine
(``Client.sync`` does), and the engine then cancels every future it submitted.
"""

from __future__ import annotations

import contextlib
import logging

from distributed import Client, Future, LocalCluster, get_client

__all__ = ["Future", "active_client", "is_future", "run_on_client"]


def is_future(obj):
    """Whether ``obj`` is a ``distributed.Future``."""
    return isinstance(obj, Future)


def active_client():
    """The client a search would use now, or None if there is none."""
    try:
        return get_client()
    except ValueError:
        return None


@contextlib.contextmanager
def _temporary_client():
    with LocalCluster(
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client


def run_on_client(coroutine_function, *args, **kwargs):
    """Run ``coroutine_function(client, *args, **kwargs)`` on the active client.

    Returns the coroutine's result, or the coroutine itself (an awaitable) when
    the active client is asynchronous. See the module docstring.
    """
    client = active_client()
    if client is None:
        with _temporary_client() as client:
            return client.sync(coroutine_function, client, *args, **kwargs)
    if client.asynchronous:
        return coroutine_function(client, *args, **kwargs)
    return client.sync(coroutine_function, client, *args, **kwargs)


async def gather_if_future(client, obj):
    """``obj``'s value if it is a Future (gathered), else ``obj``."""
    if is_future(obj):
        return await client.gather(obj)
    return obj


async def resolve_fit_params(client, fit_params):
    """Fit params with Futures gathered and dask collections computed, once."""
    import dask

    resolved = {}
    for name, value in fit_params.items():
        if is_future(value):
            value = await client.gather(value)
        elif dask.is_dask_collection(value):
            value = await client.compute(value)
        resolved[name] = value
    return resolved
