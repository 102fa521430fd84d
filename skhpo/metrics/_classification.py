"""Block statistics for classification metrics.

Two reductions cover the classification scorers:

*Weighted tables.* Label metrics (accuracy, balanced accuracy, precision, recall,
F-scores, Jaccard, Matthews, Cohen's kappa, ...) depend on ``y_true`` and
``y_pred`` only through the weighted count of each distinct ``(y_true, y_pred)``
pair and through which pairs occur. Ranking metrics of a binary problem (ROC AUC,
average precision) depend on ``(y_true, y_score)`` the same way: tied scores are
interchangeable. Each row block is reduced to its table of distinct pairs and their
summed weights; tables are merged in a tree; scikit-learn's own metric function is
then evaluated on the merged table with the summed weights as ``sample_weight``.
The result is scikit-learn's, including its label handling, ``pos_label`` and
``average`` options, warnings and errors, because scikit-learn computes it.

Memory: a label table has at most ``n_labels_true * n_labels_pred`` rows. A
ranking table has one row per distinct ``(label, score)``: for continuous scores
that is up to the number of validation samples (24 bytes per row plus the labels),
held by the one task that merges the last tables and evaluates the metric inside
the cluster; only the score travels back. Scores with few distinct values (trees,
naive Bayes on discrete data, rounded scores) keep it small.

*Log loss.* For each block and each true label, the weighted sum of ``-log p`` of
every probability column is kept (``n_labels x n_columns`` floats), with the total
weight and the extrema needed for scikit-learn's input checks. The column that
belongs to each label is chosen once all labels are known, exactly as
``sklearn.metrics.log_loss`` pairs the sorted labels of ``y_true`` with the
probability columns.
"""

from __future__ import annotations

import threading
import warnings
from math import sqrt

import numpy as np
from sklearn.utils import assert_all_finite

from ._regression import check_any_weight, total_weight

__all__ = [
    "finalize_log_loss",
    "finalize_table",
    "finalize_table_in_graph",
    "log_loss_block",
    "merge_log_loss",
    "merge_tables",
    "table_block",
]


# --------------------------------------------------------------------------
# weighted tables of distinct (y_true, response) pairs


def _group_sum(keys, weights):
    """Distinct rows of the key columns and the summed weight of each.

    Parameters
    ----------
    keys : tuple of ndarray of shape (n,)
        Key columns (any sortable dtype, object included).
    weights : ndarray of shape (n,) or None
        Weights; None counts rows (int64 sums).

    Returns
    -------
    table : tuple
        ``(unique_keys, sums)`` with ``unique_keys`` a tuple of arrays.
    """
    n = len(keys[0])
    if n == 0:
        dtype = np.int64 if weights is None else weights.dtype
        return tuple(k[:0] for k in keys), np.zeros(0, dtype=dtype)
    uniques, codes = [], []
    for key in keys:
        unique, inverse = np.unique(key, return_inverse=True)
        uniques.append(unique)
        codes.append(inverse.ravel())
    dims = tuple(len(u) for u in uniques)
    flat = np.ravel_multi_index(codes, dims)
    flat_unique, inverse = np.unique(flat, return_inverse=True)
    if weights is None:
        sums = np.bincount(inverse, minlength=len(flat_unique)).astype(np.int64)
    elif weights.dtype.kind in "iub":
        sums = np.zeros(len(flat_unique), dtype=np.int64)
        np.add.at(sums, inverse, weights)
    else:
        sums = np.bincount(inverse, weights=weights, minlength=len(flat_unique))
    indices = np.unravel_index(flat_unique, dims)
    return tuple(u[i] for u, i in zip(uniques, indices)), sums


def table_block(y_true, response, sample_weight):
    """Table of distinct ``(y_true, response)`` pairs of one block."""
    if y_true.ndim != 1 or response.ndim != 1:
        raise ValueError(
            "Weighted-table metrics need 1-D y_true and 1-D predictions, got "
            f"shapes {y_true.shape} and {response.shape}."
        )
    return _group_sum((y_true, response), sample_weight)


def merge_tables(*tables):
    """Merge block tables into one (a tree-reduction step)."""
    if len(tables) == 1:
        return tables[0]
    n_keys = len(tables[0][0])
    keys = tuple(np.concatenate([t[0][j] for t in tables]) for j in range(n_keys))
    weights = np.concatenate([t[1] for t in tables])
    return _group_sum(keys, weights)


def finalize_table(table, score_func, kwargs):
    """Evaluate ``score_func`` on a merged table (the summed weights as weights)."""
    (y_true, response), sums = table
    return score_func(y_true, response, sample_weight=sums, **kwargs)


_CATCH_WARNINGS_LOCK = threading.Lock()


def finalize_table_in_graph(table, score_func, kwargs):
    """:func:`finalize_table` inside a task, returning the warnings it raised.

    Used where the table can be large (ranking metrics): only the score and the
    warning messages leave the cluster; the caller re-emits the warnings.
    ``catch_warnings`` changes the process's warning state: two threads inside
    it at once (two scorer calls on dask's threaded scheduler) would leave a
    filter and its recorder behind, hiding every later warning; the lock keeps
    them one at a time.
    """
    with _CATCH_WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = finalize_table(table, score_func, kwargs)
    return value, [(str(w.message), w.category) for w in caught]


