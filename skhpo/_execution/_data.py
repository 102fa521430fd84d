"""Training and validation data on the cluster, as futures of row blocks.

:func:`prepare_data` turns ``X`` and ``y`` (numpy, pandas, sparse, dask arrays or
dask DataFrames) into futures of row blocks, splits every block into training
and validation rows on the workers (dask-ml's blockwise shuffle split), and
merges the validation pieces into blocks no larger than the largest input block
(or :data:`MIN_VALIDATION_BLOCK_BYTES`). Nothing but row counts, sizes and block
metadata ever comes back to the client.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
from dask import delayed
from distributed import as_completed

from . import _tasks

__all__ = [
    "MIN_VALIDATION_BLOCK_BYTES",
    "SearchData",
    "check_fit_data",
    "check_test_size",
    "prepare_data",
]

#: Validation pieces are merged into blocks of up to
#: ``max(largest input block, MIN_VALIDATION_BLOCK_BYTES)`` bytes: a validation
#: set smaller than this is one block, scored inside one task.
MIN_VALIDATION_BLOCK_BYTES = 32 * 2**20


def is_dask_array(obj):
    return isinstance(obj, da.Array)


def is_dask_frame(obj):
    """A dask DataFrame or Series, without importing dask.dataframe."""
    return (
        dask.is_dask_collection(obj)
        and hasattr(obj, "map_partitions")
        and hasattr(obj, "npartitions")
    )


@dataclass
class SearchData:
    """Futures of the training blocks and of the validation set.

    Attributes
    ----------
    train : list of (Future, Future or None)
        ``(X_block, y_block)`` of every training block.
    train_rows : list of int
        Rows of each training block.
    validation : list of (Future, Future or None)
        Validation blocks after merging; one block is scored inside one task,
        several are scored blockwise (see :class:`~._tasks.ChunkedValidation`).
    validation_rows : list of int
    chunked : ChunkedValidation or None
        The validation set by key when it has several blocks.
    test_size : float
        The validation fraction of every input block.
    """

    train: list
    train_rows: list
    validation: list
    validation_rows: list
    chunked: object = None
    test_size: float = 0.2
    futures: list = field(default_factory=list)


def check_test_size(test_size, n_blocks):
    """The validation fraction: ``test_size``, or dask-ml's default.

    dask-ml holds out ``min(0.2, 1 / n_blocks)`` of every block by default.
    """
    if test_size is None:
        return min(0.2, 1 / n_blocks)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise ValueError(
            f"test_size must be a float in (0, 1) or None; got test_size="
            f"{test_size!r}. It is the fraction of every block held out for "
            "validation; pass e.g. test_size=0.2."
        )
    if isinstance(test_size, numbers.Integral) or not 0 < test_size < 1:
        raise ValueError(
            f"test_size must be a float in (0, 1) or None; got test_size="
            f"{test_size!r}. Absolute sizes are not supported (as in dask-ml): "
            "it is the fraction of every block held out for validation; pass e.g. "
            "test_size=0.2, or None for min(0.2, 1 / n_blocks)."
        )
    return float(test_size)


def _rows_or_none(obj):
    """Rows of ``obj`` if known without computing anything, else None."""
    if obj is None or is_dask_frame(obj):
        return None
    if is_dask_array(obj):
        n = sum(obj.chunks[0]) if obj.ndim else math.nan
        return None if math.isnan(n) else int(n)
    if dask.is_dask_collection(obj):
        return None
    shape = getattr(obj, "shape", None)
    if shape is None and isinstance(obj, (str, bytes, numbers.Number)):
        shape = ()
    if shape is not None and len(shape) == 0:
        raise TypeError(
            f"Expected array-like data with one row per sample, got the scalar "
            f"{obj!r:.60}. Pass X of shape (n_samples, n_features) and y of shape "
            "(n_samples,)."
        )
    return _tasks.n_rows(obj if shape is not None else _in_memory(obj))


def check_fit_data(X, y):
    """Errors about ``X`` and ``y`` found without computing anything.

    Checks that ``X`` is given and not empty, that ``X`` and ``y`` have the same
    number of rows where both are known, and that an in-memory numeric ``y``
    has no NaN or infinite values. Dask collections are checked as far as
    their metadata allows; the rest is checked when the blocks are split.
    """
    if X is None:
        raise ValueError(
            "X is None: adaptive searches need training data. Pass X of shape "
            "(n_samples, n_features)."
        )
    n_x, n_y = _rows_or_none(X), _rows_or_none(y)
    if n_x == 0:
        raise ValueError(
            "X has no rows (0 samples); adaptive searches need data to train and "
            "validate on. Pass a non-empty X."
        )
    if n_x is not None and n_y is not None and n_x != n_y:
        raise _inconsistent(n_x, n_y)
    if y is not None and not dask.is_dask_collection(y):
        values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ValueError(
                f"y contains {'NaN' if np.isnan(values).any() else 'infinite'} "
                "values: every sample needs a finite target. Drop those rows (or "
                "impute the targets) before fitting."
            )


def _split_sizes(rows, test_size):
    """``(n_test, n_train)`` for every block, checking that both are >= 1."""
    sizes = []
    for i, n in enumerate(rows):
        n_test = int(math.ceil(test_size * n))
        n_train = n - n_test
        if n_train < 1 or n_test < 1:
            raise ValueError(
                f"Block {i} of X has {n} row(s): with test_size={test_size:g} it "
                f"leaves {n_train} training and {n_test} validation row(s), but "
                "both must be >= 1 (a 1 sample block cannot be split). Use "
                "larger blocks (rechunk X), more data, or another test_size."
            )
        sizes.append((n_test, n_train))
    return sizes


def _trailing(obj):
    return tuple(obj.shape[1:]) if is_dask_array(obj) else ()


def _dask_blocks(obj):
    """Delayed row blocks and their row counts (NaN when unknown)."""
    if is_dask_array(obj):
        if obj.ndim > 1 and any(n > 1 for n in obj.numblocks[1:]):
            # Blocks must hold whole rows.
            obj = obj.rechunk({i: -1 for i in range(1, obj.ndim)})
        return list(obj.to_delayed().ravel()), list(obj.chunks[0]), obj
    return list(obj.to_delayed()), [math.nan] * obj.npartitions, obj


def _as_array_with_lengths(obj, lengths):
    """A dask collection as a dask array with the given row counts per block."""
    if is_dask_frame(obj):
        blocks = obj.to_delayed()
        trailing = () if obj.ndim == 1 else (len(obj.columns),)
        dtype = obj.dtype if obj.ndim == 1 else None
        return da.concatenate(
            [
                da.from_delayed(
                    delayed(np.asarray)(b), shape=(n,) + trailing, dtype=dtype
                )
                for b, n in zip(blocks, lengths)
            ]
        )
    blocks = list(obj.to_delayed().ravel())
    return da.concatenate(
        [
            da.from_delayed(b, shape=(n,) + _trailing(obj), dtype=obj.dtype)
            for b, n in zip(blocks, lengths)
        ]
    )


async def _lengths(client, futures):
    return [int(n) for n in await client.gather(client.map(_tasks.n_rows, futures))]


def _inconsistent(n_x, n_y):
    return ValueError(
        "Found input variables with inconsistent numbers of samples: X has "
        f"{n_x} rows but y has {n_y}. Pass y with one entry per row of X."
    )


def _in_memory(obj):
    """In-memory data as an object with a ``shape`` (lists, array-likes)."""
    if obj is None or dask.is_dask_collection(obj) or hasattr(obj, "shape"):
        return obj
    return np.asarray(obj)


def _known_rows(X):
    """Row counts of X's blocks if known without computing anything, else None."""
    if not dask.is_dask_collection(X):
        return [_tasks.n_rows(_in_memory(X))]
    if is_dask_array(X) and not any(math.isnan(n) for n in X.chunks[0]):
        return list(X.chunks[0])
    return None


