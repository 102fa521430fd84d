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
from sklearn.utils.parallel import Parallel as _SkParallel

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "collect_fit_failures",
    "fit_and_score",
    "record_fits",
    "replay_fits",
]

_state = threading.local()
_original_warn_or_raise = _sk_search._warn_or_raise_about_fit_failures
_original_fit_and_score = _sk_search._fit_and_score


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


class _ReplayableParallel(_SkParallel):
    """scikit-learn's ``Parallel``; inside `replay_fits` it runs in this thread."""

    def __call__(self, iterable):
        if getattr(_state, "replay", None) is None:
            out = super().__call__(iterable)
            recorder = getattr(_state, "recorder", None)
            if recorder is not None:
                recorder(out)
            return out
        return [func.function(*args, **kwargs) for func, args, kwargs in iterable]


_STATE_NAMES = ("collector", "recorder", "replay")


def fit_and_score(*args, **kwargs):
    """scikit-learn's own ``_fit_and_score``, for providers that do fit.

    The fit runs without this thread's skhpo state: a search fitted inside it
    (the estimator is itself a ``GridSearchCV``, ...) is scikit-learn's own; its
    fits are neither recorded, replayed nor collected with the outer search's.
    """
    saved = {name: getattr(_state, name, None) for name in _STATE_NAMES}
    for name in _STATE_NAMES:
        setattr(_state, name, None)
    try:
        return _original_fit_and_score(*args, **kwargs)
    finally:
        for name, value in saved.items():
            setattr(_state, name, value)


def _fit_and_score(estimator, X, y, *, train, test, parameters, **kwargs):
    replay = getattr(_state, "replay", None)
    if replay is None:
        return fit_and_score(
            estimator, X, y, train=train, test=test, parameters=parameters, **kwargs
        )
    return replay(
        estimator, X, y, train=train, test=test, parameters=parameters, **kwargs
    )


@contextlib.contextmanager
def replay_fits(provider):
    """Let ``evaluate_candidates`` take its fit results from ``provider``.

    Inside this context (in this thread only), each ``_fit_and_score`` call of
    ``BaseSearchCV.fit``'s ``evaluate_candidates`` runs in this thread and
    returns ``provider(estimator, X, y, train=..., test=..., parameters=...,
    split_progress=(i, n_splits), candidate_progress=(j, n_candidates),
    **fit_and_score_kwargs)`` instead of fitting. A search that already has the
    results (restored from a checkpoint, or computed asynchronously on a dask
    cluster) feeds them through scikit-learn's own bookkeeping this way, so
    ``cv_results_``, multimetric scoring and refit stay scikit-learn's.
    ``provider`` may also fit for real (``fit_and_score`` below).
    """
    with _thread_state("replay", provider):
        yield


@contextlib.contextmanager
def _thread_state(name, value):
    """Set ``name`` of this thread's state to ``value`` inside the context."""
    previous = getattr(_state, name, None)
    setattr(_state, name, value)
    try:
        yield
    finally:
        setattr(_state, name, previous)


@contextlib.contextmanager
def record_fits(recorder):
    """Pass the fit results of every ``evaluate_candidates`` call to ``recorder``.

    Inside this context (in this thread only), after ``evaluate_candidates`` has
    run its fits, ``recorder(out)`` receives their ``_fit_and_score`` outputs, one
    dict per (candidate, split) in scikit-learn's order (candidate-major). A search
    that journals its trials keeps them this way; `replay_fits` gives them back.
    """
    with _thread_state("recorder", recorder):
        yield


# BaseSearchCV.fit looks `Parallel` and `_fit_and_score` up as module globals at
# call time; outside `replay_fits` both behave exactly as scikit-learn's.
_sk_search.Parallel = _ReplayableParallel
_sk_search._fit_and_score = _fit_and_score
