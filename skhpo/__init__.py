"""skhpo: hyperparameter optimization for scikit-learn, in parallel on dask.

The searches are imported on first use (``skhpo.SMBOSearchCV``, ``from skhpo
import HyperbandSearchCV``): ``import skhpo.parallel`` does not load them, nor
does a dask worker that runs one of skhpo's tasks.
"""

from ._lazy import lazy_attributes

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

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "HyperbandSearchCV": "._hyperband",
        "IncrementalSearchCV": "._incremental",
        "InverseDecaySearchCV": "._incremental",
        "OptimizeResult": "._minimize",
        "SMBOSearchCV": "._smbo",
        "SuccessiveHalvingSearchCV": "._successive_halving",
        "minimize": "._minimize",
    },
    submodules=(
        "metrics",
        "parallel",
        "plot",
        "results",
        "samplers",
        "schedules",
        "space",
        "testing",
    ),
)
