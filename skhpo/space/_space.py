"""Search spaces: named dimensions, sub-spaces, and the one unit-cube encoder."""

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import ParameterGrid, ParameterSampler

from ._dimensions import Categorical, Dimension, as_dimension, random_generator

__all__ = ["Column", "SearchSpace", "check_param_names"]


class Column(NamedTuple):
    """Where one dimension lives in an encoded vector.

    Attributes
    ----------
    subspace : int or None
        Index of the sub-space the dimension belongs to; None for the column that
        selects the sub-space (present only when there are several).
    name : str or None
        Parameter name; None for the sub-space selector.
    dimension : Dimension
    start : int
        First column of the dimension in the encoded array.
    width : int
        Number of columns: 1, or the number of choices for a one-hot categorical.
    """

    subspace: int | None
    name: str | None
    dimension: Dimension
    start: int
    width: int


def _as_subspaces(spec):
    if isinstance(spec, SearchSpace):
        return spec.subspaces
    if isinstance(spec, ParameterGrid):
        spec = spec.param_grid
    elif isinstance(spec, ParameterSampler):
        spec = spec.param_distributions
    if isinstance(spec, Mapping):
        spec = [spec]
    elif not isinstance(spec, (list, tuple)):
        raise ValueError(
            "A search space must be a dict mapping parameter names to lists of "
            "values or distributions, or a list of such dicts; got "
            f"{type(spec).__name__} {spec!r}."
        )
    if len(spec) == 0:
        raise ValueError(
            "The search space is an empty list; give at least one dict of "
            "parameter names to values, e.g. [{'C': [0.1, 1, 10]}]."
        )
    subspaces = []
    for i, sub in enumerate(spec):
        where = f" (sub-space {i})" if len(spec) > 1 else ""
        if not isinstance(sub, Mapping):
            raise ValueError(
                f"Each sub-space of a list must be a dict; item {i} is "
                f"{type(sub).__name__} {sub!r}."
            )
        dims = {}
        for name, value in sub.items():
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"Search space keys must be parameter names (non-empty str), "
                    f"got {name!r}{where}."
                )
            dims[name] = as_dimension(value, name)
        subspaces.append(MappingProxyType(dict(sorted(dims.items()))))
    return tuple(subspaces)


def _python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


