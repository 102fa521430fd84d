"""
Convergence: Bayesian optimization against random search
========================================================

How many trials does a search need to find a good candidate? This example
compares :class:`~skhpo.SMBOSearchCV` (TPE surrogate) with scikit-learn's
:class:`~sklearn.model_selection.RandomizedSearchCV` on the same search space
and the same folds, repeated with several seeds, and plots the best
cross-validated score found after each trial.

Both searches take the same space: an skhpo :class:`~skhpo.space.SearchSpace`
turns into ``param_distributions`` for scikit-learn's searches with
:meth:`~skhpo.space.SearchSpace.to_sklearn`.
"""

# %%
# The problem
# -----------
# An RBF SVM on a subset of the digits, with ``C`` and ``gamma`` on log scales:
# good values of ``gamma`` fill a narrow band of its range, which random search
# hits rarely.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo.space import Real, SearchSpace

X, y = load_digits(return_X_y=True)
X, y = X[:500] / 16.0, y[:500]
space = SearchSpace(
    {"C": Real(1e-3, 1e3, log=True), "gamma": Real(1e-6, 1e2, log=True)}
)
cv = StratifiedKFold(3, shuffle=True, random_state=0)
n_iter, seeds = 20, [0, 1, 2]

# %%
# Run both searches with each seed
# --------------------------------
# ``cv_results_`` of both lists the candidates in the order they were tried, so
# the running maximum of ``mean_test_score`` is the best score after each trial.


def best_so_far(search):
    return np.fmax.accumulate(search.cv_results_["mean_test_score"])


curves = {"SMBOSearchCV (TPE)": [], "RandomizedSearchCV": []}
for seed in seeds:
    smbo = SMBOSearchCV(SVC(), space, n_iter=n_iter, cv=cv, random_state=seed)
    curves["SMBOSearchCV (TPE)"].append(best_so_far(smbo.fit(X, y)))
    rand = RandomizedSearchCV(
        SVC(), space.to_sklearn(), n_iter=n_iter, cv=cv, random_state=seed
    )
    curves["RandomizedSearchCV"].append(best_so_far(rand.fit(X, y)))

for name, runs in curves.items():
    final = [run[-1] for run in runs]
    print(f"{name:20s} best after {n_iter} trials: {np.mean(final):.4f} (mean)")

# %%
# Best score against the number of trials
# ---------------------------------------
# The line is the mean over the seeds, the band spans the worst and best seed.
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
trials = np.arange(1, n_iter + 1)
for name, runs in curves.items():
    runs = np.array(runs)
    ax.plot(trials, runs.mean(axis=0), lw=2, label=name)
    ax.fill_between(trials, runs.min(axis=0), runs.max(axis=0), alpha=0.2)
ax.set_xlabel("trials")
ax.set_ylabel("best mean cross-validated accuracy so far")
ax.set_title(f"SVC on digits, {len(seeds)} seeds")
ax.legend(loc="lower right")
plt.show()
