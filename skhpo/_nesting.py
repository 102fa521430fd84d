"""How ``Parallel`` calls made inside a task on a dask worker run.

A fit or a prediction running in a dask task (a random forest building or
querying its trees, a ``VotingClassifier`` fitting its estimators) makes its own
joblib ``Parallel`` calls. Under joblib's defaults they would start loky
processes from the worker, or, in the daemonic workers a nanny starts, run one
job and warn at every call ("Inside a Dask worker with daemon=True, setting
n_jobs=1"); under joblib's dask backend they become tasks of their own on
the cluster. skhpo runs the batches of ``skhpo.parallel.dask_backend``, the
fits of ``SMBOSearchCV``'s asynchronous path and the blockwise predictions of
its scorers under :func:`nested_parallel_config` instead: the nesting of
loky's own workers.

No dask import here: :mod:`skhpo.metrics` uses it and does not import
``distributed``.
"""

from joblib import parallel_config
from joblib._parallel_backends import ThreadingBackend

__all__ = ["nested_parallel_config"]


def nested_parallel_config():
    """joblib's ``parallel_config`` for ``Parallel`` calls made inside a task.

    The first level of joblib's nesting, as in loky's workers: such a call runs
    on threads of the worker when the estimator asks for ``n_jobs``,
    sequentially when it does not, and calls nested deeper run sequentially.
    """
    return parallel_config(backend=ThreadingBackend(nesting_level=1))