class SearchSpace:
    """The space of hyperparameters a search explores.

    Built from any of scikit-learn's conventions: a dict mapping parameter names to
    lists of values or scipy.stats distributions (``param_grid`` /
    ``param_distributions``), skhpo's :class:`Real`, :class:`Integer` and
    :class:`Categorical`, a :class:`~sklearn.model_selection.ParameterGrid`, or a
    list of such dicts. A list of dicts is a set of disjoint sub-spaces: a point
    belongs to exactly one of them and never mixes their parameters.

    Points are encoded to the unit cube by :meth:`encode` and back by
    :meth:`decode`, the one encoding all samplers share. Columns of the sub-spaces a
    point does not belong to hold NaN; with several sub-spaces a first column selects
    the sub-space.

    Parameters
    ----------
    spec : dict, list of dicts, ParameterGrid or SearchSpace
        The space.

    Attributes
    ----------
    subspaces : tuple of mappings
        One read-only mapping from parameter name to :class:`Dimension` per
        sub-space, names sorted.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from skhpo.space import SearchSpace, Integer
    >>> space = SearchSpace({"C": loguniform(1e-2, 1e2), "degree": Integer(2, 5)})
    >>> space.n_columns
    2
    >>> u = space.encode({"C": 1.0, "degree": 3})
    >>> u.round(3).tolist()
    [0.5, 0.375]
    >>> space.decode(u)
    {'C': 1.0, 'degree': 3}
    >>> [sorted(p) for p in space.sample(2, random_state=0)]
    [['C', 'degree'], ['C', 'degree']]
    """

    def __init__(self, spec):
        object.__setattr__(self, "subspaces", _as_subspaces(spec))

    def __setattr__(self, name, value):
        raise AttributeError("SearchSpace is immutable; build a new one instead.")

    # -- structure -------------------------------------------------------------

    @property
    def names(self):
        """Sorted names of all parameters, over all sub-spaces."""
        return sorted({name for sub in self.subspaces for name in sub})

    @property
    def is_conditional(self):
        """Whether the space has more than one sub-space."""
        return len(self.subspaces) > 1

    @property
    def is_finite(self):
        """Whether every dimension has a finite number of values."""
        return all(d.is_finite for sub in self.subspaces for d in sub.values())

    @property
    def n_grid_points(self):
        """Number of points of the grid, or ``math.inf`` for a continuous space."""
        if not self.is_finite:
            return math.inf
        return sum(
            math.prod(d.n_values for d in sub.values()) for sub in self.subspaces
        )

    def grid(self):
        """Iterate over every point of a finite space, in ParameterGrid's order.

        Raises
        ------
        ValueError
            If a dimension is continuous.
        """
        if not self.is_finite:
            continuous = [
                name
                for sub in self.subspaces
                for name, d in sub.items()
                if not d.is_finite
            ]
            raise ValueError(
                f"The space has no grid: {continuous} are continuous. Use lists or "
                "Integer/Categorical dimensions, or sample the space instead."
            )
        grid = [{n: d.values() for n, d in sub.items()} for sub in self.subspaces]
        return iter(ParameterGrid(grid))

    def columns(self, onehot=False):
        """Layout of the encoded array.

        Parameters
        ----------
        onehot : bool, default=False
            Encode categorical dimensions (and the sub-space selector) as one-hot
            columns instead of one index column.

        Returns
        -------
        list of Column
        """
        cols, start = [], 0

        def add(subspace, name, dim):
            nonlocal start
            width = dim.n_values if onehot and dim.kind == "categorical" else 1
            cols.append(Column(subspace, name, dim, start, width))
            start += width

        if self.is_conditional:
            add(None, None, Categorical(range(len(self.subspaces))))
        for i, sub in enumerate(self.subspaces):
            for name, dim in sub.items():
                add(i, name, dim)
        return cols

    @property
    def n_columns(self):
        """Number of columns of the (index) encoding."""
        return len(self.columns())

    # -- membership ------------------------------------------------------------

    def subspace_of(self, params):
        """Index of the sub-space that ``params`` belongs to.

        Raises
        ------
        ValueError
            If the names or values of ``params`` fit no sub-space.
        """
        for i, sub in enumerate(self.subspaces):
            if set(sub) == set(params) and all(params[n] in d for n, d in sub.items()):
                return i
        raise ValueError(
            f"The parameters {params!r} belong to no sub-space of {self!r}: the "
            "names must be exactly those of one sub-space and each value within its "
            "dimension."
        )

    def __contains__(self, params):
        try:
            self.subspace_of(params)
        except (ValueError, TypeError):
            return False
        return True

    # -- encoding --------------------------------------------------------------

    def encode(self, params, onehot=False):
        """Encode parameter dicts to the unit cube.

        Parameters
        ----------
        params : dict or list of dicts
        onehot : bool, default=False
            See :meth:`columns`.

        Returns
        -------
        ndarray of shape (n_columns,) for a dict, (n_points, n_columns) for a list
            Values in ``[0, 1]``; NaN in the columns of other sub-spaces.
        """
        single = isinstance(params, Mapping)
        points = [params] if single else list(params)
        cols = self.columns(onehot)
        width = cols[-1].start + cols[-1].width if cols else 0
        out = np.full((len(points), width), np.nan)
        for row, point in enumerate(points):
            k = self.subspace_of(point)
            for col in cols:
                if col.subspace is None:
                    value = k
                elif col.subspace == k:
                    value = point[col.name]
                else:
                    continue
                if col.width > 1:
                    out[row, col.start : col.start + col.width] = 0.0
                    out[row, col.start + col.dimension.index(value)] = 1.0
                else:
                    out[row, col.start] = col.dimension.encode(value)
        return out[0] if single else out

    def decode(self, u, onehot=False):
        """Decode points of the unit cube to parameter dicts.

        Parameters
        ----------
        u : array-like of shape (n_columns,) or (n_points, n_columns)
            Values are clipped to ``[0, 1]``; columns of other sub-spaces are
            ignored.
        onehot : bool, default=False
            See :meth:`columns`; one-hot blocks decode to their largest entry.

        Returns
        -------
        dict for a 1-d ``u``, list of dicts for a 2-d ``u``
        """
        u = np.asarray(u, dtype=float)
        single = u.ndim == 1
        u = np.atleast_2d(u)
        cols = self.columns(onehot)
        width = cols[-1].start + cols[-1].width if cols else 0
        if u.shape[1] != width:
            raise ValueError(
                f"Expected encoded points with {width} columns, got shape {u.shape}."
            )
        decoded = {}
        for col in cols:
            block = u[:, col.start : col.start + col.width]
            if col.width > 1:
                codes = np.argmax(np.nan_to_num(block, nan=-1.0), axis=1) + 0.5
                block = codes / col.width
            else:
                block = np.nan_to_num(block[:, 0], nan=0.5)
            decoded[col.subspace, col.name] = col.dimension.decode(block)
        subspace = decoded.pop((None, None), np.zeros(len(u), dtype=int))
        points = []
        for row in range(len(u)):
            k = int(subspace[row])
            points.append(
                {
                    name: decoded[k, name][row]
                    if self.subspaces[k][name].kind == "categorical"  # as given
                    else _python_scalar(decoded[k, name][row])
                    for name in self.subspaces[k]
                }
            )
        return points[0] if single else points

    # -- sampling --------------------------------------------------------------

    def sample(self, n, random_state=None):
        """Draw ``n`` points at random.

        Each point picks a sub-space uniformly at random (as scikit-learn's
        ParameterSampler does), then each value from its dimension's distribution.

        Parameters
        ----------
        n : int
        random_state : int, RandomState, Generator or None, default=None

        Returns
        -------
        list of dicts
        """
        rng = random_generator(random_state)
        return self.decode(rng.uniform(size=(n, self.n_columns)))

    # -- interoperability ------------------------------------------------------

    def to_sklearn(self):
        """The space as scikit-learn's ``param_distributions``.

        Returns
        -------
        dict or list of dicts
            Parameter names mapped to lists (the choices of a
            :class:`Categorical`) or to dimensions, which have ``rvs``. A
            space of lists only is sampled without replacement, as scikit-learn
            does with lists.
        """
        subs = [
            {
                name: list(dim.choices) if dim.kind == "categorical" else dim
                for name, dim in sub.items()
            }
            for sub in self.subspaces
        ]
        return subs[0] if len(subs) == 1 else subs

    def check_estimator(self, estimator):
        """Check that every parameter name is one of ``estimator``'s, or of an
        estimator its sub-space swaps in (``{"clf": [DecisionTreeClassifier()],
        "clf__max_depth": [2, 4]}`` on a pipeline whose ``clf`` is another).

        See :func:`check_param_names`.
        """
        for sub in self.subspaces:
            swapped = {
                name: [
                    c
                    for c in getattr(dim, "choices", ())
                    if hasattr(c, "get_params") and not isinstance(c, type)
                ]
                for name, dim in sub.items()
            }
            check_param_names(sub, estimator, swapped=swapped)

    def __eq__(self, other):
        return isinstance(other, SearchSpace) and self.subspaces == other.subspaces

    def __hash__(self):
        return hash(tuple(tuple(sub.items()) for sub in self.subspaces))

    def __repr__(self):
        subs = ", ".join(
            "{" + ", ".join(f"{n!r}: {d!r}" for n, d in sub.items()) + "}"
            for sub in self.subspaces
        )
        return (
            f"SearchSpace([{subs}])" if self.is_conditional else f"SearchSpace({subs})"
        )

    def __reduce__(self):
        return (SearchSpace, (self.to_sklearn(),))


