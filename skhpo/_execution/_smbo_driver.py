"""Asynchronous SMBO on dask.distributed: no worker waits for a batch.

:func:`run_async_search` drives the (candidate, split) fits of an SMBO search on
a synchronous ``distributed.Client``, from the calling thread:

1. the data (``X``, ``y``, the folds and the keyword arguments of scikit-learn's
   ``_fit_and_score``) is scattered once, to every worker (a copy survives the
   death of any one worker);
2. fits wait in a queue and are submitted in tasks of ``group`` fits each, so
   that about two tasks per worker thread are in flight: every worker has one
   running and one waiting;
3. tasks are collected with ``as_completed``; as soon as every split of a
   candidate is done, ``on_candidate`` gets its outputs (the search tells the
   optimizer, journals the trial) and, when the queue runs low, ``ask`` is
   called for new candidates, with the ones still running pending in the
   optimizer.

Many cheap fits: ``group`` adapts to the measured fit time as joblib's
``batch_size="auto"`` does, so that one task lasts about
``_TARGET_TASK_SECONDS``; a task of fits that take milliseconds would otherwise
cost more in scheduling than in fitting.

Failures: a worker that dies takes its running tasks with it; the scheduler runs
them again on another worker (and the nanny restarts the dead one). A task that
keeps killing workers (``KilledWorker``), an error raised by a fit
(``error_score="raise"``, with the candidate's parameters added as a note) or
the loss of the whole cluster ends the run with an exception; a
``KeyboardInterrupt`` too. In every case the futures still running are cancelled
first, and the candidates already passed to ``on_candidate`` stay with the
caller.
"""

from __future__ import annotations

import collections
import math
import time
from concurrent.futures import CancelledError

from distributed import as_completed, get_worker
from sklearn.base import clone

from .._compat import fit_and_score
from ._client import active_client

__all__ = ["ClusterLostError", "async_client", "run_async_search"]

# Aim for tasks of about this many seconds when fits are short (as joblib).
_TARGET_TASK_SECONDS = 0.2
# Tasks in flight per worker thread: one running, one waiting.
_TASKS_PER_THREAD = 2


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
    ``(output, seconds)`` pair per item.
    """
    done = []
    for parameters, split, candidate_progress in items:
        train, test = folds[split]
        start = time.perf_counter()
        try:
            out = fit_and_score(
                clone(estimator),
                X,
                y,
                train=train,
                test=test,
                parameters=parameters,
                split_progress=(split, len(folds)),
                candidate_progress=candidate_progress,
                **fit_kwargs,
            )
        except KeyboardInterrupt:
            raise _FitInterrupted(f"{parameters!r}, split {split}") from None
        except Exception as exc:
            exc.add_note(
                f"Raised by the fit of the candidate {parameters!r} on split "
                f"{split} of {len(folds)} (error_score='raise')."
            )
            raise
        done.append((out, time.perf_counter() - start))
    return done


class _Candidate:
    __slots__ = ("params", "outputs", "n_left")

    def __init__(self, params, n_splits):
        self.params = params
        self.outputs = [None] * n_splits
        self.n_left = n_splits


def run_async_search(
    client, *, estimator, X, y, folds, fit_kwargs, ask, on_candidate, n_max
):
    """Evaluate candidates asynchronously until ``ask`` returns none.

    Parameters
    ----------
    client : distributed.Client
        A synchronous client.
    estimator : estimator
        Cloned for every fit.
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
    n_splits = len(folds)
    n_threads = max(sum(client.nthreads().values()), 1)
    data = client.scatter([X, y, folds, fit_kwargs], broadcast=True, hash=False)
    queue = collections.deque()  # (candidate id, split) not submitted yet
    candidates = {}
    running = {}  # future -> its items
    seconds, n_fits = 0.0, 0
    exhausted = False
    n_asked = 0
    # Results are gathered in the background as tasks finish.
    futures = as_completed(with_results=True, raise_errors=False)

    def group_size():
        if n_fits == 0:
            return 1
        return max(1, int(_TARGET_TASK_SECONDS / max(seconds / n_fits, 1e-6)))

    def refill():
        nonlocal exhausted, n_asked
        while len(running) < _TASKS_PER_THREAD * n_threads:
            size = group_size()
            if len(queue) < size and not exhausted:
                batch = ask(max(1, math.ceil((size - len(queue)) / n_splits)))
                exhausted = not batch
                for params in batch:
                    candidates[n_asked] = _Candidate(params, n_splits)
                    queue.extend((n_asked, split) for split in range(n_splits))
                    n_asked += 1
            if not queue:
                return
            items = [queue.popleft() for _ in range(min(size, len(queue)))]
            future = client.submit(
                _fit_items,
                estimator,
                *data,
                [(candidates[c].params, s, (c, n_max)) for c, s in items],
                pure=False,
            )
            running[future] = items
            futures.add(future)

    try:
        refill()
        for future, done in futures:
            items = running.pop(future)
            if future.status == "error":
                if isinstance(future.exception(), _FitInterrupted):
                    raise KeyboardInterrupt(
                        f"in the fit of the candidate {future.exception()}"
                    )
                future.result()  # raises the task's error
            if future.status == "cancelled" or isinstance(done, CancelledError):
                raise ClusterLostError(
                    "The dask cluster went away during the search (its tasks were "
                    f"cancelled; client status {client.status!r}). The candidates "
                    "finished so far are kept; fit again on a running cluster, "
                    "with checkpoint= to resume from them."
                )
            for (cid, split), (out, duration) in zip(items, done):
                seconds += duration
                n_fits += 1
                candidate = candidates[cid]
                candidate.outputs[split] = out
                candidate.n_left -= 1
                if candidate.n_left == 0:
                    del candidates[cid]
                    on_candidate(candidate.params, candidate.outputs)
            refill()
    finally:
        client.cancel(list(running) + data)
