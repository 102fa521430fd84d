"""skhpo: hyperparameter optimization for scikit-learn, in parallel on dask."""

from ._minimize import OptimizeResult, minimize
from ._smbo import SMBOSearchCV

__version__ = "0.1.0.dev0"

__all__ = ["OptimizeResult", "SMBOSearchCV", "__version__", "minimize"]
