"""Hypothesis strategies over search spaces, for property-based tests of estimators.

``params(space)`` draws valid parameter dicts from a search space, so a test can
check an estimator over every corner of the space it will be tuned on;
``spaces()`` draws valid search spaces, for testing code that consumes spaces.

Examples
--------
Property-test an estimator over its space: for every drawn setting, fit succeeds
and predictions have the right shape.

>>> from hypothesis import given, settings
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import SGDClassifier
>>> from skhpo.space import Real, Categorical
>>> from skhpo.testing import params
>>> X, y = load_iris(return_X_y=True)
>>> space = {"alpha": Real(1e-6, 1e-1, log=True),
...          "penalty": Categorical(["l2", "l1", "elasticnet"])}
>>> @settings(max_examples=10, deadline=None)
... @given(params(space))
... def test_sgd_fits_everywhere(p):
...     clf = SGDClassifier(max_iter=20, tol=None, random_state=0).set_params(**p)
...     assert clf.fit(X, y).predict(X).shape == y.shape
>>> test_sgd_fits_everywhere()
"""

import math

from hypothesis import strategies as st

from .space import Categorical, Integer, Real, SearchSpace, as_dimension

__all__ = ["dimensions", "params", "spaces", "values"]


def values(dimension):
    """Strategy drawing values of one dimension.

    Parameters
    ----------
    dimension : Dimension or anything :func:`skhpo.space.as_dimension` accepts

    Returns
    -------
    hypothesis strategy
        Bounds are included and shrink towards ``low`` (the first choice for a
        categorical).
    """
    dim = as_dimension(dimension)
    if isinstance(dim, Integer):
        # An offset from low: hypothesis shrinks integers towards 0.
        return st.integers(0, dim.high - dim.low).map(lambda k: dim.low + k)
    if isinstance(dim, Real):
        return _offset_floats(dim)
    if isinstance(dim, Categorical):
        return st.sampled_from(dim.choices)
    # Any other dimension: draw in the encoded interval and decode.
    return st.floats(0.0, 1.0).map(dim.decode)


def _offset_floats(dim):
    """Floats of a :class:`Real` that shrink towards ``low`` (hypothesis shrinks
    floats towards 0): an offset from ``low``, on the dimension's scale; the
    largest offset is ``high`` exactly."""
    low, high = dim.low, dim.high
    span = math.log(high) - math.log(low) if dim.log else high - low
    if not math.isfinite(span):  # a range wider than the largest float
        return st.floats(low, high, allow_nan=False, allow_infinity=False)

    def shift(offset):
        if offset >= span:
            return high
        value = low * math.exp(offset) if dim.log else low + offset
        return min(max(value, low), high)

    return st.floats(0.0, span, allow_nan=False, allow_infinity=False).map(shift)


def params(space):
    """Strategy drawing valid parameter dicts from a search space.

    Parameters
    ----------
    space : SearchSpace, dict or list of dicts
        Any search space skhpo accepts. With several sub-spaces, each draw
        belongs to exactly one of them.

    Returns
    -------
    hypothesis strategy of dict

    Examples
    --------
    >>> from hypothesis import given
    >>> from skhpo.space import Integer
    >>> from skhpo.testing import params
    >>> @given(params({"max_depth": Integer(1, 8), "criterion": ["gini", "entropy"]}))
    ... def test_in_space(p):
    ...     assert 1 <= p["max_depth"] <= 8
    >>> test_in_space()
    """
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    return st.one_of(
        [
            st.fixed_dictionaries({name: values(dim) for name, dim in sub.items()})
            for sub in space.subspaces
        ]
    )


_names = st.from_regex(r"[a-z][a-z0-9]{0,6}(__[a-z][a-z0-9]{0,6})?", fullmatch=True)


@st.composite
def _real(draw, log):
    if log:
        low = draw(st.floats(1e-6, 1e3))
        high = low * draw(st.floats(1.001, 1e6))
    else:
        low = draw(st.floats(-1e3, 1e3))
        high = low + draw(st.floats(1e-3, 1e3))
    return Real(low, high, log=log)


@st.composite
def _integer(draw, log):
    low = draw(st.integers(1, 1000) if log else st.integers(-1000, 1000))
    return Integer(low, low + draw(st.integers(1, 1000)), log=log)


_choice_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-100, 100),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.text(max_size=5),
)


def dimensions():
    """Strategy drawing valid dimensions: Real, Integer (linear and log) and
    Categorical.

    Returns
    -------
    hypothesis strategy of Dimension
    """
    categorical = st.lists(_choice_values, min_size=1, max_size=5, unique=True).map(
        Categorical
    )
    return st.one_of(
        st.booleans().flatmap(_real), st.booleans().flatmap(_integer), categorical
    )


@st.composite
def _subspace(draw, max_dims):
    names = draw(st.lists(_names, min_size=1, max_size=max_dims, unique=True))
    return {name: draw(dimensions()) for name in names}


def spaces(max_dims=4, max_subspaces=1):
    """Strategy drawing valid search spaces.

    Parameters
    ----------
    max_dims : int, default=4
        Largest number of parameters in one sub-space.
    max_subspaces : int, default=1
        Largest number of sub-spaces; above 1, draws include conditional spaces
        (lists of dicts).

    Returns
    -------
    hypothesis strategy of SearchSpace

    Examples
    --------
    >>> from hypothesis import given
    >>> from skhpo.testing import spaces
    >>> @given(spaces(max_subspaces=2))
    ... def test_sample_is_inside(space):
    ...     assert all(p in space for p in space.sample(3, random_state=0))
    >>> test_sample_is_inside()
    """
    if max_dims < 1 or max_subspaces < 1 or math.isinf(max_dims):
        raise ValueError(
            f"spaces(max_dims={max_dims!r}, max_subspaces={max_subspaces!r}): both "
            "must be finite integers >= 1."
        )
    return st.lists(_subspace(max_dims), min_size=1, max_size=max_subspaces).map(
        SearchSpace
    )
