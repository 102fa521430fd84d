"""Score per trial, in evaluation order, with the best score so far."""

import numpy as np

from ._base import (
    import_pyplot,
    load_results,
    new_axes,
    score_column,
    scores,
    title_for,
)


def evaluation_order(frame):
    """Row positions in evaluation order: by ``iter`` when present, else rows."""
    if "iter" in frame.columns:
        it = np.asarray(frame["iter"], dtype=float)
        return np.argsort(it, kind="stable")
    return np.arange(len(frame))


def plot_optimization_history(search, *, metric=None, ax=None):
    """Plot the score of every trial in evaluation order and the best so far.

    Each point is one candidate (one row of ``cv_results_``); the x-axis is its
    position in evaluation order, which is the order of the ``iter`` column when
    the results have one (:class:`~skhpo.SMBOSearchCV`, the halving searches) and
    the row order otherwise (:class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`). The step line is the
    best score found so far (scores are "greater is better", as in scikit-learn).
    Trials whose score is NaN (every fit failed, ``error_score=np.nan``) are drawn
    as red crosses along the bottom of the plot.

    A line that keeps stepping up late in the search suggests more trials would
    still help; a long flat stretch suggests the search has converged (or is
    stuck: compare with a random search).

    Parameters
    ----------
    search : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_``, or
        :func:`~skhpo.results.cv_results_frame` of it.
    metric : str, default=None
        With multimetric scoring, the metric to plot (a key of ``scoring``).
        Defaults to the only metric, or to the search's ``refit`` metric.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the search is not fitted or ``metric`` is not one of its metrics.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo import SMBOSearchCV
    >>> from skhpo.space import Integer
    >>> from skhpo.plot import plot_optimization_history
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SMBOSearchCV(DecisionTreeClassifier(random_state=0),
    ...                       {"max_depth": Integer(1, 8)}, n_iter=6, cv=2,
    ...                       random_state=0).fit(X, y)
    >>> ax = plot_optimization_history(search)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('trial (evaluation order)', 'mean test score')
    """
    import_pyplot()
    from matplotlib.ticker import MaxNLocator

    frame, search = load_results(search)
    column, label = score_column(frame, metric, search)
    ax = new_axes(ax)
    order = evaluation_order(frame)
    y = scores(frame, column)[order]
    x = np.arange(1, len(y) + 1)
    ok = np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=24, color="C0", alpha=0.8, label="trial", zorder=3)
    if ok.any():
        best = np.fmax.accumulate(np.where(ok, y, -np.inf))
        best[best == -np.inf] = np.nan
        ax.step(x, best, where="post", color="C1", lw=2, label="best so far")
    if (~ok).any():
        ax.scatter(
            x[~ok],
            np.zeros((~ok).sum()),
            marker="x",
            color="C3",
            s=36,
            transform=ax.get_xaxis_transform(),
            label=f"failed ({(~ok).sum()})",
            clip_on=False,
            zorder=4,
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (evaluation order)")
    ax.set_ylabel(label)
    ax.set_title(title_for(search, "Optimization history"))
    ax.legend(loc="best")
    ax.grid(True, alpha=0.3)
    return ax
