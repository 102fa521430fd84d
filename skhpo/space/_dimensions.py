"""One-dimensional domains of hyperparameters and their unit-interval encoding.

Every dimension maps its values to ``[0, 1]`` with :meth:`Dimension.encode` and back
with :meth:`Dimension.decode`; samplers work on these encoded values only. Sampling
uniformly in the encoded interval and decoding samples the dimension's own
distribution (log-uniform on a log scale, uniform over choices, the cdf/ppf of a
scipy.stats distribution), which is what :meth:`Dimension.rvs` does.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "Dimension",
    "Real",
    "Integer",
    "Categorical",
    "Distribution",
    "as_dimension",
]

# Encoded values of unbounded distributions are kept this far from 0 and 1 so that
# their ppf stays finite.
_EPS = 1e-12


class Dimension:
    """Base class of the domain of one hyperparameter.

    A dimension is immutable once built. Subclasses define ``kind`` (``"real"``,
    ``"integer"`` or ``"categorical"``), :meth:`encode`, :meth:`decode` and
    :meth:`__contains__`.
    """

    kind = None

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{type(self).__name__} is immutable; build a new one instead of "
            f"setting {name!r}."
        )

    __delattr__ = __setattr__

    def _set(self, **attrs):
        for name, value in attrs.items():
            object.__setattr__(self, name, value)

    @property
    def is_finite(self):
        """Whether the dimension has a finite number of values."""
        return False

    def rvs(self, size=None, random_state=None):
        """Draw random values, as a scipy.stats frozen distribution does.

        This makes every dimension usable as a value of ``param_distributions`` in
        :class:`sklearn.model_selection.RandomizedSearchCV`.

        Parameters
        ----------
        size : int or tuple of int, default=None
            Shape of the draw; ``None`` draws one value.
        random_state : int, RandomState, Generator or None, default=None
            Seed or generator for the draw.

        Returns
        -------
        value or ndarray
            One value if ``size`` is None, else an array of shape ``size``.
        """
        rng = random_generator(random_state)
        u = rng.uniform(size=size)
        return self.decode(u)

    def encode(self, values):
        """Map values of the dimension to ``[0, 1]``.

        Parameters
        ----------
        values : value or array-like of values

        Returns
        -------
        float or ndarray of float
        """
        raise NotImplementedError

    def decode(self, u):
        """Map points of ``[0, 1]`` back to values of the dimension.

        Parameters
        ----------
        u : float or array-like of float
            Encoded values; they are clipped to ``[0, 1]``.

        Returns
        -------
        value or ndarray
        """
        raise NotImplementedError

    def __contains__(self, value):
        raise NotImplementedError

    def _key(self):
        return tuple(sorted(vars(self).items()))

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))


def random_generator(random_state):
    """A numpy ``Generator`` as given, else ``check_random_state``'s
    ``RandomState`` (scipy.stats distributions take both)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


def _check_number(value, name, owner, integral=False):
    kind = "an integer" if integral else "a real number"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and integral and not isinstance(value, numbers.Integral):
        ok = float(value).is_integer()
    if not ok or not math.isfinite(value):
        raise ValueError(
            f"{owner}: {name} must be {kind} and finite, got {value!r} of type "
            f"{type(value).__name__}."
        )
    return int(value) if integral else float(value)


def _check_bounds(cls, low, high, log, integral):
    owner = f"{cls.__name__}(low={low!r}, high={high!r}, log={log!r})"
    low = _check_number(low, "low", owner, integral)
    high = _check_number(high, "high", owner, integral)
    if not isinstance(log, (bool, np.bool_)):
        raise ValueError(f"{owner}: log must be True or False, got {log!r}.")
    if low >= high:
        raise ValueError(
            f"{owner}: low must be strictly less than high; got low={low!r} >= "
            f"high={high!r}. Swap the bounds, or use Categorical([{low!r}]) for a "
            "constant."
        )
    if log and (low < 1 if integral else low <= 0):
        need = "low >= 1" if integral else "low > 0"
        raise ValueError(
            f"{owner}: a log scale needs {need}, got low={low!r}. Raise the lower "
            "bound, or use log=False."
        )
    if integral and max(abs(low), abs(high)) > _MAX_EXACT_INTEGER:
        raise ValueError(
            f"{owner}: the bounds must lie within +-2**53 ({_MAX_EXACT_INTEGER}), "
            "the integers that floats (the encoding) represent exactly."
        )
    if not integral and not math.isfinite(high - low):
        raise ValueError(
            f"{owner}: high - low overflows a float; narrow the range, or use a "
            "log scale for a positive range."
        )
    return low, high, bool(log)


