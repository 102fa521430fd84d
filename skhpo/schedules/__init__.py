"""Schedules: how much training budget each candidate of an adaptive search gets.

This is policy code: pure Python and numpy, no joblib, dask or estimators. It holds

- the budget arithmetic of Hyperband and successive halving
  (:func:`hyperband_brackets`, :func:`hyperband_metadata`,
  :func:`successive_halving_metadata`, ...), and
- stateless policies that, given the per-model history of a search, return how
  many more ``partial_fit`` calls each continuing model receives
  (:class:`IncrementalPolicy`, :class:`InverseDecayPolicy`,
  :class:`SuccessiveHalvingPolicy`), deciding exactly as dask-ml's
  ``IncrementalSearchCV``, ``InverseDecaySearchCV`` and
  ``SuccessiveHalvingSearchCV``.
"""

from ._hyperband import (
    HyperbandBracket,
    hyperband_brackets,
    hyperband_metadata,
    hyperband_policies,
    hyperband_random_states,
    observed_hyperband_metadata,
    observed_successive_halving_metadata,
    resolve_hyperband_patience,
    successive_halving_metadata,
)
from ._policies import (
    Decision,
    IncrementalPolicy,
    InverseDecayPolicy,
    SuccessiveHalvingPolicy,
    should_stop,
)
from ._simulate import Simulation, simulate

__all__ = [
    "Decision",
    "HyperbandBracket",
    "IncrementalPolicy",
    "InverseDecayPolicy",
    "Simulation",
    "SuccessiveHalvingPolicy",
    "hyperband_brackets",
    "hyperband_metadata",
    "hyperband_policies",
    "hyperband_random_states",
    "observed_hyperband_metadata",
    "observed_successive_halving_metadata",
    "resolve_hyperband_patience",
    "should_stop",
    "simulate",
    "successive_halving_metadata",
]
