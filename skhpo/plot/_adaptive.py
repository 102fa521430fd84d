"""The adaptive searches' history: score against partial_fit calls per model."""

import numpy as np

from ..results import _is_search, history_frame
from ._base import import_pyplot, new_axes, title_for


def plot_adaptive_history(search_or_history, *, ax=None, cmap="tab10"):
    """Plot each model's validation score against its number of partial_fit calls.

    For the adaptive searches (:class:`~skhpo.SuccessiveHalvingSearchCV`,
    :class:`~skhpo.HyperbandSearchCV`, :class:`~skhpo.IncrementalSearchCV`): one
    line per model (``model_id``) through the scores recorded in ``history_``,
    ending where the search stopped training it. With Hyperband the lines are
    coloured by ``bracket`` (see the legend), so each bracket's rungs show up as
    the points where many of its lines stop at once; otherwise all lines share one
    colour. A black star marks the best model's final score.

    Read it as a learning-curve view of early stopping: lines that stop early
    were judged unpromising; if stopped lines were still climbing steeply when
    cut, the search may be too aggressive (try a larger ``max_iter`` or a less
    aggressive bracket). Hyperband's calls grow geometrically, so
    ``ax.set_xscale("log")`` often reads better.

    Parameters
    ----------
    search_or_history : fitted adaptive search, list of dicts or dict
        The search, its ``history_`` or its ``model_history_``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    cmap : str or Colormap, default="tab10"
        Colours of the brackets.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the search is not fitted or the history is empty.
    TypeError
        If the object has no ``history_`` (e.g. a GridSearchCV).

    See Also
    --------
    skhpo.results.history_frame : The history as a DataFrame.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from skhpo.plot import plot_adaptive_history
    >>> history = [
    ...     {"model_id": m, "bracket": b, "params": {"alpha": a},
    ...      "partial_fit_calls": c, "score": a * c}
    ...     for m, b, a, calls in [(0, 0, 0.1, [1, 3, 9]), (1, 1, 0.2, [1, 3])]
    ...     for c in calls
    ... ]
    >>> ax = plot_adaptive_history(history)
    >>> len(ax.get_lines()), ax.get_xlabel()
    (2, 'partial_fit calls')
    """
    import_pyplot()
    from matplotlib import colormaps

    frame = history_frame(search_or_history)
    search = search_or_history if _is_search(search_or_history) else None
    ax = new_axes(ax)
    has_bracket = "bracket" in frame.columns and frame["bracket"].notna().any()
    colors = {}
    if has_bracket:
        brackets = sorted(frame["bracket"].dropna().unique(), key=_sort_key)
        palette = colormaps[cmap] if isinstance(cmap, str) else cmap
        n = getattr(palette, "N", 256)
        for k, b in enumerate(brackets):
            colors[b] = palette(k % n if n < 256 else k / max(len(brackets) - 1, 1))
    models = list(dict.fromkeys(frame["model_id"]))
    final = {}
    labelled = set()
    for model in models:
        rows = frame[frame["model_id"] == model]
        rows = rows.sort_values("partial_fit_calls", kind="stable")
        x = np.asarray(rows["partial_fit_calls"], dtype=float)
        y = np.asarray(rows["score"], dtype=float)
        finite = y[np.isfinite(y)]
        final[model] = finite[-1] if finite.size else -np.inf
        if has_bracket:
            bracket = rows["bracket"].iloc[0]
            color = colors.get(bracket, "0.5")
            label = f"bracket {bracket}" if bracket not in labelled else None
            labelled.add(bracket)
        else:
            color, label = "C0", ("model" if not labelled else None)
            labelled.add(None)
        ax.plot(
            x, y, marker="o", ms=3, lw=1, color=color, alpha=0.7, label=label, gid=model
        )
    best = max(models, key=lambda m: final[m])
    if np.isfinite(final[best]):
        rows = frame[frame["model_id"] == best]
        rows = rows[np.isfinite(rows["score"].to_numpy(float))]
        last = rows.sort_values("partial_fit_calls", kind="stable").iloc[-1]
        ax.scatter(
            [float(last["partial_fit_calls"])],
            [float(last["score"])],
            marker="*",
            s=160,
            color="black",
            zorder=5,
            label=f"best: model {best}",
        )
    ax.set_xlabel("partial_fit calls")
    ax.set_ylabel("validation score")
    ax.set_title(title_for(search, f"Adaptive search: {len(models)} models"))
    handles, labels = ax.get_legend_handles_labels()
    if has_bracket:
        rank = {f"bracket {b}": k for k, b in enumerate(brackets)}
        pairs = sorted(zip(handles, labels), key=lambda p: rank.get(p[1], len(rank)))
        handles, labels = [h for h, _ in pairs], [lab for _, lab in pairs]
    ax.legend(handles, labels, loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def _sort_key(value):
    return (
        (0, value, "")
        if isinstance(value, (int, float, np.number))
        else (1, 0, str(value))
    )
