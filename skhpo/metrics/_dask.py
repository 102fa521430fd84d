"""Dask plumbing for the scorers: row blocks, blockwise predictions, reductions.

Everything here builds lazy graphs. The one place that computes is :func:`compute`,
and it only ever receives graphs whose outputs are scalars or small tables.

Computing from inside a dask worker task
----------------------------------------
A scorer is a synchronous function that may run on the client or inside a task on
a ``distributed`` worker (``GridSearchCV`` under joblib's dask backend, skhpo's
adaptive searches). :func:`compute` calls :func:`dask.compute` with the scheduler
that dask picks for the calling thread:

- on the client: the configured scheduler (``dask.config`` ``scheduler``), else the
  default ``distributed.Client`` if there is one, else the threaded scheduler;
- inside a worker task: ``dask.compute`` finds the worker's own client (dask asks
  ``distributed.get_client()``, which in a task returns the worker client) and
  ``Client.get`` *secedes* the task's thread from the worker's thread pool while it
  waits for the result, then rejoins. This is what ``distributed.worker_client()``
  does, so the sub-graph runs on the whole cluster and a worker whose every thread
  is busy scoring cannot deadlock waiting for its own prediction tasks. skhpo does
  not import ``distributed`` here: the design keeps ``skhpo._execution`` the only
  module that does, and dask's own dispatch already does the safe thing.

An asynchronous client (code running on the event loop) cannot be used from a
synchronous scorer: dask raises ``RuntimeError("Attempting to use an asynchronous
Client in a synchronous context ...")``. Run the scorer in a thread
(``loop.run_in_executor``) or in a task (``client.submit``) instead.
"""

from __future__ import annotations

import uuid

import dask
import dask.array as da
import numpy as np
from dask import delayed
from dask.utils import is_dataframe_like, is_series_like

from .._nesting import nested_parallel_config

__all__ = [
    "BlockMismatchError",
    "RowBlocks",
    "any_dask",
    "compute",
    "is_dask_collection",
    "tree_reduce",
]

#: How many partial results one reduction task merges.
SPLIT_EVERY = 16


def is_dask_collection(obj):
    """Whether ``obj`` is a lazy dask collection (array, DataFrame, Series...)."""
    return dask.is_dask_collection(obj)


def any_dask(*objs):
    """Whether any of ``objs`` is a dask collection."""
    return any(is_dask_collection(obj) for obj in objs)


def compute(*collections):
    """Compute dask collections from synchronous code, in a worker task too.

    See the module docstring for how the scheduler is chosen and why it is safe
    inside a ``distributed`` worker task.
    """
    return dask.compute(*collections)


class BlockMismatchError(ValueError):
    """A row block of ``y_true`` or ``sample_weight`` has other rows than X's.

    Raised inside the graph by blocks that :meth:`RowBlocks.aligned` paired
    without knowing their row counts; the scorers then align them again with
    the counts computed (``check_lengths=True``).
    """


def _is_frame(obj):
    """A dask DataFrame or Series (dask-expr or legacy), without importing it."""
    return is_dask_collection(obj) and (is_dataframe_like(obj) or is_series_like(obj))


def _numpy_dtype(dtype):
    return dtype if isinstance(dtype, np.dtype) else np.dtype(object)


def _block_length(block):
    return len(block)


def _as_numpy(block):
    """A block as a numpy array (pandas partitions included)."""
    return np.asarray(block)


