"""Every private scikit-learn name skhpo uses, in one place.

scikit-learn does not promise stability for these; when one moves, only this module
changes.
"""

import contextlib
import threading

from sklearn.model_selection import _search as _sk_search
from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    StrOptions,
)

__all__ = ["HasMethods", "Interval", "StrOptions", "collect_fit_failures"]

_state = threading.local()
_original_warn_or_raise = _sk_search._warn_or_raise_about_fit_failures


def _warn_or_raise_about_fit_failures(results, error_score):
    collector = getattr(_state, "collector", None)
    if collector is None:
        return _original_warn_or_raise(results, error_score)
    collector.extend(results)


@contextlib.contextmanager
def collect_fit_failures(error_score):
    """Report fit failures once for a whole search instead of once per batch.

    ``BaseSearchCV.fit``'s ``evaluate_candidates`` warns about failed fits after
    every call and raises when all the fits *of that call* failed, which would abort
    a sequential search as soon as one candidate fails on every fold. Inside this
    context (in this thread only) the per-call check only collects the results; on
    exit scikit-learn's own check runs once over all of them: one warning, or its
    "all fits failed" error when every fit of the search failed.
    """
    collected = []
    previous = getattr(_state, "collector", None)
    _state.collector = collected
    try:
        yield collected
    finally:
        _state.collector = previous
    _original_warn_or_raise(collected, error_score)


# BaseSearchCV.fit looks the checker up as a module global at call time; route it
# through the thread-local collector above. Outside `collect_fit_failures` it
# behaves exactly as scikit-learn's.
_sk_search._warn_or_raise_about_fit_failures = _warn_or_raise_about_fit_failures
