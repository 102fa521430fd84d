"""Plots of the score against the parameters: parallel coordinates and slices."""

import math

import numpy as np

from ._base import (
    ParamAxis,
    import_pyplot,
    load_results,
    new_axes,
    param_axis,
    param_names,
    score_column,
    scores,
    space_of,
    title_for,
)
from ._history import evaluation_order


def plot_parallel_coordinates(
    search, params=None, *, metric=None, ax=None, cmap="viridis"
):
    """Plot every trial as a line through one vertical axis per parameter.

    One line per trial, coloured by its score (see the colour bar); the last axis
    is the score itself. Each axis is scaled to its own range: numeric parameters
    linearly, or on a log scale for log dimensions (``Real(..., log=True)``,
    ``scipy.stats.loguniform``) when the search space is known (it is read from
    the search's ``param_distributions``, ``param_grid`` or ``parameters``); the
    bounds of a known dimension set the ends of its axis. Lists of values
    (categorical parameters) are evenly spaced ticks in the order given.
    A trial that lacks a parameter (a list of grids) passes through an
    "(absent)" slot below that axis, and failed trials (NaN score) are drawn
    dashed in grey, without a point on the score axis.

    Read it by following the brightest lines: where they cross an axis tells which
    values the best trials share; an axis where bright and dark lines are spread
    evenly is a parameter that matters little.

    Parameters
    ----------
    search : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_``, or
        :func:`~skhpo.results.cv_results_frame` of it. Without the search object
        the space is not known: numeric axes are then linear.
    params : list of str, default=None
        Parameters to show, in this order; all of them (sorted) if None.
    metric : str, default=None
        With multimetric scoring, the metric to colour by.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    cmap : str or Colormap, default="viridis"
        Colour map of the score.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the search is not fitted, or ``params`` or ``metric`` names are
        unknown.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from sklearn.model_selection import RandomizedSearchCV
    >>> from skhpo.plot import plot_parallel_coordinates
    >>> X, y = load_iris(return_X_y=True)
    >>> search = RandomizedSearchCV(
    ...     RidgeClassifier(), {"alpha": loguniform(1e-3, 1e3),
    ...                         "fit_intercept": [True, False]},
    ...     n_iter=5, cv=2, random_state=0).fit(X, y)
    >>> ax = plot_parallel_coordinates(search)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['alpha\\n(log)', 'fit_intercept', 'mean test score']
    """
    import_pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    frame, search = load_results(search)
    column, label = score_column(frame, metric, search)
    names = param_names(frame, params)
    space = space_of(search)
    axes = [param_axis(frame, name, space) for name in names]
    y = scores(frame, column)
    ok = np.isfinite(y)
    low, high = (np.min(y[ok]), np.max(y[ok])) if ok.any() else (0.0, 1.0)
    axes.append(ParamAxis(label, "numeric", y, low=low, high=high))

    ax = new_axes(ax, figsize=(1.8 * len(axes) + 2, 4))
    data = np.column_stack([a.normalized() for a in axes])
    # Trials without a parameter go to an "absent" slot below its axis, so that no
    # line seems to cross the axis at a value.
    absent = np.isnan(data[:, :-1]).any(axis=0)
    data[:, :-1] = np.where(np.isnan(data[:, :-1]), _ABSENT, data[:, :-1])
    xs = np.arange(len(axes), dtype=float)
    # Best trials last, so that they are drawn on top.
    order = np.argsort(np.where(ok, y, -np.inf), kind="stable")
    good = [i for i in order if ok[i]]
    norm = Normalize(vmin=low, vmax=high if high > low else low + 1e-12)
    lines = LineCollection(
        [_polyline(xs, data[i]) for i in good],
        array=y[good],
        cmap=cmap,
        norm=norm,
        linewidths=1.5,
        alpha=0.85,
        label="trials",
    )
    ax.add_collection(lines)
    failed = [i for i in order if not ok[i]]
    if failed:
        ax.add_collection(
            LineCollection(
                [_polyline(xs, data[i]) for i in failed],
                colors="0.6",
                linestyles="--",
                linewidths=1,
                label=f"failed ({len(failed)})",
            )
        )
    for k, (x, axis) in enumerate(zip(xs, axes)):
        ax.axvline(x, color="0.2", lw=1, zorder=0)
        positions, texts = axis.ticks()
        if k < len(absent) and absent[k]:
            positions, texts = [*positions, _ABSENT], [*texts, "(absent)"]
        for pos, text in zip(positions, texts):
            ax.text(
                x + 0.03,
                pos,
                text,
                fontsize=8,
                va="center",
                ha="left",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
            )
    ax.set_xlim(-0.15, len(axes) - 0.4)
    ax.set_ylim(_ABSENT - 0.06 if absent.any() else -0.05, 1.05)
    ax.set_yticks([])
    ax.set_xticks(
        xs, [a.name + ("\n(log)" if a.log else "") for a in axes[:-1]] + [label]
    )
    ax.set_xlabel("parameter")
    ax.set_ylabel("value (scaled per axis)")
    ax.set_title(title_for(search, "Parallel coordinates"))
    colorbar = ax.figure.colorbar(lines, ax=ax, pad=0.02)
    colorbar.set_label(label)
    return ax


