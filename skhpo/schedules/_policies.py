"""How many more ``partial_fit`` calls each model of an adaptive search receives.

The policies here decide exactly as dask-ml's ``IncrementalSearchCV``,
``InverseDecaySearchCV`` and ``SuccessiveHalvingSearchCV`` (dask-ml 2025.1), but
keep no mutable state: dask-ml stores a rung counter on the estimator and pending
targets inside the history records, whereas a policy here re-derives both (and
which models were dropped) by replaying its own decisions over the history it is
given. A call costs one pass over the history plus, per past round, a look at
the models still in the search.

The execution engine drives a policy in rounds::

    history = {model_id: [] for model_id in models}
    while calls := policy.additional_calls(history):
        for model_id, n in calls.items():
            ...  # n more partial_fit calls, then score the model
            history[model_id].append({"partial_fit_calls": total, "score": score})

Each record is a mapping with at least ``"partial_fit_calls"`` (the model's total
number of ``partial_fit`` calls when it was scored) and ``"score"`` (higher is
better); other keys are ignored and records are never modified.
"""

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._validation import (
    check_aggressiveness,
    check_history,
    check_integer,
    check_patience,
    check_real,
    check_record,
    check_tol,
)

_MAX_ITER_FIX = (
    "max_iter is the largest number of partial_fit calls one model receives; pass "
    "a positive integer such as max_iter=100."
)


__all__ = [
    "Decision",
    "IncrementalPolicy",
    "InverseDecayPolicy",
    "SuccessiveHalvingPolicy",
    "should_stop",
]


def _ranked(records):
    """The latest score of a model, for ranking: NaN (a scorer that failed)
    below every other score, as in scikit-learn's ``rank_test_score``."""
    score = records[-1]["score"]
    return -math.inf if math.isnan(score) else score


def _stop(records, max_iter, patience, tol):
    """Unchecked body of :func:`should_stop`, shared by every policy."""
    current = records[-1]["partial_fit_calls"]
    if max_iter and current >= max_iter:
        return True
    if not patience or current < patience or tol is None:
        return False
    # The records within `patience` calls of the latest one, oldest first. Calls
    # increase along the records, so they are a suffix: scan it from the end.
    start = len(records) - 1
    while start > 0 and current - records[start - 1]["partial_fit_calls"] <= patience:
        start -= 1
    window = [record["score"] for record in records[start:]]
    if len(window) < 2:
        # Nothing to compare with (dask-ml fails here; its policies never get here
        # because no model is trained more than `patience` calls between scores).
        return False
    gains = np.array(window[1:]) - window[0]
    return bool(gains.max() <= tol)


def should_stop(records, *, max_iter=None, patience=False, tol=1e-3):
    """Whether a model must stop training: it reached ``max_iter`` or plateaued.

    A model has plateaued when it has had at least ``patience`` calls and none of
    the scores it got within the last ``patience`` calls improves on the oldest
    score in that window by more than ``tol``. This is dask-ml's
    ``_stop_on_plateau`` test, which every policy of this module applies to each
    model it would train.

    Parameters
    ----------
    records : sequence of dict
        The model's records, oldest first (increasing ``"partial_fit_calls"``),
        each with ``"partial_fit_calls"`` and ``"score"``.
    max_iter : int or None, default=None
        Stop once the model had this many ``partial_fit`` calls; None or 0 for no
        limit.
    patience : int or False, default=False
        Width of the plateau window in ``partial_fit`` calls; False (or 0) turns
        plateau detection off.
    tol : float or None, default=1e-3
        Improvement a score needs to count as progress; None never stops on a
        plateau.

    Returns
    -------
    bool
        True if the model must not be trained any more.

    Examples
    --------
    >>> flat = [{"partial_fit_calls": c, "score": 0.5} for c in (1, 2, 3)]
    >>> should_stop(flat, patience=2)
    True
    >>> should_stop(flat, patience=2, tol=None)
    False
    >>> should_stop(flat[:1], max_iter=1)
    True
    """
    if max_iter is not None:
        max_iter = check_integer("max_iter", max_iter, minimum=0, fix=_MAX_ITER_FIX)
    patience = check_patience(patience)
    tol = check_tol(tol)
    if not records:
        raise ValueError(
            "records must hold at least one record; got an empty sequence. A model "
            "is judged on the scores it already received."
        )
    return _stop(records, max_iter, patience, tol)


