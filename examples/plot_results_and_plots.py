"""
Reading search results: tables and plots
=========================================

A search leaves its results in ``cv_results_``. This example tunes an SVM with
:class:`~skhpo.SMBOSearchCV`, loads the results into pandas with
:func:`skhpo.results.cv_results_frame`, and reads them with the plots of
:mod:`skhpo.plot`: optimization history, parallel coordinates, slices and
parameter importance. The same functions take scikit-learn's own searches, shown
at the end with a :class:`~sklearn.model_selection.RandomizedSearchCV`.
"""

# %%
# Tune an SVM
# -----------
# Two log-scaled continuous parameters and two categorical ones, one of which
# includes ``None``.
import matplotlib.pyplot as plt
from scipy.stats import loguniform
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo.plot import (
    param_importances,
    plot_optimization_history,
    plot_parallel_coordinates,
    plot_param_importances,
    plot_slice,
)
from skhpo.results import cv_results_frame
from skhpo.space import Categorical, Real

X, y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), SVC())
space = {
    "svc__C": Real(1e-2, 1e3, log=True),
    "svc__gamma": Real(1e-5, 1e0, log=True),
    "svc__kernel": Categorical(["rbf", "sigmoid"]),
    "svc__class_weight": Categorical([None, "balanced"]),
}
search = SMBOSearchCV(model, space, n_iter=24, cv=3, random_state=0)
search.fit(X, y)
print(f"best score {search.best_score_:.3f} with {search.best_params_}")

# %%
# The results as a DataFrame
# --------------------------
# One row per candidate; the ``param_*`` columns hold the values as the search
# used them (``None`` stays ``None``), and ``iter`` is the round of the search.
df = cv_results_frame(search)
columns = ["iter", "param_svc__C", "param_svc__gamma", "param_svc__kernel"]
columns += ["param_svc__class_weight", "mean_test_score", "rank_test_score"]
print(df[columns].sort_values("rank_test_score").head(8).to_string())

# %%
# The best candidate is the row ``best_index_``.
print(df.loc[search.best_index_, "params"] == search.best_params_)

# %%
# Optimization history
# --------------------
# Each point is a trial, in evaluation order; the line is the best score so far.
# After the random start the model-based search proposes mostly good candidates.
plot_optimization_history(search)

# %%
# Parallel coordinates
# --------------------
# One line per trial through one axis per parameter, coloured by score. ``C`` and
# ``gamma`` are on log axes because their dimensions are log-scaled; follow the
# bright lines to see which values the best trials share.
plot_parallel_coordinates(search)

# %%
# Slices
# ------
# The score against each parameter; darker points came later in the search.
plot_slice(search)

# %%
# Parameter importance
# --------------------
# The share of the score's variance that each parameter explains on its own
# (fANOVA first-order effects of a random forest fitted on the trials). The
# numbers describe the region the search explored, and 24 trials make them rough.
print(param_importances(search, random_state=0).round(3))
plot_param_importances(search, random_state=0)

# %%
# scikit-learn's searches too
# ---------------------------
# The same plots read any search with ``cv_results_``. Here a random search over
# the same space, drawn side by side with the model-based one.
random_search = RandomizedSearchCV(
    model,
    {
        "svc__C": loguniform(1e-2, 1e3),
        "svc__gamma": loguniform(1e-5, 1e0),
        "svc__kernel": ["rbf", "sigmoid"],
        "svc__class_weight": [None, "balanced"],
    },
    n_iter=24,
    cv=3,
    random_state=0,
).fit(X, y)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
plot_optimization_history(search, ax=left)
plot_optimization_history(random_search, ax=right)
fig.tight_layout()