def tree_reduce(parts, combine, split_every=SPLIT_EVERY):
    """Merge delayed partial results ``split_every`` at a time until one is left.

    Parameters
    ----------
    parts : list of Delayed
        One partial result per row block.
    combine : callable
        ``combine(*partials) -> partial``; must accept one or more partials.
    split_every : int
        Fan-in of each reduction task.

    Returns
    -------
    Delayed
        The fully merged result.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("Cannot reduce zero row blocks: the input has no blocks.")
    while len(parts) > 1:
        parts = [
            delayed(combine, pure=True)(*parts[i : i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _call_method(block, estimator, method, tail, out_dtype):
    """``estimator.<method>(block)``, with an empty block giving an empty output;
    ``Parallel`` calls it makes run as in loky's workers
    (:func:`skhpo._nesting.nested_parallel_config`)."""
    if len(block) == 0:
        return np.empty((0,) + tuple(tail), dtype=out_dtype)
    with nested_parallel_config():
        return getattr(estimator, method)(block)


class RowBlocks:
    """A dask collection viewed as a list of row blocks.

    Parameters
    ----------
    obj : dask Array, DataFrame or Series
        The collection; its first axis is the sample axis.
    name : str
        What to call it in error messages ("X", "y_true", "sample_weight").
    """

    def __init__(self, obj, name):
        self.name = name
        if isinstance(obj, da.Array):
            if obj.ndim == 0:
                raise ValueError(f"{name} must have at least one dimension.")
            if obj.ndim > 1 and any(n > 1 for n in obj.numblocks[1:]):
                # Row blocks must hold whole rows: merge the blocks of the other
                # axes. Each new block concatenates the pieces of one row block
                # only, never the blocks of different rows.
                obj = obj.rechunk({i: -1 for i in range(1, obj.ndim)})
            self.kind = "array"
            self.lengths = obj.chunks[0]
            self.dtype = obj.dtype
        elif _is_frame(obj):
            self.kind = "frame"
            self.lengths = (np.nan,) * obj.npartitions
            self.dtype = _numpy_dtype(getattr(obj, "dtype", np.dtype(object)))
        else:
            raise TypeError(
                f"{name} is a {type(obj).__name__}; skhpo's dask-aware scorers take "
                "dask arrays, dask DataFrames and dask Series. Convert it with "
                "dask.array.from_array / dask.dataframe.from_pandas, or pass an "
                "in-memory array."
            )
        self.obj = obj
        self.ndim = obj.ndim
        self.trailing_shape = tuple(obj.shape[1:]) if self.kind == "array" else ()
        if self.kind == "frame" and obj.ndim == 2:
            self.trailing_shape = (len(obj.columns),)
        self._blocks = None

    @property
    def nblocks(self):
        return len(self.lengths)

    @property
    def known(self):
        return not any(np.isnan(n) for n in self.lengths)

    @property
    def n_rows(self):
        return int(sum(self.lengths)) if self.known else None

    def blocks(self):
        """One Delayed per row block."""
        if self._blocks is None:
            if self.kind == "array":
                self._blocks = list(self.obj.to_delayed().ravel())
            else:
                self._blocks = list(self.obj.to_delayed())
        return self._blocks

    def ensure_known_lengths(self):
        """Compute the row count of every block if unknown (only integers travel)."""
        if not self.known:
            lengths = compute(
                [delayed(_block_length, pure=True)(b) for b in self.blocks()]
            )[0]
            self.lengths = tuple(int(n) for n in lengths)
        return self.lengths

    def as_array(self):
        """The collection as a dask array with known row chunks."""
        self.ensure_known_lengths()
        if self.kind == "array" and not any(
            np.isnan(n) for c in self.obj.chunks for n in c
        ):
            return self.obj
        pieces = [
            da.from_delayed(
                delayed(_as_numpy, pure=True)(b),
                shape=(n,) + self.trailing_shape,
                dtype=self.dtype,
            )
            for b, n in zip(self.blocks(), self.lengths)
        ]
        return da.concatenate(pieces, axis=0)

    def aligned(self, other, other_name, *, check_lengths=False):
        """Row blocks of ``other`` matching this collection's row blocks.

        Parameters
        ----------
        other : dask collection or array-like
            ``y_true`` or ``sample_weight``.
        other_name : str
            Its name in error messages.
        check_lengths : bool, default=False
            If False, blocks whose row counts are unknown on one side are paired
            as they are when both sides have as many blocks: the block functions
            compare the lengths and raise :class:`BlockMismatchError`, and the
            caller aligns again with True, which computes the unknown row counts
            (a pass over the data) and rechunks ``other`` where they differ.

        Returns
        -------
        blocks : list of Delayed or ndarray
            ``blocks[i]`` has the rows of ``self``'s block ``i``.
        trailing_shape : tuple
            ``other``'s shape without its first axis.
        unchecked : bool
            Whether blocks of unknown row counts were paired as they are.
        """
        if not is_dask_collection(other):
            values = np.asarray(other)
            if values.ndim == 0:
                raise ValueError(f"{other_name} must be array-like, got a scalar.")
            lengths = self.ensure_known_lengths()
            self._check_total(len(values), other_name)
            offsets = np.cumsum((0,) + tuple(lengths))
            blocks = [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            return blocks, values.shape[1:], False

        rows = RowBlocks(other, other_name)
        if rows.nblocks == self.nblocks:
            if rows.known and self.known and rows.lengths == self.lengths:
                return rows.blocks(), rows.trailing_shape, False
            if not check_lengths and not (rows.known and self.known):
                return rows.blocks(), rows.trailing_shape, True
            if rows.ensure_known_lengths() == self.ensure_known_lengths():
                return rows.blocks(), rows.trailing_shape, False

        # Different block structures: rechunk ``other`` to this collection's rows.
        lengths = self.ensure_known_lengths()
        rows.ensure_known_lengths()
        self._check_total(rows.n_rows, other_name)
        array = rows.as_array()
        array = array.rechunk({0: lengths, **{i: -1 for i in range(1, array.ndim)}})
        return list(array.to_delayed().ravel()), rows.trailing_shape, False

    def _check_total(self, n_other, other_name):
        n = self.n_rows
        if n is not None and n_other != n:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"{self.name} has {n} rows but {other_name} has {n_other}. Pass "
                f"{other_name} with one entry per row of {self.name}."
            )

    def response_blocks(self, estimator_key, method, tail, dtype):
        """Delayed blocks of ``estimator.<method>(X)``, computed block by block.

        Parameters
        ----------
        estimator_key : Delayed
            The fitted estimator, as one graph key shared by every task.
        method : str
            "predict", "predict_proba" or "decision_function".
        tail : tuple
            Shape of one row of the output: ``()`` for labels and binary
            decision values, ``(n_classes,)`` for probabilities.
        dtype : numpy dtype
            Output dtype (metadata only).
        """
        token = f"skhpo-{method}-{uuid.uuid4().hex}"
        if self.kind == "frame":
            # Predict on the pandas partitions so that estimators fitted on
            # DataFrames see their column names.
            return [
                delayed(_call_method)(
                    part,
                    estimator_key,
                    method,
                    tail,
                    dtype,
                    dask_key_name=f"{token}-{i}",
                )
                for i, part in enumerate(self.blocks())
            ]
        X = self.obj
        out_ndim = 1 + len(tail)
        drop = list(range(out_ndim, X.ndim)) if X.ndim > out_ndim else None
        new = list(range(X.ndim, out_ndim)) if X.ndim < out_ndim else None
        response = X.map_blocks(
            _call_method,
            chunks=(X.chunks[0],) + tuple((n,) for n in tail),
            drop_axis=drop,
            new_axis=new,
            dtype=dtype,
            meta=np.empty((0,) * out_ndim, dtype=dtype),
            name=token,
            estimator=estimator_key,
            method=method,
            tail=tail,
            out_dtype=dtype,
        )
        return list(response.to_delayed().ravel())
