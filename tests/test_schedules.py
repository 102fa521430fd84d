"""Tests of skhpo.schedules, checked against dask-ml's own objects.

dask-ml's searches are driven here without a cluster: their ``metadata`` is pure,
and their ``_additional_calls(info)`` is called with fabricated ``info`` dicts the
way ``dask_ml.model_selection._incremental._fit`` calls it after every round.
"""

import ast
import copy
import math
import pathlib
import random
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from skhpo.schedules import (
    Decision,
    IncrementalPolicy,
    InverseDecayPolicy,
    SuccessiveHalvingPolicy,
    hyperband_brackets,
    hyperband_metadata,
    hyperband_policies,
    hyperband_random_states,
    observed_hyperband_metadata,
    observed_successive_halving_metadata,
    resolve_hyperband_patience,
    should_stop,
    simulate,
    successive_halving_metadata,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    dml = pytest.importorskip("dask_ml.model_selection")
    from dask_ml.model_selection._hyperband import _get_meta, _get_patience
    from sklearn.linear_model import SGDClassifier

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- fake scores and the two engines ----------------------------------------------
def make_score(kind, seed):
    """A deterministic ``score(model_id, calls)`` of one of a few shapes."""
    rng = random.Random(seed)
    base = [rng.random() for _ in range(300)]

    def score(model, calls):
        calls = int(calls)
        if kind == "rising":  # keeps improving, at a model-dependent rate
            return base[model] + 0.01 * calls * base[model]
        if kind == "plateau":  # improves, then flat after a model-dependent time
            return base[model] * min(calls, 3 + model % 5)
        if kind == "ties":  # many equal scores: exercises tie-breaking
            return round(base[model] * 3) / 3
        return base[model] + random.Random(model * 100_003 + calls).random() * 0.05

    return score


SCORE_KINDS = ["rising", "plateau", "ties", "noisy"]
scores = st.builds(make_score, st.sampled_from(SCORE_KINDS), st.integers(0, 10**6))


class Degenerate(Exception):
    """dask-ml would loop forever or ask for negative calls from here."""


def dask_ml_rounds(search, n_models, score_fn, max_rounds=2_000):
    """Drive dask-ml's policy as its engine does; return rounds and survivors."""
    info = {
        m: [{"model_id": m, "partial_fit_calls": 1, "score": score_fn(m, 1)}]
        for m in range(n_models)
    }
    rounds = [dict.fromkeys(range(n_models), 1)]
    for _ in range(max_rounds):
        if isinstance(search, dml.InverseDecaySearchCV):
            start = search.n_initial_parameters
            time = next(iter(info.values()))[-1]["partial_fit_calls"]
            if int(start / (2 + time) ** search.decay_rate) == 0:
                raise Degenerate
        instructions = search._additional_calls(info)
        for model in set(info) - set(instructions):
            del info[model]
        calls = {m: int(n) for m, n in instructions.items() if n}
        if not calls:
            return rounds, tuple(info)
        rounds.append(calls)
        for m, n in calls.items():
            total = int(info[m][-1]["partial_fit_calls"]) + n
            info[m].append(
                {"model_id": m, "partial_fit_calls": total, "score": score_fn(m, total)}
            )
    raise AssertionError("dask-ml's policy did not finish")


def skhpo_rounds(policy, n_models, score_fn):
    """Drive a policy through its public, stateless ``decide``."""
    history = {m: [] for m in range(n_models)}
    rounds = []
    while True:
        decision = policy.decide(history)
        assert all(n >= 1 for n in decision.calls.values())
        if not decision.calls:
            return rounds, decision.survivors, history
        rounds.append(decision.calls)
        for m, n in decision.calls.items():
            total = (history[m][-1]["partial_fit_calls"] if history[m] else 0) + n
            history[m].append({"partial_fit_calls": total, "score": score_fn(m, total)})


def sort_rounds(rounds):
    return [sorted(r.items()) for r in rounds]


def assert_same_decisions(search, policy, n_models, score_fn):
    expected, expected_survivors = dask_ml_rounds(search, n_models, score_fn)
    got, survivors, history = skhpo_rounds(policy, n_models, score_fn)
    assert sort_rounds(got) == sort_rounds(expected)
    assert survivors == expected_survivors
    run = simulate(policy, n_models, score_fn)
    assert run.survivors == survivors
    assert run.n_rounds == len(got)
    assert run.partial_fit_calls == {
        m: records[-1]["partial_fit_calls"] for m, records in history.items()
    }


def estimator():
    return SGDClassifier()


PARAMS = {"alpha": [1e-4, 1e-3]}


# -- Hyperband arithmetic: known values -------------------------------------------
@pytest.mark.parametrize(
    "max_iter, aggressiveness, expected",
    [
        # Table 1 of Li et al. (2018): R=81, eta=3.
        (81, 3, [(4, 81, 1), (3, 34, 3), (2, 15, 9), (1, 8, 27), (0, 5, 81)]),
        # math.log(243, 3) == 4.999...: dask-ml has 5 brackets, not 6.
        (243, 3, [(4, 81, 3), (3, 34, 9), (2, 15, 27), (1, 8, 81), (0, 5, 243)]),
        (1000, 10, [(2, 100, 10), (1, 15, 100), (0, 3, 1000)]),
        (9, 3, [(2, 9, 1), (1, 5, 3), (0, 3, 9)]),
        (10, 2, [(3, 8, 1), (2, 6, 2), (1, 4, 5), (0, 4, 10)]),
        (2, 2, [(1, 2, 1), (0, 2, 2)]),
        (5, 6, [(0, 1, 5)]),
        (1, 3, [(0, 1, 1)]),
    ],
)
def test_hyperband_brackets_known_values(max_iter, aggressiveness, expected):
    brackets = hyperband_brackets(max_iter, aggressiveness)
    assert [tuple(b) for b in brackets.values()] == expected
    assert list(brackets) == [b for b, _, _ in expected]
    assert all(brackets[b].bracket == b for b in brackets)


@pytest.mark.parametrize(
    "max_iter, aggressiveness, n_models, calls, per_bracket",
    [
        (
            81,
            3,
            143,
            1581,
            [
                (405, [81]),
                (324, [27, 81]),
                (279, [9, 27, 81]),
                (276, [3, 9, 27, 81]),
                (297, [1, 3, 9, 27, 81]),
            ],
        ),
        (9, 3, 17, 69, [(27, [9]), (21, [3, 9]), (21, [1, 3, 9])]),
        (
            10,
            2,
            22,
            112,
            [(40, [10]), (30, [5, 10]), (22, [2, 4, 8]), (20, [1, 2, 4, 8])],
        ),
        (2, 2, 4, 7, [(4, [2]), (3, [1, 2])]),
        (1, 3, 1, 1, [(1, [1])]),
    ],
)
def test_hyperband_metadata_known_values(
    max_iter, aggressiveness, n_models, calls, per_bracket
):
    meta = hyperband_metadata(max_iter, aggressiveness, random_state=0)
    assert (meta["n_models"], meta["partial_fit_calls"]) == (n_models, calls)
    got = [(b["partial_fit_calls"], b["decisions"]) for b in meta["brackets"]]
    assert got == per_bracket
    assert [b["bracket"] for b in meta["brackets"]] == list(range(len(per_bracket)))


# -- Hyperband arithmetic: equal to dask-ml ---------------------------------------
@pytest.mark.parametrize("aggressiveness", [2, 3, 4, 5, 6, 2.5])
@pytest.mark.parametrize(
    "max_iter", [1, 2, 3, 4, 5, 8, 9, 10, 26, 27, 28, 64, 81, 100, 243, 500]
)
def test_hyperband_metadata_equals_dask_ml(max_iter, aggressiveness):
    search = dml.HyperbandSearchCV(
        estimator(), PARAMS, max_iter=max_iter, aggressiveness=aggressiveness,
        random_state=max_iter,
    )  # fmt: skip
    expected = search.metadata
    assert hyperband_metadata(max_iter, aggressiveness, random_state=max_iter) == (
        expected
    )
    brackets = hyperband_brackets(max_iter, aggressiveness)
    assert {b: (n, r) for b, n, r in brackets.values()} == (
        dml._hyperband._get_hyperband_params(max_iter, aggressiveness)
    )


@pytest.mark.parametrize(
    "settings_",
    [
        dict(patience=True),
        dict(patience=True, tol=None),
        dict(patience=40, tol=0.01),
        dict(patience=2, tol=None),
        dict(patience=False, tol=0.5, test_size=0.25, scoring="accuracy"),
        dict(prefix="run-1", verbose=True),
    ],
)
def test_hyperband_metadata_settings_equal_dask_ml(settings_):
    search = dml.HyperbandSearchCV(
        estimator(), PARAMS, max_iter=81, random_state=7, **settings_
    )
    assert hyperband_metadata(81, random_state=7, **settings_) == search.metadata


def test_hyperband_random_states_follow_dask_ml():
    search = dml.HyperbandSearchCV(estimator(), PARAMS, max_iter=81, random_state=3)
    expected = {
        b["bracket"]: b["SuccessiveHalvingSearchCV params"]["random_state"]
        for b in search.metadata["brackets"]
    }
    assert hyperband_random_states(81, random_state=3) == expected
    seeds = hyperband_random_states(81)  # random_state=None: random seeds
    assert seeds[0] is None and len({seeds[b] - b for b in seeds if b}) == 1


@pytest.mark.parametrize(
    "patience, max_iter, aggressiveness, tol",
    [
        (True, 81, 3, 1e-3),
        (True, 100, 4, 1e-3),
        (True, 9, 4, 1e-3),
        (False, 81, 3, 1e-3),
        (30, 81, 3, 1e-3),
        (5, 81, 3, None),
        (5, 81, 3, float("nan")),
    ],
)
def test_resolve_hyperband_patience_equals_dask_ml(
    patience, max_iter, aggressiveness, tol
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = _get_patience(patience, max_iter, aggressiveness, tol)
        assert resolve_hyperband_patience(patience, max_iter, aggressiveness, tol) == (
            expected
        )


def test_resolve_hyperband_patience_warns_like_dask_ml():
    with pytest.warns(UserWarning, match="patience >= 27"):
        _get_patience(5, 81, 3, 1e-3)
    with pytest.warns(UserWarning, match=r"patience=5 is smaller .* patience >= 27"):
        assert resolve_hyperband_patience(5, 81, 3) == 5


@pytest.mark.parametrize("aggressiveness", [2, 3, 4, 2.5])
@pytest.mark.parametrize("max_iter", [None, 1, 5, 9, 30, 100])
@pytest.mark.parametrize("n, r", [(1, 1), (2, 1), (9, 1), (10, 3), (34, 3), (7, 20)])
def test_successive_halving_metadata_equals_dask_ml(n, r, max_iter, aggressiveness):
    search = dml.SuccessiveHalvingSearchCV(
        estimator(), PARAMS, n_initial_parameters=n, n_initial_iter=r,
        max_iter=max_iter, aggressiveness=aggressiveness,
    )  # fmt: skip
    assert successive_halving_metadata(n, r, aggressiveness, max_iter) == (
        search.metadata
    )


@pytest.mark.parametrize("max_iter, aggressiveness", [(9, 2), (27, 3), (40, 3), (7, 2)])
@pytest.mark.parametrize("patience", [False, True])
def test_observed_hyperband_metadata_equals_dask_ml(max_iter, aggressiveness, patience):
    score_fn = make_score("plateau", max_iter)
    runs = {
        b: simulate(policy, policy.n_initial_parameters, score_fn).history
        for b, policy in hyperband_policies(
            max_iter, aggressiveness, patience=patience
        ).items()
    }
    search = dml.HyperbandSearchCV(
        estimator(), PARAMS, max_iter=max_iter, aggressiveness=aggressiveness,
        patience=patience, random_state=1,
    )  # fmt: skip
    brackets = dml._hyperband._get_hyperband_params(max_iter, aggressiveness)
    hists = {b: [dict(rec) for m in sorted(h) for rec in h[m]] for b, h in runs.items()}
    meta, _ = _get_meta(
        hists, brackets.keys(), search._get_SHAs(brackets), "{}-{}".format
    )
    expected = {
        "n_models": sum(m["n_models"] for m in meta),
        "partial_fit_calls": sum(m["partial_fit_calls"] for m in meta),
        "brackets": meta,
    }
    observed = observed_hyperband_metadata(
        runs, max_iter, aggressiveness, patience=patience, random_state=1
    )
    assert observed == expected


def test_observed_successive_halving_metadata_is_the_planned_work():
    policy = SuccessiveHalvingPolicy(n_initial_iter=3, max_iter=81)
    run = simulate(policy, 34, make_score("rising", 0))
    assert observed_successive_halving_metadata(run.history, 34) == (
        successive_halving_metadata(34, 3, 3, 81)
    )


# -- Hyperband arithmetic: properties ---------------------------------------------
max_iters = st.integers(1, 500)
etas = st.integers(2, 6)


@FAST
@given(max_iter=max_iters, aggressiveness=etas)
def test_hyperband_bracket_invariants(max_iter, aggressiveness):
    brackets = list(hyperband_brackets(max_iter, aggressiveness).values())
    meta = hyperband_metadata(max_iter, aggressiveness, random_state=0)
    assert meta["partial_fit_calls"] == sum(
        b["partial_fit_calls"] for b in meta["brackets"]
    )
    assert meta["n_models"] == sum(b.n_models for b in brackets)
    # most adaptive first: more models, fewer initial calls
    assert [b.bracket for b in brackets] == list(range(len(brackets) - 1, -1, -1))
    assert all(a.n_models >= b.n_models for a, b in zip(brackets, brackets[1:]))
    assert all(
        a.n_initial_iter < b.n_initial_iter for a, b in zip(brackets, brackets[1:])
    )
    assert brackets[-1].n_initial_iter == max_iter
    for info in meta["brackets"]:
        assert info["decisions"] == sorted(set(info["decisions"]))
        assert max(info["decisions"]) <= max_iter
        assert len(info["decisions"]) == info["bracket"] + 1


@FAST
@given(max_iter=max_iters, aggressiveness=etas)
def test_simulated_hyperband_does_the_planned_work(max_iter, aggressiveness):
    planned = hyperband_metadata(max_iter, aggressiveness, random_state=0)
    score_fn = make_score("noisy", max_iter)
    runs = {
        b: simulate(policy, policy.n_initial_parameters, score_fn)
        for b, policy in hyperband_policies(max_iter, aggressiveness).items()
    }
    observed = observed_hyperband_metadata(
        {b: run.history for b, run in runs.items()},
        max_iter,
        aggressiveness,
        random_state=0,
    )
    assert observed["n_models"] == planned["n_models"]
    for plan, seen in zip(planned["brackets"], observed["brackets"]):
        run = runs[plan["bracket"]]
        params = plan["SuccessiveHalvingSearchCV params"]
        total = sum(run.partial_fit_calls.values())
        assert seen["partial_fit_calls"] == total
        # The search does what successive_halving_metadata says, always ...
        assert (
            total
            == successive_halving_metadata(
                params["n_initial_parameters"],
                params["n_initial_iter"],
                aggressiveness,
                max_iter,
            )["partial_fit_calls"]
        )
        # ... and what Hyperband plans unless (as in dask-ml) it trains one model
        # past max_iter, which only happens when max_iter is not a power of eta.
        overshoot = max(run.partial_fit_calls.values()) > max_iter
        assert (total == plan["partial_fit_calls"]) is not overshoot
        assert total >= plan["partial_fit_calls"]
        if overshoot:
            assert math.log(max_iter, aggressiveness) % 1 != 0
    if observed["partial_fit_calls"] == planned["partial_fit_calls"]:
        top = max(runs)
        for plan, seen in zip(planned["brackets"], observed["brackets"]):
            extra = {1} if plan["bracket"] == top else set()
            assert set(seen["decisions"]) - extra == set(plan["decisions"]) - extra


def test_hyperband_can_train_past_max_iter_as_dask_ml_does():
    # max_iter=9, eta=2, bracket 1: 4 models x 4 calls, 2 x 8, then 1 x 16 > 9.
    policy = hyperband_policies(9, 2)[1]
    run = simulate(policy, policy.n_initial_parameters, make_score("rising", 0))
    assert sorted(run.partial_fit_calls.values()) == [4, 4, 8, 16]
    planned = hyperband_metadata(9, 2, random_state=0)["brackets"][1]
    assert planned["partial_fit_calls"] == 24 < sum(run.partial_fit_calls.values())
    search = dml.SuccessiveHalvingSearchCV(
        estimator(), PARAMS, n_initial_parameters=4, n_initial_iter=4, max_iter=9,
        aggressiveness=2,
    )  # fmt: skip
    rounds, _ = dask_ml_rounds(search, 4, make_score("rising", 0))
    assert max(rounds[-1].values()) + 8 == 16


# -- policies: same decisions as dask-ml ------------------------------------------
patiences = st.sampled_from([False, False, 2, 3, 5])
tols = st.sampled_from([1e-3, 0.0, 0.1, None])


@FAST
@given(
    n=st.integers(1, 25),
    max_iter=st.sampled_from([1, 2, 5, 10, 27]),
    patience=patiences,
    tol=tols,
    fits_per_score=st.integers(1, 4),
    score_fn=scores,
)
def test_incremental_policy_matches_dask_ml(
    n, max_iter, patience, tol, fits_per_score, score_fn
):
    search = dml.IncrementalSearchCV(
        estimator(), PARAMS, n_initial_parameters=n, decay_rate=None,
        max_iter=max_iter, patience=patience, tol=tol, fits_per_score=fits_per_score,
    )  # fmt: skip
    policy = IncrementalPolicy(
        max_iter=max_iter, patience=patience, tol=tol, fits_per_score=fits_per_score
    )
    assert_same_decisions(search, policy, n, score_fn)


@FAST
@given(
    n=st.integers(1, 40),
    decay_rate=st.sampled_from([1.0, 0.5, 2.0, 0.0]),
    max_iter=st.sampled_from([2, 5, 10, 27]),
    patience=patiences,
    tol=tols,
    fits_per_score=st.integers(1, 3),
    score_fn=scores,
)
def test_inverse_decay_policy_matches_dask_ml(
    n, decay_rate, max_iter, patience, tol, fits_per_score, score_fn
):
    search = dml.InverseDecaySearchCV(
        estimator(), PARAMS, n_initial_parameters=n, decay_rate=decay_rate,
        max_iter=max_iter, patience=patience, tol=tol, fits_per_score=fits_per_score,
    )  # fmt: skip
    policy = InverseDecayPolicy(
        n_initial_parameters=n,
        decay_rate=decay_rate,
        max_iter=max_iter,
        patience=patience,
        tol=tol,
        fits_per_score=fits_per_score,
    )
    try:
        assert_same_decisions(search, policy, n, score_fn)
    except Degenerate:
        # dask-ml hangs or asks for negative calls; skhpo keeps the best model.
        run = simulate(policy, n, score_fn)
        assert len(run.survivors) == 1
        assume(False)


@FAST
@given(
    n=st.integers(1, 40),
    n_initial_iter=st.sampled_from([1, 2, 3, 9]),
    aggressiveness=st.sampled_from([2, 3, 4, 2.5]),
    max_iter=st.sampled_from([None, 1, 5, 10, 27, 81]),
    patience=patiences,
    tol=tols,
    score_fn=scores,
)
def test_successive_halving_policy_matches_dask_ml(
    n, n_initial_iter, aggressiveness, max_iter, patience, tol, score_fn
):
    search = dml.SuccessiveHalvingSearchCV(
        estimator(), PARAMS, n_initial_parameters=n, n_initial_iter=n_initial_iter,
        aggressiveness=aggressiveness, max_iter=max_iter, patience=patience, tol=tol,
    )  # fmt: skip
    policy = SuccessiveHalvingPolicy(
        n_initial_parameters=n,
        n_initial_iter=n_initial_iter,
        aggressiveness=aggressiveness,
        max_iter=max_iter,
        patience=patience,
        tol=tol,
    )
    assert_same_decisions(search, policy, n, score_fn)


@pytest.mark.parametrize("max_iter, aggressiveness", [(81, 3), (27, 3), (50, 4)])
def test_hyperband_brackets_with_patience_match_dask_ml(max_iter, aggressiveness):
    search = dml.HyperbandSearchCV(
        estimator(), PARAMS, max_iter=max_iter, aggressiveness=aggressiveness,
        patience=True, random_state=0,
    )  # fmt: skip
    brackets = dml._hyperband._get_hyperband_params(max_iter, aggressiveness)
    shas = search._get_SHAs(brackets)
    policies = hyperband_policies(max_iter, aggressiveness, patience=True)
    assert list(policies) == list(brackets)
    for b, policy in policies.items():
        assert_same_decisions(shas[b], policy, brackets[b][0], make_score("plateau", b))


# -- policies: documented decision sequences --------------------------------------
def test_successive_halving_rounds():
    policy = SuccessiveHalvingPolicy(n_initial_iter=1, max_iter=9)
    rounds, survivors, _ = skhpo_rounds(policy, 9, lambda m, calls: m)
    assert rounds == [dict.fromkeys(range(9), 1), {6: 2, 7: 2, 8: 2}, {8: 6}]
    assert survivors == (8,)


def test_incremental_patience_ends_the_search_one_round_after_a_plateau():
    # dask-ml: once model 0 plateaus, the next round stops every model.
    def score_fn(model, calls):
        return 0.5 if model == 0 else calls * (model + 1) / 100

    policy = IncrementalPolicy(max_iter=20, patience=3)
    run = simulate(policy, 3, score_fn)
    assert run.partial_fit_calls == {0: 3, 1: 4, 2: 4}
    assert run.survivors == (0, 1, 2)
    search = dml.IncrementalSearchCV(
        estimator(), PARAMS, decay_rate=None, max_iter=20, patience=3
    )
    assert_same_decisions(search, policy, 3, score_fn)


def test_inverse_decay_with_one_model_finishes():
    # dask-ml's InverseDecaySearchCV loops forever here (n_initial_parameters=1).
    policy = InverseDecayPolicy(n_initial_parameters=1)
    history = {0: [{"partial_fit_calls": 1, "score": 0.3}]}
    assert policy.decide(history) == Decision({}, (0,))


def test_fits_per_score_may_overshoot_max_iter():
    run = simulate(
        IncrementalPolicy(max_iter=4, fits_per_score=2), 2, make_score("ties", 0)
    )
    assert run.partial_fit_calls == {0: 5, 1: 5}


# -- the history contract of decide() ---------------------------------------------
def rec(calls, score=0.5):
    return {"partial_fit_calls": calls, "score": score}


SH = SuccessiveHalvingPolicy(n_initial_iter=2, max_iter=6)


def test_decide_first_round_and_survivors():
    assert SH.decide({"a": [], "b": []}) == Decision({"a": 1, "b": 1}, ("a", "b"))
    history = {m: [rec(1, s)] for m, s in zip("abcd", [0.1, 0.4, 0.2, 0.3])}
    assert SH.decide(history) == Decision(dict.fromkeys("abcd", 1), tuple("abcd"))
    for m, s in zip("abcd", [0.1, 0.4, 0.2, 0.3]):
        history[m].append(rec(2, s))
    assert SH.decide(history) == Decision({"b": 4}, ("b",))
    history["b"].append(rec(6, 0.9))
    assert SH.decide(history) == Decision({}, ("b",))


def test_decide_does_not_modify_the_history():
    history = {m: [rec(1, m / 10), rec(3, m / 5)] for m in range(4)}
    frozen = copy.deepcopy(history)
    policy = SuccessiveHalvingPolicy(n_initial_iter=3, patience=2)
    policy.decide(history)
    assert history == frozen


@pytest.mark.parametrize(
    "history, match",
    [
        ([rec(1)], "history must be a mapping; got a list"),
        ({}, "history must hold at least one model"),
        ({"a": "xyz"}, r"history\['a'\] must be a list of records"),
        ({"a": [rec(1)], "b": []}, r"none for \['b'\]"),
        ({"a": [{"score": 1.0}]}, "must be a dict with keys 'partial_fit_calls'"),
        ({"a": [rec(1.5)]}, r"\['partial_fit_calls'\] must be an integer"),
        ({"a": [rec(1, "high")]}, r"\['score'\] must be a real number"),
        ({"a": [rec(2)]}, r"\['partial_fit_calls'\] must be 1; got 2"),
        (
            {"a": [rec(1), rec(3)], "b": [rec(1), rec(2)]},
            r"history\['a'\]\[1\] has partial_fit_calls=3, but the policy asked "
            r"for 1 more call\(s\) after 1, i.e. 2",
        ),
        (
            {"a": [rec(1), rec(2)], "b": [rec(1)]},
            r"only partly recorded: models \['b'\] were instructed",
        ),
        (
            {m: [rec(1, s), rec(2, s)] for m, s in zip("abcd", [1, 2, 3, 4])}
            | {"a": [rec(1, 1), rec(2, 1), rec(6, 1)]},
            r"history\['a'\] has 3 records but the policy only asked for 2",
        ),
    ],
)
def test_decide_rejects_inconsistent_histories(history, match):
    with pytest.raises(ValueError, match=match):
        SH.decide(history)


# -- should_stop ------------------------------------------------------------------
def recs(*scores):
    return [rec(i + 1, s) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    "records, kwargs, expected",
    [
        (recs(0.1), dict(max_iter=1), True),
        (recs(0.1), dict(max_iter=2), False),
        (recs(0.1, 0.1), dict(max_iter=None, patience=2), True),
        (recs(0.1, 0.1, 0.2), dict(patience=2), False),
        (recs(0.1, 0.2, 0.2, 0.2), dict(patience=2), True),
        (recs(0.1, 0.2, 0.2, 0.2005), dict(patience=2, tol=1e-3), True),
        (recs(0.1, 0.2, 0.2, 0.2005), dict(patience=2, tol=1e-4), False),
        (recs(0.1, 0.1, 0.1), dict(patience=2, tol=None), False),
        (recs(0.1, 0.1, 0.1), dict(patience=False), False),
        (recs(0.5, 0.4, 0.3), dict(patience=3), True),
        ([rec(1, 0.1), rec(10, 0.1)], dict(patience=2), False),  # nothing to compare
    ],
)
def test_should_stop(records, kwargs, expected):
    assert should_stop(records, **kwargs) is expected


# -- validation -------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: hyperband_brackets(0),
            r"max_iter must be an integer >= 1; got max_iter=0",
        ),
        (
            lambda: hyperband_brackets(8.5),
            r"max_iter must be an integer >= 1; got max_iter=8\.5",
        ),
        (lambda: hyperband_brackets(None), r"max_iter must be .*; got max_iter=None"),
        (
            lambda: hyperband_brackets(81, 1),
            r"aggressiveness must be a finite number >= 2",
        ),
        (lambda: hyperband_brackets(81, "3"), r"got aggressiveness='3'\. .* use 3"),
        (lambda: hyperband_brackets(81, True), r"aggressiveness must be"),
        (lambda: hyperband_brackets(81, float("inf")), r"aggressiveness must be"),
        (lambda: hyperband_metadata(81, patience=1), r"patience must be .* >= 2"),
        (lambda: hyperband_metadata(81, patience=2.5), r"got patience=2\.5"),
        (lambda: hyperband_metadata(81, random_state="x"), r"random_state must be"),
        (
            lambda: resolve_hyperband_patience(True, 5, 3),
            r"patience=True resolves to .* = 1 .* max_iter >= 2 \* aggressiveness",
        ),
        (lambda: resolve_hyperband_patience(True, 81, tol="x"), "tol must be a number"),
        (
            lambda: observed_hyperband_metadata({0: {}}, 9),
            r"histories must map every bracket id \[0, 1, 2\]",
        ),
        (
            lambda: observed_successive_halving_metadata({0: []}),
            "history has no records",
        ),
        (
            lambda: successive_halving_metadata(0, 1),
            "n_initial_parameters must be an integer >= 1",
        ),
        (
            lambda: successive_halving_metadata(9, 0),
            "n_initial_iter must be an integer",
        ),
        (
            lambda: SuccessiveHalvingPolicy(n_initial_iter=0),
            r"n_initial_iter must be an integer >= 1; got n_initial_iter=0\. It is",
        ),
        (
            lambda: SuccessiveHalvingPolicy(n_initial_iter=1, aggressiveness=1.5),
            "aggressiveness must be a finite number >= 2; got aggressiveness=1.5",
        ),
        (
            lambda: SuccessiveHalvingPolicy(n_initial_iter=1, max_iter=0),
            "max_iter must be an integer >= 1 or None",
        ),
        (
            lambda: SuccessiveHalvingPolicy(n_initial_iter=1, n_initial_parameters=0),
            "n_initial_parameters must be an integer >= 1 or None",
        ),
        (
            lambda: IncrementalPolicy(patience=True),
            r"patience=True is only understood by Hyperband",
        ),
        (
            lambda: IncrementalPolicy(patience=1),
            r"patience <= 1 would detect a plateau",
        ),
        (lambda: IncrementalPolicy(patience=-3), r"got patience=-3"),
        (lambda: IncrementalPolicy(fits_per_score=0), "fits_per_score must be"),
        (lambda: IncrementalPolicy(max_iter=None), "never stops training"),
        (
            lambda: IncrementalPolicy(max_iter=None, patience=3, tol=None),
            "max_iter=None and tol=None never stops training",
        ),
        (lambda: InverseDecayPolicy(decay_rate=-1), "decay_rate must be a finite"),
        (
            lambda: InverseDecayPolicy(decay_rate=0, max_iter=None),
            "InverseDecayPolicy with max_iter=None and patience=False never stops",
        ),
        (lambda: should_stop([], max_iter=3), "records must hold at least one"),
        (lambda: should_stop([rec(1)], patience=1), "patience must be"),
        (lambda: simulate(object(), 3, max), "policy must be an IncrementalPolicy"),
        (lambda: simulate(SH, 0, max), "n_models must be an integer >= 1"),
    ],
)
def test_invalid_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_simulate_gives_up_after_max_rounds():
    policy = IncrementalPolicy(max_iter=None, patience=2)
    with pytest.raises(RuntimeError, match="did not finish within max_rounds=20"):
        simulate(policy, 2, lambda model, calls: calls, max_rounds=20)


