"""Asynchronous SMBO on dask.distributed: no worker waits for a batch.

:func:`run_async_search` drives the (candidate, split) fits of an SMBO search on
a synchronous ``distributed.Client``, from the calling thread:

1. the data (``X``, ``y``, the folds and the keyword arguments of scikit-learn's
   ``_fit_and_score``) is scattered once, to every worker (a copy survives the
   death of any one worker);
2. two candidates per worker thread are in flight (asked, not yet finished;
   more when fits take milliseconds, below): every worker has one running and
   one waiting, and the optimizer proposes each candidate knowing the scores
   of all but those few;
3. their fits wait in a queue and are submitted in tasks of up to ``group``
   fits each, about two tasks per worker thread in flight;
4. tasks are collected with ``as_completed``; as soon as every split of a
   candidate is done, ``on_candidate`` gets its outputs (the search tells the
   optimizer, journals the trial) and ``ask`` is called for the next
   candidate, with the ones still running pending in the optimizer.

Many cheap fits: ``group`` adapts to the measured fit time as joblib's
``batch_size="auto"`` does, so that one task lasts about
``_TARGET_TASK_SECONDS``; a task of fits that take milliseconds would otherwise
cost more in scheduling than in fitting. The candidates in flight bound it, so
that a task of cheap fits holds the splits of a few candidates: as many are in
flight as fill ``_LOOKAHEAD_SECONDS`` of fits per thread (at least two per
thread, at most a tenth of the search).

Failures: a worker that dies takes its running tasks with it; the scheduler runs
them again on another worker (and the nanny restarts the dead one). A task that
keeps killing workers (``KilledWorker``: a fit that crashes its process or runs
it out of memory) has its fits rerun alone, one task per worker with nothing
queued behind it; a fit that kills its worker again is a failed fit, scored
``error_score`` like any fit that raises (with ``error_score="raise"``, the
``KilledWorker`` ends the run, the candidate's parameters in a note). Data lost
with every worker that held it is scattered again. An error raised by a fit with
``error_score="raise"`` or the loss of the whole cluster ends the run with an
exception; a ``KeyboardInterrupt`` too. In every case the futures still
running are cancelled first, and the candidates already passed to
``on_candidate`` stay with the caller.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from concurrent.futures import CancelledError

from distributed import as_completed, get_worker
from distributed.client import ClosedClientError
from distributed.scheduler import KilledWorker
from sklearn.base import BaseEstimator, clone

from .._compat import fit_and_score
from .._nesting import nested_parallel_config
from ._client import active_client, check_workers_can_load, scatter_to_every_worker

__all__ = ["ClusterLostError", "async_client", "run_async_search"]

# Aim for tasks of about this many seconds when fits are short (as joblib).
_TARGET_TASK_SECONDS = 0.2
# Tasks, and candidates, in flight per worker thread: one running, one waiting.
_TASKS_PER_THREAD = 2
_CANDIDATES_PER_THREAD = 2
# ... more when a candidate's fits take less than this, per thread, altogether.
_LOOKAHEAD_SECONDS = 0.05
# When every worker holding the data died (all at once), it is sent again, at
# most this many times per search, waiting this long for a worker to receive it.
_MAX_RESCATTERS = 10
_RESCATTER_TIMEOUT = 30


class ClusterLostError(RuntimeError):
    """The dask cluster went away while a search was running on it."""


class _FitInterrupted(Exception):
    """A fit raised KeyboardInterrupt on a worker (where it would hang the
    worker's thread); the driver raises KeyboardInterrupt in its place."""


def _in_worker_task():
    try:
        get_worker()
    except ValueError:
        return False
    return True


def _joblib_backend_is_dask():
    """Whether joblib's dask backend (or skhpo's subclass of it) is active."""
    from joblib._dask import DaskDistributedBackend
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return isinstance(backend, DaskDistributedBackend)


def async_client():
    """The client for ``execution="auto"``, or None for the joblib path.

    The asynchronous path runs on the active synchronous client, unless the search
    runs inside a dask task, or the user chose the dask backend of joblib
    (``joblib.parallel_config(backend="dask")``), which keeps rounds of
    ``n_points`` candidates through joblib.
    """
    client = active_client()
    if (
        client is None
        or client.asynchronous
        or _in_worker_task()
        or _joblib_backend_is_dask()
    ):
        return None
    return client


def check_async_client():
    """The active synchronous client, or a ValueError saying how to get one."""
    client = active_client()
    if client is None or client.asynchronous or _in_worker_task():
        raise ValueError(
            "execution='async' needs an active synchronous distributed.Client "
            "(create one, e.g. Client(LocalCluster()), before calling fit, and "
            "not inside a dask task); found "
            f"{'none' if client is None else client!r}. Use execution='joblib' "
            "to run rounds of candidates through joblib instead."
        )
    return client


def _fit_items(estimator, X, y, folds, fit_kwargs, items):
    """Run on a worker: scikit-learn's ``_fit_and_score`` for each item.

    Each item is ``(parameters, split, candidate_progress)``; returns one
    ``(output, seconds)`` pair per item. ``Parallel`` calls inside the fits
    run as in loky's workers (:func:`skhpo._nesting.nested_parallel_config`).
    """
    with nested_parallel_config():
        return [_timed_fit(estimator, X, y, folds, fit_kwargs, *item) for item in items]


def _timed_fit(estimator, X, y, folds, fit_kwargs, parameters, split, progress):
    """One item of :func:`_fit_items`: its ``(output, seconds)``."""
    start = time.perf_counter()
    try:
        out = _fit_split(
            clone(estimator), parameters, X, y, folds, fit_kwargs, split, progress
        )
    except KeyboardInterrupt:
        raise _FitInterrupted(f"{parameters!r}, split {split}") from None
    except Exception as exc:
        exc.add_note(
            f"Raised by the fit of the candidate {parameters!r} on split "
            f"{split} of {len(folds)} (error_score='raise')."
        )
        raise
    return out, time.perf_counter() - start


class _KilledFit(BaseEstimator):
    """Stands for a fit that killed its workers: ``fit`` raises its story, so
    that scikit-learn's ``_fit_and_score`` scores it as any failed fit."""

    def __init__(self, message=""):
        self.message = message

    def fit(self, X, y=None, **fit_params):
        raise RuntimeError(self.message)


def _fit_split(estimator, parameters, X, y, folds, fit_kwargs, split, progress):
    """scikit-learn's ``_fit_and_score`` of ``estimator`` on fold ``split``."""
    train, test = folds[split]
    return fit_and_score(
        estimator,
        X,
        y,
        train=train,
        test=test,
        parameters=parameters,
        split_progress=(split, len(folds)),
        candidate_progress=progress,
        **fit_kwargs,
    )


class _Candidate:
    __slots__ = ("params", "outputs", "n_left")

    def __init__(self, params, n_splits):
        self.params = params
        self.outputs = [None] * n_splits
        self.n_left = n_splits


def run_async_search(
    client, *, estimator, space, X, y, folds, fit_kwargs, ask, on_candidate, n_max
):
    """Evaluate candidates asynchronously until ``ask`` returns none.

    Parameters
    ----------
    client : distributed.Client
        A synchronous client.
    estimator : estimator
        Cloned for every fit.
    space : object
        What the parameters are drawn from (checked, with the estimator and
        the scorer, to load on every worker before anything is sent).
    X, y : array-like
        The data, as scikit-learn's ``evaluate_candidates`` passes it.
    folds : list of (train, test)
        The cross-validation splits.
    fit_kwargs : dict
        The other keyword arguments of ``_fit_and_score`` (scorer, fit_params,
        score_params, return_* flags, error_score, verbose).
    ask : callable
        ``ask(n)`` returns up to ``n`` new parameter dicts, an empty list when
        the search must not start new candidates.
    on_candidate : callable
        ``on_candidate(params, outputs)`` with one ``_fit_and_score`` output per
        split, called in the order candidates finish.
    n_max : int
        Upper bound on the number of candidates (for progress messages only).

    Raises
    ------
    ClusterLostError
        When the cluster is gone (its futures cancelled by the scheduler).
    Exception
        A fit's own error with ``error_score="raise"``, or ``KilledWorker``.
    """
    client.sync(
        check_workers_can_load,
        client,
        [estimator, space, fit_kwargs.get("scorer")],
    )
    n_splits = len(folds)
    n_threads = max(sum(client.nthreads().values()), 1)

    def send(timeout=None):
        return client.sync(
            scatter_to_every_worker,
            client,
            [X, y, folds, fit_kwargs],
            callback_timeout=timeout,
        )

    data = send()
    n_rescatters = 0
    queue = collections.deque()  # (candidate id, split) not submitted yet
    suspects = collections.deque()  # fits of a task that killed its workers
    on_trial = {}  # future of a suspect -> the worker it runs on, alone
    candidates = {}
    running = {}  # future -> its items
    seconds, n_fits = 0.0, 0
    exhausted = False
    n_asked = 0
    # Tasks as they finish; their results are gathered one by one below (with
    # ``with_results=True``, a result lost with its worker and then killed on
    # recomputation never comes out of ``as_completed``: the loop would hang).
    futures = as_completed(raise_errors=False)

    def mean_fit_seconds():
        return max(seconds / n_fits, 1e-6)

    def group_size():
        if n_fits == 0:
            return 1
        return max(1, int(_TARGET_TASK_SECONDS / mean_fit_seconds()))

    def in_flight_limit():
        """Candidates asked and not finished: two per worker thread; when fits
        are so cheap that one candidate's splits make a task that costs more
        in scheduling than in fitting, as many as fill ``_LOOKAHEAD_SECONDS``
        per thread, up to a tenth of the search."""
        least = _CANDIDATES_PER_THREAD * n_threads
        if n_fits == 0:
            return least
        per_candidate = mean_fit_seconds() * n_splits
        cheap = int(_LOOKAHEAD_SECONDS * n_threads / per_candidate)
        return max(least, min(cheap, n_max // 10))

    def submit(items, worker=None):
        future = client.submit(
            _fit_items,
            estimator,
            *data,
            [(candidates[c].params, s, (c, n_max)) for c, s in items],
            pure=False,
            workers=worker,
            # (should that worker die meanwhile, another one runs it)
            allow_other_workers=worker is not None,
        )
        running[future] = items
        futures.add(future)
        if worker is not None:
            on_trial[future] = worker

    def refill():
        nonlocal exhausted, n_asked
        if suspects or on_trial:
            # Suspects run alone: one fit per task, one task per worker, once
            # every other task is done. A worker's death then condemns the fit
            # it was running, not a task that waited behind it.
            if len(on_trial) < len(running):
                return
            idle = set(client.nthreads()) - set(on_trial.values())
            while suspects and idle:
                submit([suspects.popleft()], worker=idle.pop())
            if on_trial:
                return
            if not running and not idle and suspects:
                submit([suspects.popleft()])  # no worker up yet: wait for one
                return
        room = in_flight_limit() - len(candidates)
        if room > 0 and not exhausted:
            batch = ask(room)
            exhausted = not batch
            for params in batch:
                candidates[n_asked] = _Candidate(params, n_splits)
                queue.extend((n_asked, split) for split in range(n_splits))
                n_asked += 1
        slots = _TASKS_PER_THREAD * n_threads - len(running)
        while queue and slots > 0:
            # Share the queue among the free slots, every thread busy.
            size = min(group_size(), math.ceil(len(queue) / slots))
            submit([queue.popleft() for _ in range(size)])
            slots -= 1

    def finish(cid, split, out):
        candidate = candidates[cid]
        candidate.outputs[split] = out
        candidate.n_left -= 1
        if candidate.n_left == 0:
            del candidates[cid]
            on_candidate(candidate.params, candidate.outputs)

    def rescatter():
        """Send the data again after every worker holding it died, or raise
        ClusterLostError when the cluster itself is gone."""
        nonlocal data, n_rescatters
        lost = ClusterLostError(
            "The dask cluster went away during the search (its tasks were "
            f"cancelled; client status {client.status!r}). The candidates "
            "finished so far are kept; fit again on a running cluster, "
            "with checkpoint= to resume from them."
        )
        if client.status != "running" or n_rescatters >= _MAX_RESCATTERS:
            raise lost
        try:
            data = send(timeout=_RESCATTER_TIMEOUT)
        except Exception as exc:
            raise lost from exc
        n_rescatters += 1

    def killed(future, items, error):
        """A task killed its workers: its fits become suspects, each rerun
        alone; a suspect that kills its workers again is a failed fit."""
        if on_trial.pop(future, None) is None:
            suspects.extend(items)
            return
        for item in items:
            cid, split = item
            params = candidates[cid].params
            if fit_kwargs.get("error_score") == "raise":
                error.add_note(
                    f"Raised for the fit of the candidate {params!r} on split "
                    f"{split} of {n_splits} (error_score='raise')."
                )
                raise error
            message = (
                f"The fit of {params!r} on split {split} killed the dask workers "
                f"that ran it ({error}); it may crash its process or exhaust its "
                "memory."
            )
            failed = _KilledFit(message)  # scored as a fit that raised
            out = _fit_split(failed, None, X, y, folds, fit_kwargs, split, (cid, n_max))
            finish(cid, split, out)

    try:
        refill()
        for future in futures:
            items = running.pop(future)
            suspected = future.status != "error" and on_trial.pop(future, None)
            try:
                done, error = future.result(), None
            except Exception as exc:  # the task's error, or its cancellation
                error = exc
            if error is not None:
                if isinstance(error, _FitInterrupted):
                    raise KeyboardInterrupt(f"in the fit of the candidate {error}")
                if any(d.status != "finished" for d in data):
                    # Every worker holding the data died (its dependents were
                    # cancelled or killed): send it again, if the cluster lives.
                    rescatter()
                if isinstance(error, KilledWorker):
                    killed(future, items, error)
                elif isinstance(error, CancelledError):
                    (suspects if suspected else queue).extendleft(reversed(items))
                else:
                    raise error  # a fit's error, with error_score="raise"
                refill()
                continue
            for (cid, split), (out, duration) in zip(items, done):
                seconds += duration
                n_fits += 1
                finish(cid, split, out)
            refill()
    finally:
        # (A client closed by the loss of its cluster has nothing to cancel.)
        with contextlib.suppress(ClosedClientError):
            client.cancel(list(running) + data)
