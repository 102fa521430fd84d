import math
import pickle

import numpy as np
import pytest
import scipy.stats as stats
from hypothesis import find, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from skhpo.samplers import Optimizer
from skhpo.space import (
    Categorical,
    Distribution,
    Integer,
    Real,
    SearchSpace,
    as_dimension,
    check_param_names,
)
from skhpo.testing import dimensions, params, spaces, values


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, float) and isinstance(y, float):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (name, x, y)
        else:
            assert x is y or x == y, (name, x, y)


# -- properties --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data(), spaces(max_subspaces=3), st.booleans())
def test_decode_encode_round_trip(data, space, onehot):
    p = data.draw(params(space))
    u = space.encode(p, onehot=onehot)
    finite = u[~np.isnan(u)]
    assert np.all((finite >= 0) & (finite <= 1))
    assert_same_params(space.decode(u, onehot=onehot), p)


@settings(max_examples=100, deadline=None)
@given(dimensions(), st.floats(0, 1))
def test_encode_decode_lands_in_same_cell(dim, u):
    # decode is a left inverse of encode on values, and encode(decode(u)) maps back
    # to the same value: the encoding is consistent in both directions.
    value = dim.decode(u)
    assert value in dim
    assert_same_params({"v": dim.decode(dim.encode(value))}, {"v": value})


@settings(max_examples=100, deadline=None)
@given(spaces(max_subspaces=3), st.integers(0, 2**32 - 1))
def test_every_sample_lies_in_its_bounds(space, seed):
    points = space.sample(5, random_state=seed)
    for p in points:
        assert p in space
        sub = space.subspaces[space.subspace_of(p)]
        for name, dim in sub.items():
            if isinstance(dim, (Real, Integer)):
                assert dim.low <= p[name] <= dim.high


@settings(max_examples=60, deadline=None)
@given(dimensions(), st.integers(0, 2**32 - 1))
def test_rvs_matches_sklearn_contract(dim, seed):
    one = dim.rvs(random_state=seed)
    assert one in dim
    assert dim.rvs(random_state=seed) == one  # same seed, same draw
    many = dim.rvs(size=4, random_state=seed)
    assert np.shape(many) == (4,)
    assert all(v in dim for v in many)


@pytest.mark.parametrize(
    "dim",
    [Real(1e-4, 1.0, log=True), Integer(1, 10_000, log=True), Real(2.0, 50.0)],
    ids=["real-log", "integer-log", "real-linear"],
)
def test_sampling_is_uniform_on_the_encoded_scale(dim):
    draws = dim.rvs(size=20_000, random_state=0)
    if isinstance(dim, Integer):
        # Integers: the share of each decade is the share of its log-width.
        decades = np.floor(np.log10(draws)).astype(int)
        edges = np.log([0.5, 9.5, 99.5, 999.5, 9999.5, 10000.5])
        expected = np.diff(edges) / (edges[-1] - edges[0])
        observed = np.bincount(decades, minlength=5) / len(draws)
        np.testing.assert_allclose(observed, expected, atol=0.015)
    else:
        u = dim.encode(draws)
        assert stats.kstest(u, "uniform").pvalue > 1e-3
    if getattr(dim, "log", False) and isinstance(dim, Real):
        # a quarter of the draws in each of the four decades
        counts = np.histogram(np.log10(draws), bins=4, range=(-4, 0))[0]
        np.testing.assert_allclose(counts / len(draws), 0.25, atol=0.015)


@pytest.mark.parametrize(
    "dim",
    [Real(-10, -2), Real(1e-6, 1), Real(1e-6, 1, log=True), Integer(-5, 5)],
    ids=repr,
)
def test_values_shrink_towards_low_and_reach_high(dim):
    # Minimal failing examples read as "the smallest value that fails".
    quick = settings(database=None, max_examples=3000)
    assert find(values(dim), lambda x: True, settings=quick) == dim.low
    assert find(values(dim), lambda x: x >= dim.high, settings=quick) == dim.high


@pytest.mark.parametrize(
    "dim",
    [Real(0, 1), Integer(1, 9), Categorical(["a", "b"]), as_dimension(stats.norm())],
)
def test_rvs_and_sample_take_a_numpy_generator_as_scipy_does(dim):
    draws = dim.rvs(size=5, random_state=np.random.default_rng(0))
    assert len(draws) == 5 and all(v in dim for v in draws)
    again = dim.rvs(size=5, random_state=np.random.default_rng(0))
    assert list(draws) == list(again)
    points = SearchSpace({"v": dim}).sample(3, random_state=np.random.default_rng(1))
    assert all(p["v"] in dim for p in points)