def test_policies_are_immutable_and_normalise_numbers():
    np = pytest.importorskip("numpy")
    policy = SuccessiveHalvingPolicy(n_initial_iter=np.int64(3), patience=0)
    assert type(policy.n_initial_iter) is int and policy.patience is False
    with pytest.raises(AttributeError):
        policy.max_iter = 3
    assert policy == SuccessiveHalvingPolicy(n_initial_iter=3)


# -- the layer rule ---------------------------------------------------------------
def test_schedules_import_only_the_standard_library_numpy_and_themselves():
    allowed = {"numpy", "skhpo"} | set(__import__("sys").stdlib_module_names)
    for path in sorted((ROOT / "skhpo" / "schedules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["skhpo"] if node.level else [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_inverse_decay_with_a_huge_decay_rate_keeps_the_best_model():
    """(1 + t) ** 1e300 overflows: no model is left, the best one is kept."""
    policy = InverseDecayPolicy(decay_rate=1e300, max_iter=10)
    history = {m: [{"partial_fit_calls": 1, "score": m / 10}] for m in range(4)}
    assert policy.decide(history).survivors == (3,)


@pytest.mark.parametrize("decay_rate", [1e-300, 1e-17, 1e-9, 1e-3])
def test_inverse_decay_with_a_tiny_decay_rate_does_not_hang(decay_rate):
    """dask-ml steps one call at a time until the count drops: e**1e8 steps
    for 1e-9. The step is solved for instead."""
    policy = InverseDecayPolicy(decay_rate=decay_rate, max_iter=10)
    history = {m: [{"partial_fit_calls": 1, "score": m / 10}] for m in range(4)}
    calls = policy.additional_calls(history)
    assert calls and all(n >= 1 for n in calls.values())
