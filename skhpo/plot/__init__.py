"""Plots of search results (needs matplotlib: ``pip install "skhpo[plot]"``).

Every function takes a fitted search — skhpo's or scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV`,
:class:`~sklearn.model_selection.RandomizedSearchCV`... — or its plain results
(``cv_results_``, or ``history_`` for the adaptive searches), draws on the Axes
given as ``ax`` or on a new figure, and returns the Axes (the Figure for the
multi-panel :func:`plot_slice`). matplotlib is imported only when a function
draws, so ``import skhpo.plot`` and :func:`param_importances` work without it.

- :func:`plot_optimization_history`: score per trial and best so far.
- :func:`plot_parallel_coordinates`: one line per trial across the parameters.
- :func:`plot_slice`: score against each parameter.
- :func:`plot_param_importances` / :func:`param_importances`: fANOVA-style
  importance from a random forest fitted on the trials.
- :func:`plot_adaptive_history`: score against partial_fit calls per model, for
  the adaptive searches.
"""

from ._adaptive import plot_adaptive_history
from ._history import plot_optimization_history
from ._importance import param_importances, plot_param_importances
from ._params import plot_parallel_coordinates, plot_slice

__all__ = [
    "param_importances",
    "plot_adaptive_history",
    "plot_optimization_history",
    "plot_param_importances",
    "plot_parallel_coordinates",
    "plot_slice",
]
