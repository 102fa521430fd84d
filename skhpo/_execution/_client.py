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
import pickle
import random
import re
import sys
import threading

import cloudpickle
import dask
from distributed import Client, Future, LocalCluster, fire_and_forget, get_client

__all__ = [
    "LEAN_CLUSTER_CONFIG",
    "LEAN_WORKER_ENVIRON",
    "Future",
    "active_client",
    "check_workers_can_load",
    "is_future",
    "joblib_client",
    "run_on_client",
    "scatter_to_every_worker",
]


#: dask settings for the clusters skhpo starts itself. At dask's defaults an
#: idle 2-worker LocalCluster costs the client process 9 % of a core (nanny
#: memory monitors every 100 ms, system monitors, a 20 ms event-loop tick) and
#: each worker 5 % (the statistical profiler samples its threads every 10 ms,
#: taking the GIL from the fits). With these: 1.7 % and 0.6 %. The cost: no
#: profile page on the dashboard, memory checked every 0.5 s instead of 0.1 s.
LEAN_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
}

#: Environment of the worker processes of those clusters, where the user's
#: ``distributed.nanny.pre-spawn-environ`` does not set it. dask starts workers
#: with glibc's ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory goes back
#: to the system. Tasks run in a thread, whose malloc arena then returns every
#: free that leaves 64 kB at its top, and the next allocation faults the pages
#: in again: 150-300 page faults per fit of an SVC on 1000 samples, 3 % of its
#: time spent in the kernel. Keeping 16 MiB at the top of each arena
#: (``MALLOC_TOP_PAD_``) removes them (fewer than in loky's workers, 2-5 per
#: fit); memory beyond that is still returned.
LEAN_WORKER_ENVIRON = {"MALLOC_TOP_PAD_": 2**24}


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
def lean_local_client(**cluster_kwargs):
    """A client of a new ``LocalCluster(**cluster_kwargs)`` started with
    `LEAN_CLUSTER_CONFIG` and `LEAN_WORKER_ENVIRON`; both are closed on exit."""
    environ = {
        **LEAN_WORKER_ENVIRON,
        **dask.config.get("distributed.nanny.pre-spawn-environ", {}),
    }
    config = {**LEAN_CLUSTER_CONFIG, "distributed.nanny.pre-spawn-environ": environ}
    with dask.config.set(config):  # read when the cluster starts
        cluster = LocalCluster(silence_logs=logging.ERROR, **cluster_kwargs)
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def run_on_client(coroutine_function, *args, **kwargs):
    """Run ``coroutine_function(client, *args, **kwargs)`` on the active client.

    Returns the coroutine's result, or the coroutine itself (an awaitable) when
    the active client is asynchronous. See the module docstring.
    """
    client = active_client()
    if client is None:
        with lean_local_client(processes=False, dashboard_address=None) as client:
            return _sync(client, coroutine_function, *args, **kwargs)
    if client.asynchronous:
        return coroutine_function(client, *args, **kwargs)
    return _sync(client, coroutine_function, *args, **kwargs)


#: Seconds a ``KeyboardInterrupt`` waits for the interrupted search to cancel
#: its tasks on the cluster before it propagates (a second Ctrl-C stops waiting).
INTERRUPT_CLEANUP_TIMEOUT = 10


def _sync(client, coroutine_function, *args, **kwargs):
    """``client.sync``; on Ctrl-C, wait until the coroutine has cleaned up."""
    finished = threading.Event()

    async def run():
        try:
            return await coroutine_function(client, *args, **kwargs)
        finally:
            finished.set()

    try:
        return client.sync(run)
    except KeyboardInterrupt:
        # Client.sync cancelled the coroutine; its cleanup cancels the tasks.
        finished.wait(INTERRUPT_CLEANUP_TIMEOUT)
        raise


def joblib_client():
    """The dask client of joblib's active backend, or None if it is not dask's.

    Inside ``joblib.parallel_config(backend="dask")`` this is the client that
    runs a joblib-parallel search (e.g. ``SMBOSearchCV``).
    """
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    client = getattr(backend, "client", None)
    return client if isinstance(client, Client) else None


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


