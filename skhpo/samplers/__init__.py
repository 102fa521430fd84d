"""Samplers: what to try next. Random search, TPE, Gaussian processes, forests.

This is policy code: it sees and returns plain data (parameter dicts, encoded
arrays, scores) and imports neither joblib nor dask. :class:`Optimizer` is the
ask/tell entry point; the surrogates and acquisition functions are public for
reuse and testing.

Conventions: :class:`Optimizer` takes scikit-learn's **scores** (higher is
better); surrogates and acquisition functions work on **losses** (lower is
better, the optimizer passes minus the score) in the unit-cube encoding of
:class:`~skhpo.space.SearchSpace`.
"""

from ._acquisition import (
    expected_improvement,
    lower_confidence_bound,
    probability_of_improvement,
)
from ._forest import RandomForest
from ._gp import GaussianProcess
from ._optimizer import ACQUISITIONS, SURROGATES, Observation, Optimizer
from ._tpe import TreeParzenEstimator, default_gamma, default_weights

__all__ = [
    "ACQUISITIONS",
    "GaussianProcess",
    "Observation",
    "Optimizer",
    "RandomForest",
    "SURROGATES",
    "TreeParzenEstimator",
    "default_gamma",
    "default_weights",
    "expected_improvement",
    "lower_confidence_bound",
    "probability_of_improvement",
]