# -- scikit-learn conventions -------------------------------------------------


def test_real_log_works_in_randomized_search_cv():
    X, y = load_iris(return_X_y=True)
    search = RandomizedSearchCV(
        LogisticRegression(max_iter=300),
        {"C": Real(1e-4, 1e-1, log=True)},
        n_iter=4,
        cv=3,
        random_state=0,
    )
    clone(search).fit(X, y)
    search.fit(X, y)
    values = np.asarray(search.cv_results_["param_C"], dtype=float)
    assert np.all((values >= 1e-4) & (values <= 1e-1))
    assert 1e-4 <= search.best_params_["C"] <= 1e-1


def test_categorical_rvs_draws_like_sklearn_list_sampling():
    X, y = load_iris(return_X_y=True)
    kw = dict(n_iter=5, cv=2, random_state=3)
    choices = [0.01, 0.1, 1.0, 10.0, "dummy"]
    est = LogisticRegression(max_iter=1000)
    ours = RandomizedSearchCV(
        est, {"C": Categorical(choices[:4]), "tol": Real(1e-4, 1e-3)}, **kw
    )
    ours.fit(X, y)
    assert set(ours.cv_results_["param_C"]) <= set(choices[:4])


@pytest.mark.parametrize(
    "spec, expected",
    [
        (stats.uniform(1, 2), Real(1.0, 3.0)),
        (stats.loguniform(1e-3, 1e2), Real(1e-3, 1e2, log=True)),
        (stats.reciprocal(1e-3, 1e2), Real(1e-3, 1e2, log=True)),
        (stats.randint(1, 5), Integer(1, 4)),
        ([1, 2, 3], Categorical([1, 2, 3])),
        ((None, "a"), Categorical([None, "a"])),
        (np.array([0.1, 0.2]), Categorical([0.1, 0.2])),
        (range(3), Categorical([0, 1, 2])),
        (Integer(0, 3), Integer(0, 3)),
    ],
)
def test_as_dimension_from_sklearn_conventions(spec, expected):
    assert as_dimension(spec) == expected


@pytest.mark.parametrize("dist", [stats.norm(0, 1), stats.expon(), stats.poisson(3)])
def test_other_scipy_distributions_use_cdf_and_ppf(dist):
    dim = as_dimension(dist)
    assert isinstance(dim, Distribution)
    draws = dim.rvs(size=50, random_state=0)
    assert all(v in dim for v in draws)
    decoded = dim.decode(dim.encode(draws))
    np.testing.assert_allclose(decoded, draws, rtol=1e-8, atol=1e-12)
    assert dim == pickle.loads(pickle.dumps(dim))


def test_grid_matches_parameter_grid():
    spec = [
        {"kernel": ["rbf"], "C": [1, 10], "gamma": [0.1, 1]},
        {"kernel": ["linear"]},
    ]
    space = SearchSpace(spec)
    assert list(space.grid()) == list(ParameterGrid(spec))
    assert space.n_grid_points == len(ParameterGrid(spec))
    assert SearchSpace(ParameterGrid(spec)) == space
    assert SearchSpace({"a": Real(0, 1)}).n_grid_points == math.inf


def test_values_are_the_users_own_objects():
    marker = object()
    arr = np.arange(3)
    est = SVC()
    space = SearchSpace({"v": [None, (1, 2), arr, est, marker]})
    for value in [None, (1, 2), arr, est, marker]:
        back = space.decode(space.encode({"v": value}))["v"]
        assert back is value


def test_numpy_choices_are_handed_back_and_belong_to_the_space():
    # An array of strings or bools: decoding used to turn np.str_ into str,
    # which then matched no choice (the point was outside its own space).
    space = SearchSpace({"kernel": np.array(["rbf", "linear"]), "f": np.array([1, 0])})
    for point in space.sample(6, random_state=0):
        assert point in space
        assert isinstance(point["kernel"], np.str_)
    assert np.True_ in Categorical([True, False])
    assert np.True_ not in Categorical([1, 0])
    assert "rbf" in Categorical(np.array(["rbf"]))
    opt = Optimizer({"flag": np.array([True, False])}, random_state=0)
    asked = opt.ask(2)
    opt.tell(asked, [0.5, 0.7])
    assert sorted(bool(o.params["flag"]) for o in opt.history) == [False, True]


