"""Search results as pandas DataFrames.

:func:`cv_results_frame` turns any search's ``cv_results_`` into a DataFrame with
one row per candidate, and :func:`history_frame` turns the adaptive searches'
``history_`` (one record per model and scoring round) into one. Both accept the
fitted search itself or the plain data, so results saved with pickle or json load
the same way.
"""

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

__all__ = ["cv_results_frame", "history_frame"]

_HISTORY_KEYS = (
    "model_id",
    "bracket",
    "partial_fit_calls",
    "score",
    "partial_fit_time",
    "score_time",
    "elapsed_wall_time",
    "params",
)


def _is_search(obj):
    return hasattr(obj, "get_params") and hasattr(obj, "fit")


def _name(obj):
    return type(obj).__name__


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _param_column(values, present):
    """One ``param_<name>`` column that keeps the user's objects.

    Numbers give a numeric column (NaN where the parameter is absent); anything else
    (strings, None, estimators, arrays...) an object column holding the very
    objects of ``params``, with NaN where the parameter is absent.
    """
    kept = [v for v, ok in zip(values, present) if ok]
    if kept and all(_is_number(v) for v in kept):
        if all(present) and all(isinstance(v, numbers.Integral) for v in kept):
            return pd.Series([int(v) for v in kept], dtype="int64")
        return pd.Series(
            [float(v) if ok else np.nan for v, ok in zip(values, present)],
            dtype="float64",
        )
    column = np.empty(len(values), dtype=object)
    for i, (value, ok) in enumerate(zip(values, present)):
        column[i] = value if ok else np.nan
    return pd.Series(column, dtype=object)


def _param_columns(params):
    names = sorted({name for p in params for name in p})
    return {
        f"param_{name}": _param_column(
            [p.get(name) for p in params], [name in p for p in params]
        )
        for name in names
    }


def _plain_column(values, n_rows, key):
    if isinstance(values, np.ma.MaskedArray):
        if values.dtype == object or values.dtype.kind in "USO":
            out = np.asarray(values.data, dtype=object).copy()
            out[np.ma.getmaskarray(values)] = np.nan
            return out
        return values.astype(float).filled(np.nan)
    if np.ndim(values) == 0 or len(values) != n_rows:
        raise ValueError(
            f"cv_results_[{key!r}] has {np.size(values)} values but there are "
            f"{n_rows} candidates; every column of cv_results_ needs one value per "
            "candidate. Pass the search's cv_results_ unchanged."
        )
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values
    values = list(values)
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        # Numbers saved as a list (results loaded from JSON): numeric, as the
        # search's own arrays.
        return np.asarray(values)
    column = np.empty(n_rows, dtype=object)
    column[:] = values
    return column


def _results_from(obj):
    """The ``cv_results_`` mapping (or DataFrame) of a search or of the data."""
    if isinstance(obj, (pd.DataFrame, Mapping)):
        return obj
    if _is_search(obj):
        if not hasattr(obj, "cv_results_"):
            raise NotFittedError(
                f"This {_name(obj)} has no cv_results_: it is not fitted yet. Call "
                f"fit(X, y) on it first, then pass the fitted search (or its "
                "cv_results_)."
            )
        return obj.cv_results_
    raise TypeError(
        "Expected a fitted search (GridSearchCV, RandomizedSearchCV, SMBOSearchCV, "
        "HyperbandSearchCV...) or its cv_results_ dict, got "
        f"{_name(obj)} {obj!r:.80}. Pass search or search.cv_results_."
    )


