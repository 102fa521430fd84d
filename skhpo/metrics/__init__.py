"""Dask-aware scorers: validation data stays chunked, only scalars travel.

The scorers follow scikit-learn's scorer protocol,
``scorer(estimator, X, y_true, sample_weight=None) -> float``, so they work as
``scoring=`` in scikit-learn's searches and ``cross_validate`` (alone or in a dict)
and in skhpo's searches; they pickle, so they run inside dask workers too.

- In-memory inputs (numpy, pandas, sparse): the result is scikit-learn's, computed
  by scikit-learn's own scorer.
- Dask arrays and dask DataFrames: the estimator's ``predict`` /
  ``predict_proba`` / ``decision_function`` runs block by block; each block is
  reduced to sums, counts or small tables next to the data; the reductions merge
  in a tree inside dask; only scalars or small tables are computed. ``y_true`` and
  ``sample_weight`` may be dask (their blocks are aligned to X's row blocks,
  rechunking them if needed) or in memory. Blocks of unknown sizes (dask
  DataFrames, boolean indexing) are paired as they are when both sides have as
  many; if they do not line up, the row counts are computed (only they travel)
  and the blocks realigned. Invalid values raise scikit-learn's errors (NaN or
  infinite targets, predictions or weights, all-zero weights). Scores agree
  with scikit-learn's on the same data up to floating-point summation order
  (about 1e-15 relative on float64 data).
- Names and metrics without a blockwise reduction also accept dask inputs: they
  gather ``y_true`` and the blockwise predictions (never ``X``) and warn with
  :class:`DaskGatherWarning`.

Inside a ``distributed`` worker task the scorers compute through the worker's
client, seceding from the worker's thread pool while they wait, so scoring tasks
cannot deadlock a cluster (see ``skhpo.metrics._dask``).

Examples
--------
>>> import dask.array as da
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from skhpo.metrics import get_scorer
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4))
>>> y = np.where(X[:, 0] - X[:, 1] + rng.normal(size=300) > 0, "yes", "no")
>>> clf = LogisticRegression().fit(X, y)
>>> dX = da.from_array(X, chunks=(100, 4))
>>> dy = da.from_array(y, chunks=100)
>>> for name in ["accuracy", "neg_log_loss", "roc_auc"]:
...     scorer = get_scorer(name)
...     print(name, bool(np.isclose(scorer(clf, dX, dy), scorer(clf, X, y))))
accuracy True
neg_log_loss True
roc_auc True
"""

from ._scorer import (
    DaskGatherWarning,
    check_scoring,
    get_scorer,
    get_scorer_names,
    make_scorer,
)

__all__ = [
    "DaskGatherWarning",
    "check_scoring",
    "get_scorer",
    "get_scorer_names",
    "make_scorer",
]
