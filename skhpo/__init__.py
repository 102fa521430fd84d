"""skhpo: hyperparameter optimization for scikit-learn, in parallel on dask."""

from ._hyperband import HyperbandSearchCV
from ._incremental import IncrementalSearchCV, InverseDecaySearchCV
from ._minimize import OptimizeResult, minimize
from ._smbo import SMBOSearchCV
from ._successive_halving import SuccessiveHalvingSearchCV

__version__ = "0.1.0.dev0"

__all__ = [
    "HyperbandSearchCV",
    "IncrementalSearchCV",
    "InverseDecaySearchCV",
    "OptimizeResult",
    "SMBOSearchCV",
    "SuccessiveHalvingSearchCV",
    "__version__",
    "minimize",
]
