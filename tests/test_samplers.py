"""Contract tests that every surrogate of skhpo.samplers.Optimizer passes, plus unit
tests of the surrogates and acquisition functions."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.stats import norm, poisson, rv_discrete, uniform
from sklearn.gaussian_process import GaussianProcessRegressor

from skhpo.samplers import (
    GaussianProcess,
    Observation,
    Optimizer,
    RandomForest,
    TreeParzenEstimator,
    default_gamma,
    default_weights,
    expected_improvement,
    lower_confidence_bound,
    probability_of_improvement,
)
from skhpo.samplers._acquisition import (
    log_expected_improvement,
    log_expected_improvement_of_exp,
    maximize,
    utility,
)
from skhpo.samplers._layout import CATEGORICAL, REAL, Layout
from skhpo.samplers._optimizer import _TRANSFORMS
from skhpo.space import Categorical, Integer, Real, SearchSpace
from skhpo.testing import spaces

SURROGATES = ["random", "tpe", "gp", "rf"]
MODELS = ["tpe", "gp", "rf"]
# Every valid (surrogate, acquisition) pair.
COMBINATIONS = [
    ("random", "ei"),
    ("tpe", "ei"),
    ("tpe", "pi"),
    ("gp", "ei"),
    ("gp", "pi"),
    ("gp", "lcb"),
    ("rf", "ei"),
    ("rf", "pi"),
    ("rf", "lcb"),
]

SPACES = {
    "floats": {"x": Real(-2.0, 3.0), "y": Real(0.0, 1.0)},
    "ints": {"n": Integer(1, 40), "m": Integer(-3, 3)},
    "log": {"C": Real(1e-4, 1e4, log=True), "k": Integer(1, 1000, log=True)},
    "categorical": {
        "kernel": Categorical(["linear", None, (1, 2), 3.5]),
        "flag": [True, False],
        "x": Real(0.0, 1.0),
    },
    "distributions": {"a": norm(0.0, 2.0), "k": poisson(3.0), "u": uniform(1, 2)},
    "conditional": [
        {"kernel": ["linear"], "C": Real(1e-3, 1e3, log=True)},
        {"kernel": ["rbf"], "C": Real(1e-3, 1e3, log=True), "gamma": Real(1e-4, 1.0)},
        {"kernel": ["poly"], "degree": Integer(2, 5), "coef0": [None, (0, 1)]},
    ],
}


def objective(params):
    """A deterministic score (higher is better) for any point of SPACES."""
    total = 0.0
    for _, value in sorted(params.items()):
        if isinstance(value, bool) or value is None or isinstance(value, (str, tuple)):
            total -= len(repr(value)) % 3
        else:
            total -= (math.log10(abs(value) + 1.0) - 0.5) ** 2
    return total


def run(opt, n_rounds, batch=1, score=objective):
    asked = []
    for _ in range(n_rounds):
        points = opt.ask(batch)
        asked.extend(points)
        opt.tell(points, [score(p) for p in points])
    return asked


def key(params):
    return repr(sorted(params.items()))


# -- the contract ---------------------------------------------------------------


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("surrogate, acquisition", COMBINATIONS)
def test_asks_are_valid_and_distinct(surrogate, acquisition, space_name):
    space = SearchSpace(SPACES[space_name])
    opt = Optimizer(space, surrogate, acquisition, n_initial_points=3, random_state=0)
    asked = run(opt, 6, batch=2)
    assert len(asked) == 12
    assert all(p in space for p in asked)
    assert len({key(p) for p in asked}) == len(asked)
    assert opt.n_told == 12 and opt.pending == []
    for params in asked:
        for value in params.values():
            assert not isinstance(value, np.generic)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_categorical_values_are_the_users_objects(surrogate):
    marker = (1, 2)
    space = {"kernel": Categorical([None, marker, "rbf"]), "x": Real(0, 1)}
    opt = Optimizer(space, surrogate, n_initial_points=2, random_state=1)
    asked = run(opt, 12)
    chosen = [p["kernel"] for p in asked]
    assert all(c is None or c is marker or c == "rbf" for c in chosen)
    assert any(c is marker for c in chosen) or any(c is None for c in chosen)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_conditional_points_never_mix_subspaces(surrogate):
    space = SearchSpace(SPACES["conditional"])
    opt = Optimizer(space, surrogate, n_initial_points=3, random_state=0)
    asked = run(opt, 8, batch=2)
    for params in asked:
        names = set(params)
        assert names in [set(sub) for sub in space.subspaces]
        assert params in space
    # The model explores more than one sub-space.
    assert len({p["kernel"] for p in asked}) > 1


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("bad", [math.nan, -math.inf, math.inf, None])
def test_failed_scores_are_recorded_and_never_crash(surrogate, bad):
    opt = Optimizer(SPACES["floats"], surrogate, n_initial_points=3, random_state=0)
    for i in range(8):
        (params,) = opt.ask()
        score = bad if i % 2 else objective(params)
        opt.tell([params], [score])
    assert opt.n_told == 8
    failures = [h for h in opt.history if not np.isfinite(h.score)]
    assert len(failures) == 4
    assert np.isfinite(opt.best_score)
    assert opt.best_score == max(h.score for h in opt.history if np.isfinite(h.score))


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_only_failures_still_asks(surrogate):
    opt = Optimizer(SPACES["floats"], surrogate, n_initial_points=2, random_state=0)
    run(opt, 5, score=lambda p: math.nan)
    assert opt.best_params is None and math.isnan(opt.best_score)
    assert len(opt.ask(3)) == 3


@pytest.mark.parametrize("surrogate", MODELS)
def test_failures_steer_the_model_away(surrogate):
    # Half of the interval always fails: after the initial points, the model
    # proposes mostly points in the other half.
    space = {"x": Real(0.0, 1.0)}

    def score(p):
        return math.nan if p["x"] > 0.5 else -((p["x"] - 0.2) ** 2)

    opt = Optimizer(space, surrogate, n_initial_points=6, random_state=0)
    asked = run(opt, 20, score=score)
    later = [p["x"] for p in asked[10:]]
    assert np.mean(np.array(later) <= 0.5) >= 0.7


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_telling_unasked_points_warm_starts(surrogate):
    space = SearchSpace(SPACES["categorical"])
    opt = Optimizer(space, surrogate, n_initial_points=4, random_state=0)
    warm = space.sample(6, random_state=3)
    opt.tell(warm, [objective(p) for p in warm])
    assert opt.n_told == 6 and opt.pending == []
    asked = opt.ask(5)
    told = {key(p) for p in warm}
    assert not told & {key(p) for p in asked}
    opt.tell(asked, [objective(p) for p in asked])
    assert opt.n_told == 11 and opt.pending == []


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_same_seed_same_asks(surrogate):
    def asks(seed):
        opt = Optimizer(
            SPACES["categorical"], surrogate, n_initial_points=3, random_state=seed
        )
        return [key(p) for p in run(opt, 4, batch=2)]

    assert asks(0) == asks(0)
    assert asks(0) != asks(1)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_the_optimizer_pickles_mid_search(surrogate):
    opt = Optimizer(
        SPACES["conditional"], surrogate, n_initial_points=2, random_state=0
    )
    run(opt, 3)
    pending = opt.ask(2)
    copy = pickle.loads(pickle.dumps(opt))
    assert [key(p) for p in copy.pending] == [key(p) for p in pending]
    assert [key(p) for p in copy.ask(3)] == [key(p) for p in opt.ask(3)]


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_no_global_random_state(surrogate):
    # The legacy global generator is what the test watches.
    np.random.seed(0)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    opt = Optimizer(SPACES["ints"], surrogate, n_initial_points=2, random_state=0)
    run(opt, 4, batch=2)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_batches_are_distinct_and_spread(surrogate):
    # The optimum (x = 10 ** 0.5 - 1) is inside the box. At an optimum on the
    # boundary, a GP batch (kriging believer) may crowd the corner with distinct
    # but close points.
    space = SearchSpace({"x": Real(0.0, 5.0), "n": Integer(1, 5)})
    opt = Optimizer(space, surrogate, n_initial_points=5, random_state=0)
    run(opt, 2, batch=5)
    batch = opt.ask(8)
    assert len(batch) == 8
    assert len({key(p) for p in batch}) == 8
    told = {key(h.params) for h in opt.history}
    assert not told & {key(p) for p in batch}
    # Not eight copies of nearly the same point.
    xs = np.array([p["x"] for p in batch])
    assert xs.max() - xs.min() > 0.01 or len({p["n"] for p in batch}) > 1


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_pending_points_are_respected(surrogate):
    # An asynchronous executor asks one point whenever a worker frees up.
    space = SearchSpace({"a": Integer(0, 4), "b": Categorical(["u", "v"])})
    opt = Optimizer(space, surrogate, n_initial_points=2, random_state=0)
    run(opt, 3)
    running = [opt.ask(1)[0] for _ in range(4)]
    assert [key(p) for p in opt.pending] == [key(p) for p in running]
    told = {key(h.params) for h in opt.history}
    assert len({key(p) for p in running} | told) == 7
    opt.tell(running[1:2], [objective(running[1])])
    assert [key(p) for p in opt.pending] == [key(p) for p in running[:1] + running[2:]]
    (new,) = opt.ask(1)
    assert key(new) not in {key(p) for p in running} | told


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_finite_grid_is_exhausted_without_repeats(surrogate):
    space = SearchSpace(
        [{"a": [1, 2, 3], "b": Categorical([None, (1, 2)])}, {"c": Integer(1, 4)}]
    )
    assert space.n_grid_points == 10
    opt = Optimizer(space, surrogate, n_initial_points=2, random_state=0)
    asked = []
    while True:
        batch = opt.ask(3)
        if not batch:
            break
        asked.extend(batch)
        opt.tell(batch, [objective(p) for p in batch])
    assert len(asked) == 10
    assert {key(p) for p in asked} == {key(p) for p in space.grid()}
    assert opt.ask(2) == []


class _Thirds:
    """A distribution seen as continuous (no ``rv_discrete``) whose ``ppf``
    takes three values only."""

    def rvs(self, size=None, random_state=None):
        return self.ppf(np.random.default_rng(random_state).uniform(size=size))

    def cdf(self, x):
        return np.clip(np.asarray(x, float) / 3, 0, 1)

    def ppf(self, q):
        return np.ceil(np.asarray(q) * 3)

    def support(self):
        return 0.0, 3.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "dist",
    [rv_discrete(values=([1, 2, 3], [0.2, 0.3, 0.5])), _Thirds()],
    ids=["unfrozen rv_discrete", "few-valued ppf"],
)
def test_a_distribution_of_three_values_gives_three_points(dist):
    # Used to loop forever once its values were seen (and the unfrozen
    # rv_discrete gave floats).
    opt = Optimizer({"d": dist}, "tpe", n_initial_points=2, random_state=0)
    asked = opt.ask(5)
    assert sorted(p["d"] for p in asked) == [1, 2, 3]
    if isinstance(dist, rv_discrete):
        assert all(isinstance(p["d"], (int, np.integer)) for p in asked)
    opt.tell(asked, [objective(p) for p in asked])
    assert opt.ask(2) == []


def test_last_points_of_a_grid_while_others_are_pending():
    opt = Optimizer({"a": [1, 2, 3]}, "tpe", n_initial_points=1, random_state=0)
    first = opt.ask(2)
    assert len(opt.ask(5)) == 1  # only one unseen point is left
    assert opt.ask() == []
    opt.tell(first, [1.0, 2.0])
    assert opt.ask() == []


@given(space=spaces(max_dims=3, max_subspaces=2), surrogate=st.sampled_from(SURROGATES))
# Two sub-spaces with the same parameters: two distinct points, not four.
@example(
    space=SearchSpace([{"a": Integer(0, 1)}, {"a": Integer(0, 1)}]),
    surrogate="random",
)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_every_asked_point_is_in_any_space(space, surrogate):
    opt = Optimizer(space, surrogate, n_initial_points=2, random_state=0)
    asked = []
    for i in range(4):
        batch = opt.ask(2)
        asked.extend(batch)
        opt.tell(batch, [float(i), math.nan][: len(batch)])
    assert all(p in space for p in asked)
    assert len({key(p) for p in asked}) == len(asked)
    # Every distinct point once (sub-spaces may share points, as in a
    # ParameterGrid, which counts them twice).
    n_points = space.n_grid_points
    if n_points <= 64:
        n_points = len({key(p) for p in space.grid()})
    assert len(asked) == min(8, n_points)


# -- the public surface -----------------------------------------------------------


def test_history_and_best_accessors():
    opt = Optimizer({"x": Real(0, 1)}, "random", random_state=0)
    assert opt.history == [] and opt.n_told == 0
    assert opt.best_params is None and math.isnan(opt.best_score)
    a, b, c = opt.ask(3)
    opt.tell([a, b, c], [0.5, math.nan, 0.7])
    assert opt.history[0] == Observation(a, 0.5)
    params, score = opt.history[2]
    assert params == c and score == 0.7
    assert opt.best_params == c and opt.best_score == 0.7
    opt.tell({"x": 0.25}, 0.9)  # a single point
    assert opt.best_params == {"x": 0.25} and opt.n_told == 4
    opt.ask()
    assert repr(opt) == (
        "Optimizer(SearchSpace({'x': Real(0.0, 1.0)}), surrogate='random', "
        "acquisition='ei', n_told=4, n_pending=1)"
    )


@pytest.mark.parametrize(
    "space, surrogate, expected",
    [
        ({"x": Real(0, 1)}, "gp", 10),
        ({f"x{i}": Real(0, 1) for i in range(7)}, "gp", 14),
        ({f"x{i}": Real(0, 1) for i in range(7)}, "rf", 14),
        ({f"x{i}": Real(0, 1) for i in range(30)}, "gp", 20),
        ({"a": [1, 2, 3, 4, 5, 6]}, "gp", 3),
        # TPE: optuna's n_startup_trials, whatever the dimension
        ({"x": Real(0, 1)}, "tpe", 10),
        ({f"x{i}": Real(0, 1) for i in range(30)}, "tpe", 10),
        ({"a": [1, 2, 3, 4, 5, 6]}, "tpe", 3),
    ],
)
def test_default_n_initial_points(space, surrogate, expected):
    assert Optimizer(space, surrogate).n_initial_points == expected


@given(n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_latin_hypercube_covers_every_dimension_evenly(n, seed):
    layout = Layout({"x": Real(0, 1), "c": ["a", "b", "c"], "k": Integer(1, 5)})
    U = layout.latin_hypercube(n, np.random.RandomState(seed))
    assert U.shape == (n, 3) and np.all((U >= 0) & (U <= 1))
    x, c = (layout.kinds.tolist().index(kind) for kind in (REAL, CATEGORICAL))
    # One point per stratum of the real column ...
    assert sorted(np.floor(U[:, x] * n).astype(int)) == list(range(n))
    # ... and choices as balanced as n allows.
    counts = np.bincount(np.floor(U[:, c] * 3).astype(int), minlength=3)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(U, layout.snap(U))


def test_latin_hypercube_of_a_conditional_space():
    layout = Layout(SPACES["conditional"])
    U = layout.latin_hypercube(30, np.random.RandomState(0))
    sub = layout.subspace_index(U)
    assert np.bincount(sub).tolist() == [10, 10, 10]
    for s, cols in enumerate(layout.subspace_columns):
        own = U[np.ix_(sub == s, cols)]
        assert not np.isnan(own).any()
        assert np.isnan(np.delete(U[sub == s], np.r_[0, cols], axis=1)).all()
        # The sub-space's real C column (log scale) is stratified over its points.
        if s < 2:
            assert sorted(np.floor(own[:, 0] * 10).astype(int)) == list(range(10))


@pytest.mark.parametrize("surrogate", MODELS)
def test_initial_design_is_a_latin_hypercube(surrogate):
    opt = Optimizer(
        {"x": Real(0, 1), "y": Real(-5, 5)},
        surrogate,
        n_initial_points=8,
        random_state=0,
    )
    points = run(opt, 4, batch=2)
    U = opt.space.encode(points)
    for j in range(2):
        assert sorted(np.floor(U[:, j] * 8).astype(int)) == list(range(8))


def test_initial_points_are_random_then_the_model_takes_over(monkeypatch):
    opt = Optimizer({"x": Real(0, 1)}, "gp", n_initial_points=4, random_state=0)
    calls = []
    fit = GaussianProcess.fit
    monkeypatch.setattr(
        GaussianProcess,
        "fit",
        lambda self, U, y: calls.append(len(y)) or fit(self, U, y),
    )
    run(opt, 4)
    assert calls == []
    run(opt, 2)
    assert calls == [4, 5]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_surrogate_object_is_used():
    gp = GaussianProcessRegressor(normalize_y=True)
    opt = Optimizer(
        {"x": Real(-1, 1), "y": Real(-1, 1)}, gp, n_initial_points=4, random_state=0
    )
    asked = run(opt, 16, score=lambda p: -(p["x"] ** 2) - p["y"] ** 2)
    assert hasattr(gp, "alpha_")  # fitted
    assert opt.best_score > -0.1
    assert len({key(p) for p in asked}) == 16


def test_surrogate_options_reach_the_surrogate():
    opt = Optimizer({"x": Real(0, 1)}, "tpe", n_ei_candidates=5, multivariate=False)
    assert opt._model.n_ei_candidates == 5 and not opt._model.multivariate
    opt = Optimizer({"x": Real(0, 1)}, "rf", n_estimators=7)
    run(opt, 12)
    assert len(opt._model.estimators_) == 7


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"surrogate": "bayes"}, "Unknown surrogate 'bayes'"),
        ({"surrogate": 3}, "surrogate must be one of"),
        ({"acquisition": "ucb"}, "Unknown acquisition 'ucb'"),
        ({"surrogate": "tpe", "acquisition": "lcb"}, "TPE has neither"),
        ({"n_initial_points": 0}, "n_initial_points must be an integer >= 1"),
        ({"n_initial_points": -2}, "n_initial_points must be an integer >= 1"),
        ({"n_initial_points": 2.5}, "n_initial_points must be an integer >= 1"),
        ({"n_initial_points": True}, "n_initial_points must be an integer >= 1"),
        ({"surrogate": "random", "gamma": 0.2}, "takes no options"),
        ({"surrogate": "gp", "n_trees": 3}, "Invalid option for surrogate='gp'"),
        ({"surrogate": "rf", "kind": "boosted"}, "kind must be 'random'"),
        ({"surrogate": "tpe", "prior_weight": -1}, "prior_weight must be"),
        ({"surrogate": "tpe", "n_ei_candidates": 0}, "n_ei_candidates must be"),
        ({"surrogate": "tpe", "gamma": 0.25}, "gamma must be a callable"),
        ({"surrogate": "gp", "noise": -1.0}, "noise must be None"),
    ],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Optimizer({"x": Real(0, 1)}, **kwargs)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_ask_needs_a_positive_integer(n):
    opt = Optimizer({"x": Real(0, 1)})
    with pytest.raises(ValueError, match=r"ask\(n\) needs an integer n >= 1"):
        opt.ask(n)


@pytest.mark.parametrize(
    "params, scores, match",
    [
        ([{"x": 0.5}], [1.0, 2.0], "1 parameter dicts but 2 scores"),
        ([{"x": 0.5}, {"x": 0.1}], [1.0], "2 parameter dicts but 1 scores"),
        ([{"x": 7.0}], [1.0], "not a point of"),
        ([{"y": 0.5}], [1.0], "not a point of"),
        (["x"], [1.0], "not a point of"),
        ([{"x": 0.5}], ["high"], "Scores must be numbers"),
        ([{"x": 0.5}], ["0.5"], "Scores must be numbers"),
        ([{"x": 0.5}], [5 + 3j], "Scores must be numbers"),
        ([{"x": 0.5}], np.array([1 + 0j]), "Scores must be numbers"),
        ([{"x": 0.5}], [[1.0, 2.0]], "1 parameter dicts but 2 scores"),
    ],
)
def test_tell_errors(params, scores, match):
    opt = Optimizer({"x": Real(0, 1)})
    with pytest.raises(ValueError, match=match):
        opt.tell(params, scores)
    assert opt.n_told == 0


# -- acquisition functions --------------------------------------------------------


def test_expected_improvement_closed_form():
    rng = np.random.RandomState(0)
    mean, std = rng.normal(size=50), rng.uniform(0.1, 2.0, size=50)
    incumbent, xi = 0.3, 0.05
    z = (incumbent - xi - mean) / std
    expected = (incumbent - xi - mean) * norm.cdf(z) + std * norm.pdf(z)
    assert np.allclose(expected_improvement(mean, std, incumbent, xi), expected)
    assert np.allclose(
        log_expected_improvement(mean, std, incumbent, xi), np.log(expected)
    )
    # Zero std: the improvement itself.
    assert expected_improvement(-1.0, 0.0, 0.5) == pytest.approx(1.5)
    assert expected_improvement(1.0, 0.0, 0.5) == 0.0


def test_log_expected_improvement_in_the_tails():
    z = np.array([-1e4, -500.0, -40.0, -20.0, 0.0, 20.0, 40.0, 1e4])
    log_ei = log_expected_improvement(-z, np.ones_like(z), 0.0)
    assert np.all(np.isfinite(log_ei))
    assert np.all(np.diff(log_ei) > 0)  # monotone in the improvement
    # Where EI itself is representable, the log agrees with it.
    ok = np.abs(z) <= 20
    ei = expected_improvement(-z[ok], np.ones(ok.sum()), 0.0)
    assert np.allclose(log_ei[ok], np.log(ei))
    # Far in the upper tail EI is the improvement.
    assert log_ei[-1] == pytest.approx(np.log(1e4))


def test_expected_improvement_of_log_normal_losses():
    # The surrogate predicts log losses: EI of the losses (SMAC's log EI).
    rng = np.random.RandomState(0)
    mean, std = rng.normal(size=50), rng.uniform(0.1, 2.0, size=50)
    incumbent = 0.3
    v = (incumbent - mean) / std
    expected = np.exp(incumbent) * norm.cdf(v) - np.exp(mean + std**2 / 2) * norm.cdf(
        v - std
    )
    log_ei = log_expected_improvement_of_exp(mean, std, incumbent)
    assert np.allclose(log_ei, np.log(expected))
    assert np.array_equal(utility("ei", mean, std, incumbent, log_losses=True), log_ei)
    # A Monte Carlo estimate agrees.
    draws = np.exp(rng.normal(-1.0, 0.5, size=400_000))
    mc = np.mean(np.maximum(np.exp(incumbent) - draws, 0.0))
    assert log_expected_improvement_of_exp(-1.0, 0.5, incumbent) == pytest.approx(
        np.log(mc), abs=0.01
    )
    # Far in the tails: finite, and monotone in the predicted mean.
    mean = np.array([60.0, 30.0, 5.0, 0.0, -5.0, -30.0])
    log_ei = log_expected_improvement_of_exp(mean, np.full(6, 0.5), -30.0)
    assert np.all(np.isfinite(log_ei))
    assert np.all(np.diff(log_ei) > 0)
    # Nearly certain predictions: the improvement itself, exp(-2) - exp(-3).
    assert log_expected_improvement_of_exp(-3.0, 1e-9, -2.0) == pytest.approx(
        np.log(np.exp(-2.0) - np.exp(-3.0))
    )


def test_probability_of_improvement_closed_form():
    mean, std = np.array([0.0, 1.0, -2.0]), np.array([1.0, 2.0, 0.5])
    expected = norm.cdf((0.5 - 0.1 - mean) / std)
    assert np.allclose(probability_of_improvement(mean, std, 0.5, xi=0.1), expected)
    assert probability_of_improvement([0.0, 1.0], [0.0, 0.0], 0.5).tolist() == [1, 0]


def test_lower_confidence_bound_closed_form():
    assert np.allclose(
        lower_confidence_bound([1.0, 2.0], [0.5, 1.0], kappa=3.0), [-0.5, -1.0]
    )
    assert np.allclose(lower_confidence_bound([1.0], [1.0], incumbent=5.0), [-0.96])


def test_maximize_finds_the_optimum_of_a_smooth_function():
    layout = Layout({"x": Real(0, 1), "y": Real(0, 1), "k": ["a", "b", "c"]})
    k, x, y = (c.start for c in layout.columns)  # columns sorted by name

    def func(U):
        return -((U[:, x] - 0.3) ** 2) - (U[:, y] - 0.8) ** 2 - (U[:, k] > 0.3)

    U, values = maximize(func, layout, np.random.RandomState(0), n_random=200)
    assert np.all(np.diff(values) <= 0)
    best = layout.space.decode(U[0])
    assert best["k"] == "a"
    assert abs(best["x"] - 0.3) < 0.02 and abs(best["y"] - 0.8) < 0.02


# -- surrogates -------------------------------------------------------------------


def test_tpe_helpers():
    assert [default_gamma(n) for n in (1, 10, 11, 250, 1000)] == [1, 1, 2, 25, 25]
    w = default_weights(40)
    assert len(w) == 40 and np.all(np.diff(w) >= 0) and w[-25:].tolist() == [1] * 25


@pytest.mark.parametrize("multivariate", [True, False])
@pytest.mark.parametrize("space_name", list(SPACES))
def test_tpe_proposes_near_the_good_group(multivariate, space_name):
    space = SearchSpace(SPACES[space_name])
    points = space.sample(60, random_state=0)
    U = space.encode(points)
    losses = -np.array([objective(p) for p in points])
    tpe = TreeParzenEstimator(space, multivariate=multivariate).fit(U, losses)
    candidates, scores = tpe.propose(random_state=0)
    assert np.all(np.diff(scores) <= 0)
    assert all(space.decode(u) in space for u in candidates)
    # The best candidates score higher under l/g than the observed bad points.
    worst = U[np.argsort(losses)[-10:]]
    assert scores[0] > np.median(tpe.score(worst))


def test_tpe_integer_kernels_are_normalized():
    # The kernels of integers are masses of bins: they sum to 1 over the values.
    space = SearchSpace({"n": Integer(1, 6, log=True)})
    tpe = TreeParzenEstimator(space).fit(space.encode([{"n": 2}, {"n": 5}]), [0.0, 1.0])
    values = space.encode([{"n": v} for v in range(1, 7)])
    below, above = tpe._groups[0]
    assert np.exp(below.log_pdf(values)).sum() == pytest.approx(1.0)
    assert np.exp(above.log_pdf(values)).sum() == pytest.approx(1.0)


def test_gp_interpolates_and_is_uncertain_away_from_data():
    space = SearchSpace({"x": Real(0, 1), "k": ["a", "b"]})
    xs, ks = [0.1, 0.4, 0.7, 0.9, 0.2], ["a", "a", "a", "b", "b"]
    U = space.encode([{"x": x, "k": k} for x, k in zip(xs, ks)])
    y = np.sin(6 * np.array(xs)) + (np.array(ks) == "b")
    gp = GaussianProcess(space, noise=1e-6).fit(U, y)
    mean, std = gp.predict(U, return_std=True)
    assert np.allclose(mean, y, atol=1e-2)
    _, far = gp.predict(space.encode([{"x": 0.55, "k": "b"}]), return_std=True)
    assert far[0] > 5 * std.max()
    assert gp.predict(U).shape == (5,)
    assert len(gp.length_scales_) == 1 and gp.length_scales_[0].shape == (2,)


def test_gp_length_scales_find_the_irrelevant_dimension():
    space = SearchSpace({"a": Real(0, 1), "b": Real(0, 1)})
    rng = np.random.RandomState(0)
    U = rng.uniform(size=(40, 2))
    gp = GaussianProcess(space).fit(U, np.sin(5 * U[:, 0]))
    relevant, irrelevant = gp.length_scales_[0]
    assert irrelevant > 5 * relevant


def test_gp_conditional_subspaces_are_independent():
    space = SearchSpace([{"a": Real(0, 1)}, {"b": Real(0, 1), "c": ["x", "y"]}])
    points = space.sample(30, random_state=0)
    U = space.encode(points)
    y = np.array([p.get("a", 0.0) + p.get("b", 0.0) for p in points])
    gp = GaussianProcess(space).fit(U, y)
    mean, std = gp.predict(U, return_std=True)
    assert np.allclose(mean, y, atol=0.1)
    assert len(gp.length_scales_) == 2


def test_gp_hyperparameters_are_kept_while_the_history_grows_a_little():
    space = SearchSpace({"a": Real(0, 1), "b": Real(0, 1), "c": ["x", "y", "z"]})
    U = space.encode(space.sample(106, random_state=0))
    y = np.sin(5 * U[:, 0]) + U[:, 2]
    gp = GaussianProcess(space).fit(U[:100], y[:100])
    fitted = gp.length_scales_[0]
    # One more point (< 2 % more): same hyperparameters, new data conditioned on.
    gp.fit(U[:101], y[:101])
    assert np.array_equal(gp.length_scales_[0], fitted)
    assert gp.predict(U[100:101])[0] == pytest.approx(y[100], abs=0.05)
    # 2 % more points, or points that do not extend the previous ones: refitted.
    assert not np.array_equal(gp.fit(U[:102], y[:102]).length_scales_[0], fitted)
    refitted = GaussianProcess(space).fit(U[:100], y[:100])
    refitted.fit(U[5:106], y[5:106])
    assert not np.array_equal(refitted.length_scales_[0], fitted)


def test_gp_warm_starts_are_reproducible():
    space = {"x": Real(0, 1), "k": Integer(1, 20), "c": ["a", "b", "c"]}

    def asks(seed):
        opt = Optimizer(space, "gp", n_initial_points=5, random_state=seed)
        points = Optimizer(space, "random", random_state=1).ask(55)
        opt.tell(points, [p["x"] + p["k"] / 20 + (p["c"] == "b") for p in points])
        out = []
        for _ in range(4):  # hyperparameters warm-started, some asks without refit
            (p,) = opt.ask()
            opt.tell(p, p["x"] + p["k"] / 20 + (p["c"] == "b"))
            out.append(key(p))
        return out

    assert asks(0) == asks(0)
    assert asks(0) != asks(1)


def test_gp_rejects_non_finite_losses():
    with pytest.raises(ValueError, match="needs finite losses"):
        GaussianProcess({"x": Real(0, 1)}).fit([[0.1], [0.2]], [1.0, np.nan])


@pytest.mark.parametrize("kind", ["extra", "random"])
def test_random_forest_mean_and_spread(kind):
    rng = np.random.RandomState(0)
    U = rng.uniform(size=(60, 2))
    U[:5, 1] = np.nan  # inactive columns are imputed
    y = (np.nan_to_num(U[:, 0]) - 0.5) ** 2
    rf = RandomForest(kind=kind, random_state=0).fit(U, y)
    mean, std = rf.predict(U, return_std=True)
    assert mean.shape == std.shape == (60,)
    assert np.corrcoef(mean, y)[0, 1] > 0.9
    assert np.all(std >= 0)
    assert np.array_equal(rf.predict(U), mean)
    again = RandomForest(kind=kind, random_state=0).fit(U, y).predict(U)
    assert np.array_equal(again, mean)


@pytest.mark.parametrize("name", ["log", "power"])
def test_target_transforms_keep_the_order(name):
    transform = _TRANSFORMS[name]
    y = np.array([3.0, -1.0, 1e6, 0.5, 0.5, 2.0, -1e-3])
    t = transform(y)
    assert np.all(np.isfinite(t))
    assert np.array_equal(np.sign(y[:, None] - y), np.sign(t[:, None] - t))
    assert np.all(np.isfinite(transform(np.full(4, 7.0))))


@pytest.mark.parametrize(
    "scores, plateau",
    [
        ([-1.0, -2.0, -1.0, -3.0, -1.0], True),  # three points tie at the best
        ([-1.0, -2.0, -1.0, -3.0, -1.5], False),  # two ties are not a plateau
        ([-2.0, -2.0, -2.0, -1.0, -3.0], False),  # ties below the best do not count
        ([-1.0, -1.0, -1.0, np.nan, np.nan], True),  # failures do not count
    ],
)
def test_gp_looks_beyond_a_plateau_of_tied_best_losses(scores, plateau):
    opt = Optimizer({"x": Real(0, 1)}, "gp", n_initial_points=2, random_state=0)
    opt.tell([{"x": x} for x in (0.1, 0.3, 0.5, 0.7, 0.9)], scores)
    _, y, incumbent = opt._training_data()
    finite = np.isfinite(scores)
    margin = 0.3 * (y[finite].std() or 1.0) if plateau else 0.0
    assert incumbent == pytest.approx(y[finite].min() - margin)
    # The forest does not use the rule.
    opt = Optimizer({"x": Real(0, 1)}, "rf", n_initial_points=2, random_state=0)
    opt.tell([{"x": x} for x in (0.1, 0.3, 0.5, 0.7, 0.9)], scores)
    _, y, incumbent = opt._training_data()
    assert incumbent == y[finite].min()


def _forest_asks_after_plateau(ties, seed):
    """Where the forest asks after points in [0.8, 1] (loss 0 if ``ties``, else
    slightly different losses near 0) and worse points below 0.8."""
    opt = Optimizer({"x": Real(0, 1)}, "rf", n_initial_points=2, random_state=seed)
    worse = [0.05, 0.2, 0.35, 0.5, 0.65]
    plateau = [0.8, 0.85, 0.9, 0.95, 1.0]
    flat = [0.0] * 5 if ties else [-0.001 * i for i in range(5)]
    opt.tell([{"x": x} for x in worse + plateau], [-1.0] * 5 + flat)
    return opt.ask()[0]["x"]


def test_forest_leaves_a_plateau_it_keeps_sampling():
    # Three of the last five told losses tie at the best: a random point next.
    xs = [_forest_asks_after_plateau(True, seed) for seed in range(20)]
    assert np.mean(np.array(xs) < 0.7) >= 0.5
    # A slope near the best instead: the forest stays near it.
    xs = [_forest_asks_after_plateau(False, seed) for seed in range(20)]
    assert np.mean(np.array(xs) < 0.7) <= 0.1


# -- convergence ------------------------------------------------------------------


def _best_after(surrogate, seed, n_iter=30):
    space = {"x": Real(-5.0, 5.0), "y": Real(-5.0, 5.0)}

    def score(p):
        return -((p["x"] - 1.3) ** 2) - 2 * (p["y"] + 0.7) ** 2

    opt = Optimizer(space, surrogate, n_initial_points=8, random_state=seed)
    run(opt, n_iter, score=score)
    return opt.best_score


@pytest.mark.parametrize("surrogate", MODELS)
def test_model_surrogates_beat_random_search(surrogate):
    # Medians over 12 seeds: a single run of 30 evaluations is noisy.
    seeds = range(12)
    random_median = np.median([_best_after("random", s) for s in seeds])
    model = [_best_after(surrogate, s) for s in seeds]
    assert np.median(model) > random_median
    assert np.median(model) > -0.4


def test_cancel_forgets_pending_points_only():
    opt = Optimizer({"x": Real(0.0, 1.0)}, random_state=0)
    first, second = opt.ask(2)
    opt.tell([first], [1.0])
    opt.cancel([first, second, {"x": 0.123}])  # told and unknown: ignored
    assert opt.pending == [] and opt.n_told == 1
    opt.cancel([])
    assert opt.pending == []
    (third,) = opt.ask(1)
    opt.cancel(third)  # one dict, as tell takes it
    assert opt.pending == []