def _check_split(rows, test_size):
    """Drop empty blocks; the validation fraction and split sizes, or an error."""
    nonempty = [i for i, n in enumerate(rows) if n > 0]
    if not nonempty:
        raise ValueError(
            f"X has no rows (0 sample(s) in {len(rows)} block(s)); adaptive "
            "searches need data to train and validate on. Pass a non-empty X."
        )
    test_size = check_test_size(test_size, len(nonempty))
    return nonempty, test_size, _split_sizes([rows[i] for i in nonempty], test_size)


async def _input_blocks(client, X, y, keep):
    """Futures of aligned ``(X_block, y_block)`` pairs and their row counts.

    Every future created is added to ``keep``.
    """

    if not dask.is_dask_collection(X):
        X = _in_memory(X)
        if dask.is_dask_collection(y):
            [y_future] = client.compute([y])
            keep.append(y_future)
        else:
            y = _in_memory(y)
            y_future = None
        n = _tasks.n_rows(X)
        if y is not None and y_future is None and _tasks.n_rows(y) != n:
            raise _inconsistent(n, _tasks.n_rows(y))
        if y is not None and y_future is None:
            x_future, y_future = await client.scatter([X, y], hash=False)
            keep.extend([x_future, y_future])
        else:
            [x_future] = await client.scatter([X], hash=False)
            keep.append(x_future)
        if y_future is not None and dask.is_dask_collection(y):
            [n_y] = await _lengths(client, [y_future])
            if n_y != n:
                raise _inconsistent(n, n_y)
        return [(x_future, y_future)], [n]

    x_delayed, rows, X = _dask_blocks(X)
    y_delayed = []
    if dask.is_dask_collection(y):
        y_delayed, y_rows, y = _dask_blocks(y)
    # One submission: a graph X and y share (the mask of X[mask], y[mask]) is
    # sent once, not twice with different specs.
    futures = client.compute(x_delayed + y_delayed)
    keep.extend(futures)
    x_futures, y_futures = futures[: len(x_delayed)], futures[len(x_delayed) :]
    if any(math.isnan(n) for n in rows):
        rows = await _lengths(client, x_futures)
    rows = [int(n) for n in rows]

    if y is None:
        y_futures = [None] * len(x_futures)
    elif y_delayed:
        if any(math.isnan(n) for n in y_rows):
            y_rows = await _lengths(client, y_futures)
        if list(y_rows) != rows:
            # Other blocks (another chunking, partitions cut elsewhere):
            # rechunk y to X's rows.
            if sum(y_rows) != sum(rows):
                raise _inconsistent(sum(rows), int(sum(y_rows)))
            y_array = _as_array_with_lengths(y, y_rows)
            y_array = y_array.rechunk({0: tuple(rows)})
            y_futures = client.compute(list(y_array.to_delayed().ravel()))
            keep.extend(y_futures)
    else:
        y = _in_memory(y)
        if _tasks.n_rows(y) != sum(rows):
            raise _inconsistent(sum(rows), _tasks.n_rows(y))
        offsets = np.cumsum([0] + rows)
        pieces = [
            _tasks._take(y, slice(int(a), int(b)))
            for a, b in zip(offsets[:-1], offsets[1:])
        ]
        y_futures = await client.scatter(pieces, hash=False)
        keep.extend(y_futures)
    return list(zip(x_futures, y_futures)), rows


