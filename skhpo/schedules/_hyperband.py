"""Budget arithmetic of Hyperband and successive halving, as dask-ml computes it.

Hyperband [1]_ runs one successive-halving search per *bracket*. Bracket ``s``
(``0 <= s <= s_max``, ``s_max = floor(log_eta(R))``) starts ``n`` models with
``r`` ``partial_fit`` calls each; a higher ``s`` starts more models with fewer
calls and cuts harder. ``R`` is ``max_iter`` and ``eta`` is ``aggressiveness``.

Everything here reproduces dask-ml 2025.1 to the bit, including its floating
point: ``s_max`` is ``math.floor(math.log(R, eta))``, which is one less than the
exact value when the logarithm rounds down (``R=243, eta=3`` gives 4, not 5).

References
----------
.. [1] L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar,
   "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization",
   Journal of Machine Learning Research 18(185):1-52, 2018.
   https://jmlr.org/papers/v18/16-558.html
"""

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ._policies import SuccessiveHalvingPolicy, _round_half_even
from ._validation import (
    check_aggressiveness,
    check_integer,
    check_patience,
    check_tol,
)

__all__ = [
    "HyperbandBracket",
    "hyperband_brackets",
    "hyperband_metadata",
    "hyperband_policies",
    "hyperband_random_states",
    "observed_hyperband_metadata",
    "observed_successive_halving_metadata",
    "resolve_hyperband_patience",
    "successive_halving_metadata",
]

_MAX_ITER_FIX = (
    "max_iter is the number of partial_fit calls the longest-trained model "
    "receives (R in the Hyperband paper); pass a positive integer such as "
    "max_iter=81."
)


def _check_max_iter(max_iter):
    return check_integer("max_iter", max_iter, minimum=1, fix=_MAX_ITER_FIX)


class HyperbandBracket(NamedTuple):
    """One bracket of Hyperband: a successive-halving search.

    Attributes
    ----------
    bracket : int
        Bracket id ``s``; 0 trains every model ``max_iter`` calls, higher ids
        start more models and cut them harder.
    n_models : int
        Models the bracket starts (``n_initial_parameters`` of its search).
    n_initial_iter : int
        ``partial_fit`` calls of each model before the first cut.
    """

    bracket: int
    n_models: int
    n_initial_iter: int


def hyperband_brackets(max_iter, aggressiveness=3):
    """The brackets of Hyperband, as dask-ml's ``_get_hyperband_params``.

    Bracket ``s`` starts ``ceil((s_max + 1) * eta ** s / (s + 1))`` models with
    ``int(R * eta ** -s)`` calls each (Algorithm 1 of Li et al., 2018), where
    ``R = max_iter``, ``eta = aggressiveness`` and
    ``s_max = floor(log(R) / log(eta))`` computed as ``math.log(R, eta)``.

    Parameters
    ----------
    max_iter : int
        Most ``partial_fit`` calls one model receives (``R``), >= 1.
    aggressiveness : float, default=3
        Cut factor ``eta``, >= 2.

    Returns
    -------
    dict
        ``{bracket: HyperbandBracket}``, most adaptive bracket first (the order
        in which dask-ml starts them).

    Examples
    --------
    >>> for b in hyperband_brackets(81).values():
    ...     print(b.bracket, b.n_models, b.n_initial_iter)
    4 81 1
    3 34 3
    2 15 9
    1 8 27
    0 5 81
    """
    R = _check_max_iter(max_iter)
    eta = check_aggressiveness(aggressiveness)
    s_max = math.floor(math.log(R, eta))
    budget = (s_max + 1) * R
    return {
        s: HyperbandBracket(
            s,
            int(math.ceil(budget / R * eta**s / (s + 1))),
            int(R * eta**-s),
        )
        for s in range(s_max, -1, -1)
    }