async def scatter_to_every_worker(client, objects):
    """Futures of ``objects``, with a copy of each on every worker.

    The objects are scattered to one worker, and every other worker gets them
    as the dependencies of a small task pinned to it (fire-and-forget), fetched
    by dask's transfers between workers, which survive a dying worker. Not
    ``scatter(broadcast=True)``: a worker that dies during it leaves the
    scheduler retrying it forever (dask/distributed#5704), and every later
    broadcast on the cluster waits behind it. A worker that dies during the
    scatter itself fails it with an ``OSError`` (``CommClosedError``, the
    scheduler's ``TimeoutError``): the callers try again. An object that
    refers to a module the worker cannot import: ``ModuleNotFoundError``
    (:func:`unloadable_error`).
    """
    workers = list(await client.nthreads(asynchronous=True))
    holder = random.choice(workers) if workers else None
    try:
        try:
            futures = await client.scatter(
                list(objects), workers=holder, hash=False, asynchronous=True
            )
        except KeyError:  # the holder left the cluster since: any worker will do
            holder = None
            futures = await client.scatter(list(objects), hash=False, asynchronous=True)
    except Exception as error:
        # The worker's error comes back as a bare Exception of its repr.
        missing = re.search(r"No module named '([^']+)'", str(error))
        if missing is None or isinstance(error, ImportError):
            raise
        raise unloadable_error(
            "the data and fit arguments",
            "ModuleNotFoundError",
            f"No module named {missing[1]!r}",
            missing[1],
            worker=holder,
        ) from error
    for worker in workers:
        if worker != holder:
            # (allow_other_workers: should the worker die first, the task runs
            # on another one instead of waiting for it forever.)
            fire_and_forget(
                client.submit(
                    _copy_to_worker,
                    *futures,
                    workers=worker,
                    allow_other_workers=True,
                    pure=False,
                )
            )
    return futures


async def check_workers_can_load(
    client, objects, what="the estimator, its parameters and the scorer"
):
    """Raise a clear error, before any task is sent, when a worker of
    ``client``'s cluster cannot unpickle ``objects`` (small ones: the estimator,
    the parameters, the scorer), typically for a module installed here and not
    on the workers. (Sent as a task's arguments instead, such objects fail the
    worker's connection to the scheduler: the task waits forever, or the search
    sees its workers leave.)
    """
    payload = cloudpickle.dumps(objects, protocol=5)
    # (A worker that cannot be reached, dying say, answers with the exception:
    # the search's own recovery deals with it.)
    failures = await client.run(
        _load_error, payload, on_error="return", asynchronous=True
    )
    for worker, failure in sorted(failures.items()):
        if isinstance(failure, tuple):
            raise unloadable_error(what, *failure, worker=worker)


def _load_error(payload):
    """None if ``payload`` unpickles here, else the error's kind, text and the
    missing module's name."""
    try:
        pickle.loads(payload)
    except Exception as error:
        return type(error).__name__, str(error), getattr(error, "name", None)
    return None


def unloadable_error(what, kind, text, module=None, worker=None):
    """The error for ``what`` that a worker could not unpickle: the cause, and
    how to make the module importable there."""
    where = f"worker {worker}" if worker else "a dask worker"
    hint = "install it on every worker, the same version as here"
    local = sys.modules.get(module or "")
    if local is not None and "." not in module and not hasattr(local, "__path__"):
        # One file of your own, importable here: dask can send it.
        hint += f", or send it with client.upload_file({local.__file__!r})"
    message = (
        f"The search sends {what} to the dask workers, and {where} cannot load "
        f"them: {kind}: {text}. Every module they refer to must be importable on "
        f"the workers: {hint}."
    )
    if kind == "ModuleNotFoundError":
        return ModuleNotFoundError(message, name=module)
    return RuntimeError(message)


def _copy_to_worker(*objects):
    """A task whose only work is to get its arguments onto its worker."""
