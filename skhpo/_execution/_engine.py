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
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field

import numpy as np
from distributed import Future, as_completed

from . import _tasks
from ._data import prepare_data

__all__ = ["RunResult", "RunSpec", "run_adaptive"]

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
    """

    history: list
    model_history: dict
    survivors: tuple
    best_id: int
    best_estimator: object
    speculative_calls: int = 0
    wasted_calls: int = 0


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


@dataclass
class _Context:
    client: object
    data: object
    estimator: Future
    scorer: Future
    fit_params: object
    start_time: float
    log_every: int
    # Futures still referenced, to cancel on failure. Weak: a chain's
    # intermediate states are released once the next call has used them.
    live: weakref.WeakSet = field(default_factory=weakref.WeakSet)


class _Run:
    def __init__(self, ctx, spec):
        self.ctx = ctx
        self.spec = spec
        self.policy = spec.policy
        self.order = _BlockOrder(spec.random_state, len(ctx.data.train))
        self.states = {}  # model id -> future of its latest instructed state
        self.calls = {}  # model id -> partial_fit calls of that state
        self.speculative = {}  # model id -> future of one call past it
        self.priority = {}
        self.fit_time = {}  # model id -> cumulated partial_fit time when scored
        self.history = []
        self.model_history = {}
        self.n_speculative = 0
        self.n_wasted = 0

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
        scores = [self.model_history[m][-1]["score"] for m in live]
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
            self.ctx.live.discard(future)
        survivors = set(decision.survivors)
        for model_id in [m for m in self.states if m not in survivors]:
            self.ctx.live.discard(self.states.pop(model_id))

    def _record(self, model_id, result):
        total = result["total_partial_fit_time"]
        record = {
            "model_id": model_id,
            "params": self.spec.params[model_id],
            "partial_fit_calls": result["partial_fit_calls"],
            "partial_fit_time": total - self.fit_time.get(model_id, 0.0),
            "score": result["score"],
            "score_time": result["score_time"],
            "elapsed_wall_time": time.time() - self.ctx.start_time,
        }
        self.fit_time[model_id] = total
        self.model_history[model_id].append(record)
        self.history.append(record)
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

    # -- the loop --------------------------------------------------------------
    async def run(self):
        client, params, prefix = self.ctx.client, self.spec.params, self.spec.prefix
        rows = self.ctx.data.train_rows
        logger.info("[CV%s] creating %d models", prefix, len(params))
        logger.info(
            "[CV%s] For training there are between %d and %d examples in each chunk",
            prefix,
            min(rows),
            max(rows),
        )
        for model_id, p in enumerate(params):
            self.states[model_id] = self._submit(
                "create-model",
                _tasks.create_model,
                self.ctx.estimator,
                p,
                priority=self.spec.priority,
            )
            self.calls[model_id] = 0
            self.model_history[model_id] = []

        decision = self.policy.decide(self.model_history)
        index = 0
        while decision.calls:
            pending = {
                self._train_and_score(model_id, n): model_id
                for model_id, n in decision.calls.items()
            }
            records = []
            async for future in as_completed(list(pending), loop=client.loop):
                model_id = pending[future]
                try:
                    result = await future
                except Exception as error:
                    _annotate(error, model_id, params[model_id], self.calls[model_id])
                    raise
                self.ctx.live.discard(future)
                records.append(self._record(model_id, result))
                self._speculate(model_id)
            self._log_round(index, records)
            index += 1
            decision = self.policy.decide(self.model_history)
            self._rank(decision)
            self._release(decision)

        survivors = tuple(decision.survivors)
        best_id = max(survivors, key=lambda m: self.model_history[m][-1]["score"])
        best = await client.submit(
            _tasks.get_model, self.states[best_id], key=_key("best-model")
        )
        for future in self.states.values():
            self.ctx.live.discard(future)
        self.states.clear()
        return RunResult(
            history=self.history,
            model_history=self.model_history,
            survivors=survivors,
            best_id=best_id,
            best_estimator=best,
            speculative_calls=self.n_speculative,
            wasted_calls=self.n_wasted,
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
        sent = iter(await client.scatter(to_send, hash=False, broadcast=True))
    futures = [obj if isinstance(obj, Future) else next(sent) for obj in objects]
    live.update(futures)
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

    Returns
    -------
    list of RunResult
        In the order of ``specs``.

    Notes
    -----
    If a task raises, or the coroutine is cancelled (``KeyboardInterrupt`` in
    :meth:`Client.sync` cancels it), every future of the search is cancelled
    and the error propagates, annotated with the model it came from.
    """
    start = time.time()
    data = None
    live = weakref.WeakSet()
    try:
        data = await prepare_data(
            client,
            X,
            y,
            test_size=test_size,
            random_state=random_state,
            max_validation_bytes=max_validation_bytes,
            live=live,
        )
        estimator, scorer, fit_params = await _scatter(
            client, [estimator, scorer, dict(fit_params)], live
        )
        ctx = _Context(
            client=client,
            data=data,
            estimator=estimator,
            scorer=scorer,
            fit_params=fit_params,
            start_time=start,
            log_every=log_every,
            live=live,
        )
        return await _run_all([_Run(ctx, spec) for spec in specs])
    except BaseException:
        futures = list(live) + (list(data.futures) if data is not None else [])
        if futures:
            try:
                await asyncio.shield(client.cancel(futures))
            except Exception:  # the client may be closing; nothing else to do
                pass
        raise
    finally:
        live.clear()