def resolve_hyperband_patience(patience, max_iter, aggressiveness=3, tol=1e-3):
    """The ``patience`` each bracket of Hyperband uses, as dask-ml's
    ``_get_patience``.

    Parameters
    ----------
    patience : bool or int
        False (or 0) for none; True for ``max(max_iter // aggressiveness, 1)``;
        otherwise an integer >= 2.
    max_iter : int
        Hyperband's ``max_iter``.
    aggressiveness : float, default=3
        Hyperband's ``aggressiveness``.
    tol : float or None, default=1e-3
        Hyperband's ``tol``: when it is None or NaN, no warning is raised for a
        small ``patience``.

    Returns
    -------
    int or False
        The patience of every bracket's successive-halving search.

    Raises
    ------
    ValueError
        If ``patience`` is invalid, or if ``patience=True`` resolves to less than
        2 (dask-ml then fails later, inside the search).

    Warns
    -----
    UserWarning
        If an integer ``patience`` is below ``max_iter // aggressiveness``:
        Hyperband already stops bad models, so patience should only stop the few
        long-trained ones.

    Examples
    --------
    >>> resolve_hyperband_patience(True, max_iter=81, aggressiveness=3)
    27
    >>> resolve_hyperband_patience(False, max_iter=81)
    False
    """
    R = _check_max_iter(max_iter)
    eta = check_aggressiveness(aggressiveness)
    patience = check_patience(patience, allow_true=True)
    tol = check_tol(tol)
    threshold = max(int(R // eta), 1)
    if patience is True:
        if threshold < 2:
            raise ValueError(
                f"patience=True resolves to max(max_iter // aggressiveness, 1) = "
                f"{threshold} for max_iter={R} and aggressiveness={eta}, but "
                "patience must be >= 2. Use max_iter >= 2 * aggressiveness, pass an "
                "integer patience >= 2, or patience=False."
            )
        return threshold
    if patience is not False and patience < threshold:
        if tol is not None and not math.isnan(tol):
            warnings.warn(
                f"patience={patience} is smaller than max_iter // aggressiveness = "
                f"{int(R // eta)}. Hyperband already stops bad models early; "
                "patience is meant to stop the few long-trained ones that have "
                f"converged. Set patience=True, patience >= {int(R // eta)}, or "
                "tol=None to silence this warning.",
                UserWarning,
                stacklevel=2,
            )
    return patience


def hyperband_policies(max_iter, aggressiveness=3, *, patience=False, tol=1e-3):
    """One successive-halving policy per Hyperband bracket.

    Parameters
    ----------
    max_iter : int
        Hyperband's ``max_iter``.
    aggressiveness : float, default=3
        Hyperband's ``aggressiveness``.
    patience : bool or int, default=False
        Hyperband's ``patience``, resolved by :func:`resolve_hyperband_patience`.
    tol : float or None, default=1e-3
        Hyperband's ``tol``.

    Returns
    -------
    dict
        ``{bracket: SuccessiveHalvingPolicy}``, most adaptive bracket first. Run
        each on ``policy.n_initial_parameters`` models.

    Examples
    --------
    >>> policies = hyperband_policies(9)
    >>> [(b, p.n_initial_parameters, p.n_initial_iter) for b, p in policies.items()]
    [(2, 9, 1), (1, 5, 3), (0, 3, 9)]
    """
    brackets = hyperband_brackets(max_iter, aggressiveness)
    patience = resolve_hyperband_patience(patience, max_iter, aggressiveness, tol)
    return {
        b.bracket: SuccessiveHalvingPolicy(
            n_initial_parameters=b.n_models,
            n_initial_iter=b.n_initial_iter,
            aggressiveness=aggressiveness,
            max_iter=max_iter,
            patience=patience,
            tol=tol,
        )
        for b in brackets.values()
    }


def _check_random_state(random_state):
    if random_state is None:
        return np.random.RandomState()
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return np.random.RandomState(random_state)
    if isinstance(random_state, np.random.RandomState):
        return random_state
    raise ValueError(
        "random_state must be None, an integer or a numpy.random.RandomState; got "
        f"random_state={random_state!r}. Pass an integer seed for reproducible "
        "brackets."
    )


def hyperband_random_states(max_iter, aggressiveness=3, random_state=None):
    """The ``random_state`` of each bracket's search, as dask-ml draws them.

    One seed ``start`` is drawn from ``random_state``; bracket ``b > 0`` gets
    ``start + b`` and bracket 0 gets ``random_state`` itself.

    Parameters
    ----------
    max_iter : int
        Hyperband's ``max_iter``.
    aggressiveness : float, default=3
        Hyperband's ``aggressiveness``.
    random_state : None, int or numpy.random.RandomState, default=None
        Hyperband's ``random_state``. A RandomState is advanced by one draw.

    Returns
    -------
    dict
        ``{bracket: random_state}``, most adaptive bracket first.

    Examples
    --------
    >>> hyperband_random_states(9, random_state=0)
    {2: 209652398, 1: 209652397, 0: 0}
    """
    brackets = hyperband_brackets(max_iter, aggressiveness)
    start = int(_check_random_state(random_state).randint(2**31))
    return {b: start + b if b != 0 else random_state for b in brackets}


def _planned_bracket(n, r, s, eta):
    """Total calls and cut points of one bracket in Algorithm 1 of the paper."""
    calls = [0] * n
    kept = n
    decisions = set()
    for i in range(s + 1):
        n_i = math.floor(n * eta**-i)
        r_i = _round_half_even(r * eta**i)
        calls[:kept] = [r_i] * kept
        decisions.add(r_i)
        kept = min(kept, math.floor(n_i / eta))
    return sum(calls), sorted(decisions)


def _bracket_params(bracket, eta, max_iter, patience, tol, random_state, extra):
    return {
        "aggressiveness": eta,
        "max_iter": max_iter,
        "n_initial_iter": bracket.n_initial_iter,
        "n_initial_parameters": bracket.n_models,
        "patience": patience,
        "prefix": f"{extra['prefix']}, bracket={bracket.bracket}",
        "random_state": random_state,
        "scoring": extra["scoring"],
        "test_size": extra["test_size"],
        "tol": tol,
        "verbose": extra["verbose"],
    }


def _metadata(brackets_info):
    brackets_info = sorted(brackets_info, key=lambda info: info["bracket"])
    return {
        "n_models": sum(info["n_models"] for info in brackets_info),
        "partial_fit_calls": sum(info["partial_fit_calls"] for info in brackets_info),
        "brackets": brackets_info,
    }


def hyperband_metadata(
    max_iter,
    aggressiveness=3,
    *,
    patience=False,
    tol=1e-3,
    random_state=None,
    test_size=None,
    scoring=None,
    verbose=False,
    prefix="",
):
    """The work Hyperband plans, equal to dask-ml's ``HyperbandSearchCV.metadata``.

    Each bracket's ``partial_fit_calls`` and ``decisions`` follow Algorithm 1 of
    Li et al. (2018): bracket ``s`` makes ``s + 1`` cuts. dask-ml's searches do
    not stop after ``s + 1`` cuts but when one model is left or ``max_iter`` is
    reached, so when ``max_iter`` is not a power of ``aggressiveness`` a
    bracket can train one model past ``max_iter`` and do more work than
    planned here (see :func:`successive_halving_metadata` for the work a
    bracket's search really does).

    Parameters
    ----------
    max_iter : int
        Hyperband's ``max_iter``.
    aggressiveness : float, default=3
        Hyperband's ``aggressiveness``.
    patience : bool or int, default=False
        Hyperband's ``patience`` (see :func:`resolve_hyperband_patience`); it
        does not change the plan, only the brackets' parameters.
    tol : float or None, default=1e-3
        Hyperband's ``tol``.
    random_state : None, int or numpy.random.RandomState, default=None
        Hyperband's ``random_state``; see :func:`hyperband_random_states`. With
        None the brackets' seeds are random.
    test_size, scoring, verbose, prefix
        Hyperband's parameters of these names, copied into each bracket's
        ``"SuccessiveHalvingSearchCV params"`` (``prefix`` gains
        ``", bracket=<id>"``).

    Returns
    -------
    dict
        ``{"n_models": int, "partial_fit_calls": int, "brackets": list}`` where
        ``brackets`` has one dict per bracket, ordered by bracket id, with keys
        ``"bracket"``, ``"n_models"``, ``"partial_fit_calls"``, ``"decisions"``
        (the sorted calls at which models are cut) and
        ``"SuccessiveHalvingSearchCV params"``.

    Examples
    --------
    >>> meta = hyperband_metadata(9, random_state=0)
    >>> meta["n_models"], meta["partial_fit_calls"]
    (17, 69)
    >>> [(b["bracket"], b["n_models"], b["decisions"]) for b in meta["brackets"]]
    [(0, 3, [9]), (1, 5, [3, 9]), (2, 9, [1, 3, 9])]
    """
    brackets = hyperband_brackets(max_iter, aggressiveness)
    eta = check_aggressiveness(aggressiveness)
    patience = resolve_hyperband_patience(patience, max_iter, aggressiveness, tol)
    random_states = hyperband_random_states(max_iter, aggressiveness, random_state)
    extra = dict(test_size=test_size, scoring=scoring, verbose=verbose, prefix=prefix)
    info = []
    for b in brackets.values():
        calls, decisions = _planned_bracket(
            b.n_models, b.n_initial_iter, b.bracket, eta
        )
        params = _bracket_params(
            b, eta, max_iter, patience, tol, random_states[b.bracket], extra
        )
        info.append(
            {
                "bracket": b.bracket,
                "n_models": b.n_models,
                "partial_fit_calls": calls,
                "decisions": decisions,
                "SuccessiveHalvingSearchCV params": params,
            }
        )
    return _metadata(info)


def _last_calls(records):
    return max(record["partial_fit_calls"] for record in records)


def observed_hyperband_metadata(
    histories,
    max_iter,
    aggressiveness=3,
    *,
    patience=False,
    tol=1e-3,
    random_state=None,
    test_size=None,
    scoring=None,
    verbose=False,
    prefix="",
):
    """The work a Hyperband run did, as dask-ml's ``HyperbandSearchCV.metadata_``.

    Parameters
    ----------
    histories : dict
        ``{bracket: {model_id: [record, ...]}}`` with the history of every
        bracket, each record a mapping with ``"partial_fit_calls"``.
    max_iter, aggressiveness, patience, tol, random_state, test_size, scoring, \
verbose, prefix
        As in :func:`hyperband_metadata`. Pass the ``random_state`` the run used
        (an integer) to get the same brackets' seeds.

    Returns
    -------
    dict
        Same structure as :func:`hyperband_metadata`. A bracket's ``n_models``
        counts the models with at least one record, its ``partial_fit_calls``
        sums their final calls and its ``decisions`` lists every number of calls
        at which a model was scored, except 1 for all but the most adaptive
        bracket (dask-ml's convention). Without patience it equals
        :func:`hyperband_metadata` whenever no model trained past ``max_iter``
        (but for ``decisions``, which keeps 1 in the most adaptive bracket).

    Examples
    --------
    >>> from skhpo.schedules import hyperband_policies, simulate
    >>> runs = {
    ...     b: simulate(p, p.n_initial_parameters, lambda m, c: -m).history
    ...     for b, p in hyperband_policies(9).items()
    ... }
    >>> observed_hyperband_metadata(runs, 9, random_state=0)["partial_fit_calls"]
    69
    """
    brackets = hyperband_brackets(max_iter, aggressiveness)
    if not isinstance(histories, Mapping) or set(histories) != set(brackets):
        got = sorted(histories) if isinstance(histories, Mapping) else histories
        raise ValueError(
            f"histories must map every bracket id {sorted(brackets)} of Hyperband "
            f"with max_iter={max_iter} and aggressiveness={aggressiveness} to that "
            f"bracket's history; got {got!r}. Pass {{bracket: {{model_id: "
            "[record, ...]}}}} for all brackets."
        )
    eta = check_aggressiveness(aggressiveness)
    patience = resolve_hyperband_patience(patience, max_iter, aggressiveness, tol)
    random_states = hyperband_random_states(max_iter, aggressiveness, random_state)
    extra = dict(test_size=test_size, scoring=scoring, verbose=verbose, prefix=prefix)
    top = max(brackets)
    info = []
    for b in brackets.values():
        scored = {m: recs for m, recs in histories[b.bracket].items() if recs}
        decisions = {
            rec["partial_fit_calls"] for recs in scored.values() for rec in recs
        }
        if b.bracket != top:
            decisions.discard(1)
        params = _bracket_params(
            b, eta, max_iter, patience, tol, random_states[b.bracket], extra
        )
        info.append(
            {
                "bracket": b.bracket,
                "n_models": len(scored),
                "partial_fit_calls": sum(_last_calls(recs) for recs in scored.values()),
                "decisions": sorted(decisions),
                "SuccessiveHalvingSearchCV params": params,
            }
        )
    return _metadata(info)


def successive_halving_metadata(
    n_initial_parameters, n_initial_iter, aggressiveness=3, max_iter=None
):
    """The work one successive-halving search does without patience.

    Equal to dask-ml's ``SuccessiveHalvingSearchCV.metadata`` (its
    ``_simulate_sha``): rung ``k`` trains the best ``floor(n * eta ** -k)``
    models up to ``round(r * eta ** k)`` calls, until at most one model is
    kept or the calls reach ``max_iter``. This is the work
    :class:`SuccessiveHalvingPolicy` really does when no model plateaus.

    Parameters
    ----------
    n_initial_parameters : int
        Models at the first rung (``n``).
    n_initial_iter : int
        Calls of each model at the first rung (``r``).
    aggressiveness : float, default=3
        Cut factor (``eta``).
    max_iter : int or None, default=None
        No rung starts once the calls reached ``max_iter``.

    Returns
    -------
    dict
        ``{"partial_fit_calls": int, "n_models": int, "max_iter": int}``: the
        total calls, the number of models and the calls of the longest-trained
        model (which may exceed ``max_iter``, as in dask-ml).

    Examples
    --------
    >>> successive_halving_metadata(9, 1, aggressiveness=3, max_iter=9)
    {'partial_fit_calls': 21, 'n_models': 9, 'max_iter': 9}
    >>> successive_halving_metadata(4, 4, aggressiveness=2, max_iter=9)
    {'partial_fit_calls': 32, 'n_models': 4, 'max_iter': 16}
    """
    n = check_integer(
        "n_initial_parameters",
        n_initial_parameters,
        minimum=1,
        fix="Pass the number of models the search starts.",
    )
    r = check_integer(
        "n_initial_iter",
        n_initial_iter,
        minimum=1,
        fix="Pass the number of partial_fit calls before the first cut.",
    )
    eta = check_aggressiveness(aggressiveness)
    if max_iter is not None:
        max_iter = _check_max_iter(max_iter)
    calls = [0] * n
    k = 0
    while True:
        n_k = int(math.floor(n * eta**-k))
        r_k = _round_half_even(r * eta**k)
        calls[:n_k] = [r_k] * n_k
        if n_k <= 1 or (max_iter and r_k >= max_iter):
            break
        k += 1
    return {"partial_fit_calls": sum(calls), "n_models": n, "max_iter": max(calls)}


def observed_successive_halving_metadata(history, n_initial_parameters=None):
    """The work a successive-halving run did, as dask-ml's ``metadata_``.

    Parameters
    ----------
    history : dict
        ``{model_id: [record, ...]}`` of the run, records with
        ``"partial_fit_calls"``.
    n_initial_parameters : int or None, default=None
        The search's ``n_initial_parameters``, reported as ``n_models``; None
        counts the models in ``history``.

    Returns
    -------
    dict
        ``{"partial_fit_calls": int, "n_models": int, "max_iter": int}``.

    Examples
    --------
    >>> history = {0: [{"partial_fit_calls": 1}, {"partial_fit_calls": 3}],
    ...            1: [{"partial_fit_calls": 1}]}
    >>> observed_successive_halving_metadata(history)
    {'partial_fit_calls': 4, 'n_models': 2, 'max_iter': 3}
    """
    calls = [_last_calls(recs) for recs in history.values() if recs]
    if not calls:
        raise ValueError(
            "history has no records; got "
            f"{dict(history)!r}. Pass the history of a run that trained models."
        )
    n_models = len(history) if n_initial_parameters is None else n_initial_parameters
    return {
        "partial_fit_calls": sum(calls),
        "n_models": n_models,
        "max_iter": max(calls),
    }
