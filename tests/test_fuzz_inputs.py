"""Fuzzing bad input: every failure is a ValueError/TypeError with a message.

Constructor arguments, search spaces and ``fit`` data of the five searches are
drawn by hypothesis; a failure must be a ``ValueError`` or ``TypeError`` (the
exceptions scikit-learn raises for bad input; ``InvalidParameterError`` is a
``ValueError``) whose message says something, never an ``AttributeError``,
``IndexError``, ``KeyError``, ``ZeroDivisionError``... from deep inside.
"""

import warnings

import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from skhpo import (
    HyperbandSearchCV,
    IncrementalSearchCV,
    InverseDecaySearchCV,
    SMBOSearchCV,
    SuccessiveHalvingSearchCV,
)
from skhpo.space import Categorical, Integer, Real, SearchSpace

X, Y = make_classification(n_samples=60, n_features=4, random_state=0)
SPACE = {"alpha": [1e-4, 1e-3]}

# Each search with a tiny budget, so that a fit that succeeds is quick.
BASE = {
    IncrementalSearchCV: dict(
        n_initial_parameters=2, max_iter=2, decay_rate=None, random_state=0
    ),
    InverseDecaySearchCV: dict(n_initial_parameters=2, max_iter=2, random_state=0),
    SuccessiveHalvingSearchCV: dict(
        n_initial_parameters=2, n_initial_iter=1, max_iter=2, random_state=0
    ),
    HyperbandSearchCV: dict(max_iter=2, random_state=0),
    SMBOSearchCV: dict(n_iter=2, cv=2, random_state=0),
}
ADAPTIVE = [c for c in BASE if c is not SMBOSearchCV]

weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -1.0, 0.5, 1.5, float("nan"), float("inf"), 1e300]),
    st.text(max_size=4),
    st.lists(st.integers(-2, 2), max_size=3),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([object(), np.array([1, 2]), np.float64("nan"), SGDClassifier]),
)

TRIED = {"constructor": 0, "space": 0, "dimension": 0, "fit": 0}


def _check_failure(error):
    assert isinstance(error, (ValueError, TypeError)), (
        f"{type(error).__name__}: {error}"
    )
    assert str(error).strip(), f"{type(error).__name__} without a message"


def _fit(search):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            search.fit(
                X,
                Y,
                **({} if isinstance(search, SMBOSearchCV) else {"classes": [0, 1]}),
            )
        except (ValueError, TypeError) as error:
            _check_failure(error)
        except Exception as error:  # noqa: BLE001 - the assertion is the test
            pytest.fail(f"obscure failure {type(error).__name__}: {error!r}")


@pytest.mark.parametrize("cls", list(BASE), ids=lambda c: c.__name__)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_constructor_arguments(client, cls, data):
    # (client: a fuzzed address would be connected to; see test_smbo_dask.py)
    skip = ("estimator", "checkpoint", "client")
    names = [n for n in cls._get_param_names() if n not in skip]
    name = data.draw(st.sampled_from(names), label="parameter")
    value = data.draw(weird, label="value")
    kwargs = {**BASE[cls], name: value}
    TRIED["constructor"] += 1
    try:
        search = cls(SGDClassifier(random_state=0), SPACE, **kwargs)
    except (ValueError, TypeError) as error:  # positional clash etc.
        _check_failure(error)
        return
    _fit(search)


spaces = st.one_of(
    weird,
    st.dictionaries(st.text(max_size=3), weird, max_size=2),
    st.lists(
        st.dictionaries(st.sampled_from(["alpha", "l1_ratio"]), weird), max_size=2
    ),
    st.dictionaries(st.sampled_from(["alpha", "l1_ratio"]), weird, min_size=1),
)


@settings(max_examples=40, deadline=None)
@given(spec=spaces)
def test_fuzz_search_spaces(spec):
    TRIED["space"] += 1
    try:
        space = SearchSpace(spec)
        space.check_estimator(SGDClassifier())
        space.sample(2, random_state=0)
    except (ValueError, TypeError) as error:
        _check_failure(error)


@settings(max_examples=40, deadline=None)
@given(
    cls=st.sampled_from([Real, Integer]),
    low=weird,
    high=weird,
    log=weird,
)
def test_fuzz_dimensions(cls, low, high, log):
    TRIED["dimension"] += 1
    try:
        dim = cls(low, high, log=log)
        dim.rvs(random_state=0)
    except (ValueError, TypeError) as error:
        _check_failure(error)


@settings(max_examples=20, deadline=None)
@given(choices=weird)
def test_fuzz_categorical(choices):
    TRIED["dimension"] += 1
    try:
        Categorical(choices).rvs(random_state=0)
    except (ValueError, TypeError) as error:
        _check_failure(error)


@pytest.mark.parametrize("cls", ADAPTIVE, ids=lambda c: c.__name__)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=spaces)
def test_fuzz_adaptive_spaces(client, cls, spec):
    TRIED["space"] += 1
    try:
        search = cls(SGDClassifier(random_state=0), spec, **BASE[cls])
    except (ValueError, TypeError) as error:
        _check_failure(error)
        return
    _fit(search)


# -- bad fit input for the adaptive searches ---------------------------------------


def _unknown_chunks():
    x = da.from_array(X, chunks=20)
    return x[x[:, 0] > -100]  # boolean indexing: unknown chunk sizes


