"""Parameter importance: fANOVA first-order effects of a random forest.

The method follows Hutter, Hoos and Leyton-Brown, "An Efficient Approach for
Assessing Hyperparameter Importance", ICML 2014:

1. Fit a random forest ``f`` (scikit-learn's RandomForestRegressor) that predicts
   the score of a trial from its parameters.
2. Take the product of the parameters' empirical distributions over the trials
   as the input distribution (every parameter varies independently, over the
   values the search tried).
3. The marginal of parameter ``j`` at value ``v`` is
   ``a_j(v) = E[f(x) | x_j = v]``, the forest's prediction averaged over the
   other parameters; its variance ``V_j = Var_v a_j(v)`` is the first-order
   (main) effect of ``j`` in the functional ANOVA decomposition of ``f``.
4. The importance of ``j`` is ``V_j / V``, where ``V = Var f(x)`` is the total
   variance. The rest, ``1 - sum_j V_j / V``, is due to interactions.

Unlike fANOVA, which computes the marginals exactly from the trees' partitions,
the expectations here are Monte Carlo averages over a sample of the product
distribution drawn from the trial data.
"""

import numbers

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils import check_random_state

from ._base import (
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

# Size of the Monte Carlo sample of the product distribution, and the most
# values of a parameter at which its marginal is evaluated (quantiles beyond).
_N_BACKGROUND = 256
_MAX_VALUES = 32


def _encode(frame, names, space):
    """Trials as a float matrix: numbers as they are, categories as codes.

    A random forest splits on order only, so a log scale changes nothing; absent
    parameters are NaN, which the forest handles as missing values.
    """
    return np.column_stack([param_axis(frame, n, space).coords for n in names])


def _marginal_points(column):
    """Values at which to evaluate a marginal, and the weight of each."""
    present = column[~np.isnan(column)]
    values, counts = np.unique(present, return_counts=True)
    if np.isnan(column).any():
        values = np.append(values, np.nan)
        counts = np.append(counts, np.isnan(column).sum())
    if len(values) > _MAX_VALUES:
        values = np.quantile(present, (np.arange(_MAX_VALUES) + 0.5) / _MAX_VALUES)
        counts = np.ones(_MAX_VALUES)
    return values, counts / counts.sum()


def _first_order_variances(forest, X, rng):
    """``(V_j for every column, V)`` by Monte Carlo over the product measure.

    Each parameter's grid (its values, weighted as over the trials, times the
    background sample) is itself a sample of the product measure: ``V_j`` is the
    variance between its groups, and ``V`` pools the total variance of every grid
    and of the background, which keeps ``V_j <= V`` up to the pooling.
    """
    n, d = X.shape
    # A sample of the product of the columns' empirical distributions.
    rows = rng.randint(n, size=(_N_BACKGROUND, d))
    background = X[rows, np.arange(d)]
    totals = [float(np.var(forest.predict(background)))]
    effects = np.zeros(d)
    for j in range(d):
        values, weights = _marginal_points(X[:, j])
        grid = np.repeat(background[None], len(values), axis=0)
        grid[:, :, j] = values[:, None]
        marginal = forest.predict(grid.reshape(-1, d)).reshape(len(values), -1)
        a = marginal.mean(axis=1)
        mean = np.sum(weights * a)
        effects[j] = np.sum(weights * (a - mean) ** 2)
        totals.append(float(np.sum(weights * np.mean((marginal - mean) ** 2, 1))))
    return effects, float(np.mean(totals))


def param_importances(
    search, params=None, *, metric=None, n_estimators=100, random_state=None
):
    """Importance of each parameter: its share of the score's variance.

    The functional-ANOVA first-order main effect of each parameter (Hutter et al.,
    ICML 2014), estimated from a random forest fitted on the trials:

    1. a :class:`~sklearn.ensemble.RandomForestRegressor` learns the mean test
       score from the parameters of the trials that have a finite score (numbers
       as they are, categorical values as codes, absent parameters as missing);
    2. the parameters are taken as independent, each distributed as over the
       trials; a Monte Carlo sample of this product distribution is drawn;
    3. for each parameter ``j`` and each of its values ``v``, the marginal
       ``a_j(v)`` is the forest's prediction averaged over the sample with ``j``
       set to ``v``;
    4. the importance of ``j`` is the variance of ``a_j`` over the values of
       ``j`` divided by the variance of the forest's predictions over the sample.

    The importances are non-negative and sum to at most 1; the rest is the share
    of variance due to interactions between parameters (if Monte Carlo noise makes
    the sum exceed 1, the values are scaled down to sum to 1). They describe the
    region the search explored, not the whole space: a model-based search that
    concentrates on good values makes a parameter look less important than a
    random search would. With few trials the forest, and so the importances, are
    rough.

    Parameters
    ----------
    search : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_``, or
        :func:`~skhpo.results.cv_results_frame` of it.
    params : list of str, default=None
        Parameters to assess; all of them if None. The others are left out of the
        forest, so their effect is treated as noise.
    metric : str, default=None
        With multimetric scoring, the metric whose variance is explained.
    n_estimators : int, default=100
        Number of trees of the forest.
    random_state : int, RandomState instance or None, default=None
        Seed of the forest and of the Monte Carlo sample; an int gives the same
        importances every time.

    Returns
    -------
    pandas.Series
        Importance per parameter name, largest first, named ``"importance"``.
        ``attrs["total_variance"]`` holds ``V``, the variance explained (0 when
        every trial has the same score, and then every importance is 0).

    Raises
    ------
    ValueError
        If the search is not fitted, names are unknown, or fewer than two trials
        have a finite score.

    See Also
    --------
    plot_param_importances : The same numbers as a bar chart.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo.plot import param_importances
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(DecisionTreeClassifier(random_state=0),
    ...                       {"max_depth": [1, 2, 3, 4],
    ...                        "criterion": ["gini", "entropy"]}, cv=2).fit(X, y)
    >>> imp = param_importances(search, random_state=0)
    >>> imp.index[0]
    'max_depth'
    >>> bool(0 <= imp.sum() <= 1)
    True
    """
    if not isinstance(n_estimators, numbers.Integral) or n_estimators < 1:
        raise ValueError(
            f"n_estimators must be a positive integer, got {n_estimators!r}."
        )
    frame, search = load_results(search)
    column, _ = score_column(frame, metric, search)
    names = param_names(frame, params)
    y = scores(frame, column)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        raise ValueError(
            f"Parameter importance needs at least two trials with a finite score, "
            f"got {int(ok.sum())} of {len(y)}. Run more trials, or check why fits "
            "fail (error_score='raise')."
        )
    X = _encode(frame, names, space_of(search))[ok]
    y = y[ok]
    rng = check_random_state(random_state)
    importances = np.zeros(len(names))
    total = 0.0
    if np.ptp(y) > 0:
        forest = RandomForestRegressor(
            n_estimators=n_estimators,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        forest.fit(X, y)
        effects, total = _first_order_variances(forest, X, rng)
        if total > 0:
            importances = np.clip(effects / total, 0.0, None)
            if importances.sum() > 1:
                importances /= importances.sum()
    series = pd.Series(importances, index=pd.Index(names, name="parameter"))
    order = sorted(range(len(names)), key=lambda i: (-importances[i], names[i]))
    series = series.iloc[order].rename("importance")
    series.attrs["total_variance"] = total
    return series


def plot_param_importances(
    search,
    params=None,
    *,
    metric=None,
    n_estimators=100,
    random_state=None,
    ax=None,
):
    """Plot each parameter's importance as a horizontal bar, largest on top.

    The importance is the share of the score's variance that the parameter
    explains alone: the functional-ANOVA first-order effect of a random forest
    fitted on the trials (see :func:`param_importances` for the method and its
    caveats). The bars sum to at most 1; the title states the rest, the share
    explained only by interactions between parameters.

    Parameters
    ----------
    search : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_``, or
        :func:`~skhpo.results.cv_results_frame` of it.
    params : list of str, default=None
        Parameters to assess; all of them if None.
    metric : str, default=None
        With multimetric scoring, the metric whose variance is explained.
    n_estimators : int, default=100
        Number of trees of the forest.
    random_state : int, RandomState instance or None, default=None
        Seed of the forest and of the Monte Carlo sample.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo.plot import plot_param_importances
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(DecisionTreeClassifier(random_state=0),
    ...                       {"max_depth": [1, 2, 3, 4],
    ...                        "criterion": ["gini", "entropy"]}, cv=2).fit(X, y)
    >>> ax = plot_param_importances(search, random_state=0)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['criterion', 'max_depth']
    """
    import_pyplot()
    importances = param_importances(
        search,
        params,
        metric=metric,
        n_estimators=n_estimators,
        random_state=random_state,
    )
    frame, search = load_results(search)
    _, label = score_column(frame, metric, search)
    ax = new_axes(ax, figsize=(6, 0.4 * len(importances) + 1.5))
    shown = importances.iloc[::-1]
    bars = ax.barh(range(len(shown)), shown.to_numpy(), color="C0")
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    ax.set_yticks(range(len(shown)), list(shown.index))
    ax.set_xlim(0, max(1.0, float(shown.max()) * 1.15))
    ax.set_xlabel(f"importance (share of the variance of the {label})")
    ax.set_ylabel("parameter")
    if importances.attrs.get("total_variance", 0.0) > 0:
        rest = max(0.0, 1.0 - float(importances.sum()))
        note = f"rest (interactions): {rest:.2f}"
    else:
        note = "all trials scored the same: nothing to explain"
    ax.set_title(
        title_for(search, "Parameter importance") + f"\nfANOVA first-order, {note}"
    )
    ax.grid(True, axis="x", alpha=0.3)
    return ax
