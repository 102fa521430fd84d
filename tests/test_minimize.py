"""The functional API skhpo._minimize.minimize."""

import math

import numpy as np
import pytest

from skhpo._minimize import OptimizeResult, minimize
from skhpo.samplers import Optimizer
from skhpo.space import Categorical, Integer, Real


def quadratic(p):
    return (p["x"] - 0.5) ** 2 + (p["n"] - 3) ** 2 / 10


SPACE = {"x": Real(-2.0, 2.0), "n": Integer(0, 8)}


@pytest.mark.parametrize("surrogate", ["random", "tpe", "gp", "rf"])
def test_minimize_finds_a_low_value(surrogate):
    res = minimize(quadratic, SPACE, n_iter=25, surrogate=surrogate, random_state=0)
    assert isinstance(res, OptimizeResult)
    assert len(res.history) == 25
    assert [h["iteration"] for h in res.history] == list(range(25))
    values = [h["value"] for h in res.history]
    assert res.best_value == min(values)
    assert res.best_value == quadratic(res.best_params)
    assert res.best_value < 0.5
    assert all(h["status"] == "ok" and h["error"] is None for h in res.history)
    assert set(res.history[0]) == {"iteration", "params", "value", "status", "error"}


def test_history_records_failures_with_their_error():
    def objective(p):
        if p["kind"] == "raise":
            raise ZeroDivisionError("division by zero")
        if p["kind"] == "nan":
            return math.nan
        if p["kind"] == "inf":
            return -math.inf
        if p["kind"] == "text":
            return "low"
        return (p["x"] - 1.0) ** 2

    space = {"x": Real(0.0, 2.0), "kind": ["ok", "raise", "nan", "inf", "text"]}
    res = minimize(objective, space, n_iter=30, random_state=0)
    assert len(res.history) == 30
    errors = {}
    for h in res.history:
        if h["params"]["kind"] == "ok":
            assert h["status"] == "ok" and h["error"] is None
        else:
            assert h["status"] == "fail" and math.isnan(h["value"])
            errors[h["params"]["kind"]] = h["error"]
    assert errors["raise"] == "ZeroDivisionError: division by zero"
    assert errors["nan"] == "ValueError: the objective returned nan"
    assert errors["inf"] == "ValueError: the objective returned -inf"
    assert errors["text"].startswith("TypeError: the objective returned 'low'")
    assert res.best_params["kind"] == "ok"
    assert res.n_failures == sum(h["status"] == "fail" for h in res.history) > 0
    # The model learns to avoid the failing kinds.
    later = [h["params"]["kind"] for h in res.history[15:]]
    assert later.count("ok") > len(later) / 2


def test_numpy_and_integer_values_are_accepted():
    res = minimize(lambda p: np.float32(p["x"]), {"x": Real(0, 1)}, n_iter=5)
    assert all(h["status"] == "ok" for h in res.history)
    res = minimize(lambda p: np.array(p["n"]), {"n": Integer(0, 9)}, n_iter=5)
    assert all(isinstance(h["value"], float) for h in res.history)


def test_every_evaluation_failing():
    def objective(p):
        raise RuntimeError("broken")

    res = minimize(objective, {"x": Real(0, 1)}, n_iter=5, random_state=0)
    assert res.best_params is None and math.isnan(res.best_value)
    assert res.n_failures == 5
    assert "n_failures=5" in repr(res)


def test_keyboard_interrupt_is_not_swallowed():
    def objective(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        minimize(objective, {"x": Real(0, 1)}, n_iter=3)


def test_a_finite_space_stops_when_exhausted():
    space = {"a": Categorical([None, (1, 2), "s"]), "b": Integer(1, 2)}
    res = minimize(lambda p: p["b"], space, n_iter=50, surrogate="tpe", random_state=0)
    assert len(res.history) == 6
    assert len({repr(sorted(h["params"].items())) for h in res.history}) == 6
    assert res.best_value == 1


def test_same_seed_same_evaluations():
    def params(seed):
        res = minimize(quadratic, SPACE, n_iter=15, random_state=seed)
        return [h["params"] for h in res.history]

    assert params(3) == params(3)
    assert params(3) != params(4)


def test_the_optimizer_continues_the_search():
    res = minimize(quadratic, SPACE, n_iter=12, random_state=0)
    opt = res.optimizer
    assert isinstance(opt, Optimizer) and opt.n_told == 12
    assert opt.best_score == -res.best_value
    (params,) = opt.ask()
    assert params not in [h["params"] for h in res.history]


def test_conditional_space():
    space = [
        {"model": ["linear"], "alpha": Real(1e-3, 1e1, log=True)},
        {"model": ["tree"], "depth": Integer(1, 10)},
    ]

    def objective(p):
        if p["model"] == "linear":
            return abs(math.log10(p["alpha"]))
        return abs(p["depth"] - 4) + 0.5

    res = minimize(objective, space, n_iter=25, random_state=0)
    assert all(
        set(h["params"]) in ({"model", "alpha"}, {"model", "depth"})
        for h in res.history
    )
    assert res.best_value < 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_iter": 0}, "n_iter must be an integer >= 1"),
        ({"n_iter": 2.5}, "n_iter must be an integer >= 1"),
        ({"surrogate": "smac"}, "Unknown surrogate 'smac'"),
        ({"acquisition": "ucb"}, "Unknown acquisition 'ucb'"),
        ({"n_initial_points": 0}, "n_initial_points must be an integer >= 1"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        minimize(quadratic, SPACE, **kwargs)


def test_objective_must_be_callable():
    with pytest.raises(ValueError, match="objective must be a callable"):
        minimize("quadratic", SPACE)