def cv_results_frame(search_or_cv_results):
    """A search's ``cv_results_`` as a pandas DataFrame, one row per candidate.

    Works for every search that has scikit-learn's ``cv_results_``:
    :class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`, the halving searches,
    :class:`~skhpo.SMBOSearchCV` and skhpo's adaptive searches. Every key becomes
    a column, in the order of ``cv_results_``; extra keys such as ``iter``,
    ``n_resources``, ``model_id``, ``bracket`` or ``partial_fit_calls`` are kept.
    The ``param_<name>`` columns are rebuilt from ``params`` so that they hold the
    user's own objects (strings, None, estimators, arrays) rather than masked
    values: a numeric parameter gives a numeric column, anything else an object
    column, and a parameter that a candidate does not have (in a list of grids) is
    NaN. The index is the candidate's row in ``cv_results_``, so
    ``frame.loc[search.best_index_]`` is the best candidate.

    Parameters
    ----------
    search_or_cv_results : fitted search, dict or DataFrame
        A fitted search, its ``cv_results_`` dict, or a DataFrame made from one
        (returned as a copy).

    Returns
    -------
    pandas.DataFrame
        One row per candidate.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the search is not fitted (a subclass of ValueError).
    TypeError
        If the object is neither a search nor results.
    ValueError
        If the results have no ``params`` or columns of different lengths.

    See Also
    --------
    history_frame : The adaptive searches' ``history_`` as a DataFrame.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo.results import cv_results_frame
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(DecisionTreeClassifier(random_state=0),
    ...                       {"max_depth": [1, 2, None]}, cv=2).fit(X, y)
    >>> df = cv_results_frame(search)
    >>> df[["param_max_depth", "mean_test_score", "rank_test_score"]]
      param_max_depth  mean_test_score  rank_test_score
    0               1         0.666667                3
    1               2         0.946667                2
    2            None         0.953333                1
    """
    results = _results_from(search_or_cv_results)
    if isinstance(results, pd.DataFrame):
        if "params" not in results.columns and not any(
            str(c).startswith("param_") for c in results.columns
        ):
            raise ValueError(
                "The DataFrame has neither a 'params' column nor 'param_*' "
                "columns, so it does not look like search results. Pass a fitted "
                "search or its cv_results_."
            )
        return results.copy()
    if "params" not in results:
        raise ValueError(
            "The results have no 'params' key, so they are not a search's "
            f"cv_results_ (keys: {sorted(results)[:10]}). Pass a fitted search or "
            "its cv_results_ dict; for an adaptive search's history_ use "
            "history_frame."
        )
    params = list(results["params"])
    n_rows = len(params)
    bad = [i for i, p in enumerate(params) if not isinstance(p, Mapping)]
    if bad:
        raise ValueError(
            f"cv_results_['params'][{bad[0]}] is {params[bad[0]]!r}, expected a dict "
            "of parameter names to values. Pass the search's cv_results_ unchanged."
        )
    param_columns = _param_columns(params)
    columns = {}
    for key, values in results.items():
        if key == "params":
            column = np.empty(n_rows, dtype=object)
            column[:] = params
            columns[key] = column
        elif key.startswith("param_"):
            if key in param_columns:
                columns[key] = param_columns.pop(key)
        else:
            columns[key] = _plain_column(values, n_rows, key)
    # Parameters missing from the results' param_ columns (none in sklearn's).
    columns.update(param_columns)
    frame = pd.DataFrame({k: pd.Series(v) for k, v in columns.items()})
    return frame.reset_index(drop=True)


def _history_from(obj):
    if _is_search(obj):
        if hasattr(obj, "history_"):
            return obj.history_
        if hasattr(obj, "cv_results_"):
            raise TypeError(
                f"{_name(obj)} has no history_: only the adaptive searches "
                "(SuccessiveHalvingSearchCV, HyperbandSearchCV, IncrementalSearchCV) "
                "record one. Use cv_results_frame(search) for its cv_results_."
            )
        raise NotFittedError(
            f"This {_name(obj)} has no history_: it is not fitted yet. Call "
            "fit(X, y) on it first, then pass the fitted search (or its history_)."
        )
    if isinstance(obj, Mapping):
        # model_history_: {model_id: [record, ...]}
        if not all(isinstance(v, Sequence) for v in obj.values()):
            raise TypeError(
                "Expected an adaptive search's history_ (a list of dicts) or "
                "model_history_ (a dict of model id to lists of dicts); got a dict "
                "whose values are not lists. For cv_results_ use cv_results_frame."
            )
        return [record for records in obj.values() for record in records]
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        return obj
    raise TypeError(
        "Expected a fitted adaptive search, its history_ (a list of dicts) or its "
        f"model_history_, got {_name(obj)} {obj!r:.80}. Pass search or "
        "search.history_."
    )