def check_param_names(names, estimator, *, swapped=None):
    """Raise a clear error if ``estimator`` has no parameter of one of ``names``.

    Parameters
    ----------
    names : iterable of str
    estimator : estimator
        Anything with ``get_params(deep=True)``, such as a Pipeline, whose nested
        parameters are named ``<step>__<param>``.
    swapped : dict of str to list of estimators, default=None
        Estimators that parameters of ``names`` set (a pipeline step chosen
        among several): their own parameters, ``<name>__<param>``, are valid.

    Raises
    ------
    ValueError
        Naming the unknown parameters and listing the valid ones.

    Examples
    --------
    >>> from sklearn.svm import SVC
    >>> from skhpo.space import check_param_names
    >>> check_param_names(["C", "gama"], SVC())
    Traceback (most recent call last):
    ...
    ValueError: Invalid parameter 'gama' for estimator SVC(). ...
    """
    valid = set(estimator.get_params(deep=True))
    for name, choices in (swapped or {}).items():
        valid.update(f"{name}__{p}" for c in choices for p in c.get_params(deep=True))
    unknown = [name for name in names if name not in valid]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        word = "parameter" if len(unknown) == 1 else "parameters"
        raise ValueError(
            f"Invalid {word} {listed} for estimator {estimator!r}. Valid parameters "
            f"are: {sorted(valid)}. Check the spelling; for a step of a Pipeline "
            "use '<step>__<param>'."
        )
