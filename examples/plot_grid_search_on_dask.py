"""
Grid search on a dask cluster
=============================

scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` runs its fits
through joblib, so it runs on dask with no change to the search itself: here a
13 x 13 grid of an SVC's ``C`` and ``gamma`` (169 candidates, 3-fold CV), first
sequentially, then under :func:`skhpo.parallel.dask_backend` on a local cluster
of two workers. The same code runs on a real cluster by changing only where
``dask_backend`` connects (see the comments below).
"""

# %%
# The data and the search
# -----------------------
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from distributed import LocalCluster
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from skhpo.parallel import dask_backend

X, y = make_classification(
    n_samples=300, n_features=20, n_informative=10, random_state=0
)
grid = {"C": np.logspace(-3, 3, 13), "gamma": np.logspace(-4, 2, 13)}

start = time.perf_counter()
sequential = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
sequential_seconds = time.perf_counter() - start
print(f"sequential: {sequential_seconds:.1f} s")

# %%
# The same search on dask
# -----------------------
# ``dask_backend()`` with no argument starts a ``LocalCluster`` of one worker
# process per core (in a script, under ``if __name__ == "__main__":``, as every
# program that starts processes); here the cluster is in this process, with one
# thread per worker, so that the example also runs inside the documentation
# build. On a cluster, the only change is the argument:
#
# - ``dask_backend("tcp://scheduler:8786")``, or no argument and the
#   ``DASK_SCHEDULER_ADDRESS`` environment variable set;
# - ``dask_backend(SLURMCluster(...))`` (dask-jobqueue),
#   ``dask_backend(KubeCluster(...))`` (dask-kubernetes).
cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
)
with dask_backend(cluster) as client:
    print(f"dask dashboard (with bokeh installed): {client.dashboard_link}")
    start = time.perf_counter()
    on_dask = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    dask_seconds = time.perf_counter() - start
cluster.close()
print(f"on dask: {dask_seconds:.1f} s")

# %%
# Same results
# ------------
# The fits are the same; only where they ran changed.
np.testing.assert_allclose(
    on_dask.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
)
print(f"best parameters: {on_dask.best_params_}, score {on_dask.best_score_:.3f}")

# %%
# The score over the grid, and the wall times
# -------------------------------------------
scores = pd.DataFrame(on_dask.cv_results_).pivot(
    index="param_C", columns="param_gamma", values="mean_test_score"
)
fig, (ax_grid, ax_time) = plt.subplots(1, 2, figsize=(10, 4))
image = ax_grid.imshow(scores.to_numpy(), origin="lower", cmap="viridis")
ax_grid.set_xticks(range(13)[::3], [f"{g:.0e}" for g in grid["gamma"][::3]])
ax_grid.set_yticks(range(13)[::3], [f"{c:.0e}" for c in grid["C"][::3]])
ax_grid.set_xlabel("gamma")
ax_grid.set_ylabel("C")
ax_grid.set_title("mean CV accuracy")
fig.colorbar(image, ax=ax_grid)
ax_time.bar(["sequential", "dask, 2 workers"], [sequential_seconds, dask_seconds])
ax_time.set_ylabel("seconds")
ax_time.set_title("GridSearchCV wall time")
fig.tight_layout()
plt.show()