_MAX_EXACT_INTEGER = 2**53


def _unit(u):
    """``u`` as a float array clipped to [0, 1]; NaN is an error."""
    arr = np.asarray(u, dtype=float)
    if np.isnan(arr).any():
        raise ValueError(
            "Cannot decode NaN: encoded values are numbers in [0, 1] (NaN marks "
            "the columns of another sub-space; decode whole points with "
            "SearchSpace.decode)."
        )
    return np.clip(arr, 0.0, 1.0)


def _scalar_or_array(u, func):
    """Apply ``func`` to an array and return a scalar when given a scalar."""
    arr = np.asarray(u, dtype=float)
    out = func(_unit(arr))
    if arr.ndim == 0:
        return out.item()
    return out


class Real(Dimension):
    """A real-valued hyperparameter in ``[low, high]``, on a linear or log scale.

    Parameters
    ----------
    low, high : float
        Bounds, both included; ``low < high``.
    log : bool, default=False
        Sample and encode on a log scale (needs ``low > 0``): every decade between
        the bounds gets the same probability.

    Examples
    --------
    >>> from skhpo.space import Real
    >>> lr = Real(1e-4, 1e-1, log=True)
    >>> lr.encode(1e-4), lr.encode(1e-1)
    (0.0, 1.0)
    >>> round(lr.decode(0.5), 6)
    0.003162
    >>> 1e-4 <= lr.rvs(random_state=0) <= 1e-1
    True
    """

    kind = "real"

    def __init__(self, low, high, log=False):
        low, high, log = _check_bounds(Real, low, high, log, integral=False)
        self._set(low=low, high=high, log=log)

    def _transform(self, x):
        return np.log(x) if self.log else x

    def encode(self, values):
        a, b = self._transform(self.low), self._transform(self.high)
        x = self._transform(np.asarray(values, dtype=float))
        u = np.clip((x - a) / (b - a), 0.0, 1.0)
        return u.item() if u.ndim == 0 else u

    def decode(self, u):
        a, b = self._transform(self.low), self._transform(self.high)

        def _decode(u):
            x = a + u * (b - a)
            x = np.exp(x) if self.log else x
            return np.clip(x, self.low, self.high)

        return _scalar_or_array(u, _decode)

    def __contains__(self, value):
        return (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def __repr__(self):
        log = ", log=True" if self.log else ""
        return f"Real({self.low!r}, {self.high!r}{log})"


class Integer(Dimension):
    """An integer hyperparameter in ``[low, high]`` (both included).

    Parameters
    ----------
    low, high : int
        Bounds, both included; ``low < high``. Unlike ``scipy.stats.randint``,
        ``high`` is a possible value.
    log : bool, default=False
        Sample and encode on a log scale (needs ``low >= 1``).

    Examples
    --------
    >>> from skhpo.space import Integer
    >>> depth = Integer(1, 32, log=True)
    >>> depth.decode(depth.encode(7))
    7
    >>> sorted(set(Integer(0, 2).rvs(size=50, random_state=0).tolist()))
    [0, 1, 2]
    """

    kind = "integer"

    def __init__(self, low, high, log=False):
        low, high, log = _check_bounds(Integer, low, high, log, integral=True)
        self._set(low=low, high=high, log=log)

    @property
    def is_finite(self):
        return True

    @property
    def n_values(self):
        """Number of integers in the dimension."""
        return self.high - self.low + 1

    def values(self):
        """All values of the dimension, in increasing order."""
        return list(range(self.low, self.high + 1))

    def _edges(self):
        # Each integer owns an interval of width one (in log space on a log scale).
        a, b = self.low - 0.5, self.high + 0.5
        return (math.log(a), math.log(b)) if self.log else (a, b)

    def encode(self, values):
        a, b = self._edges()
        x = np.asarray(values, dtype=float)
        x = np.log(x) if self.log else x
        u = np.clip((x - a) / (b - a), 0.0, 1.0)
        return u.item() if u.ndim == 0 else u

    def decode(self, u):
        a, b = self._edges()

        def _decode(u):
            x = a + u * (b - a)
            x = np.exp(x) if self.log else x
            return np.clip(np.round(x), self.low, self.high).astype(np.int64)

        return _scalar_or_array(u, _decode)

    def __contains__(self, value):
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def __repr__(self):
        log = ", log=True" if self.log else ""
        return f"Integer({self.low!r}, {self.high!r}{log})"


def _same(a, b):
    """Whether ``a`` and ``b`` are the same choice (arrays compared by content)."""
    if a is b:
        return True
    # numpy scalars are their Python values (np.str_("rbf") is "rbf")
    a = a.item() if isinstance(a, np.generic) else a
    b = b.item() if isinstance(b, np.generic) else b
    if type(a) is not type(b) and not (
        isinstance(a, numbers.Number) and isinstance(b, numbers.Number)
    ):
        return False
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        equal = a == b
        if isinstance(equal, np.ndarray):
            return np.shape(a) == np.shape(b) and bool(equal.all())
        return bool(equal)
    except Exception:  # objects whose comparison fails are different choices
        return False


class Categorical(Dimension):
    """A hyperparameter that takes one of a finite list of values.

    The values are kept as given (None, strings, tuples, arrays, estimators...) and
    handed back unchanged: a search never converts or copies them.

    Parameters
    ----------
    choices : sequence
        The possible values, at least one. Order matters for reproducibility,
        so sets are refused.

    Examples
    --------
    >>> from skhpo.space import Categorical
    >>> kernel = Categorical(["linear", "rbf", None])
    >>> kernel.encode("rbf")
    0.5
    >>> kernel.decode(0.9) is None
    True
    """

    kind = "categorical"

    def __init__(self, choices):
        if isinstance(choices, (str, bytes, dict, set, frozenset)) or not hasattr(
            choices, "__iter__"
        ):
            raise ValueError(
                f"Categorical(choices={choices!r}): choices must be a list of "
                f"values, got {type(choices).__name__}. Pass a list, e.g. "
                f"Categorical([{choices!r}])."
            )
        choices = tuple(choices)
        if not choices:
            raise ValueError(
                "Categorical(choices=[]): there must be at least one choice."
            )
        self._set(choices=choices)

    @property
    def is_finite(self):
        return True

    @property
    def n_values(self):
        """Number of choices."""
        return len(self.choices)

    def values(self):
        """All choices, in the order given."""
        return list(self.choices)

    def index(self, value):
        """Position of ``value`` among the choices.

        Raises
        ------
        ValueError
            If ``value`` is not one of the choices.
        """
        for i, choice in enumerate(self.choices):
            if choice is value:
                return i
        for i, choice in enumerate(self.choices):
            if _same(choice, value):
                return i
        raise ValueError(f"{value!r} is not one of the choices of {self!r}.")

    def encode(self, values):
        # A choice may itself be a list or an array: a value that is one of the
        # choices is encoded as one value, any other list as a list of values.
        k = len(self.choices)
        if _is_value_list(values) and values not in self:
            return np.array([(self.index(v) + 0.5) / k for v in values])
        return (self.index(values) + 0.5) / k

    def decode(self, u):
        k = len(self.choices)
        arr = _unit(u)
        idx = np.minimum((arr * k).astype(np.int64), k - 1)
        if arr.ndim == 0:
            return self.choices[int(idx)]
        out = np.empty(idx.shape, dtype=object)
        for pos, i in np.ndenumerate(idx):
            out[pos] = self.choices[i]
        return out

    def rvs(self, size=None, random_state=None):
        # Index draws rather than uniform floats: identical to sklearn's sampling
        # from a list for a given generator.
        rng = random_generator(random_state)
        if isinstance(rng, np.random.Generator):
            idx = rng.integers(len(self.choices), size=size)
        else:
            idx = rng.randint(len(self.choices), size=size)
        return self.decode((np.asarray(idx) + 0.5) / len(self.choices))

    def __contains__(self, value):
        return any(_same(c, value) for c in self.choices)

    def _key(self):
        return tuple(_choice_key(c) for c in self.choices)

    def __repr__(self):
        return f"Categorical({list(self.choices)!r})"


def _choice_key(value):
    """A hashable key that tells choices apart as :func:`_same` does: True is
    not 1, a tuple not a list; lists and arrays by content."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(_choice_key(v) for v in value)
    if isinstance(value, np.ndarray):
        return "ndarray", value.shape, tuple(_choice_key(v) for v in value.flat)
    if _unhashable(value):
        return "object", id(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return type(value).__name__, value
    return "number", value


def _unhashable(value):
    try:
        hash(value)
    except TypeError:
        return True
    return False


def _is_value_list(values):
    return isinstance(values, (list, np.ndarray)) and not (
        isinstance(values, np.ndarray) and values.ndim == 0
    )


class Distribution(Dimension):
    """A hyperparameter drawn from a scipy.stats frozen distribution.

    Encoding goes through the distribution's ``cdf`` and decoding through its
    ``ppf``, so uniform draws in the encoded interval follow the distribution.
    Discrete distributions (``rv_discrete``) yield integers. Distributions with
    unbounded support are encoded on ``[1e-12, 1 - 1e-12]``.

    Usually built for you: :func:`as_dimension` turns ``uniform``, ``loguniform``
    and ``randint`` into :class:`Real` and :class:`Integer`, and wraps any other
    frozen distribution in a ``Distribution``.

    Parameters
    ----------
    dist : scipy.stats frozen distribution
        Any object with ``rvs``, ``cdf`` and ``ppf`` methods.

    Examples
    --------
    >>> from scipy.stats import norm
    >>> from skhpo.space import Distribution
    >>> d = Distribution(norm(0, 1))
    >>> d.encode(0.0)
    0.5
    """

    def __init__(self, dist):
        missing = [
            m for m in ("rvs", "cdf", "ppf") if not callable(getattr(dist, m, None))
        ]
        if missing:
            raise ValueError(
                f"Distribution({dist!r}): the object has no {', '.join(missing)} "
                "method; skhpo needs rvs, cdf and ppf to sample and encode it. Use "
                "a scipy.stats frozen distribution, or Real/Integer/Categorical."
            )
        try:
            median = float(np.asarray(dist.ppf(0.5)))
        except Exception as exc:
            raise ValueError(
                f"{_describe(dist)}: its ppf fails ({exc}). Pass a frozen "
                "distribution with its arguments, e.g. scipy.stats.randint(1, 10) "
                "rather than scipy.stats.randint."
            ) from exc
        if math.isnan(median):
            raise ValueError(
                f"{_describe(dist)}: its arguments are invalid (scipy gives "
                "NaN for its quantiles): e.g. loguniform(a, b) needs 0 < a < b, "
                "uniform(loc, scale) a scale > 0, randint(low, high) low < high."
            )
        from scipy.stats import rv_discrete

        # frozen (binom(3, 0.5)) or not (rv_discrete(values=...))
        discrete = isinstance(dist, rv_discrete) or isinstance(
            getattr(dist, "dist", None), rv_discrete
        )
        self._set(dist=dist, discrete=discrete)

    @property
    def kind(self):
        return "integer" if self.discrete else "real"

    def encode(self, values):
        x = np.asarray(values, dtype=float)
        if self.discrete:
            u = (self.dist.cdf(x - 1) + self.dist.cdf(x)) / 2
        else:
            u = self.dist.cdf(x)
        u = np.clip(u, 0.0, 1.0)
        return u.item() if u.ndim == 0 else u

    def decode(self, u):
        def _decode(u):
            x = self.dist.ppf(np.clip(u, _EPS, 1 - _EPS))
            return x.astype(np.int64) if self.discrete else x

        return _scalar_or_array(u, _decode)

    def rvs(self, size=None, random_state=None):
        return self.dist.rvs(size=size, random_state=random_state)

    def __contains__(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return False
        low, high = self.dist.support()
        if self.discrete:  # a value the distribution can take
            return float(value).is_integer() and bool(self.dist.pmf(value) > 0)
        return low <= value <= high

    def _key(self):
        dist = self.dist
        name = getattr(getattr(dist, "dist", None), "name", None)
        if name is None:
            return (id(dist),)
        kwds = tuple(sorted(getattr(dist, "kwds", {}).items()))
        return (name, tuple(getattr(dist, "args", ())), kwds)

    def __repr__(self):
        return f"Distribution({_describe(self.dist)})"


def _describe(dist):
    """``name(args)`` of a scipy.stats distribution, frozen or not."""
    import scipy.stats

    frozen = getattr(dist, "dist", None)
    if frozen is None:  # a generator: scipy.stats.norm, rv_discrete(values=...)
        name = getattr(dist, "name", None)
        if name is not None and getattr(scipy.stats, name, None) is dist:
            return f"scipy.stats.{name}"
        return type(dist).__name__
    args = ", ".join(
        [repr(a) for a in getattr(dist, "args", ())]
        + [f"{k}={v!r}" for k, v in getattr(dist, "kwds", {}).items()]
    )
    return f"{getattr(frozen, 'name', type(frozen).__name__)}({args})"


def _from_scipy(dist):
    """Recognize the scipy.stats distributions that have an exact skhpo equivalent."""
    name = getattr(getattr(dist, "dist", None), "name", None)
    try:
        low, high = (float(b) for b in dist.support())
    except Exception:
        return None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        return None
    if name == "uniform":
        return Real(low, high)
    if name in ("loguniform", "reciprocal") and low > 0:
        return Real(low, high, log=True)
    if name == "randint":
        return Integer(int(low), int(high))
    return None


def as_dimension(value, name="parameter"):
    """Turn one value of a search-space dict into a :class:`Dimension`.

    Parameters
    ----------
    value : Dimension, list, tuple, 1-d array or scipy.stats distribution
        Lists, tuples and arrays become :class:`Categorical`;
        ``scipy.stats.uniform``, ``loguniform`` and ``randint`` become
        :class:`Real` and :class:`Integer`; any other object with ``rvs``, ``cdf``
        and ``ppf`` becomes a :class:`Distribution`.
    name : str, default="parameter"
        The parameter's name, for error messages.

    Returns
    -------
    Dimension

    Raises
    ------
    ValueError
        For empty lists and objects that are not a list or a distribution.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from skhpo.space import as_dimension
    >>> as_dimension(loguniform(1e-3, 1e2))
    Real(0.001, 100.0, log=True)
    >>> as_dimension(["gini", "entropy"])
    Categorical(['gini', 'entropy'])
    """
    if isinstance(value, Dimension):
        return value
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"Parameter {name!r}: got the string {value!r}, expected a list of "
            f"values or a distribution. Wrap a single value in a list: [{value!r}]."
        )
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(
            f"Parameter {name!r}: an array of values must be one-dimensional, got "
            f"shape {value.shape}. Pass a list of the values to try."
        )
    if isinstance(value, (list, tuple, np.ndarray, range)):
        if len(value) == 0:
            raise ValueError(
                f"Parameter {name!r}: the list of values is empty; give at least "
                "one value to try."
            )
        return Categorical(value)
    if callable(getattr(value, "rvs", None)):
        known = _from_scipy(value)
        if known is not None:
            return known
        if callable(getattr(value, "ppf", None)) and callable(
            getattr(value, "cdf", None)
        ):
            try:
                return Distribution(value)
            except ValueError as exc:
                raise ValueError(f"Parameter {name!r}: {exc}") from None
        raise ValueError(
            f"Parameter {name!r}: {value!r} has an rvs method but no cdf/ppf, so "
            "skhpo cannot encode it for model-based search. Use a scipy.stats "
            "distribution or skhpo's Real, Integer or Categorical."
        )
    raise ValueError(
        f"Parameter {name!r}: expected a list of values, a scipy.stats distribution "
        f"or an skhpo dimension (Real, Integer, Categorical), got "
        f"{type(value).__name__} {value!r}. Wrap a single value in a list: "
        f"[{value!r}]."
    )