_ABSENT = -0.12


def _polyline(xs, ys):
    """A trial's line through the axes where it has a value (others skipped)."""
    ok = np.isfinite(ys)
    return np.column_stack([xs[ok], ys[ok]])


def _panel_axes(ax, n):
    """The figure and ``n`` Axes: ``ax`` given (one per parameter) or new ones."""
    if ax is not None:
        axs = list(np.ravel(ax))
        if len(axs) != n:
            raise ValueError(
                f"plot_slice draws one panel per parameter: got {len(axs)} Axes for "
                f"{n} parameters. Pass ax=None, or {n} Axes."
            )
        return axs[0].figure, axs
    plt = import_pyplot()
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(
        nrows,
        ncols,
        figsize=(3.6 * ncols + 1, 3.0 * nrows + 0.5),
        squeeze=False,
        layout="constrained",
    )
    axs = list(grid.ravel())
    for extra in axs[n:]:
        fig.delaxes(extra)
    return fig, axs[:n]


def plot_slice(search, params=None, *, metric=None, ax=None, cmap="Blues"):
    """Plot the score against each parameter, one panel per parameter.

    Every point is a trial; its colour is its position in evaluation order (dark:
    late), so a cloud that darkens towards one region shows where the search
    concentrated. The x-axis is the parameter's value: on a log scale for log
    dimensions when the search space is known, and as categories (in the order of
    the list) for categorical parameters. Failed trials (NaN score) and trials
    that lack the parameter are left out of its panel.

    A slice is a projection: the other parameters vary too, so the spread at one
    value mixes their effects. A clear trend along one panel is a parameter that
    matters; see :func:`plot_param_importances` for a number.

    Parameters
    ----------
    search : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_``, or
        :func:`~skhpo.results.cv_results_frame` of it.
    params : list of str, default=None
        Parameters to show, one panel each; all of them (sorted) if None.
    metric : str, default=None
        With multimetric scoring, the metric to plot.
    ax : array of matplotlib Axes, default=None
        One Axes per parameter; a new figure (three panels a row) if None.
    cmap : str or Colormap, default="Blues"
        Colour map of the evaluation order.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes`` holds the panels, then the colour bar.

    Raises
    ------
    ValueError
        If the search is not fitted, or ``params`` or ``metric`` names are
        unknown.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo.plot import plot_slice
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(DecisionTreeClassifier(random_state=0),
    ...                       {"max_depth": [1, 2, None],
    ...                        "criterion": ["gini", "entropy"]}, cv=2).fit(X, y)
    >>> fig = plot_slice(search)
    >>> [ax.get_xlabel() for ax in fig.axes[:2]]
    ['criterion', 'max_depth']
    """
    import_pyplot()
    from matplotlib.colors import Normalize

    frame, search = load_results(search)
    column, label = score_column(frame, metric, search)
    names = param_names(frame, params)
    space = space_of(search)
    fig, axs = _panel_axes(ax, len(names))
    y = scores(frame, column)
    trial = np.empty(len(frame))
    trial[evaluation_order(frame)] = np.arange(1, len(frame) + 1)
    norm = Normalize(vmin=1, vmax=max(len(frame), 2))
    mappable = None
    for panel, name in zip(axs, names):
        axis = param_axis(frame, name, space)
        ok = np.isfinite(y) & np.isfinite(axis.coords)
        mappable = panel.scatter(
            axis.coords[ok],
            y[ok],
            c=trial[ok],
            cmap=cmap,
            norm=norm,
            s=28,
            edgecolors="0.3",
            linewidths=0.5,
        )
        if axis.kind == "categorical":
            k = len(axis.categories)
            panel.set_xticks(range(k), axis.labels)
            panel.set_xlim(-0.5, k - 0.5)
            if k > 4:
                panel.tick_params(axis="x", labelrotation=30)
        elif axis.log:
            panel.set_xscale("log")
        panel.set_xlabel(name)
        panel.set_ylabel(label)
        panel.set_title(f"score vs {name}" + (" (log)" if axis.log else ""))
        panel.grid(True, alpha=0.3)
    colorbar = fig.colorbar(mappable, ax=axs, shrink=0.9)
    colorbar.set_label("trial (evaluation order)")
    fig.suptitle(title_for(search, "Slice plot"))
    return fig