def history_frame(search_or_history):
    """An adaptive search's ``history_`` as a pandas DataFrame.

    The adaptive searches (:class:`~skhpo.SuccessiveHalvingSearchCV`,
    :class:`~skhpo.HyperbandSearchCV`, :class:`~skhpo.IncrementalSearchCV`,
    like dask-ml's) record one dict each time they score a model: its
    ``model_id``, ``params``, ``partial_fit_calls`` so far, the validation
    ``score``, ``partial_fit_time``, ``score_time``, ``elapsed_wall_time`` and, for
    Hyperband, the ``bracket``. This gives one row per record, in the order
    recorded, with these columns first and the parameters expanded as
    ``param_<name>`` columns (the user's objects, as in :func:`cv_results_frame`).

    Parameters
    ----------
    search_or_history : fitted adaptive search, list of dicts or dict
        The search, its ``history_``, or its ``model_history_`` (a dict of model id
        to records).

    Returns
    -------
    pandas.DataFrame
        One row per record.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the search is not fitted (a subclass of ValueError).
    TypeError
        If the object has no history (e.g. a GridSearchCV) or is not one.
    ValueError
        If the history is empty or its records lack ``model_id``, ``score`` or
        ``partial_fit_calls``.

    See Also
    --------
    cv_results_frame : One row per candidate, for every search.
    skhpo.plot.plot_adaptive_history : Score against partial_fit calls per model.

    Examples
    --------
    >>> from skhpo.results import history_frame
    >>> history = [
    ...     {"model_id": 0, "params": {"alpha": 0.1}, "partial_fit_calls": 1,
    ...      "score": 0.6, "partial_fit_time": 0.01, "score_time": 0.01,
    ...      "elapsed_wall_time": 0.1},
    ...     {"model_id": 0, "params": {"alpha": 0.1}, "partial_fit_calls": 3,
    ...      "score": 0.8, "partial_fit_time": 0.01, "score_time": 0.01,
    ...      "elapsed_wall_time": 0.3},
    ... ]
    >>> history_frame(history)[["model_id", "partial_fit_calls", "score",
    ...                         "param_alpha"]]
       model_id  partial_fit_calls  score  param_alpha
    0         0                  1    0.6          0.1
    1         0                  3    0.8          0.1
    """
    history = list(_history_from(search_or_history))
    if not history:
        raise ValueError(
            "The history is empty: the search recorded no score. Fit the search "
            "(with at least one model and one partial_fit call) before reading "
            "its history_."
        )
    bad = [i for i, r in enumerate(history) if not isinstance(r, Mapping)]
    if bad:
        raise TypeError(
            f"history_[{bad[0]}] is {_name(history[bad[0]])}, expected a dict record "
            "(model_id, params, partial_fit_calls, score, ...). Pass an adaptive "
            "search's history_; for cv_results_ use cv_results_frame."
        )
    required = ("model_id", "score", "partial_fit_calls")
    for i, record in enumerate(history):
        missing = [k for k in required if k not in record]
        if missing:
            raise ValueError(
                f"history_[{i}] has no {', '.join(map(repr, missing))}: each record "
                f"of an adaptive search's history_ needs {list(required)}. Got keys "
                f"{sorted(record)}."
            )
    keys = [k for k in _HISTORY_KEYS if any(k in r for r in history)]
    keys += [k for r in history for k in r if k not in keys]
    keys = list(dict.fromkeys(keys))
    columns = {}
    for key in keys:
        column = np.empty(len(history), dtype=object)
        column[:] = [r.get(key, np.nan) for r in history]
        columns[key] = pd.Series(column, dtype=object).infer_objects()
    if "params" in columns:
        params = [r.get("params") or {} for r in history]
        columns.update(_param_columns(params))
        columns["params"] = pd.Series(_object_array(params), dtype=object)
    return pd.DataFrame(columns)


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
