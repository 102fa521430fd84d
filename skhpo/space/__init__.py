"""Search spaces: hyperparameter domains and the unit-cube encoding samplers share.

This is policy code: it imports neither joblib nor dask.
"""

from ._dimensions import (
    Categorical,
    Dimension,
    Distribution,
    Integer,
    Real,
    as_dimension,
)
from ._space import Column, SearchSpace, check_param_names

__all__ = [
    "Categorical",
    "Column",
    "Dimension",
    "Distribution",
    "Integer",
    "Real",
    "SearchSpace",
    "as_dimension",
    "check_param_names",
]