class Decision(NamedTuple):
    """What a policy decided after the latest round of scores.

    Attributes
    ----------
    calls : dict
        ``{model_id: n}``: train these models ``n >= 1`` more ``partial_fit``
        calls, then score them. Empty when the search is finished.
    survivors : tuple
        Ids of the models still in the search, in creation order: those in
        ``calls`` and those that stopped on ``max_iter`` or a plateau but were not
        dropped. dask-ml picks ``best_estimator_`` among the survivors, by their
        latest score.
    """

    calls: dict
    survivors: tuple


class _Replay:
    """Bookkeeping of one replay: the state dask-ml keeps on its estimator."""

    def __init__(self, n_models):
        self.n_models = n_models
        self.targets = {}  # model -> calls it must reach (set when patience is on)
        self.steps = 0  # successive halving's rung counter


@dataclass(frozen=True, kw_only=True)
class _Policy:
    """Shared parts: validation, dask-ml's patience layer and the replay."""

    max_iter: int | None = 100
    patience: int | bool = False
    tol: float | None = 1e-3

    def __post_init__(self):
        self._set(
            max_iter=check_integer(
                "max_iter",
                self.max_iter,
                minimum=1,
                fix=_MAX_ITER_FIX,
                allow_none=True,
            ),
            patience=check_patience(self.patience),
            tol=check_tol(self.tol),
        )

    def _set(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # -- one decision, as dask-ml's IncrementalSearchCV._additional_calls ---------
    def _adapt(self, info, replay):
        raise NotImplementedError

    def _decide(self, info, replay):
        """Instructions for the models in ``info`` (zero: keep, do not train).

        Models missing from the result are dropped from the search.
        """
        calls = {
            model: records[-1]["partial_fit_calls"] for model, records in info.items()
        }
        if self.patience and max(calls.values()) > 1:
            # Models still short of the target of the latest adaptive step (because
            # `patience` capped their calls) continue towards it first.
            remaining = {model: replay.targets[model] - calls[model] for model in info}
            if sum(remaining.values()) > 0:
                return self._cap(self._stop_plateaued(remaining, info))
        instructions = self._adapt(info, replay)
        if self.patience:
            for model, n in instructions.items():
                replay.targets[model] = calls[model] + n
        return self._cap(self._stop_plateaued(instructions, info))

    def _stop_plateaued(self, instructions, info):
        return {
            model: 0
            if _stop(info[model], self.max_iter, self.patience, self.tol)
            else n
            for model, n in instructions.items()
        }

    def _cap(self, instructions):
        if not self.patience:
            return instructions
        return {model: min(n, self.patience) for model, n in instructions.items()}

    # -- the public, stateless interface -----------------------------------------
    def decide(self, history):
        """Replay the search recorded in ``history`` and decide the next round.

        Parameters
        ----------
        history : dict
            ``{model_id: [record, ...]}`` with one entry per model of the search,
            in the order the models were created (stopped models included), and
            each model's records in the order they were scored. A record is a
            mapping with ``"partial_fit_calls"`` (total calls when scored) and
            ``"score"``. All lists are empty before the first round.

        Returns
        -------
        Decision
            The calls of the next round and the models still in the search.

        Raises
        ------
        ValueError
            If ``history`` is malformed or does not follow this policy's own
            decisions (a model trained more or less than instructed, or a round
            only partly reported).

        Notes
        -----
        The policy keeps no state between calls: it replays its decisions from
        the first round, checking that each model's next record has exactly
        the instructed number of calls, and so rebuilds what dask-ml keeps on
        the estimator (dropped models, rung counter, pending targets). Call it
        once every model instructed in the previous round has been scored.
        """
        models = check_history(history)
        if not history[models[0]]:
            # dask-ml's engine trains and scores every model once before asking.
            return Decision({model: 1 for model in models}, tuple(models))
        info = {}
        for model in models:
            record = check_record(history, model, 0)
            if record["partial_fit_calls"] != 1:
                raise ValueError(
                    f"history[{model!r}][0]['partial_fit_calls'] must be 1; got "
                    f"{record['partial_fit_calls']!r}. Every model is scored after "
                    "its first partial_fit call, as the first round instructs."
                )
            info[model] = [record]
        consumed = dict.fromkeys(models, 1)
        replay = _Replay(len(models))
        while True:
            decision = self._decide(info, replay)
            for model in [model for model in info if model not in decision]:
                del info[model]
            pending = {model: decision[model] for model in info if decision[model] > 0}
            reported = [m for m in pending if len(history[m]) > consumed[m]]
            if not pending or len(reported) < len(pending):
                break
            for model, n in pending.items():
                record = check_record(history, model, consumed[model])
                expected = info[model][-1]["partial_fit_calls"] + n
                if record["partial_fit_calls"] != expected:
                    raise ValueError(
                        f"history[{model!r}][{consumed[model]}] has "
                        f"partial_fit_calls={record['partial_fit_calls']!r}, but "
                        f"the policy asked for {n} more call(s) after "
                        f"{expected - n}, i.e. {expected}. Train each model exactly "
                        "as additional_calls instructs."
                    )
                info[model].append(record)
                consumed[model] += 1
        if reported:
            missing = [model for model in pending if model not in reported]
            raise ValueError(
                f"The latest round is only partly recorded: models {missing[:5]!r} "
                "were instructed to train but have no new record yet. Call "
                "additional_calls once every instructed model has been scored."
            )
        for model in models:
            if len(history[model]) > consumed[model]:
                raise ValueError(
                    f"history[{model!r}] has {len(history[model])} records but the "
                    f"policy only asked for {consumed[model]}: model {model!r} was "
                    "trained after it was stopped or dropped. Train only the models "
                    "that additional_calls returns."
                )
        return Decision(pending, tuple(info))

    def additional_calls(self, history):
        """How many more ``partial_fit`` calls each continuing model receives.

        Parameters
        ----------
        history : dict
            ``{model_id: [record, ...]}``, as described in :meth:`decide`.

        Returns
        -------
        dict
            ``{model_id: n}`` with ``n >= 1`` for the models to train and score
            next; models left out get no more training. Empty when the search is
            finished.
        """
        return self.decide(history).calls


@dataclass(frozen=True, kw_only=True)
class IncrementalPolicy(_Policy):
    """Train every model ``fits_per_score`` calls between scores, as dask-ml's
    ``IncrementalSearchCV``.

    Models stop at ``max_iter`` calls or when their score plateaus (see
    :func:`should_stop`); none is dropped. dask-ml's deprecated ``decay_rate`` of
    ``IncrementalSearchCV`` only raises a warning and changes no decision: use
    :class:`InverseDecayPolicy` for a decaying number of models.

    Parameters
    ----------
    max_iter : int or None, default=100
        Most ``partial_fit`` calls a model receives before it stops. A model can
        overshoot it by up to ``fits_per_score - 1`` calls, as in dask-ml.
    patience : int or False, default=False
        Stop a model whose score did not improve by more than ``tol`` over its
        last ``patience`` calls, and train at most ``patience`` calls between two
        scores. As in dask-ml, once one model stops this way the whole search
        stops after the round in progress (see Notes).
    tol : float or None, default=1e-3
        Improvement that counts as progress for ``patience``.
    fits_per_score : int, default=1
        ``partial_fit`` calls between two scores of a model.

    Notes
    -----
    With ``patience``, dask-ml records for each model the number of calls it
    should reach at the latest adaptive step, and makes no new adaptive step
    while any surviving model is short of it. A model stopped on a plateau
    (or on ``max_iter``) stays short forever, so every model is stopped in the
    next round: the search ends one round after its first plateau. This policy
    reproduces that behaviour.

    Examples
    --------
    >>> policy = IncrementalPolicy(max_iter=3)
    >>> history = {"a": [], "b": []}
    >>> policy.additional_calls(history)
    {'a': 1, 'b': 1}
    >>> history = {m: [{"partial_fit_calls": 1, "score": 0.5}] for m in "ab"}
    >>> policy.additional_calls(history)
    {'a': 1, 'b': 1}
    """

    fits_per_score: int = 1

    def __post_init__(self):
        super().__post_init__()
        self._set(
            fits_per_score=check_integer(
                "fits_per_score",
                self.fits_per_score,
                minimum=1,
                fix="It is the number of partial_fit calls between two scores of "
                "a model; pass e.g. fits_per_score=1.",
            )
        )
        self._check_finite()

    def _check_finite(self):
        if self.max_iter is None and not self.patience:
            raise ValueError(
                f"{type(self).__name__} with max_iter=None and patience=False never "
                "stops training. Pass max_iter (e.g. max_iter=100), or patience "
                "(e.g. patience=10) to stop models whose score stalls."
            )
        if self.max_iter is None and self.tol is None:
            raise ValueError(
                f"{type(self).__name__} with max_iter=None and tol=None never stops "
                "training: tol=None turns off the plateau test of patience. Pass "
                "max_iter (e.g. max_iter=100), or tol (e.g. tol=1e-3)."
            )

    def _adapt(self, info, replay):
        return dict.fromkeys(info, self.fits_per_score)


@dataclass(frozen=True, kw_only=True)
class InverseDecayPolicy(IncrementalPolicy):
    """Keep the best ``n_initial_parameters / (1 + t) ** decay_rate`` models at
    time ``t``, as dask-ml's ``InverseDecaySearchCV``.

    ``t`` is the number of ``partial_fit`` calls of the first surviving model.
    Between scores, models are trained until the number of models to keep
    changes (or, with ``patience``, for ``fits_per_score`` calls). When one
    model is left it is kept and the search ends.

    Parameters
    ----------
    n_initial_parameters : int or None, default=None
        ``n_initial_parameters`` of the search; None uses the number of models
        in the history (dask-ml's ``n_initial_parameters="grid"``).
    decay_rate : float, default=1.0
        How fast the number of models decays; 0 never drops models.
    max_iter, patience, tol, fits_per_score
        As in :class:`IncrementalPolicy`.

    Notes
    -----
    Where dask-ml's schedule has decayed below one model
    (``n_initial_parameters / (2 + t) ** decay_rate < 1``), dask-ml either
    loops forever or asks for a negative number of calls; this policy keeps the
    best model and finishes instead.

    Examples
    --------
    >>> policy = InverseDecayPolicy(max_iter=10)
    >>> history = {m: [{"partial_fit_calls": 1, "score": m / 10}] for m in range(4)}
    >>> policy.additional_calls(history)  # int(4 / 3) = 1 model left at t=2
    {}
    >>> policy.decide(history).survivors
    (3,)
    """

    n_initial_parameters: int | None = None
    decay_rate: float = 1.0

    def __post_init__(self):
        self._set(
            n_initial_parameters=check_integer(
                "n_initial_parameters",
                self.n_initial_parameters,
                minimum=1,
                fix="Pass the number of parameter settings the search samples, "
                "or None to use the number of models.",
                allow_none=True,
            ),
            decay_rate=check_real(
                "decay_rate",
                self.decay_rate,
                minimum=0,
                fix="Pass e.g. decay_rate=1.0; 0 keeps every model.",
            ),
        )
        super().__post_init__()

    def _check_finite(self):
        if self.decay_rate == 0:
            super()._check_finite()

    def _next_drop(self, inverse, start, current):
        """The first time step after ``current`` with fewer models.

        dask-ml steps one call at a time until the count drops, which never ends
        in practice for a tiny ``decay_rate`` (1e-9: after about e**1e8 calls);
        the step is solved for instead: ``int(start / (1 + t) ** d) < level``
        when ``1 + t > (start / level) ** (1 / d)``, then adjusted for rounding.
        When that is beyond any float, models train ``fits_per_score`` more
        calls, as with ``decay_rate=0``.
        """
        level = inverse(current)
        try:
            guess = (start / level) ** (1 / self.decay_rate) - 1
        except OverflowError:
            guess = math.inf
        if guess > 2**52:  # unit steps are below float resolution
            return current + self.fits_per_score
        first = max(current + 1, int(guess) - 1)
        while first - 1 > current and inverse(first - 1) < level:
            first -= 1
        for following in range(first, first + 1000):  # float rounding
            if inverse(following) < level:
                return following
        return current + self.fits_per_score  # the drop is below float resolution

    def _adapt(self, info, replay):
        start = self.n_initial_parameters or replay.n_models

        def inverse(time):
            try:
                return int(start / (1 + time) ** self.decay_rate)
            except OverflowError:  # a huge decay_rate: no model is left
                return 0

        first = next(iter(info))
        current = info[first][-1]["partial_fit_calls"] + 1
        if inverse(current) == 0:
            # Fewer than one model left: keep the best and finish.
            [best] = heapq.nlargest(1, info, key=lambda m: _ranked(info[m]))
            return {best: 0}
        if self.decay_rate and not self.patience:
            following = self._next_drop(inverse, start, current)
        else:
            following = current
            while (
                inverse(current) == inverse(following)
                and following - current < self.fits_per_score
            ):
                following += 1
        keep = max(1, inverse(following))
        best = heapq.nlargest(keep, info, key=lambda m: _ranked(info[m]))
        if len(best) == 1:
            return {best[0]: 0}
        return dict.fromkeys(best, following - current)


@dataclass(frozen=True, kw_only=True)
class SuccessiveHalvingPolicy(_Policy):
    """Successive halving, as dask-ml's ``SuccessiveHalvingSearchCV``.

    At rung ``k`` (from 0), the best ``floor(n * aggressiveness ** -k)`` models
    are trained up to ``round(n_initial_iter * aggressiveness ** k)`` calls and
    the others are dropped, until no model is left to keep, every kept model
    reached ``max_iter``, or (with ``patience``) the models plateau. This is
    the rung loop of Jamieson & Talwalkar (2016) that Hyperband runs in each
    bracket.

    Parameters
    ----------
    n_initial_iter : int
        ``partial_fit`` calls of every model at rung 0.
    n_initial_parameters : int or None, default=None
        ``n`` above; None uses the number of models in the history.
    aggressiveness : float, default=3
        Factor by which each rung divides the models and multiplies the calls.
    max_iter : int or None, default=None
        Models that reached ``max_iter`` calls are not trained any more. As in
        dask-ml, a rung may still train a model past ``max_iter`` when the
        previous rung ended below it.
    patience : int or False, default=False
        See :class:`IncrementalPolicy`; between scores a model is trained at most
        ``patience`` calls, so a rung can take several rounds.
    tol : float or None, default=1e-3
        Improvement that counts as progress for ``patience``.

    Notes
    -----
    dask-ml counts rungs on the estimator (``_steps``); this policy recounts them
    by replaying the history. A rung whose target is a single call is the
    engine's first round, so with ``n_initial_iter=1`` the first decision is
    already rung 1.

    Examples
    --------
    >>> policy = SuccessiveHalvingPolicy(n_initial_iter=2, max_iter=6)
    >>> history = {m: [{"partial_fit_calls": 1, "score": m}] for m in range(4)}
    >>> policy.additional_calls(history)  # rung 0: 4 models up to 2 calls
    {0: 1, 1: 1, 2: 1, 3: 1}
    >>> for m in history:
    ...     history[m].append({"partial_fit_calls": 2, "score": m})
    >>> policy.additional_calls(history)  # rung 1: best 1 model up to 6 calls
    {3: 4}
    """

    n_initial_iter: int
    n_initial_parameters: int | None = None
    aggressiveness: float = 3
    max_iter: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self._set(
            n_initial_iter=check_integer(
                "n_initial_iter",
                self.n_initial_iter,
                minimum=1,
                fix="It is the number of partial_fit calls every model receives "
                "before the first cut; pass e.g. n_initial_iter=1.",
            ),
            n_initial_parameters=check_integer(
                "n_initial_parameters",
                self.n_initial_parameters,
                minimum=1,
                fix="Pass the number of parameter settings the search samples, "
                "or None to use the number of models.",
                allow_none=True,
            ),
            aggressiveness=check_aggressiveness(self.aggressiveness),
        )

    def _adapt(self, info, replay):
        # (dask-ml resets its rung counter here when every model has had one
        # call; a replay starts from rung 0 anyway.)
        n = self.n_initial_parameters or replay.n_models
        eta, r = self.aggressiveness, self.n_initial_iter
        target = _round_half_even(r * eta**replay.steps)
        if target == 1:
            # The engine's first round already trained every model one call.
            replay.steps = 1
            target = _round_half_even(r * eta**replay.steps)
        keep = int(math.floor(n * eta**-replay.steps))
        best = heapq.nlargest(keep, info, key=lambda m: _ranked(info[m]))
        replay.steps += 1
        if not best:
            return dict.fromkeys(info, 0)
        return {m: target - info[m][-1]["partial_fit_calls"] for m in best}


def _round_half_even(value):
    """``numpy.round`` to an ``int`` (ties to even), as dask-ml rounds rungs."""
    return int(round(value))