# --------------------------------------------------------------------------
# log loss


def log_loss_block(y_true, y_proba, sample_weight):
    """Per-label sums of ``-log p`` for every probability column of one block."""
    if y_true.ndim != 1:
        raise ValueError(f"log_loss needs 1-D y_true, got shape {y_true.shape}.")
    y_proba = np.asarray(y_proba)
    if y_proba.dtype.kind != "f":
        y_proba = y_proba.astype(np.float64)
    assert_all_finite(y_proba)  # scikit-learn's messages (NaN, infinity)
    if y_proba.ndim == 1:
        y_proba = y_proba[:, np.newaxis]
    if y_proba.shape[1] == 1:
        # Probability of the positive class only, as scikit-learn's binary
        # scorers pass it: the negative class gets 1 - p, as in log_loss.
        y_proba = np.concatenate([1 - y_proba, y_proba], axis=1)
    n, n_columns = y_proba.shape
    eps = np.finfo(y_proba.dtype).eps
    labels, inverse = np.unique(y_true, return_inverse=True)
    inverse = inverse.ravel()
    any_weight = sample_weight is None or bool(np.any(sample_weight))
    if n == 0:
        return dict(
            labels=labels,
            sums=np.zeros((0, n_columns)),
            weight=0,
            any_weight=any_weight,
            p_max=-np.inf,
            p_min=np.inf,
            sums_to_one=True,
        )
    row_sums = y_proba.sum(axis=1)
    sums_to_one = bool(np.all(np.isclose(row_sums, 1, rtol=sqrt(eps))))
    neg_log = -np.log(np.clip(y_proba, eps, 1 - eps))
    if sample_weight is None:
        weight = n
    else:
        neg_log = neg_log * sample_weight[:, np.newaxis]
        weight = sample_weight.sum()
    sums = np.stack(
        [
            np.bincount(inverse, weights=neg_log[:, j], minlength=len(labels))
            for j in range(n_columns)
        ],
        axis=1,
    )
    return dict(
        labels=labels,
        sums=sums,
        weight=weight,
        any_weight=any_weight,
        p_max=float(y_proba.max()),
        p_min=float(y_proba.min()),
        sums_to_one=sums_to_one,
    )


def merge_log_loss(*parts):
    """Merge per-block log-loss statistics (a tree-reduction step)."""
    if len(parts) == 1:
        return parts[0]
    n_columns = parts[0]["sums"].shape[1]
    if any(p["sums"].shape[1] != n_columns for p in parts):
        raise ValueError("Blocks returned different numbers of probability columns.")
    labels = np.unique(np.concatenate([p["labels"] for p in parts]))
    sums = np.zeros((len(labels), n_columns))
    for p in parts:
        sums[np.searchsorted(labels, p["labels"])] += p["sums"]
    return dict(
        labels=labels,
        sums=sums,
        weight=sum(p["weight"] for p in parts),
        any_weight=any(p["any_weight"] for p in parts),
        p_max=max(p["p_max"] for p in parts),
        p_min=min(p["p_min"] for p in parts),
        sums_to_one=all(p["sums_to_one"] for p in parts),
    )


def finalize_log_loss(stats, *, normalize=True, labels=None):
    """``sklearn.metrics.log_loss`` from merged statistics, with its checks."""
    if stats["p_max"] > 1:
        raise ValueError(f"y_prob contains values greater than 1: {stats['p_max']}")
    if stats["p_min"] < 0:
        raise ValueError(f"y_prob contains values lower than 0: {stats['p_min']}")
    check_any_weight(stats)
    y_labels = stats["labels"]
    if labels is not None:
        classes = np.unique(labels)
        if not np.all(classes == labels):
            warnings.warn(
                f"Labels passed were {labels}. But this function "
                "assumes labels are ordered lexicographically. "
                f"Pass the ordered labels={classes.tolist()} and ensure that "
                "the columns of y_prob correspond to this ordering.",
                UserWarning,
                stacklevel=3,
            )
        undeclared = set(y_labels.tolist()) - set(classes.tolist())
        if undeclared:
            raise ValueError(
                f"y_true contains values {undeclared} not belonging "
                f"to the passed labels {labels}."
            )
    else:
        classes = y_labels
    if len(classes) == 1:
        if labels is None:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}). Please provide the "
                "list of all expected class labels explicitly through the labels "
                "argument."
            )
        raise ValueError(
            f"The labels array needs to contain at least two labels, got {classes}."
        )
    if not stats["sums_to_one"]:
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=3,
        )
    n_columns = stats["sums"].shape[1]
    if len(classes) != n_columns:
        if labels is None:
            raise ValueError(
                "y_true and y_prob contain different number of classes: "
                f"{len(classes)} vs {n_columns}. Please provide the true labels "
                "explicitly through the labels argument. Classes found in y_true: "
                f"{classes}"
            )
        raise ValueError(
            "The number of classes in labels is different from that in y_prob. "
            f"Classes found in labels: {classes}"
        )
    columns = np.searchsorted(classes, y_labels)
    total = stats["sums"][np.arange(len(y_labels)), columns].sum()
    if not normalize:
        return float(total)
    return float(total / total_weight(stats))
