"""Run scikit-learn's and skhpo's searches on dask: :func:`dask_backend`.

``with dask_backend(): search.fit(X, y)`` runs the fits of any joblib-parallel
search (``GridSearchCV``, ``RandomizedSearchCV``, ``SMBOSearchCV``,
``cross_validate``) on a dask cluster: a ``LocalCluster`` it starts, the active
client, a scheduler address or a cluster manager's cluster. See the user guide's
"Parallel and distributed execution" page.
"""

from ._execution._joblib import dask_backend

__all__ = ["dask_backend"]
