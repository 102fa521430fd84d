"""Argument checks shared by the schedules, with one message format.

Every message says what was wrong, what was expected and how to fix it::

    max_iter must be an integer >= 1; got max_iter=0. <how to fix>
"""

import math
import numbers
from collections.abc import Mapping, Sequence

__all__ = [
    "check_aggressiveness",
    "check_history",
    "check_integer",
    "check_patience",
    "check_real",
    "check_record",
    "check_tol",
]


def _fail(name, value, expected, fix):
    raise ValueError(f"{name} must be {expected}; got {name}={value!r}. {fix}")


def check_integer(name, value, *, minimum, fix, allow_none=False):
    """Return ``value`` as an ``int`` >= ``minimum`` (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        _fail(name, value, expected, fix)
    if value < minimum:
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        _fail(name, value, expected, fix)
    return int(value)


def check_real(name, value, *, minimum, fix):
    """Return ``value`` (an int stays an int) if it is a finite number >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, value, f"a finite number >= {minimum}", fix)
    if not math.isfinite(value) or value < minimum:
        _fail(name, value, f"a finite number >= {minimum}", fix)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_aggressiveness(aggressiveness):
    """Return the validated halving factor ``aggressiveness`` (eta in the paper)."""
    return check_real(
        "aggressiveness",
        aggressiveness,
        minimum=2,
        fix="It is the factor by which each rung cuts the number of models and "
        "multiplies their training; use 3 (the default, close to optimal in "
        "theory) or 4 for a more aggressive search.",
    )


def check_tol(tol):
    """Return ``tol``: None (never stop on a plateau) or a number (NaN allowed)."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        _fail(
            "tol",
            tol,
            "a number or None",
            "It is the score improvement below which a model counts as stalled; "
            "pass e.g. tol=1e-3, or tol=None to never stop on a plateau.",
        )
    return float(tol)


def check_patience(patience, *, allow_true=False):
    """Return ``patience`` as ``False`` (off) or an ``int`` >= 2.

    ``0`` means off, as in dask-ml. ``True`` is only accepted when ``allow_true``
    (Hyperband resolves it with :func:`resolve_hyperband_patience`) and is then
    returned unchanged.
    """
    fix = (
        "patience is the number of partial_fit calls over which a model's score "
        "must improve by more than tol to keep training; pass an integer >= 2, "
        "or patience=False to turn it off."
    )
    if isinstance(patience, bool):
        if patience and not allow_true:
            _fail(
                "patience",
                patience,
                "False or an integer >= 2",
                "patience=True is only understood by Hyperband, which resolves it "
                "to max_iter // aggressiveness (see resolve_hyperband_patience); "
                + fix,
            )
        return patience
    expected = (
        "False, True or an integer >= 2" if allow_true else ("False or an integer >= 2")
    )
    if not isinstance(patience, numbers.Integral):
        _fail("patience", patience, expected, fix)
    if patience == 0:
        return False
    if patience < 2:
        _fail(
            "patience",
            patience,
            expected,
            "patience <= 1 would detect a plateau after every call. " + fix,
        )
    return int(patience)


def check_history(history):
    """Return the model ids of ``history`` after checking its outer structure.

    ``history`` maps each model id, in the order the models were created, to the
    sequence of its records. Either every sequence is empty (nothing trained yet)
    or none is.
    """
    fix = (
        "Pass a dict {model_id: [record, ...]} with one entry per model of the "
        "search (stopped models included), each record a dict with "
        "'partial_fit_calls' and 'score'."
    )
    if not isinstance(history, Mapping):
        raise ValueError(
            f"history must be a mapping; got a {type(history).__name__}. {fix}"
        )
    if not history:
        raise ValueError(f"history must hold at least one model; got {{}}. {fix}")
    models = list(history)
    for model in models:
        records = history[model]
        if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
            _fail(f"history[{model!r}]", records, "a list of records", fix)
    empty = [model for model in models if not history[model]]
    if empty and len(empty) != len(models):
        raise ValueError(
            f"history has records for some models but none for {empty[:5]!r}; "
            "every model receives its first partial_fit call in the first round. "
            "Pass the history of every model, or all empty lists before training."
        )
    return models


def check_record(history, model, index):
    """Return ``history[model][index]`` after checking that it is a valid record."""
    record = history[model][index]
    where = f"history[{model!r}][{index}]"
    if not isinstance(record, Mapping) or not {"partial_fit_calls", "score"} <= set(
        record
    ):
        raise ValueError(
            f"{where} must be a dict with keys 'partial_fit_calls' and 'score'; "
            f"got {record!r}. Record each scoring of a model as "
            "{'partial_fit_calls': <calls so far>, 'score': <validation score>}."
        )
    calls = record["partial_fit_calls"]
    if isinstance(calls, bool) or not isinstance(calls, numbers.Integral):
        raise ValueError(
            f"{where}['partial_fit_calls'] must be an integer; got {calls!r}. "
            "It is the total number of partial_fit calls the model had received "
            "when it was scored."
        )
    score = record["score"]
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise ValueError(
            f"{where}['score'] must be a real number; got {score!r}. Adaptive "
            "searches compare models by one validation score (higher is better)."
        )
    return record
