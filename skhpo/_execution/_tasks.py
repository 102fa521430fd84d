"""Functions that run inside dask workers.

Everything here is synchronous, small and picklable by reference: the engine
submits these functions with ``Client.submit``. A model travels between tasks as a
:class:`ModelState`; every task that trains copies the model first, so the result
of an earlier task (kept alive by a future, or shared in memory by in-process
workers) is never modified.
"""

from __future__ import annotations

import copy
import numbers
import time
from typing import NamedTuple

import numpy as np
from sklearn.base import clone

__all__ = [
    "ChunkedValidation",
    "ModelState",
    "block_info",
    "concat_blocks",
    "create_model",
    "get_model",
    "n_rows",
    "nbytes",
    "partial_fit",
    "score_chunked",
    "score_one_block",
    "split_block",
]


class ModelState(NamedTuple):
    """A model between two tasks.

    Attributes
    ----------
    model : estimator
    partial_fit_calls : int
        ``partial_fit`` calls the model received so far.
    partial_fit_time : float
        Seconds spent in all those calls.
    """

    model: object
    partial_fit_calls: int
    partial_fit_time: float


def create_model(estimator, params):
    """A fresh model: ``clone(estimator).set_params(**params)``."""
    return ModelState(clone(estimator).set_params(**params), 0, 0.0)


def partial_fit(state, X, y, fit_params):
    """One ``partial_fit`` call on one training block, on a copy of the model."""
    start = time.perf_counter()
    model = copy.deepcopy(state.model)
    if n_rows(X):
        if y is None:
            model.partial_fit(X, **fit_params)
        else:
            model.partial_fit(X, y, **fit_params)
    elapsed = time.perf_counter() - start
    return ModelState(
        model, state.partial_fit_calls + 1, state.partial_fit_time + elapsed
    )


def get_model(state):
    """The estimator of a :class:`ModelState`."""
    return state.model


def _as_score(value):
    if isinstance(value, dict):
        raise ValueError(
            f"The scorer returned several scores ({sorted(value)}); adaptive "
            "searches compare models by one number. Pass a single scorer name or "
            "callable as scoring=."
        )
    if isinstance(value, numbers.Real) or np.ndim(value) == 0:
        return float(value)
    raise ValueError(
        f"The scorer returned {value!r}; adaptive searches need one number per "
        "model (higher is better). Pass a scorer that returns a float."
    )


def _record(state, score, start):
    # The scored state travels back with the score: the engine keeps the latest
    # one of every model, to rebuild models lost with a worker and to save them
    # in a checkpoint.
    return {
        "score": _as_score(score),
        "score_time": time.perf_counter() - start,
        "partial_fit_calls": state.partial_fit_calls,
        "total_partial_fit_time": state.partial_fit_time,
        "state": state,
    }


def score_one_block(state, X, y, scorer):
    """Score a model on a validation set held in one block (in this task)."""
    start = time.perf_counter()
    score = scorer(state.model, X, y)
    return _record(state, score, start)


class ChunkedValidation(NamedTuple):
    """A validation set spread over several blocks, referred to by key.

    The scoring task rebuilds lazy dask collections from these keys, so it never
    receives the blocks themselves: a dask-aware scorer predicts block by block
    where the blocks live and reduces the metric to a scalar inside the cluster.

    Attributes
    ----------
    X_keys, y_keys : tuple
        Keys of the blocks' futures (``y_keys`` is None without targets).
    X_info, y_info : tuple
        One :func:`block_info` per block.
    """

    X_keys: tuple
    y_keys: tuple | None
    X_info: tuple
    y_info: tuple | None

    def collections(self, client):
        """``(X, y)`` as dask collections whose blocks are the futures' data."""
        from distributed import Future

        def build(keys, infos):
            futures = [Future(key, client=client) for key in keys]
            kind = infos[0][0]
            if kind == "frame":
                import dask.dataframe as dd

                return dd.from_delayed(futures, meta=infos[0][3], verify_meta=False)
            import dask.array as da

            return da.concatenate(
                [
                    da.from_delayed(f, shape=(info[1],) + info[2], dtype=info[3])
                    for f, info in zip(futures, infos)
                ]
            )

        X = build(self.X_keys, self.X_info)
        y = None if self.y_keys is None else build(self.y_keys, self.y_info)
        return X, y


def score_chunked(state, validation, scorer):
    """Score a model on a chunked validation set, blockwise, from a worker.

    The dask-aware scorer computes through the worker's client; while it waits it
    secedes from the worker's thread pool (see ``skhpo.metrics._dask``), so the
    prediction tasks it spawns can run on this worker too.
    """
    from distributed import get_client

    start = time.perf_counter()
    X, y = validation.collections(get_client())
    score = scorer(state.model, X, y)
    return _record(state, score, start)


# -- data preparation ---------------------------------------------------------


def n_rows(block):
    """Number of rows of a block (arrays, sparse matrices, DataFrames, lists)."""
    if block is None:
        return 0
    shape = getattr(block, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    return len(block)


def _take(block, index):
    if block is None:
        return None
    if hasattr(block, "iloc"):
        return block.iloc[index]
    if _is_sparse(block) and block.format not in ("csr", "csc", "lil"):
        block = block.tocsr()  # COO, DIA, ... cannot select rows
    return block[index]


def _is_sparse(block):
    return hasattr(block, "tocsr") and hasattr(block, "nnz")


def split_block(X, y, seed, n_test):
    """Shuffle one block's rows and split them into (train, validation) parts.

    Returns ``(X_train, y_train, X_test, y_test)``; the first ``n_test`` rows of
    the permutation are the validation rows, as in dask-ml's blockwise split.
    """
    n = n_rows(X)
    if y is not None and n_rows(y) != n:
        raise ValueError(
            f"A block of X has {n} rows but the matching block of y has "
            f"{n_rows(y)}. X and y must have the same number of rows; pass y with "
            "one entry per row of X."
        )
    order = np.random.RandomState(seed).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return _take(X, train), _take(y, train), _take(X, test), _take(y, test)


def concat_blocks(*blocks):
    """Stack row blocks of the same kind into one."""
    if blocks[0] is None:
        return None
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    if hasattr(first, "iloc"):
        import pandas as pd

        return pd.concat(blocks)
    if _is_sparse(first):
        import scipy.sparse as sp

        return sp.vstack(blocks, format="csr")
    return np.concatenate(blocks, axis=0)


def nbytes(block):
    """Approximate size of a block in memory (dask's ``sizeof``)."""
    from dask.sizeof import sizeof

    return int(sizeof(block))


def block_info(block):
    """``(kind, n_rows, trailing_shape, dtype_or_meta)`` of a block.

    ``kind`` is ``"frame"`` for pandas objects (then the last item is an empty
    DataFrame or Series with the block's columns and dtypes) and ``"array"``
    otherwise.
    """
    if hasattr(block, "iloc"):
        return ("frame", len(block), (), block.iloc[:0])
    block = np.asarray(block) if not hasattr(block, "shape") else block
    return ("array", int(block.shape[0]), tuple(block.shape[1:]), block.dtype)
