"""The adaptive-search engine: models trained chunk by chunk, driven by a policy.

One engine serves ``IncrementalSearchCV``, ``InverseDecaySearchCV``,
``SuccessiveHalvingSearchCV`` and ``HyperbandSearchCV``. A *run* trains one set
of models under one policy (a Hyperband bracket is one run); :func:`run_adaptive`
executes several runs concurrently on the same client, as coroutines on the
client's event loop.

A run proceeds in rounds, the policy's unit of decision:

1. ``policy.decide(history)`` gives ``{model_id: n}``: train these models ``n``
   more ``partial_fit`` calls each, then score them.
2. For every instructed model, ``n`` chained ``partial_fit`` tasks and one score
   task are submitted at once (``Client.submit``); each task depends on the
   previous one's future, so the scheduler runs the chains of all models (and of
   all runs) in parallel, and each task moves the (small) model to the worker
   that holds its (large) training block.
3. Scores are collected with ``as_completed``, in the order they finish. As soon
   as a model's score arrives, its *next* ``partial_fit`` call is submitted
   speculatively at low priority, so no worker idles while the rest of the round
   finishes and the policy decides. If the policy continues the model, that call
   is the first of its next chain; otherwise it is released (cancelled if it has
   not run).
4. Once every instructed model has been scored, the policy decides again.

Priorities: every task of a model carries its run's base priority (Hyperband
gives the most adaptive bracket the highest, as dask-ml starts it first) plus
the model's rank by latest score within its run (0-100: promising models
first). Speculative calls sit below every other task: they only fill gaps.

Training blocks are visited in a shuffled order drawn from the run's random
state: the ``k``-th ``partial_fit`` call of every model uses the same
block, as in dask-ml.

The engine never calls ``dask.compute``/``dask.persist`` on the event loop
(what broke dask-ml, dask/dask-ml#1016): it only submits tasks and awaits
futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field

import numpy as np
from distributed import Future, as_completed
from distributed.comm.core import CommClosedError

from . import _tasks
from ._client import check_workers_can_load, scatter_to_every_worker
from ._data import prepare_data

__all__ = ["ClusterLostError", "RunResult", "RunSpec", "run_adaptive"]

logger = logging.getLogger("skhpo")

_SPECULATIVE = -1_000_000


@dataclass
class RunSpec:
    """One policy-driven set of models.

    Attributes
    ----------
    policy : object
        ``decide(history) -> (calls, survivors)`` and ``max_iter``, as the
        policies of :mod:`skhpo.schedules`.
    params : list of dict
        Parameters of each model; model ids are the positions in this list.
    random_state : numpy.random.RandomState
        Shuffles the order in which training blocks are visited.
    prefix : str
        Log prefix: messages start with ``[CV<prefix>]``.
    priority : int
        Base priority of the run's tasks (runs with a higher one go first when
        the workers are busy); each model adds its score rank, 0 to 100.
    """

    policy: object
    params: list
    random_state: np.random.RandomState
    prefix: str = ""
    priority: int = 0


@dataclass
class RunResult:
    """What one run did.

    Attributes
    ----------
    history : list of dict
        One record per score, in the order the scores arrived: ``model_id``,
        ``params``, ``partial_fit_calls``, ``partial_fit_time`` (seconds spent in
        ``partial_fit`` since the model's previous score), ``score``,
        ``score_time``, ``elapsed_wall_time`` (seconds since the search started).
    model_history : dict
        ``{model_id: [record, ...]}`` (the same record objects), every model.
    survivors : tuple
        Models still in the search at the end, in creation order.
    best_id : int
        The survivor with the highest latest score.
    best_estimator : estimator
        That model, gathered from the cluster.
    speculative_calls, wasted_calls : int
        Speculative ``partial_fit`` calls submitted, and those thrown away
        because the policy stopped the model (not counted in ``history``).
    retried_rounds : int
        Model rounds resubmitted because a worker was lost with their tasks.

    ``best_id`` and ``best_estimator`` are None for a run stopped before any
    model was scored, and in the partial results of a failed search.
    """

    history: list
    model_history: dict
    survivors: tuple
    best_id: int
    best_estimator: object
    speculative_calls: int = 0
    wasted_calls: int = 0
    retried_rounds: int = 0


def _key(name):
    return f"skhpo-{name}-{uuid.uuid4().hex}"


class _BlockOrder:
    """Which training block the ``k``-th ``partial_fit`` call of any model uses.

    Shuffled passes over the blocks, drawn lazily, as dask-ml does.
    """

    def __init__(self, random_state, n_blocks):
        self._rng = random_state
        self._n = n_blocks
        self._order = []

    def __getitem__(self, calls):
        while calls >= len(self._order):
            self._order.extend(int(i) for i in self._rng.permutation(self._n))
        return self._order[calls]


class ClusterLostError(RuntimeError):
    """The search's dask cluster went away (scheduler unreachable, no workers)."""


#: Seconds the engine waits to recover from a lost worker (data put back on
#: the cluster) before it gives up with :class:`ClusterLostError`.
RECOVERY_TIMEOUT = 120

#: How many times one model's round is resubmitted after losing its tasks.
MAX_RETRIES = 3


def _is_lost(error):
    """Whether ``error`` means "tasks or data were lost with a worker"."""
    return isinstance(error, (concurrent.futures.CancelledError, CommClosedError))


@dataclass
class _Context:
    client: object
    data: object
    estimator: Future
    scorer: Future
    fit_params: object
    start_time: float
    log_every: int
    # Called with (run prefix, record) for every score record; or None.
    on_record: object = None
    # Every future the search made that is still referenced, released when
    # the search ends (a traceback's frames may hold some). Weak: a chain's
    # intermediate states are released once nothing references them.
    live: weakref.WeakSet = field(default_factory=weakref.WeakSet)
    # skhpo._checkpoint.ModelCheckpoint, or None.
    checkpoint: object = None
    # time.time() after which no result is awaited any more (max_time), or None.
    deadline: float = None
    # Coroutine function putting the data and shared objects back on the
    # cluster (a new SearchData and futures) after a worker was lost.
    reload: object = None
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def timed_out(self):
        return self.deadline is not None and time.time() >= self.deadline

    async def recover(self, generation):
        """Put lost data back on the cluster, once per incident."""
        async with self.lock:
            if generation != self.generation:
                return  # another run recovered from the same incident
            status = self.client.status
            if status != "running":
                raise ClusterLostError(
                    f"The dask cluster of the search was lost (client status "
                    f"{status!r}): tasks cannot run any more. The scores received "
                    "so far are kept in history_ and cv_results_ (and in the "
                    "checkpoint, if any: fit again to resume). Restart the cluster "
                    "and fit again."
                )
            try:
                await asyncio.wait_for(self._reload_until_done(), RECOVERY_TIMEOUT)
            except Exception as error:
                raise ClusterLostError(
                    "A dask worker was lost and the search's data could not be "
                    f"put back on the cluster ({error!r} within {RECOVERY_TIMEOUT} "
                    "s: are the scheduler and any workers left?). The scores "
                    "received so far are kept in history_ and cv_results_. Restart "
                    "the cluster and fit again."
                ) from error
            self.generation += 1

    async def _reload_until_done(self):
        # Right after a worker died the scheduler may still send data to it:
        # try again until the data is back or RECOVERY_TIMEOUT passes.
        while True:
            try:
                return await self.reload(self)
            except (concurrent.futures.CancelledError, OSError):
                if self.client.status != "running":
                    raise
                await asyncio.sleep(1)


class _Run:
    def __init__(self, ctx, spec, index=0):
        self.ctx = ctx
        self.spec = spec
        self.index = index
        self.policy = spec.policy
        self.order = _BlockOrder(spec.random_state, len(ctx.data.train))
        # model id -> its latest instructed state: a future, or a ModelState
        # (restored from a checkpoint or a lost worker) that tasks receive whole
        self.states = {}
        self.calls = {}  # model id -> partial_fit calls of that state
        self.scored = {}  # model id -> ModelState of its latest score
        self.speculative = {}  # model id -> future of one call past it
        self.priority = {}
        self.fit_time = {}  # model id -> cumulated partial_fit time when scored
        self.history = []
        self.model_history = {}
        self.n_speculative = 0
        self.n_wasted = 0
        self.n_retried = 0

    # -- submitting ------------------------------------------------------------
    def _submit(self, name, func, *args, priority=0):
        future = self.ctx.client.submit(
            func, *args, key=_key(name), priority=priority, pure=False
        )
        self.ctx.live.add(future)
        return future

    def _partial_fit(self, state, calls, priority):
        X, y = self.ctx.data.train[self.order[calls]]
        return self._submit(
            "partial-fit",
            _tasks.partial_fit,
            state,
            X,
            y,
            self.ctx.fit_params,
            priority=priority,
        )

    def _score(self, state, priority):
        data = self.ctx.data
        if data.chunked is None:
            [(X, y)] = data.validation
            return self._submit(
                "score",
                _tasks.score_one_block,
                state,
                X,
                y,
                self.ctx.scorer,
                priority=priority,
            )
        return self._submit(
            "score",
            _tasks.score_chunked,
            state,
            data.chunked,
            self.ctx.scorer,
            priority=priority,
        )

    def _create(self, model_id):
        return self._submit(
            "create-model",
            _tasks.create_model,
            self.ctx.estimator,
            self.spec.params[model_id],
            priority=self.spec.priority,
        )

    def _train_and_score(self, model_id, n):
        """Submit ``n`` partial_fit calls of a model and its score."""
        priority = self.spec.priority + self.priority.get(model_id, 0)
        state, calls = self.states[model_id], self.calls[model_id]
        speculative = self.speculative.pop(model_id, None)
        if speculative is not None:
            state, calls, n = speculative, calls + 1, n - 1
        for _ in range(n):
            state = self._partial_fit(state, calls, priority)
            calls += 1
        self.states[model_id], self.calls[model_id] = state, calls
        return self._score(state, priority)

    def _resubmit(self, model_id):
        """Redo a model's round from its latest scored state (tasks were lost)."""
        target = self.calls[model_id]
        self.speculative.pop(model_id, None)
        state = self.scored.get(model_id)
        if state is None:
            self.states[model_id], self.calls[model_id] = self._create(model_id), 0
        else:
            self.states[model_id] = state
            self.calls[model_id] = state.partial_fit_calls
        return self._train_and_score(model_id, target - self.calls[model_id])

    def _speculate(self, model_id):
        max_iter = self.policy.max_iter
        if max_iter and self.calls[model_id] >= max_iter:
            return  # every policy stops a model at max_iter
        self.speculative[model_id] = self._partial_fit(
            self.states[model_id],
            self.calls[model_id],
            _SPECULATIVE + self.spec.priority + self.priority.get(model_id, 0),
        )
        self.n_speculative += 1

    # -- deciding --------------------------------------------------------------
    def _rank(self, decision):
        live = list(decision.calls)
        if len(live) < 2:
            return
        scores = [
            self.model_history[m][-1]["score"] if self.model_history[m] else np.nan
            for m in live
        ]
        order = np.argsort(np.nan_to_num(scores, nan=-np.inf), kind="stable")
        for rank, index in enumerate(order):
            self.priority[live[index]] = int(round(100 * rank / (len(live) - 1)))

    def _release(self, decision):
        for model_id in [m for m in self.speculative if m not in decision.calls]:
            # Dropping the last reference releases the task: the scheduler
            # forgets it if it has not run yet.
            future = self.speculative.pop(model_id)
            if future.done():
                self.n_wasted += 1
            else:
                self.n_speculative -= 1
        survivors = set(decision.survivors)
        dropped = [m for m in self.states if m not in survivors]
        for model_id in dropped:
            self.states.pop(model_id)
            self.scored.pop(model_id, None)
        if self.ctx.checkpoint is not None and dropped:
            self.ctx.checkpoint.drop(self.index, dropped)

    def _record(self, model_id, result):
        total = result["total_partial_fit_time"]
        state = result["state"]
        record = {
            "model_id": model_id,
            "params": self.spec.params[model_id],
            "partial_fit_calls": result["partial_fit_calls"],
            "partial_fit_time": total - self.fit_time.get(model_id, 0.0),
            "score": result["score"],
            "score_time": result["score_time"],
            "elapsed_wall_time": time.time() - self.ctx.start_time,
        }
        if self.ctx.checkpoint is not None:
            self.ctx.checkpoint.save(self.index, record, state)
        self.scored[model_id] = state
        self.fit_time[model_id] = total
        self.model_history[model_id].append(record)
        self.history.append(record)
        if self.ctx.on_record is not None:
            self.ctx.on_record(self.spec.prefix, record)
        return record

    def _log_round(self, index, records):
        every = self.ctx.log_every
        if every and index % every == 0 and records:
            best = max(records, key=lambda r: r["score"])
            logger.info(
                "[CV%s] validation score of %0.4f received after %d partial_fit calls",
                self.spec.prefix,
                best["score"],
                best["partial_fit_calls"],
            )

    # -- restoring from a checkpoint -------------------------------------------
    def _restore_history(self):
        """Journaled records of this run into the histories; ids restored."""
        checkpoint = self.ctx.checkpoint
        if checkpoint is None:
            return set()
        for record in checkpoint.records(self.index):
            model_id = record["model_id"]
            if not 0 <= model_id < len(self.spec.params) or (
                record["params"] != self.spec.params[model_id]
            ):
                raise ValueError(
                    f"The checkpoint {checkpoint.journal.path!r} holds a record "
                    f"of model {model_id} with parameters {record['params']!r}, "
                    "which this search did not sample: it was written by another "
                    "search. Pass another checkpoint path, or delete the file."
                )
            self.model_history[model_id].append(record)
            self.history.append(record)
            self.fit_time[model_id] = (
                self.fit_time.get(model_id, 0.0) + (record["partial_fit_time"])
            )
        return {m for m, records in self.model_history.items() if records}

    def _replay(self):
        """The policy's latest decision over the restored records.

        Returns the decision and the calls still due in its round: the records
        journaled before a crash may end in the middle of a round.
        """
        history = {model_id: [] for model_id in self.model_history}
        decision = self.policy.decide(history)
        waiting = set(decision.calls)
        for record in self.history:
            model_id = record["model_id"]
            if model_id not in waiting:
                raise ValueError(
                    f"The checkpoint {self.ctx.checkpoint.journal.path!r} holds a "
                    f"record of model {model_id} that this search's policy did not "
                    "ask for: it was written by another search. Pass another "
                    "checkpoint path, or delete the file."
                )
            history[model_id].append(record)
            waiting.discard(model_id)
            if not waiting:
                decision = self.policy.decide(history)
                waiting = set(decision.calls)
        return decision, {m: n for m, n in decision.calls.items() if m in waiting}

    def _restore_states(self, restored, decision):
        """States of the restored models the policy still needs."""
        needed = set(decision.calls) | set(decision.survivors)
        for model_id in sorted(restored & needed):
            calls = self.model_history[model_id][-1]["partial_fit_calls"]
            state = self.ctx.checkpoint.load_state(self.index, model_id, calls)
            if state is not None:
                self.states[model_id] = self.scored[model_id] = state
                self.calls[model_id] = calls
                continue
            # No saved state (deleted sidecar directory): retrain it, the same
            # blocks in the same order give the same model.
            state = self._create(model_id)
            for k in range(calls):
                state = self._partial_fit(state, k, self.spec.priority)
            self.states[model_id], self.calls[model_id] = state, calls

    # -- the loop --------------------------------------------------------------
    async def _next(self, completed):
        """The next finished future, or None once ``max_time`` has passed."""
        deadline = self.ctx.deadline
        if deadline is None:
            return await completed.__anext__()
        try:
            return await asyncio.wait_for(
                completed.__anext__(), max(deadline - time.time(), 0)
            )
        except asyncio.TimeoutError:
            return None

    async def _round(self, calls):
        """Train and score the instructed models; False if max_time passed."""
        pending = {}
        for model_id, n in calls.items():
            pending[self._train_and_score(model_id, n)] = (model_id, 0)
        generation = self.ctx.generation
        completed = as_completed(list(pending), loop=self.ctx.client.loop)
        records = []
        while pending:
            try:
                future = await self._next(completed)
            except StopAsyncIteration:
                break
            if future is None:
                return records, False
            model_id, attempt = pending.pop(future)
            try:
                result = await future
            except Exception as error:
                if _is_lost(error) and self.ctx.client.status != "running":
                    await self.ctx.recover(generation)  # raises ClusterLostError
                if not _is_lost(error) or attempt >= MAX_RETRIES:
                    _annotate(
                        error,
                        model_id,
                        self.spec.params[model_id],
                        self.calls[model_id],
                    )
                    raise
                # A worker died with this model's tasks or with data they need:
                # put the data back, and redo the round from the last scored
                # state (kept on the client).
                logger.warning(
                    "[CV%s] model %s lost its tasks (%s: %s); retrying",
                    self.spec.prefix,
                    model_id,
                    type(error).__name__,
                    error,
                )
                await self.ctx.recover(generation)
                generation = self.ctx.generation
                self.n_retried += 1
                retry = self._resubmit(model_id)
                pending[retry] = (model_id, attempt + 1)
                completed.add(retry)
                continue
            records.append(self._record(model_id, result))
            self._speculate(model_id)
        return records, True

    async def run(self):
        params, prefix = self.spec.params, self.spec.prefix
        rows = self.ctx.data.train_rows
        logger.info("[CV%s] creating %d models", prefix, len(params))
        logger.info(
            "[CV%s] For training there are between %d and %d examples in each chunk",
            prefix,
            min(rows),
            max(rows),
        )
        for model_id in range(len(params)):
            self.model_history[model_id] = []
        restored = self._restore_history()
        for model_id in range(len(params)):
            if model_id not in restored:
                self.states[model_id] = self._create(model_id)
                self.calls[model_id] = 0

        if restored:
            decision, calls = self._replay()
            self._restore_states(restored, decision)
            self._rank(decision)
            self._release(decision)
        else:
            decision = self.policy.decide(self.model_history)
            calls = decision.calls
        index = 0
        finished = True
        while calls and finished:
            records, finished = await self._round(calls)
            self._log_round(index, records)
            index += 1
            if finished:
                decision = self.policy.decide(self.model_history)
                self._rank(decision)
                self._release(decision)
                calls = decision.calls
        if not finished:
            logger.info("[CV%s] max_time reached: the search stops", prefix)
        return await self._result(decision)

    async def _result(self, decision):
        scored = [m for m in decision.survivors if self.model_history[m]]
        best_id = best = None
        if scored:  # else max_time passed before the first scores
            best_id = max(  # a NaN score below every other
                scored,
                key=lambda m: np.nan_to_num(
                    self.model_history[m][-1]["score"], nan=-np.inf
                ),
            )
            best = self.scored.get(best_id)
            if best is None:  # rebuilt from a checkpoint without its saved state
                best = await self.ctx.client.submit(
                    _tasks.get_model, self.states[best_id], key=_key("best-model")
                )
            else:
                best = best.model
        for state in [*self.states.values(), *self.speculative.values()]:
            if isinstance(state, Future):
                state.release()  # not started yet (max_time): never run
        self.states.clear()
        self.speculative.clear()
        return RunResult(
            history=self.history,
            model_history=self.model_history,
            survivors=tuple(scored),
            best_id=best_id,
            best_estimator=best,
            speculative_calls=self.n_speculative,
            wasted_calls=self.n_wasted,
            retried_rounds=self.n_retried,
        )

    def partial_result(self):
        """What the run finished so far, without a best model."""
        return RunResult(
            history=list(self.history),
            model_history={m: list(h) for m, h in self.model_history.items()},
            survivors=(),
            best_id=None,
            best_estimator=None,
            speculative_calls=self.n_speculative,
            wasted_calls=self.n_wasted,
            retried_rounds=self.n_retried,
        )


def _annotate(error, model_id, params, calls):
    if hasattr(error, "add_note"):  # Python >= 3.11
        error.add_note(
            f"skhpo: raised while training or scoring model {model_id!r} with "
            f"parameters {params!r} (up to {calls} partial_fit calls). The search "
            "was stopped and its tasks cancelled."
        )


async def _scatter(client, objects, live):
    """Futures of ``objects`` (scattered in one round trip; Futures kept)."""
    to_send = [obj for obj in objects if not isinstance(obj, Future)]
    # Small objects every task needs: a copy on every worker (faster, and it
    # survives the loss of a worker).
    sent = iter(())
    if to_send:
        sent = iter(await scatter_to_every_worker(client, to_send))
    futures = [obj if isinstance(obj, Future) else next(sent) for obj in objects]
    # Only ours: the caller's Futures are the caller's to release.
    live.update(f for f, obj in zip(futures, objects) if f is not obj)
    return futures


async def _run_all(runs):
    if len(runs) == 1:
        return [await runs[0].run()]
    tasks = [asyncio.ensure_future(run.run()) for run in runs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_adaptive(
    client,
    *,
    estimator,
    X,
    y,
    fit_params,
    scorer,
    specs,
    test_size,
    random_state,
    log_every=1,
    max_validation_bytes=None,
    on_record=None,
    checkpoint=None,
    max_time=None,
    runs_out=None,
):
    """Run every spec concurrently on ``client``; a coroutine on its loop.

    Parameters
    ----------
    client : distributed.Client
    estimator : estimator or Future
        Cloned for every model, on the workers.
    X, y : array-like, dask array or dask DataFrame
        Training data; split into training and validation blocks once, shared
        by every run.
    fit_params : dict
        Keyword arguments of every ``partial_fit`` call (already resolved).
    scorer : callable
        ``scorer(model, X_val, y_val) -> float``, called inside worker tasks.
    specs : list of RunSpec
    test_size : float or None
    random_state : numpy.random.RandomState
        Draws the split seeds.
    log_every : int
        Log the best score of every ``log_every``-th round; 0 never.
    max_validation_bytes : int, optional
        See :func:`~skhpo._execution._data.prepare_data`.
    on_record : callable, optional
        ``on_record(prefix, record)`` for every score record, as it arrives
        (``prefix`` tells the runs apart); e.g. a progress bar.
    checkpoint : skhpo._checkpoint.ModelCheckpoint, optional
        Every score record and the scored model are saved to it; the records
        it already holds are restored first (spec ``i`` is run ``i``), and the
        runs continue from them.
    max_time : float, optional
        Seconds after which the runs stop waiting for results: each returns
        what was scored by then (pending tasks are released).
    runs_out : list, optional
        Receives one object per run whose ``partial_result()`` is what the
        run finished so far, to keep it when the search fails.

    Returns
    -------
    list of RunResult
        In the order of ``specs``.

    Notes
    -----
    If a task raises, or the coroutine is cancelled (``KeyboardInterrupt`` in
    :meth:`Client.sync` cancels it), every future of the search is cancelled
    and the error propagates, annotated with the model it came from.

    Tasks lost with a worker (their results, or data they need) are retried:
    the data is put on the cluster again (from ``X`` and ``y``) and each
    affected model's round is redone from its latest scored state, which the
    client keeps. If the cluster itself is gone, :class:`ClusterLostError`.
    """
    await check_workers_can_load(
        client,
        [obj for obj in (estimator, scorer) if not isinstance(obj, Future)]
        + [spec.params for spec in specs],
    )
    start = time.time()
    if checkpoint is not None:
        start -= checkpoint.max_elapsed()
    deadline = None if max_time is None else time.time() + max_time
    split_state = random_state.get_state()
    shared = [estimator, scorer, dict(fit_params)]
    data = ctx = None
    live = weakref.WeakSet()

    async def load(random_state):
        data = await prepare_data(
            client,
            X,
            y,
            test_size=test_size,
            random_state=random_state,
            max_validation_bytes=max_validation_bytes,
            live=live,
        )
        return data, await _scatter(client, shared, live)

    async def reload(ctx):
        # The same split seeds: the same training and validation blocks.
        random_state = np.random.RandomState()
        random_state.set_state(split_state)
        ctx.data, (ctx.estimator, ctx.scorer, ctx.fit_params) = await load(random_state)

    try:
        data, (estimator, scorer, fit_params) = await load(random_state)
        ctx = _Context(
            client=client,
            data=data,
            estimator=estimator,
            scorer=scorer,
            fit_params=fit_params,
            start_time=start,
            log_every=log_every,
            on_record=on_record,
            live=live,
            checkpoint=checkpoint,
            deadline=deadline,
            reload=reload,
        )
        runs = [_Run(ctx, spec, index) for index, spec in enumerate(specs)]
        if runs_out is not None:
            runs_out.extend(runs)
        return await _run_all(runs)
    finally:
        if ctx is not None:
            data = ctx.data
        futures = list(live) + (list(data.futures) if data is not None else [])
        # Release every future explicitly: a traceback's frames (a failed or
        # interrupted search) may still hold some. The scheduler then forgets
        # the tasks nobody wants; those not started never run. Not
        # Client.cancel: it also cancels the dependents of a key, and asserts
        # on intermediate states this client already released.
        for future in futures:
            try:
                future.release()
            except Exception:  # the client may be closing; nothing else to do
                pass
        live.clear()