def test_conditional_space_never_mixes_subspaces():
    space = SearchSpace(
        [
            {"kernel": ["linear"], "C": Real(0.1, 10)},
            {"kernel": ["rbf"], "C": Real(0.1, 10), "gamma": Real(1e-3, 1, log=True)},
        ]
    )
    assert space.is_conditional
    for p in space.sample(200, random_state=0):
        assert set(p) in ({"kernel", "C"}, {"kernel", "C", "gamma"})
        assert (p["kernel"] == "rbf") == ("gamma" in p)
    u = space.encode({"kernel": "linear", "C": 1.0})
    assert np.isnan(u).sum() == 3  # the rbf sub-space's columns are inactive


def test_space_is_immutable_and_picklable():
    space = SearchSpace({"C": Real(1, 2), "k": Categorical(["a", "b"])})
    with pytest.raises(AttributeError, match="immutable"):
        space.subspaces = ()
    with pytest.raises(AttributeError, match="Real is immutable"):
        space.subspaces[0]["C"].low = 0
    with pytest.raises(TypeError):
        space.subspaces[0]["C"] = Real(0, 1)
    assert pickle.loads(pickle.dumps(space)) == space
    assert SearchSpace(space) == space
    layers = SearchSpace({"hidden_layer_sizes": [[10], [20, 10]]})  # lists
    assert pickle.loads(pickle.dumps(layers)) == layers


@pytest.mark.parametrize(
    "a, b, equal",
    [
        (Categorical([True, False]), Categorical([1, 0]), False),
        (Categorical([(1, 2)]), Categorical([[1, 2]]), False),
        (Categorical([[1, 2], [3]]), Categorical([[1, 2], [3]]), True),
        (Categorical([np.arange(3)]), Categorical([np.arange(3)]), True),
        (Categorical([1, 2.5]), Categorical([1.0, 2.5]), True),
        (Categorical([np.str_("a")]), Categorical(["a"]), True),
    ],
)
def test_categorical_equality_tells_choices_apart_as_membership(a, b, equal):
    assert (a == b) is equal
    if equal:
        assert hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a


def test_to_sklearn_samples_lists_without_replacement():
    grid = {"alpha": [1e-4, 1e-3, 1e-2]}
    drawn = ParameterSampler(SearchSpace(grid).to_sklearn(), 3, random_state=0)
    assert sorted(p["alpha"] for p in drawn) == grid["alpha"]


def test_discrete_distributions_contain_only_their_values():
    d = Distribution(stats.rv_discrete(values=([1, 5, 9], [0.2, 0.5, 0.3])))
    assert [v in d for v in (1, 2, 5, 9, 10)] == [True, False, True, True, False]
    assert math.inf not in Distribution(stats.norm())
    assert {"a": 2} not in SearchSpace({"a": d})


def test_pipeline_parameter_names_are_checked():
    pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC())])
    SearchSpace({"svc__C": [1, 2], "scale__with_mean": [True]}).check_estimator(pipe)
    with pytest.raises(ValueError, match=r"Invalid parameter 'svc__gama'.*svc__gamma"):
        SearchSpace({"svc__gama": [1]}).check_estimator(pipe)
    with pytest.raises(ValueError, match=r"Invalid parameters 'C', 'x'.*'<step>__"):
        check_param_names(["C", "x"], pipe)


