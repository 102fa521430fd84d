"""Execution layer: the only part of skhpo that imports ``dask.distributed``.

The adaptive searches (``IncrementalSearchCV``, ``InverseDecaySearchCV``,
``SuccessiveHalvingSearchCV``, ``HyperbandSearchCV``) decide nothing here: they
hand this engine their policies (from :mod:`skhpo.schedules`), their parameter
settings and their data, and read back per-model histories.

- :mod:`._client`: which client runs a search; synchronous and asynchronous use.
- :mod:`._data`: data to futures of row blocks, blockwise train/validation split.
- :mod:`._engine`: the policy-driven training loop, runs (brackets) concurrent.
- :mod:`._tasks`: the functions that run on the workers.
- :mod:`._postfit`: blockwise, lazy ``predict``/``transform`` on dask inputs.
"""

from .._lazy import lazy_attributes

__all__ = [
    "ClusterLostError",
    "RunResult",
    "RunSpec",
    "active_client",
    "apply_method",
    "check_fit_data",
    "check_test_size",
    "gather_if_future",
    "is_dask_array",
    "is_dask_frame",
    "is_future",
    "joblib_client",
    "resolve_fit_params",
    "run_adaptive",
    "run_on_client",
]

# Lazy (see skhpo/_lazy.py): a worker running a dask_backend batch imports
# ._joblib, not ._data's dask.array nor the engine.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            [
                "active_client",
                "gather_if_future",
                "is_future",
                "joblib_client",
                "resolve_fit_params",
                "run_on_client",
            ],
            "._client",
        ),
        **dict.fromkeys(
            ["check_fit_data", "check_test_size", "is_dask_array", "is_dask_frame"],
            "._data",
        ),
        **dict.fromkeys(
            ["ClusterLostError", "RunResult", "RunSpec", "run_adaptive"], "._engine"
        ),
        "apply_method": "._postfit",
    },
)