def _groups(sizes, cap):
    """Consecutive groups of blocks of at most ``cap`` in total (>= 1 block)."""
    groups, current, total = [], [], 0
    for i, n in enumerate(sizes):
        if current and total + n > cap:
            groups.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        groups.append(current)
    return groups


async def _sizes(client, train, validation):
    """Bytes of every training and validation piece (X and y)."""
    pieces = [f for pair in train + validation for f in pair if f is not None]
    sizes = dict(zip(pieces, await client.gather(client.map(_tasks.nbytes, pieces))))

    def total(pair):
        return sum(sizes[f] for f in pair if f is not None)

    return [total(pair) for pair in train], [total(pair) for pair in validation]


async def prepare_data(
    client, X, y, *, test_size, random_state, max_validation_bytes=None, live=None
):
    """Put the data on the cluster and split it into training and validation.

    Parameters
    ----------
    client : distributed.Client
        Used asynchronously (from a coroutine on its event loop).
    X, y
        Training data. In-memory data becomes one block.
    test_size : float or None
        Fraction of every block held out for validation (see
        :func:`check_test_size`).
    random_state : numpy.random.RandomState
        Draws one split seed per block.
    max_validation_bytes : int, optional
        Validation pieces are merged into blocks of at most this many bytes
        (default: the size of the largest input block or
        :data:`MIN_VALIDATION_BLOCK_BYTES`, whichever is larger, so a validation
        block is never much larger than a block the user already chose).
    live : set, optional
        Every future created is added to it while it may be needed, so that a
        failing or cancelled search can cancel them.

    Returns
    -------
    SearchData
    """
    known = _known_rows(X)
    if known is not None:
        # Errors about the split come before anything is computed.
        _check_split(known, test_size)
    keep = live if live is not None else set()
    created = []
    try:
        pairs, rows = await _input_blocks(client, X, y, created)
    finally:
        keep.update(created)
    nonempty, test_size, sizes = _check_split(rows, test_size)
    pairs = [pairs[i] for i in nonempty]
    rows = [rows[i] for i in nonempty]
    seeds = random_state.randint(np.iinfo(np.int32).max, size=len(rows))

    train, validation_pieces = [], []
    for (x_future, y_future), seed, (n_test, _) in zip(pairs, seeds, sizes):
        parts = client.submit(
            _tasks.split_block, x_future, y_future, int(seed), n_test, pure=False
        )
        picked = [client.submit(operator.getitem, parts, j) for j in range(4)]
        keep.update(picked)
        created.extend(picked)
        train.append((picked[0], picked[1] if y is not None else None))
        validation_pieces.append((picked[2], picked[3] if y is not None else None))
    # Drop every reference to the input blocks (and the split tuples): each is
    # released as soon as its split is done, so the data is never held twice.
    keep.difference_update(created[: len(created) - 4 * len(pairs)])
    del created[: len(created) - 4 * len(pairs)]
    del pairs, parts, x_future, y_future
    train_rows = [n_train for _, n_train in sizes]
    test_rows = [n_test for n_test, _ in sizes]

    train_bytes, test_bytes = await _sizes(client, train, validation_pieces)
    if max_validation_bytes is None:
        blocks = [a + b for a, b in zip(train_bytes, test_bytes)]
        cap = max(max(blocks), MIN_VALIDATION_BLOCK_BYTES)
    else:
        cap = max_validation_bytes
    validation, validation_rows = [], []
    for group in _groups(test_bytes, cap):
        xs = [validation_pieces[i][0] for i in group]
        ys = [validation_pieces[i][1] for i in group]
        if len(group) == 1:
            validation.append((xs[0], ys[0]))
        else:
            merged = (
                client.submit(_tasks.concat_blocks, *xs, pure=False),
                None
                if y is None
                else client.submit(_tasks.concat_blocks, *ys, pure=False),
            )
            keep.update(f for f in merged if f is not None)
            created.extend(f for f in merged if f is not None)
            validation.append(merged)
        validation_rows.append(sum(test_rows[i] for i in group))
    # Merged pieces are released once merged (only the merge tasks hold them).
    kept = {f for pair in validation for f in pair if f is not None}
    for f in [f for pair in validation_pieces for f in pair if f is not None]:
        if f not in kept:
            keep.discard(f)
            created.remove(f)
    del validation_pieces, xs, ys

    chunked = None
    if len(validation) > 1:
        x_info = await client.gather(
            [client.submit(_tasks.block_info, x) for x, _ in validation]
        )
        y_info = None
        if y is not None:
            y_info = await client.gather(
                [client.submit(_tasks.block_info, yv) for _, yv in validation]
            )
        chunked = _tasks.ChunkedValidation(
            X_keys=tuple(x.key for x, _ in validation),
            y_keys=None if y is None else tuple(yv.key for _, yv in validation),
            X_info=tuple(x_info),
            y_info=None if y_info is None else tuple(y_info),
        )
    futures = [f for pair in train + validation for f in pair if f is not None]
    # Wait for the split (not gathering anything): its errors (e.g. inconsistent
    # rows) surface here, before any model is created, and then the input blocks
    # can be released.
    async for _ in as_completed(futures, loop=client.loop):
        pass
    for future in futures:
        if future.status == "error":
            await future  # raises the task's exception
    # From now on the caller holds the futures it needs (SearchData.futures).
    keep.difference_update(created)
    del created
    return SearchData(
        train=train,
        train_rows=train_rows,
        validation=validation,
        validation_rows=validation_rows,
        chunked=chunked,
        test_size=test_size,
        futures=futures,
    )
