"""
Hyperband on a dask array larger than one chunk
===============================================

:class:`~skhpo.HyperbandSearchCV` trains many models with ``partial_fit``, one
chunk of the data per call, and stops the poor ones early: it spends most of its
budget on the promising models. The training data stays a chunked dask array on
the cluster; each ``partial_fit`` call runs on the worker that holds its chunk,
and only the (small) models and scores travel.

This example runs it on a local dask cluster, reads the results, and plots the
training curve of every model with :func:`skhpo.plot.plot_adaptive_history`.
"""

# %%
# Data in chunks, and a cluster
# -----------------------------
# 6,000 rows in chunks of 750: eight blocks, each one ``partial_fit`` call. A
# real cluster is used the same way, with ``Client("tcp://scheduler:8786")``.
import dask.array as da
import matplotlib.pyplot as plt
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

from skhpo import HyperbandSearchCV
from skhpo.plot import plot_adaptive_history
from skhpo.results import cv_results_frame
from skhpo.space import Categorical, Real

X, y = make_classification(
    n_samples=6000, n_features=20, n_informative=8, random_state=0
)
X, y = da.from_array(X, chunks=750), da.from_array(y, chunks=750)
print(f"X: {X.shape}, {X.numblocks[0]} chunks of {X.chunks[0][0]} rows")

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
)
client = Client(cluster)

# %%
# The search
# ----------
# ``max_iter`` is the most ``partial_fit`` calls one model gets; Hyperband
# derives from it how many models to start in each bracket (``metadata``, known
# before fitting). ``classes`` goes to every ``partial_fit`` call.
search = HyperbandSearchCV(
    SGDClassifier(tol=None, random_state=0),
    {
        "alpha": Real(1e-6, 1e0, log=True),
        "loss": Categorical(["hinge", "log_loss", "modified_huber"]),
        "penalty": Categorical(["l2", "l1", "elasticnet"]),
    },
    max_iter=27,
    random_state=0,
)
print("planned:", {k: search.metadata[k] for k in ("n_models", "partial_fit_calls")})
search.fit(X, y, classes=[0, 1])
print(f"best validation accuracy {search.best_score_:.3f} with {search.best_params_}")

# %%
# The results
# -----------
# One row per model, with its bracket and how many ``partial_fit`` calls it got
# before it was stopped.
df = cv_results_frame(search)
columns = ["bracket", "partial_fit_calls", "test_score", "rank_test_score"]
columns += ["param_alpha", "param_loss", "param_penalty"]
print(df[columns].sort_values("rank_test_score").head(8).to_string())
print(df.groupby("bracket")["partial_fit_calls"].agg(["count", "max"]).to_string())

# %%
# Training curves
# ---------------
# Each line is a model: its validation score after each round of ``partial_fit``
# calls. The most aggressive bracket starts many models and keeps a few; the
# least aggressive one trains a few models to ``max_iter``.
ax = plot_adaptive_history(search)
plt.show()

# %%
# The fitted search predicts block by block on dask input, lazily.
print(search.predict(X[:1500]).chunks)
client.close()
cluster.close()
