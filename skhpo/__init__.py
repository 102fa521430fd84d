"""skhpo: hyperparameter optimization for scikit-learn, in parallel on dask."""

__version__ = "0.1.0.dev0"
