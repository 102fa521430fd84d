"""Run a policy to completion against a fake, deterministic score function."""

from typing import NamedTuple

from ._policies import _Policy, _Replay
from ._validation import check_integer

__all__ = ["Simulation", "simulate"]


class Simulation(NamedTuple):
    """The outcome of :func:`simulate`.

    Attributes
    ----------
    history : dict
        ``{model_id: [record, ...]}`` with records
        ``{"model_id", "partial_fit_calls", "score"}``, as an engine records them.
    partial_fit_calls : dict
        ``{model_id: total partial_fit calls}``.
    survivors : tuple
        Models still in the search at the end (see :class:`Decision`).
    n_rounds : int
        Rounds of training, the first one (one call for every model) included.
    """

    history: dict
    partial_fit_calls: dict
    survivors: tuple
    n_rounds: int


def simulate(policy, n_models, score_fn, *, max_rounds=100_000):
    """Run ``policy`` on ``n_models`` fake models until it finishes.

    The simulation makes the same decisions as calling
    ``policy.additional_calls(history)`` after every round, but keeps the
    policy's replay state between rounds, so its cost is linear in the
    number of records.

    Parameters
    ----------
    policy : IncrementalPolicy, InverseDecayPolicy or SuccessiveHalvingPolicy
        The policy to run.
    n_models : int
        Number of models; their ids are ``0, ..., n_models - 1``.
    score_fn : callable
        ``score_fn(model_id, partial_fit_calls) -> float``, the validation score
        of a model after that many calls (higher is better).
    max_rounds : int, default=100_000
        Give up after this many rounds.

    Returns
    -------
    Simulation
        The history, the calls per model, the survivors and the rounds.

    Raises
    ------
    RuntimeError
        If the policy has not finished after ``max_rounds`` rounds.

    Examples
    --------
    >>> from skhpo.schedules import SuccessiveHalvingPolicy
    >>> policy = SuccessiveHalvingPolicy(n_initial_iter=1, max_iter=9)
    >>> run = simulate(policy, 9, lambda model_id, calls: model_id)
    >>> run.partial_fit_calls
    {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 3, 7: 3, 8: 9}
    >>> run.survivors, run.n_rounds
    ((8,), 3)
    """
    if not isinstance(policy, _Policy):
        raise ValueError(
            "policy must be an IncrementalPolicy, InverseDecayPolicy or "
            f"SuccessiveHalvingPolicy; got {policy!r}. Build one of them with the "
            "search's settings."
        )
    n_models = check_integer(
        "n_models", n_models, minimum=1, fix="Pass the number of fake models."
    )
    max_rounds = check_integer(
        "max_rounds", max_rounds, minimum=1, fix="Pass e.g. max_rounds=100_000."
    )

    def record(model, calls):
        return {
            "model_id": model,
            "partial_fit_calls": calls,
            "score": score_fn(model, calls),
        }

    history = {model: [record(model, 1)] for model in range(n_models)}
    info = dict(history)  # the surviving models' histories (the same lists)
    replay = _Replay(n_models)
    for n_rounds in range(1, max_rounds + 1):
        decision = policy._decide(info, replay)
        for model in [model for model in info if model not in decision]:
            del info[model]
        calls = {model: decision[model] for model in info if decision[model] > 0}
        if not calls:
            final = {
                model: records[-1]["partial_fit_calls"]
                for model, records in history.items()
            }
            return Simulation(history, final, tuple(info), n_rounds)
        for model, n in calls.items():
            history[model].append(
                record(model, history[model][-1]["partial_fit_calls"] + n)
            )
    raise RuntimeError(
        f"{policy!r} did not finish within max_rounds={max_rounds} rounds; raise "
        "max_rounds, or check that max_iter or patience can stop every model."
    )
