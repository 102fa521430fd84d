"""Shared helpers of the plotting functions: results, scores, axes, parameters."""

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..results import _is_search, cv_results_frame
from ..space import Categorical, SearchSpace

_INSTALL = 'pip install "skhpo[plot]"'


def import_pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skhpo.plot needs matplotlib, which is not installed. Install the "
            f"optional plotting dependencies with: {_INSTALL}"
        ) from exc
    return plt


def new_axes(ax, figsize=None):
    """``ax`` itself, or the Axes of a new figure."""
    if ax is not None:
        return ax
    plt = import_pyplot()
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


# -- results -------------------------------------------------------------------


def load_results(search_or_cv_results):
    """``(frame, search)``: the results as a DataFrame and the search, if given."""
    search = search_or_cv_results if _is_search(search_or_cv_results) else None
    return cv_results_frame(search_or_cv_results), search


def metric_names(frame):
    """Metric names of the ``mean_test_<name>`` columns."""
    return [c[len("mean_test_") :] for c in frame.columns if c.startswith("mean_test_")]


def score_column(frame, metric=None, search=None):
    """``(column, label)`` of the mean test score to plot.

    ``metric=None`` picks ``mean_test_score`` when there is one metric, and the
    search's ``refit`` metric when there are several.
    """
    names = metric_names(frame)
    if not names:
        raise ValueError(
            "The results have no 'mean_test_*' column, so there is no score to "
            f"plot. Columns: {list(frame.columns)[:12]}. Pass a fitted search or its "
            "cv_results_."
        )
    if metric is None:
        if "score" in names:
            metric = "score"
        else:
            refit = getattr(search, "refit", None)
            if isinstance(refit, str) and refit in names:
                metric = refit
            else:
                raise ValueError(
                    f"The search used several metrics {names}; choose the one to "
                    f"plot with metric=, e.g. metric={names[0]!r}."
                )
    if metric not in names:
        raise ValueError(
            f"Unknown metric {metric!r}: the results have the metrics {names}. "
            "Pass one of them as metric=."
        )
    column = f"mean_test_{metric}"
    if metric == "score":
        scoring = getattr(search, "scoring", None)
        label = f"mean test score ({scoring})" if isinstance(scoring, str) else None
        return column, label or "mean test score"
    return column, f"mean test {metric}"


def scores(frame, column):
    return np.asarray(frame[column], dtype=float)


# -- parameters ----------------------------------------------------------------


def space_of(search):
    """The search space of ``search`` from its public parameters, or None."""
    for attr in ("param_distributions", "param_grid", "parameters"):
        spec = getattr(search, attr, None)
        if spec is None:
            continue
        try:
            return SearchSpace(spec)
        except Exception:  # a space skhpo cannot read: infer from the values
            return None
    return None


def dimension_of(space, name):
    """The dimension named ``name`` if every sub-space agrees on it, else None."""
    if space is None:
        return None
    dims = [sub[name] for sub in space.subspaces if name in sub]
    if dims and all(d == dims[0] for d in dims):
        return dims[0]
    return None


def param_names(frame, params=None):
    """Parameter names to plot: all of the results', or the ones asked for."""
    available = sorted(c[len("param_") :] for c in frame.columns if c[:6] == "param_")
    if params is None:
        if not available:
            raise ValueError(
                "The results have no 'param_*' columns: the search tuned no "
                "parameter, so there is nothing to plot per parameter."
            )
        return available
    if isinstance(params, str):
        params = [params]
    params = list(params)
    unknown = [p for p in params if p not in available]
    if unknown:
        raise ValueError(
            f"Unknown parameter {', '.join(map(repr, unknown))}: the results have "
            f"the parameters {available}. Pass some of them as params=."
        )
    if not params:
        raise ValueError(f"params= is empty; pass some of {available}.")
    return params


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _missing(value):
    return isinstance(value, float) and math.isnan(value)


def _same(a, b):
    if a is b:
        return True
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    try:
        equal = a == b
        if isinstance(equal, np.ndarray):
            return np.shape(a) == np.shape(b) and bool(equal.all())
        return bool(equal)
    except Exception:
        return False


def _label(value, width=18):
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class ParamAxis:
    """How one parameter is drawn: numeric (linear or log) or categorical.

    ``coords`` are the values on a numeric axis, or the category index on a
    categorical one; NaN where a trial has no value for the parameter.
    """

    name: str
    kind: str  # "numeric" or "categorical"
    coords: np.ndarray
    log: bool = False
    integer: bool = False
    low: float = np.nan
    high: float = np.nan
    categories: list = field(default_factory=list)

    @property
    def labels(self):
        return [_label(c) for c in self.categories]

    def normalized(self):
        """Coordinates scaled to ``[0, 1]`` (log scale for log dimensions)."""
        if self.kind == "categorical":
            n = len(self.categories)
            return (self.coords + 0.5) / n if n else self.coords
        x, low, high = self.coords, self.low, self.high
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                x, low, high = np.log10(x), np.log10(low), np.log10(high)
        if not high > low:
            return np.where(np.isnan(x), np.nan, 0.5)
        return (x - low) / (high - low)

    def ticks(self, n=3):
        """``(positions in [0, 1], labels)`` for the axis."""
        if self.kind == "categorical":
            k = len(self.categories)
            return [(i + 0.5) / k for i in range(k)], self.labels
        if not self.high > self.low:
            return [0.5], [_label(float(self.low))]
        if self.log:
            values = np.geomspace(self.low, self.high, n)
        else:
            values = np.linspace(self.low, self.high, n)
        if self.integer:
            values = np.round(values).astype(int)
        positions = self.normalized_values(values.astype(float))
        return list(positions), [_label(v.item()) for v in values]

    def normalized_values(self, x):
        return ParamAxis(
            self.name, self.kind, x, self.log, self.integer, self.low, self.high
        ).normalized()


def param_axis(frame, name, space=None):
    """The :class:`ParamAxis` of parameter ``name``."""
    values = list(frame[f"param_{name}"])
    if "params" in frame.columns and all(isinstance(p, Mapping) for p in frame.params):
        # The user's own objects, and absent parameters told apart from None.
        values = [p[name] if name in p else np.nan for p in frame["params"]]
    present = [not _missing(v) for v in values]
    kept = [v for v, ok in zip(values, present) if ok]
    dim = dimension_of(space, name)
    numeric = kept and all(_is_number(v) for v in kept)
    if isinstance(dim, Categorical) or not numeric:
        categories = list(dim.choices) if isinstance(dim, Categorical) else []
        coords = np.full(len(values), np.nan)
        for i, value in enumerate(values):
            if not present[i]:
                continue
            for k, choice in enumerate(categories):
                if _same(choice, value):
                    coords[i] = k
                    break
            else:
                categories.append(value)
                coords[i] = len(categories) - 1
        return ParamAxis(name, "categorical", coords, categories=categories)
    coords = np.array([float(v) if ok else np.nan for v, ok in zip(values, present)])
    log = bool(getattr(dim, "log", False))
    integer = getattr(dim, "kind", None) == "integer" or all(
        isinstance(v, numbers.Integral) for v in kept
    )
    low, high = np.nanmin(coords), np.nanmax(coords)
    if dim is not None and hasattr(dim, "low") and hasattr(dim, "high"):
        low, high = min(low, dim.low), max(high, dim.high)
    if log and low <= 0:
        log = False
    return ParamAxis(
        name, "numeric", coords, log=log, integer=integer, low=low, high=high
    )


def title_for(search, what):
    return f"{what} ({type(search).__name__})" if search is not None else what