BAD_FIT = [
    ("mismatched lengths", lambda: (X, Y[:-5]), "inconsistent numbers of samples"),
    ("mismatched dask", lambda: (da.from_array(X, 20), Y[:-5]), "inconsistent"),
    ("empty", lambda: (X[:0], Y[:0]), "no rows"),
    ("nan in y", lambda: (X, np.where(Y == 1, np.nan, 0.0)), "y contains NaN"),
    ("inf in y", lambda: (X, np.where(Y == 1, np.inf, 0.0)), "y contains infinite"),
    ("X is None", lambda: (None, Y), "X is None"),
    ("scalar X", lambda: (3.0, Y), "got the scalar"),
    ("strings in X", lambda: (np.full(X.shape, "a"), Y), "could not convert"),
]


@pytest.mark.parametrize("cls", ADAPTIVE, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case, make, match", BAD_FIT, ids=[c[0] for c in BAD_FIT])
def test_bad_fit_input_is_a_clear_error(client, cls, case, make, match):
    TRIED["fit"] += 1
    X_bad, y_bad = make()
    search = cls(SGDClassifier(random_state=0), SPACE, **BASE[cls])
    with pytest.raises((ValueError, TypeError), match=match):
        search.fit(X_bad, y_bad, classes=[0, 1])


def test_bad_fit_input_is_caught_before_any_work(client, wait_for_no_tasks):
    search = IncrementalSearchCV(SGDClassifier(), SPACE, **BASE[IncrementalSearchCV])
    # Tasks of the previous tests are released asynchronously: wait for them.
    assert wait_for_no_tasks(client) == 0
    for _, make, _ in BAD_FIT[:-1]:
        with pytest.raises((ValueError, TypeError)):
            search.fit(*make(), classes=[0, 1])
    after = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    assert after == 0


def test_dask_array_with_unknown_chunk_sizes_is_supported(client):
    # Row counts are computed on the cluster (as for dask DataFrames).
    x = _unknown_chunks()
    y = da.from_array(Y, chunks=20)[x.compute()[:, 0] > -100]
    search = IncrementalSearchCV(SGDClassifier(), SPACE, **BASE[IncrementalSearchCV])
    search.fit(x, y, classes=[0, 1])
    assert len(search.history_) == 4


def test_smbo_refuses_unknown_chunk_sizes_before_any_fit():
    """SMBOSearchCV indexes X by rows: dask's error says how to get the sizes."""
    TRIED["fit"] += 1
    search = SMBOSearchCV(SGDClassifier(), SPACE, **BASE[SMBOSearchCV])
    with pytest.raises(ValueError, match=r"unknown chunk size(.|\n)*compute_chunk"):
        search.fit(_unknown_chunks(), Y)
    assert not hasattr(search, "cv_results_")


# -- data SMBOSearchCV's estimator cannot convert to numbers ------------------------

STRINGS = np.full(X.shape, "a")


@pytest.mark.parametrize("execution", ["joblib", "async"])
@pytest.mark.parametrize(
    "estimator, X_bad, y_bad",
    [
        (SGDClassifier(random_state=0), STRINGS, Y),
        (Ridge(), X, np.full(Y.shape, "b")),
    ],
    ids=["strings in X", "strings in y of a regressor"],
)
def test_smbo_stops_at_the_first_candidate_on_non_numeric_data(
    client, execution, estimator, X_bad, y_bad
):
    """Strings are valid input for some estimators (text pipelines, encoders,
    HistGradientBoosting's categorical features), so they cannot be refused
    before fitting; the first candidate's input validation decides, and the
    search stops there with what it finished."""
    TRIED["fit"] += 1
    space = {"alpha": Real(1e-4, 1.0, log=True)}
    search = SMBOSearchCV(estimator, space, n_iter=20, cv=2, execution=execution)
    match = "cannot use this data(.|\n)*could not convert"
    with pytest.raises(ValueError, match=match):
        search.fit(X_bad, y_bad)
    assert len(search.cv_results_["params"]) <= 2  # the first round, not 20
    assert np.isnan(search.cv_results_["mean_test_score"]).all()


def test_smbo_goes_on_when_the_estimator_takes_strings():
    categorical = np.where(X > 0, "pos", "neg")
    search = SMBOSearchCV(
        HistGradientBoostingClassifier(categorical_features=[0, 1, 2, 3], max_iter=5),
        {"learning_rate": Real(0.05, 0.5)},
        n_iter=3,
        cv=2,
        random_state=0,
    )
    search.fit(categorical, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_smbo_goes_on_when_another_step_may_take_the_data():
    """A space that swaps pipeline steps: the next candidate may accept strings."""
    categorical = np.where(X > 0, "pos", "neg")
    pipe = Pipeline([("encode", "passthrough"), ("clf", SGDClassifier(random_state=0))])
    space = {"encode": ["passthrough", OneHotEncoder()], "clf__alpha": [1e-4, 1e-3]}
    search = SMBOSearchCV(pipe, space, n_iter=4, cv=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)  # the failed candidates
        warnings.simplefilter("ignore", UserWarning)  # and their NaN scores
        search.fit(categorical, Y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    assert isinstance(search.best_params_["encode"], OneHotEncoder)


def test_report_counts():
    """Not a check: prints how many bad inputs were tried (see the report)."""
    print(f"bad inputs tried: {TRIED}")