def test_parameters_of_a_step_the_sub_space_swaps_in_are_valid():
    pipe = Pipeline([("scale", StandardScaler()), ("clf", SVC())])
    tree = DecisionTreeClassifier()
    space = [
        {"clf__C": [1, 2]},
        {"clf": [LogisticRegression(), tree], "clf__max_depth": [1, 2]},
    ]
    SearchSpace(space).check_estimator(pipe)
    # only in the sub-space that swaps it in
    with pytest.raises(ValueError, match=r"Invalid parameter 'clf__max_depth'"):
        SearchSpace([{"clf": [tree]}, {"clf__max_depth": [1]}]).check_estimator(pipe)
    with pytest.raises(
        ValueError, match=r"Invalid parameter 'clf__max_dept'.*max_depth"
    ):
        SearchSpace({"clf": [tree], "clf__max_dept": [1]}).check_estimator(pipe)


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Real(1.0, 0.5), ValueError, "low must be strictly less than high"),
        (lambda: Real(1.0, 1.0), ValueError, "low must be strictly less than high"),
        (lambda: Real(0.0, 1.0, log=True), ValueError, r"log scale needs low > 0"),
        (lambda: Real(-1.0, 1.0, log=True), ValueError, r"log scale needs low > 0"),
        (lambda: Integer(0, 10, log=True), ValueError, r"log scale needs low >= 1"),
        (lambda: Integer(5, 2), ValueError, "low must be strictly less than high"),
        (lambda: Integer(0.5, 2), ValueError, "low must be an integer"),
        (lambda: Real("0", 1), ValueError, "low must be a real number"),
        (
            lambda: Real(0, math.inf),
            ValueError,
            "high must be a real number and finite",
        ),
        (lambda: Real(0, 1, log="yes"), ValueError, "log must be True or False"),
        (lambda: Real(-1.7e308, 1.7e308), ValueError, "high - low overflows"),
        (lambda: Integer(0, 2**63), ValueError, r"within \+-2\*\*53"),
        (lambda: Integer(0, 3).decode(math.nan), ValueError, "Cannot decode NaN"),
        (
            lambda: Categorical(["a", "b"]).decode([0.5, math.nan]),
            ValueError,
            "Cannot decode NaN",
        ),
        (lambda: Real(True, 2), ValueError, "low must be a real number"),
        (lambda: Categorical([]), ValueError, "at least one choice"),
        (lambda: Categorical({1, 2}), ValueError, "must be a list of values"),
        (lambda: Categorical("abc"), ValueError, "must be a list of values"),
        (lambda: Distribution(object()), ValueError, "has no rvs, cdf, ppf"),
        (
            lambda: as_dimension(stats.loguniform(0, 1), "C"),
            ValueError,
            r"'C': loguniform\(0, 1\): its arguments are invalid",
        ),
        (
            lambda: as_dimension(stats.uniform(1, 0), "C"),
            ValueError,
            r"uniform\(1, 0\): its arguments are invalid",
        ),
        (
            lambda: as_dimension(stats.randint(3, 3), "n"),
            ValueError,
            r"randint\(3, 3\): its arguments are invalid",
        ),
        (
            lambda: as_dimension(stats.randint, "n"),
            ValueError,
            r"'n': scipy.stats.randint: its ppf fails .*randint\(1, 10\)",
        ),
        (lambda: as_dimension([], "C"), ValueError, "'C': the list of values is empty"),
        (lambda: as_dimension("rbf", "kernel"), ValueError, r"Wrap.*\['rbf'\]"),
        (lambda: as_dimension(3, "C"), ValueError, r"'C': expected a list.*got int 3"),
        (lambda: as_dimension(np.ones((2, 2)), "w"), ValueError, "one-dimensional"),
        (lambda: SearchSpace([]), ValueError, "empty list"),
        (lambda: SearchSpace(3), ValueError, "must be a dict"),
        (lambda: SearchSpace({1: [1]}), ValueError, "keys must be parameter names"),
        (lambda: SearchSpace([{"a": [1]}, 5]), ValueError, "item 1 is int"),
        (lambda: SearchSpace({"a": [1]}).encode({"b": 1}), ValueError, "no sub-space"),
        (
            lambda: SearchSpace({"a": Real(0, 1)}).encode({"a": 2.0}),
            ValueError,
            "belong to no sub-space",
        ),
        (lambda: SearchSpace({"a": Real(0, 1)}).grid(), ValueError, "continuous"),
        (
            lambda: SearchSpace({"a": Real(0, 1)}).decode(np.zeros(3)),
            ValueError,
            "Expected encoded points with 1 columns",
        ),
        (lambda: spaces(max_dims=0), ValueError, "must be finite integers >= 1"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(make, error, match):
    with pytest.raises(error, match=match):
        make()


class _RvsOnly:
    def rvs(self, size=None, random_state=None):
        return 1.0


def test_distribution_without_cdf_is_refused_for_encoding():
    with pytest.raises(ValueError, match="no cdf/ppf"):
        as_dimension(_RvsOnly(), "x")
