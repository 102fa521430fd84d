"""
Bayesian optimization with each surrogate: TPE, Gaussian process, random forest
================================================================================

:class:`~skhpo.SMBOSearchCV` models the cross-validated score with a *surrogate*
and asks for the candidates that maximize an acquisition function (Expected
Improvement by default). This example tunes the same SVM on the same data with
each surrogate, and with plain random search (``surrogate="random"``) as a
reference:

- ``"tpe"``: tree-structured Parzen estimator, cheap and robust, handles
  categorical and conditional spaces natively (the default);
- ``"gp"``: Gaussian process, the most sample-efficient on a few continuous
  parameters, but its cost grows with the cube of the number of trials;
- ``"rf"``: random forest, good with categorical parameters and noisy scores.

The first ``n_initial_points`` candidates of every model-based surrogate are an
initial design (a Latin hypercube over the space); the surrogate takes over
after them.
"""

# %%
# One problem, four searches
# --------------------------
# An RBF SVM on a subset of scikit-learn's digits: ``C`` and ``gamma`` on log
# scales, plus the class weighting. Every search starts from the same 5 random
# candidates (same ``random_state``), so they differ only by their surrogate.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo.plot import plot_optimization_history
from skhpo.space import Categorical, Real

X, y = load_digits(return_X_y=True)
X, y = X[:600] / 16.0, y[:600]
space = {
    "C": Real(1e-3, 1e3, log=True),
    "gamma": Real(1e-6, 1e2, log=True),
    "class_weight": Categorical([None, "balanced"]),
}

searches = {}
for surrogate in ["tpe", "gp", "rf", "random"]:
    searches[surrogate] = SMBOSearchCV(
        SVC(),
        space,
        n_iter=20,
        surrogate=surrogate,
        n_initial_points=5,
        cv=3,
        random_state=0,
    ).fit(X, y)

# %%
# The best candidate of each
# --------------------------
# Besides the best candidate, the mean accuracy of the 15 candidates each
# surrogate chose (after the 5 initial ones) shows how well it steers the search
# to good regions.
summary = pd.DataFrame(
    {
        surrogate: {
            "best accuracy": search.best_score_,
            "mean accuracy, trials 6-20": np.mean(
                search.cv_results_["mean_test_score"][5:]
            ),
            "best C": search.best_params_["C"],
            "best gamma": search.best_params_["gamma"],
            "best class_weight": str(search.best_params_["class_weight"]),
        }
        for surrogate, search in searches.items()
    }
).T
print(summary.to_string())

# %%
# Score per trial and best so far
# -------------------------------
# After the 5 initial design points, the model-based surrogates concentrate on
# the region of high accuracy: most of their later trials score well, while
# random search keeps trying poor regions.
fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=True, layout="constrained")
for ax, (surrogate, search) in zip(axes.ravel(), searches.items()):
    plot_optimization_history(search, ax=ax)
    ax.set_title(f'surrogate="{surrogate}"')
plt.show()
