"""joblib on dask, tuned for searches: :func:`dask_backend`.

joblib's own dask backend (``joblib.parallel_config(backend="dask")``) runs a
search's fits on a cluster, but on a small machine it trails joblib's default
loky backend (benchmarks/bench_grid_dask.py measures it). Where the time goes,
and what :class:`TunedDaskBackend` does instead:

- **Data placement.** joblib scatters ``X``, ``y`` and the folds' index arrays
  anew at every ``Parallel`` call (one call per round of an SMBO search), each to
  *one* worker. Tasks that need them are first assigned to that worker and then
  stolen by the others, which fetch the data from it; until then they wait. The
  tuned backend scatters each large argument once and has *every*
  worker copy it at once (:func:`~._client.scatter_to_every_worker`; not
  ``broadcast=True``, which a worker dying during it turns into a scheduler
  retrying forever), so any worker can start any task at once, and the next
  calls (rounds) that pass it again reuse the copies: between calls, dask's
  active memory manager keeps one replica, which a worker that needs it again
  fetches from its peer, never from the client. Each call checks once that
  what it reuses was not changed in place (dask's token of the contents) and
  drops, when it ends, what it did not use.
- **Dead workers.** A worker that dies takes its running tasks with it, and
  dask runs them again elsewhere. But when every worker holding ``X`` (say)
  died, joblib's backend fails the search (the tasks that need ``X`` are
  cancelled), and every later search of the context too (it keeps the lost
  future). The tuned backend scatters lost data again from the client and
  sends the cancelled batches again. And a task that killed its workers
  (``KilledWorker``, a fit that crashes its process) fails the search, where
  joblib's backend waits for it forever.
- **Task granularity.** joblib's auto-batching grows batches until one lasts 0.2
  to 2 s, measured from dispatch to completion (time spent waiting in the queue
  included). A grid whose late candidates are slower than its first ones (large
  ``C`` of an SVC) then ends with a few long batches on one worker while the
  others wait. On a loaded machine the waiting time dominates, batches never
  grow, and each fit is one task: the client process, which also runs the
  scheduler of a ``LocalCluster``, spends a core's worth of CPU on
  bookkeeping. The tuned backend times each batch *on its worker* and sizes
  batches to 1-3 s of compute: ten times fewer tasks for fits of tens of
  milliseconds, and short stragglers. Trusting those times, it lets a batch be
  up to 8 times larger than the last one (joblib: twice), so that cheap fits
  reach their size in few steps. joblib's dask backend also keeps the
  batch size it reached at the end of one call for the next (one backend
  serves every call of a context, and only loky's resets it): a second grid
  search then starts with batches sized for its predecessor's last fits and
  leaves a worker idle (the 169-candidate grid: workers busy 88-92 % instead
  of 97-98 %). The tuned backend starts every call from one fit per batch.
- **Task size.** scikit-learn >= 1.9 passes each fit a callback context
  (``callback_ctx``) and the search itself (``caller``). A context links to its
  parent, and the parent to *all* its children: the contexts of every fit of the
  ``Parallel`` call, created before the first is dispatched. Pickling one fit
  therefore pickles the whole tree: for the 169-candidate grid of
  benchmarks/bench_grid_dask.py, 44 kB per fit instead of 4 kB, 9 s of the
  client's CPU for pickling and 3.5 s of the scheduler's for unpickling, on the
  two cores the workers need. The tuned backend sends each fit a copy of its
  context whose ancestors hold only the path down to it (what callbacks read:
  names, ids, ``max_subtasks``), and a shallow copy of the search pointing at
  that copy.
- **Calls pickled by the backend.** joblib's backend hands dask each batch's
  calls with the futures of the scattered data in them: dask walks every call
  to find the futures, on submission and again in the scheduler, which
  unpickles every estimator of the batch and pickles it again for its worker.
  The tuned backend pickles the calls itself, with a reference in place of each
  scattered argument (:func:`_pack`), and dask sees one ``bytes`` and the
  futures: on that grid the client process (which runs the scheduler of a
  ``LocalCluster``) spends 0.4 s of CPU per search instead of 0.6-0.7 s, as
  much as loky's. The scheduler no longer needs the estimator's libraries or
  the user's modules (only joblib and skhpo): under joblib's backend, a
  scheduler that cannot import them fails to deserialize the tasks and the
  search waits forever. A batch that cannot be pickled fails its ``Parallel``
  call (joblib's backend logs the error on the event loop and waits forever
  too).
- **Pickling twice.** Each call also carries the caller's warning filters, and
  Python's default filters name the module ``__main__``. A pickle that spells
  ``__main__`` may hold an object of the user's script, which workers cannot
  import, so distributed (and :func:`_pack`) pickles it again with
  cloudpickle: 1.3 ms per task instead of 0.5 ms on that grid (small, but paid
  by every task of every search). The tuned backend spells that module pattern
  ``__main_[_]``, which matches the same modules.
- **Memory kept between fits.** The clusters :func:`dask_backend` starts give
  their workers ``MALLOC_TOP_PAD_`` (see ``LEAN_WORKER_ENVIRON`` in
  ``_client.py``): under dask's ``MALLOC_TRIM_THRESHOLD_`` alone, the malloc
  arena of a worker's task thread faults its memory in again at every fit (155
  page faults per fit on that grid, against 0.2 with the pad).
- **Parallelism inside a fit.** joblib's dask backend runs each batch under
  ``parallel_config(backend="dask")``, so a ``Parallel`` call made inside a
  fit (the trees of a random forest, the estimators of a ``VotingClassifier``,
  ...) sends its calls to the cluster as tasks of their own, with ``n_jobs=-1``,
  from inside a task that then waits for them: a grid of 12 random forests of
  50 trees (3-fold CV) became 800-960 tasks and took 13-19 s against loky's
  4 s (benchmarks/bench_grid_dask.py --estimator forest). The tuned backend
  nests as joblib does in loky's workers: a call inside a fit runs in the
  fit's worker, on threads if the estimator asks for them (``n_jobs``),
  sequentially if it does not.
- **BLAS threads.** Workers started by a nanny (``processes=True``, the default)
  already run with ``OMP_NUM_THREADS=1`` (dask's ``pre-spawn-environ``); the
  clusters :func:`dask_backend` starts use one thread per worker and one worker
  per core, so fits never oversubscribe the cores.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import functools
import numbers
import os
import pickle
import time
import uuid
from typing import NamedTuple

import cloudpickle
import dask
from dask.base import tokenize
from dask.sizeof import sizeof
from distributed import Client, as_completed
from joblib import parallel_config
from joblib._dask import Batch, DaskDistributedBackend
from joblib._utils import _TracebackCapturingWrapper

from .._nesting import nested_parallel_config
from ._client import lean_local_client, scatter_to_every_worker, unloadable_error

__all__ = ["TunedDaskBackend", "dask_backend"]

# Arguments larger than this (in bytes, as dask's ``sizeof`` counts them) are
# scattered to every worker once; smaller ones travel with their task.
_SCATTER_BYTES = 1e3


def _cpu_count():
    """Cores this process may use (the affinity mask, where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class TunedDaskBackend(DaskDistributedBackend):
    """joblib's dask backend with data sent once, batches timed on workers, and
    batches sent again when the cluster lost their data.

    Parameters
    ----------
    client : distributed.Client
        The client whose cluster runs the tasks.
    **kwargs : dict
        Passed to :class:`joblib._dask.DaskDistributedBackend`
        (``wait_for_workers_timeout``, ``client.submit`` keywords).
    """

    MIN_IDEAL_BATCH_DURATION = 1.0
    MAX_IDEAL_BATCH_DURATION = 3.0
    #: How many times larger a batch may be than the one timed before it
    #: (joblib: 2). Batches are timed on their worker, without the time they
    #: waited, so a short one is short work: fits of 30 ms reach their size in
    #: two steps instead of five (38-44 tasks instead of 51 on the grid of
    #: benchmarks/bench_grid_dask.py), fits of 1 ms in four instead of eleven.
    MAX_BATCH_GROWTH = 8
    #: How many times a batch is sent again after the cluster cancelled it for
    #: lost data (every worker holding ``X``, say, died; the data are then
    #: scattered again from the client). joblib's backend fails the
    #: ``Parallel`` call at the first loss.
    MAX_RESENDS = 3
    #: Seconds to retry sending data to the workers while some of them die.
    SCATTER_TIMEOUT = 60

    def __init__(self, client, **kwargs):
        super().__init__(client=client, **kwargs)
        # joblib looks scattered arguments up by id(); holding a reference keeps
        # each id from being reused by another object while it is kept.
        self._scatter = {}
        self._scattering = {}  # id(arg) -> the asyncio task sending it
        self._tokens = {}  # id(arg) -> dask's token of its contents when sent
        self._checked = set()  # ids whose contents this Parallel call checked
        # Results gathered one by one in _collect (with_results=True loses a
        # result the client cannot unpickle: its batch would wait forever).
        self.waiting_futures = as_completed(
            [], loop=client.loop, with_results=False, raise_errors=False
        )
        self._compute_seconds = None  # of the batch whose result came last
        # dask future -> (joblib's batch, how many times it was sent again)
        self._sent = {}

    async def _to_func_args(self, func):
        # Runs on the client's event loop, like every submission of joblib's
        # backend (a blocking call here or in ``submit`` would deadlock with
        # joblib's lock). Concurrent submissions share one scatter per argument.
        items = _light_batch(func.items)
        large = {
            id(arg): arg
            for _, args, kwargs in items
            for arg in (*args, *kwargs.values())
            if _worth_scattering(arg)
        }
        futures_by_id = await self._scattered(list(large.values()))
        name = repr(Batch(items))
        try:
            payload, futures = _pack(items, futures_by_id)
        except Exception as exc:
            raise pickle.PicklingError(
                f"dask_backend could not pickle {name} to send it to the "
                f"workers ({type(exc).__name__}: {exc}). Everything a search "
                "passes to its fits (the estimator and its parameters, fit "
                "parameters, the scorer) must be picklable by pickle or "
                "cloudpickle: replace the object that is not, or run the "
                "search outside dask_backend."
            ) from exc
        return _TimedBatch(name, payload), futures

    def submit(self, func, callback=None):
        """Send a batch to the cluster, as joblib's backend does.

        An error before the task exists (a batch that cannot be pickled) is the
        batch's outcome: joblib raises it from the ``Parallel`` call. (joblib's
        backend logs it on the event loop and waits for the batch forever.)
        """
        cf_future = concurrent.futures.Future()
        cf_future.get = cf_future.result  # joblib's AsyncResult API
        self.client.loop.add_callback(self._send, func, callback, cf_future)
        return cf_future

    async def _send(self, func, callback, cf_future, resends=0):
        try:
            batch, futures = await self._to_func_args(func)
        except Exception as exc:
            cf_future.set_exception(exc)
            callback(exc)
            return
        dask_future = self.client.submit(
            _TracebackCapturingWrapper(batch),
            tasks=futures,
            key=f"{batch!r}-{uuid.uuid4().hex}",
            **self.submit_kwargs,
        )
        self._sent[dask_future] = func, resends
        self._callbacks[dask_future] = callback
        self._results[dask_future] = cf_future
        self.waiting_futures.add(dask_future)

    async def _collect(self):
        """joblib's loop over finished batches, with two differences: a batch
        that the cluster cancelled because it lost the batch's data is sent
        again (up to `MAX_RESENDS` times), and a task's error (such as
        ``KilledWorker``) fails the ``Parallel`` call (joblib's backend waits
        for the batch forever)."""
        while self._continue:
            async for future in self.waiting_futures:
                func, resends = self._sent.pop(future, (None, 0))
                cf_future = self._results.pop(future)
                callback = self._callbacks.pop(future)
                result = await _outcome(future)
                if isinstance(result, _Unreadable):
                    result = _unreadable_result_error(future.key, result.error)
                elif future.status == "error":
                    _, result, _ = result
                elif future.status == "cancelled" and self.client.status == "running":
                    resend = func is not None and self._continue
                    if resend and resends < self.MAX_RESENDS:
                        self.client.loop.add_callback(
                            self._send, func, callback, cf_future, resends + 1
                        )
                        continue
                    result = _lost_batch_error(future.key, resends + 1, result)
                result = _with_local_hint(result)
                if isinstance(result, BaseException):
                    cf_future.set_exception(result)
                else:
                    cf_future.set_result(result)
                callback(result)
            await asyncio.sleep(0.01)

    def start_call(self):
        """Check again, once in this call, that the data sent is unchanged."""
        self._checked.clear()
        super().start_call()

    def stop_call(self):
        """Forget the data that this call did not use (an earlier search's),
        so that the client and the workers free it."""
        super().stop_call()
        for key in (set(self._scatter) | set(self._tokens)) - self._checked:
            self._forget(key)

    def _forget(self, key):
        self._scatter.pop(key, None)
        self._scattering.pop(key, None)
        self._tokens.pop(key, None)
        self.data_futures.pop(key, None)

    def configure(self, *args, **kwargs):
        """Start each ``Parallel`` call with joblib's initial batch size."""
        self.reset_batch_stats()
        self._compute_seconds = None
        return super().configure(*args, **kwargs)

    def abort_everything(self, ensure_ready=True):
        """Forget the batches in flight, as joblib's backend does, and cancel
        their tasks: a failed or interrupted ``Parallel`` call leaves on the
        cluster only the batches already running. (joblib's backend lets every
        batch sent run to its end, up to ``pre_dispatch`` batches of 1-3 s.)
        """
        futures = list(self._sent)
        self._sent.clear()
        super().abort_everything(ensure_ready)
        if futures:
            self.client.loop.add_callback(
                functools.partial(self.client.cancel, futures, asynchronous=True)
            )

    def effective_n_jobs(self, n_jobs):
        """The cluster's threads (joblib's backend), but at least 2.

        With 1, joblib runs the calls in the calling process instead of
        handing them to the backend: the fits of a search would run beside the
        client, not on a cluster of a single worker thread.
        """
        n = super().effective_n_jobs(n_jobs)
        return max(2, n) if n else n  # 0: no worker, and no wait for one

    def compute_batch_size(self):
        """joblib's batch size, growing up to `MAX_BATCH_GROWTH` times at once."""
        old = self._effective_batch_size
        seconds = self._smoothed_batch_duration
        if not 0 < seconds < self.MIN_IDEAL_BATCH_DURATION:
            return super().compute_batch_size()  # keep or shrink
        # joblib's ideal size: twice the one that lasts MIN_IDEAL_BATCH_DURATION.
        ideal = 2 * int(old * self.MIN_IDEAL_BATCH_DURATION / seconds)
        size = max(1, min(self.MAX_BATCH_GROWTH * old, ideal))
        if size != old:  # the next measurement is of the new size
            self._effective_batch_size = size
            self._smoothed_batch_duration = self._DEFAULT_SMOOTHED_BATCH_DURATION
        return size

    def retrieve_result_callback(self, out):
        """The batch's results; keeps its compute time for the next batch size."""
        if isinstance(out, _Timed):
            self._compute_seconds, out = out.seconds, out.result
        return super().retrieve_result_callback(out)

    def batch_completed(self, batch_size, duration):
        """Size the next batches from the compute time of this one.

        joblib measures a batch from its dispatch, so the time it waited behind
        other batches counts as work and batches stay too small; the time the
        batch took on its worker is used instead when there is one. (joblib
        calls this right after ``retrieve_result_callback``, in the same thread.)
        """
        seconds, self._compute_seconds = self._compute_seconds, None
        super().batch_completed(batch_size, duration if seconds is None else seconds)

    async def _scattered(self, args):
        """``{id(arg): future}`` of ``args`` on the workers: each scattered
        once, kept for the next ``Parallel`` calls that use it (an SMBO
        search's rounds), and scattered again if its contents changed (checked
        once per call, by dask's token of them) or if the cluster lost it
        (every worker holding it died). Concurrent batches share one scatter
        per argument."""

        def needs_sending(arg):
            key = id(arg)
            if key not in self._checked:
                self._checked.add(key)
                token = tokenize(arg)
                if self._tokens.get(key) != token:
                    self._forget(key)  # new, or changed in place since it was sent
                    self._tokens[key] = token  # of what is sent now
            task = self._scattering.get(key)
            return task is None or (
                task.done()
                and (
                    task.cancelled()
                    or task.exception() is not None
                    or task.result()[id(arg)].status != "finished"
                )
            )

        new = [arg for arg in args if needs_sending(arg)]
        if new:
            task = asyncio.ensure_future(self._scatter_to_every_worker(new))
            self._scattering.update((id(arg), task) for arg in new)
        return {id(arg): (await self._scattering[id(arg)])[id(arg)] for arg in args}

    async def _scatter_to_every_worker(self, args):
        """Scatter ``args`` (:func:`scatter_to_every_worker`), again while
        workers die during it, for up to `SCATTER_TIMEOUT` seconds."""
        deadline = time.monotonic() + self.SCATTER_TIMEOUT
        while True:
            try:
                futures = await scatter_to_every_worker(self.client, args)
                break
            except (concurrent.futures.CancelledError, OSError):
                if self.client.status != "running" or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        for arg, future in zip(args, futures):
            self._scatter[id(arg)] = arg
            self.data_futures[id(arg)] = future
        return {id(arg): future for arg, future in zip(args, futures)}

    def release(self):
        """Forget the scattered data, so that the workers can free it."""
        for key in list(self._scatter):
            self._forget(key)
        self._sent.clear()


class _Unreadable(NamedTuple):
    error: Exception


#: How many times a result lost with its worker while it was fetched is
#: awaited again (the cluster computes it again, or fails it).
_MAX_REFETCHES = 10


async def _outcome(future):
    """What ``Future._result(raiseit=False)`` gives for a finished task: its
    result, its error's ``(type, exception, traceback)``, or the
    ``CancelledError``; `_Unreadable` when the result cannot be brought back
    to the client. (``as_completed(with_results=True)`` drops such a future:
    its batch waited forever.)"""
    for _ in range(_MAX_REFETCHES):
        try:
            return await future._result(raiseit=False)
        except Exception as exc:
            if future.status == "finished" and not isinstance(
                exc, concurrent.futures.CancelledError
            ):
                return _Unreadable(exc)
            # Lost with its worker while fetched: await its new outcome.
            await asyncio.sleep(0.1)
    return await future._result(raiseit=False)


def _unreadable_result_error(key, error):
    message = (
        f"The result of {key} could not be brought back to the client "
        f"({type(error).__name__}: {error}): an exception raised by a fit, or an "
        "object a fit returns (the estimator with return_estimator=True), cannot "
        "be pickled or rebuilt from its pickle. Make it picklable, or run the "
        "search outside dask_backend to see the original error."
    )
    unreadable = RuntimeError(message)
    unreadable.__cause__ = error
    return unreadable


def _lost_batch_error(key, times, cancelled):
    error = RuntimeError(
        f"dask_backend sent {key} to the cluster {times} times, and each time "
        "the cluster cancelled it (reason: "
        f"{getattr(cancelled, 'reason', cancelled)}): the data it needs (X, y, "
        "the folds) were lost with the workers that held them. A worker dies "
        "when a fit crashes its process or exceeds the worker's memory limit, "
        "or when it is stopped from outside: look in the workers' logs, then "
        "fit again."
    )
    error.__cause__ = cancelled
    return error


class _Timed:
    """A batch's results and the seconds it took on its worker."""

    def __init__(self, seconds, result):
        self.seconds, self.result = seconds, result


class _TimedBatch:
    """A picklable callable that runs a batch's calls on a worker and times them.

    ``name`` names the dask task (joblib's ``Batch`` repr, such as
    ``batch_of__fit_and_score_42_calls``); ``payload`` is the calls, pickled by
    :func:`_pack`; dask passes the values of their scattered arguments as
    ``tasks``. ``Parallel`` calls inside the calls run as in loky's workers
    (:func:`skhpo._nesting.nested_parallel_config`), not under joblib's dask
    backend as in its ``Batch``.
    """

    def __init__(self, name, payload):
        self.name, self.payload = name, payload

    def __call__(self, tasks):
        start = time.perf_counter()
        calls = _unpack(self.payload, tasks)
        with nested_parallel_config():
            result = [func(*args, **kwargs) for func, args, kwargs in calls]
        return _Timed(time.perf_counter() - start, result)

    def __repr__(self):  # joblib names the dask task after it
        return self.name


class _Ref:
    """Stands for the ``index``-th scattered argument in a batch's pickle."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _pack(items, futures_by_id):
    """A batch's calls pickled, and the futures of their scattered arguments.

    ``items`` are ``(func, args, kwargs)`` calls; an argument (or a keyword
    argument's value) whose ``id`` is in ``futures_by_id`` is pickled as a
    :class:`_Ref` to its future, once per batch, and :func:`_unpack` puts the
    values back on the worker (why: "Calls pickled by the backend" in the
    module docstring). As distributed does for a task, cloudpickle pickles what
    pickle cannot, or what pickle pickles by reference to ``__main__``.
    """
    futures, refs = [], {}

    def ref(arg):
        future = futures_by_id.get(id(arg))
        if future is None:
            return arg
        if id(arg) not in refs:
            refs[id(arg)] = _Ref(len(futures))
            futures.append(future)
        return refs[id(arg)]

    calls = _map_arguments(items, ref)
    try:
        payload = pickle.dumps(calls, protocol=5)
    except Exception:
        payload = None
    if payload is None or b"__main__" in payload:
        payload = cloudpickle.dumps(calls, protocol=5)
    return payload, futures


def _unpack(payload, values):
    """The calls that :func:`_pack` pickled, with ``values`` for their refs."""

    def value(arg):
        return values[arg.index] if isinstance(arg, _Ref) else arg

    try:
        calls = pickle.loads(payload)
    except (ImportError, AttributeError) as error:
        raise unloadable_error(
            _FITS, type(error).__name__, str(error), getattr(error, "name", None)
        ) from error
    return _map_arguments(calls, value)


_FITS = "the fits (estimator, parameters, fit arguments)"


def _with_local_hint(error):
    """The error of a batch whose module a worker could not import, made again
    here, where the module's file (to upload) is known; caused by the worker's."""
    if not isinstance(error, ModuleNotFoundError) or _FITS not in str(error):
        return error
    text = f"No module named {error.name!r}"
    new = unloadable_error(_FITS, "ModuleNotFoundError", text, error.name)
    new.__cause__ = error
    return new


def _map_arguments(calls, convert):
    """``calls`` with ``convert`` applied to each argument and keyword value."""
    return [
        (func, [convert(a) for a in args], {k: convert(v) for k, v in kwargs.items()})
        for func, args, kwargs in calls
    ]


def _is_callback_context(obj):
    return hasattr(obj, "parent") and isinstance(
        getattr(obj, "_children_map", None), dict
    )


def _without_sibling_contexts(item):
    """``item`` with a callback context that pickles its own path only.

    ``item`` is one ``(func, args, kwargs)`` call of a joblib batch. When
    ``kwargs`` holds a scikit-learn ``CallbackContext`` (``callback_ctx``), it is
    replaced by a copy whose ancestors (copies too) each have one child: the
    next context on the path. The originals are not modified. ``caller``, the
    search holding the root context, becomes a shallow copy holding the copied
    root. Calls without a context are returned unchanged.
    """
    func, args, kwargs = item
    context = kwargs.get("callback_ctx")
    if not _is_callback_context(context):
        return item
    leaf = node = copy.copy(context)
    leaf._children_map = dict(context._children_map)
    original = context
    while original.parent is not None:
        parent = copy.copy(original.parent)
        parent._children_map = {original.task_id: node}
        node.parent, node, original = parent, parent, original.parent
    kwargs = {**kwargs, "callback_ctx": leaf}
    caller = kwargs.get("caller")
    if getattr(caller, "_callback_fit_ctx", None) is original:
        kwargs["caller"] = copy.copy(caller)
        kwargs["caller"]._callback_fit_ctx = node
    return func, args, kwargs


# The module pattern of Python's default filter ``default::DeprecationWarning:
# __main__``, and one that matches the same modules without spelling the name.
_MAIN, _MAIN_PATTERN = "__main__", "__main_[_]"


def _without_main_filter(func, rewritten):
    """``func`` with warning filters that do not spell ``"__main__"``.

    scikit-learn's ``delayed`` ships the caller's warning filters with every call
    (``_FuncWrapper.warning_filters``), and Python's defaults name the module
    ``__main__``. :func:`_pack` pickles each batch with ``pickle`` and, as
    distributed does for a task, when the bytes contain ``__main__`` (the sign
    of an object defined in the user's script), pickles it again with the
    slower cloudpickle. The worker compiles each module pattern as a regular
    expression (``warnings.filterwarnings``), so ``"__main_[_]"`` matches the
    same modules. Returns a copy; ``func`` is not modified. ``rewritten`` maps
    ``id(filters)`` to their rewritten list (None: nothing to rewrite), so that
    the calls of a batch share one list, pickled once.
    """
    filters = getattr(func, "warning_filters", None)
    if not isinstance(filters, list):
        return func
    if id(filters) not in rewritten:
        new = [
            (*f[:3], _MAIN_PATTERN, *f[4:]) if len(f) == 5 and f[3] == _MAIN else f
            for f in filters
        ]
        rewritten[id(filters)] = new if new != filters else None
    if rewritten[id(filters)] is None:
        return func
    func = copy.copy(func)
    func.warning_filters = rewritten[id(filters)]
    return func


def _light(item, rewritten):
    """``item`` with its own callback context only
    (:func:`_without_sibling_contexts`) and warning filters that let it be
    pickled once (:func:`_without_main_filter`); ``item`` itself should that
    fail (an error raised on the event loop would leave joblib waiting forever).
    """
    try:
        func, args, kwargs = _without_sibling_contexts(item)
        return _without_main_filter(func, rewritten), args, kwargs
    except Exception:
        return item


def _light_batch(items):
    """:func:`_light` of each call of a joblib batch."""
    rewritten = {}
    return [_light(item, rewritten) for item in items]


def _worth_scattering(arg):
    """Large in-memory data: arrays, frames, sparse matrices; not dask graphs."""
    return (
        hasattr(arg, "shape")
        and not dask.is_dask_collection(arg)
        and sizeof(arg) > _SCATTER_BYTES
    )


def check_client(client, who="dask_backend"):
    """``client`` as a ``(Client, owned)`` pair; ``owned`` ones are closed later.

    ``client`` is a synchronous ``distributed.Client``, a scheduler address or a
    cluster object; ``who`` names the caller in the error messages.
    """
    if isinstance(client, Client):
        if client.asynchronous:
            raise ValueError(
                f"{who} needs a synchronous distributed.Client; got one created "
                "with asynchronous=True. Pass Client(address) instead."
            )
        return client, False
    if isinstance(client, str) and not client.strip():
        raise ValueError(
            f"client of {who} is an empty scheduler address; pass one such as "
            "'tcp://10.0.0.1:8786', or None for the current client or a new "
            "LocalCluster."
        )
    if isinstance(client, str) or hasattr(client, "scheduler_address"):
        # A scheduler address, or a cluster manager (LocalCluster,
        # dask-jobqueue's SLURMCluster, dask-kubernetes' KubeCluster, ...).
        return Client(client, set_as_default=False), True
    raise TypeError(
        f"client of {who} must be None, a distributed.Client, a scheduler address "
        "such as 'tcp://10.0.0.1:8786', or a cluster object such as "
        f"LocalCluster(); got {type(client).__name__}: {client!r}."
    )


def _check_n_workers(n_workers, client):
    if n_workers is None:
        return None
    if client is not None:
        raise ValueError(
            "n_workers sizes the LocalCluster that dask_backend starts when no "
            f"client is given; got n_workers={n_workers!r} with client={client!r}. "
            "Size that cluster instead, or drop n_workers."
        )
    if (
        not isinstance(n_workers, numbers.Integral)
        or isinstance(n_workers, bool)
        or n_workers < 1
    ):
        raise ValueError(
            f"n_workers must be a positive integer or None; got {n_workers!r}."
        )
    return int(n_workers)


def _current_client():
    """The current synchronous client, or None; never connects a new one.

    (``distributed.get_client()`` would connect to dask's ``scheduler-address``
    setting itself, and that client would never be closed.)
    """
    try:
        client = Client.current(allow_global=True)
    except ValueError:
        return None
    return None if client.asynchronous else client


@contextlib.contextmanager
def dask_backend(client=None, *, n_workers=None, wait_for_workers_timeout=10):
    """Run joblib-parallel searches on dask, tuned for many short fits.

    Inside this context, every ``joblib`` / scikit-learn ``Parallel`` call (the
    fits of :class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`,
    :class:`~skhpo.SMBOSearchCV` with ``execution="joblib"``,
    ``cross_validate``, ...) runs on a dask cluster, as under
    ``joblib.parallel_config(backend="dask")``, with seven differences that make
    it faster on small and large clusters alike, and more robust on them:

    - each large argument (``X``, ``y``, the folds' indices) is sent once to
      every worker, then reused by every task and every later call;
    - batches of fits are sized to 1-3 s of compute, timed on the workers,
      so that neither scheduling overhead nor a few long batches at the end of a
      search dominate;
    - with no client, the cluster it starts has one single-threaded worker
      process per core (BLAS limited to one thread per worker);
    - a ``Parallel`` call inside a fit (a random forest's trees, ...) runs in
      the fit's worker, on threads if the estimator's ``n_jobs`` asks for them,
      as under loky, instead of as tasks of their own on the cluster;
    - each batch of fits is pickled once, on the client: the scheduler does not
      unpickle it, so it needs neither the estimator's libraries nor your own
      modules, and a fit that cannot be pickled raises a
      ``pickle.PicklingError`` instead of leaving the search waiting;
    - when the workers holding the data died, it is sent again and the fits
      that needed it run again (joblib's backend fails the search, and every
      later one in the context), and a fit that kills its workers fails the
      search with dask's ``KilledWorker`` (joblib's backend waits forever);
    - the fits run on the cluster even when it has a single worker thread
      (joblib's backend then runs them in the calling process).

    The client is the current one inside the context (``distributed.get_client()``
    returns it), so skhpo's dask-aware scorers and adaptive searches use it too.
    Only the clients and clusters that this function creates are closed on exit.

    Parameters
    ----------
    client : None, distributed.Client, str or cluster object, default=None
        Where to run:

        - None (and ``n_workers`` None): the active client if there is one
          (``distributed.get_client()``), else the scheduler at dask's
          ``scheduler-address`` setting (the ``DASK_SCHEDULER_ADDRESS``
          environment variable), else a new ``LocalCluster`` of one process per
          core, closed on exit: the same script runs on a laptop and, with the
          variable set, on a cluster;
        - a ``distributed.Client``;
        - a scheduler address, e.g. ``"tcp://10.0.0.1:8786"``;
        - a cluster object: ``LocalCluster``, dask-jobqueue's ``SLURMCluster``,
          dask-kubernetes' ``KubeCluster`` or any object with a
          ``scheduler_address``.
    n_workers : int, default=None
        Start a ``LocalCluster`` of this many single-threaded worker processes
        (closed on exit), even if a client is active. None means one per core
        when a cluster is started. Only valid without ``client``.
    wait_for_workers_timeout : float, default=10
        Seconds to wait for a first worker (an adaptive cluster may have none
        yet) before a ``Parallel`` call fails.

    Yields
    ------
    client : distributed.Client
        The client in use; ``client.dashboard_link`` is the address of the dask
        dashboard (it needs ``bokeh``).

    See Also
    --------
    joblib.parallel_config : ``backend="dask"`` is the untuned equivalent.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.svm import SVC
    >>> from skhpo.parallel import dask_backend
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=3)
    >>> with dask_backend(n_workers=2) as client:  # doctest: +SKIP
    ...     search.fit(X, y)
    ...     print(client.dashboard_link)
    """
    n_workers = _check_n_workers(n_workers, client)
    if (
        not isinstance(wait_for_workers_timeout, numbers.Real)
        or isinstance(wait_for_workers_timeout, bool)
        or not wait_for_workers_timeout >= 0
    ):
        raise ValueError(
            "wait_for_workers_timeout must be a number of seconds >= 0; got "
            f"{wait_for_workers_timeout!r}."
        )
    with contextlib.ExitStack() as stack:
        if client is None and n_workers is None:
            client = _current_client()
            if client is None:
                # DASK_SCHEDULER_ADDRESS, or scheduler-address in dask's config.
                client = dask.config.get("scheduler-address", None)
        if client is not None:
            client, owned = check_client(client)
            if owned:
                stack.enter_context(client)
        else:
            n_workers = _cpu_count() if n_workers is None else n_workers
            # Single-threaded worker processes, one per core by default.
            client = stack.enter_context(
                lean_local_client(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                )
            )
        backend = TunedDaskBackend(
            client, wait_for_workers_timeout=wait_for_workers_timeout
        )
        stack.callback(backend.release)
        stack.enter_context(client.as_current())
        stack.enter_context(parallel_config(backend=backend))
        yield client
