"""Apply a fitted estimator's method block by block to dask inputs, lazily.

``predict``, ``predict_proba``, ``decision_function``, ``transform`` (and their
kin) of a fitted search return, on a dask array or DataFrame, a lazy dask array
with one output block per input row block (``map_blocks`` /
``map_partitions``); on anything else they call the estimator directly.
"""

from __future__ import annotations

import numpy as np

from ._data import is_dask_array, is_dask_frame

__all__ = ["apply_method"]


def _probe(estimator, method, n_features, dtype):
    """Output of ``method`` on one row of zeros: its dtype and row shape."""
    try:
        out = getattr(estimator, method)(np.zeros((1, n_features), dtype=dtype))
    except Exception:
        return None
    out = np.asarray(out)
    return out.dtype, out.shape[1:]


def _meta_spec(meta):
    meta = np.asarray(meta)
    return meta.dtype, (None,) * (meta.ndim - 1)


def _apply_block(block, estimator, method, tail, out_dtype):
    if block.shape[0] == 0:
        return np.empty((0,) + tuple(tail), dtype=out_dtype)
    return np.asarray(getattr(estimator, method)(block))


def apply_method(estimator, method, X, meta=None):
    """``estimator.<method>(X)``, blockwise and lazy when ``X`` is dask.

    Parameters
    ----------
    estimator : fitted estimator
    method : str
    X : array-like, dask array or dask DataFrame
    meta : array-like, optional
        An empty array like the output (``predict_meta`` and friends); used
        when the output cannot be probed on one row of zeros.

    Returns
    -------
    array-like or dask.array.Array
    """
    if is_dask_array(X):
        if X.ndim > 1 and any(n > 1 for n in X.numblocks[1:]):
            X = X.rechunk({i: -1 for i in range(1, X.ndim)})
        spec = None
        if X.ndim == 2:
            spec = _probe(estimator, method, X.shape[1], X.dtype)
        if spec is None:
            if meta is None:
                raise ValueError(
                    f"Could not infer the output of {method} on the blocks of X: "
                    f"pass {method}_meta=<an empty array like the output> to the "
                    "search (e.g. predict_meta=np.array([], dtype=int))."
                )
            dtype, tail = _meta_spec(meta)
            tail = tuple(np.nan if n is None else n for n in tail)
        else:
            dtype, tail = spec
        out_ndim = 1 + len(tail)
        drop = list(range(out_ndim, X.ndim)) if X.ndim > out_ndim else None
        new = list(range(X.ndim, out_ndim)) if X.ndim < out_ndim else None
        return X.map_blocks(
            _apply_block,
            estimator=estimator,
            method=method,
            tail=tail,
            out_dtype=dtype,
            dtype=dtype,
            chunks=(X.chunks[0],) + tuple((n,) for n in tail),
            drop_axis=drop,
            new_axis=new,
            meta=np.empty((0,) * out_ndim, dtype=dtype),
        )
    if is_dask_frame(X):
        if meta is None:
            n_features = len(X.columns) if X.ndim == 2 else 1
            spec = None
            try:
                spec = _probe_frame(estimator, method, X._meta, n_features)
            except Exception:
                spec = None
            if spec is None:
                raise ValueError(
                    f"Could not infer the output of {method} on the partitions of "
                    f"X: pass {method}_meta=<an empty array like the output> to "
                    "the search."
                )
            dtype, tail = spec
            meta = np.empty((0,) + tuple(tail), dtype=dtype)
        meta = np.asarray(meta)
        return X.map_partitions(
            _apply_block,
            estimator=estimator,
            method=method,
            tail=meta.shape[1:],
            out_dtype=meta.dtype,
            meta=meta,
        )
    return getattr(estimator, method)(X)


def _probe_frame(estimator, method, frame_meta, n_features):
    """Probe on one row of the partitions' dtypes (zeros / first category)."""
    import pandas as pd

    row = {}
    columns = frame_meta.columns if frame_meta.ndim == 2 else [frame_meta.name]
    frame = frame_meta if frame_meta.ndim == 2 else frame_meta.to_frame()
    for column in columns:
        dtype = frame[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories):
            row[column] = pd.Categorical([dtype.categories[0]], dtype=dtype)
        elif np.issubdtype(np.dtype(dtype), np.number) if _is_np(dtype) else False:
            row[column] = np.zeros(1, dtype=dtype)
        else:
            row[column] = pd.Series([""], dtype=dtype)
    one = pd.DataFrame(row, columns=columns)
    if frame_meta.ndim == 1:
        one = one[columns[0]]
    out = np.asarray(getattr(estimator, method)(one))
    return out.dtype, out.shape[1:]


def _is_np(dtype):
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True
