"""Shared base of the adaptive searches: policy + engine = a ``BaseSearchCV``.

The four adaptive searches (:class:`~skhpo.IncrementalSearchCV`,
:class:`~skhpo.InverseDecaySearchCV`, :class:`~skhpo.SuccessiveHalvingSearchCV`,
:class:`~skhpo.HyperbandSearchCV`) decide nothing themselves: each builds one or
more *runs* (parameter settings sampled from the search space, a policy from
:mod:`skhpo.schedules`, a random state) and hands them to the execution engine
(:mod:`skhpo._execution`), then turns the per-model histories it returns into
dask-ml's fitted attributes plus scikit-learn's standard ``cv_results_`` keys.
"""

from __future__ import annotations

import logging
import numbers
import os
import sys

import numpy as np
import scipy.stats
from numpy.ma import MaskedArray
from sklearn.model_selection import ParameterSampler

# Private scikit-learn name (not in skhpo._compat, which this module does not
# own): the base class every skhpo search derives from.
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _execution
from ._checkpoint import ModelCheckpoint, describe_estimator, describe_value, hash_array
from ._compat import Interval, StrOptions
from ._progress import adaptive_progress, warn_ignored_callbacks
from .metrics import check_scoring
from .space import SearchSpace

__all__ = ["BaseAdaptiveSearchCV"]

logger = logging.getLogger("skhpo")


def _best_or_estimator_has(attr):
    """``available_if`` check: the fitted best model (or the template) has attr."""

    def check(self):
        if hasattr(self, "best_estimator_"):
            getattr(self.best_estimator_, attr)
            return True
        if _execution.is_future(self.estimator):
            return True  # cannot tell before fit
        getattr(self.estimator, attr)
        return True

    return check


def check_verbose(verbose):
    """``verbose`` as the fraction of rounds whose best score is logged.

    As in dask-ml, a bool means "log every round" (``False`` only stops printing
    to stdout), and a number in [0, 1] is the fraction of rounds logged.
    """
    if isinstance(verbose, bool):
        return 1.0
    if (
        not isinstance(verbose, numbers.Real)
        or np.isnan(verbose)
        or not 0 <= verbose <= 1
    ):
        raise ValueError(
            f"verbose must be a bool or a number between 0 and 1; got verbose="
            f"{verbose!r} (dask-ml: 'does not satisfy 0 <= verbose <= 1'). It is "
            "the fraction of rounds whose best score is logged: pass verbose=True "
            "to print every round, e.g. verbose=0.1 for one round in ten, or "
            "verbose=False."
        )
    return float(verbose)


def check_single_scoring(scoring):
    """Adaptive searches compare models by one score: reject multimetric scoring."""
    if isinstance(scoring, (list, tuple, set, dict)):
        raise ValueError(
            f"scoring must be a single scorer name, a callable or None; got "
            f"{scoring!r}. Adaptive searches stop models by comparing one "
            "validation score, so several metrics are not supported: pass the one "
            "metric to optimize, e.g. scoring='accuracy'."
        )


class _LoggingContext:
    """Print the ``skhpo`` logger's messages to stdout while a verbose fit runs."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.handler = None
        self.level = None

    def __enter__(self):
        if self.verbose:
            self.handler = logging.StreamHandler(sys.stdout)
            self.level = logger.level
            logger.setLevel(logging.INFO)
            logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        if self.handler is not None:
            logger.removeHandler(self.handler)
            logger.setLevel(self.level)


class BaseAdaptiveSearchCV(BaseSearchCV):
    """Base class of the adaptive searches; not meant to be used directly.

    Subclasses implement ``_plan(rng)`` returning a list of
    :class:`skhpo._execution.RunSpec` (one per run) built from their policy, and
    may override ``_store_results``.

    Adaptive searches never refit: ``best_estimator_`` is the best trained
    model. ``refit`` is a class attribute (always True) only so that
    scikit-learn's delegation helpers work.
    """

    #: Adaptive searches keep their best trained model; there is no refit step.
    refit = True

    #: Constraints of every parameter of the adaptive searches; each subclass
    #: gets those of its own ``__init__`` (see ``__init_subclass__``), plus its
    #: ``_constraint_overrides``. estimator, scoring, test_size, verbose,
    #: max_iter, patience, tol and aggressiveness are checked in ``fit`` with
    #: messages that say how to fix them (the estimator may be a Future; the
    #: policies of skhpo.schedules check their own parameters).
    _all_constraints: dict = {
        "estimator": "no_validation",
        "parameters": [dict, list, SearchSpace],
        "n_initial_parameters": [
            Interval(numbers.Integral, 1, None, closed="left"),
            StrOptions({"grid"}),
        ],
        "n_initial_iter": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "decay_rate": [
            Interval(numbers.Real, 0, None, closed="left"),
            StrOptions({"deprecated"}),
            None,
        ],
        "fits_per_score": [Interval(numbers.Integral, 1, None, closed="left")],
        "scores_per_fit": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "scoring": "no_validation",
        "test_size": "no_validation",
        "random_state": ["random_state"],
        "max_iter": "no_validation",
        "aggressiveness": "no_validation",
        "patience": "no_validation",
        "tol": "no_validation",
        "verbose": "no_validation",
        "prefix": [str],
        "predict_meta": "no_validation",
        "predict_proba_meta": "no_validation",
        "transform_meta": "no_validation",
        "checkpoint": [str, os.PathLike, None],
        "max_time": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }
    _constraint_overrides: dict = {}
    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            constraints = {**cls._all_constraints, **cls._constraint_overrides}
            cls._parameter_constraints = {
                name: constraints[name] for name in cls._get_param_names()
            }

    def __sklearn_tags__(self):
        if _execution.is_future(self.estimator):
            return super(BaseSearchCV, self).__sklearn_tags__()
        return super().__sklearn_tags__()

    # -- fit ------------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Search the parameters, training models chunk by chunk on dask.

        Parameters
        ----------
        X : array-like, sparse matrix, dask array or dask DataFrame
            Training data, of shape (n_samples, n_features). In-memory data is
            one block; a dask collection keeps its row blocks (chunks or
            partitions), which are the units of ``partial_fit``.
        y : array-like, dask array, dask Series or None, default=None
            Targets; dask targets are aligned to the row blocks of ``X``.
        **fit_params
            Keyword arguments of every ``partial_fit`` call, e.g.
            ``classes=[0, 1]``. Values may be lists, arrays, dask collections
            or ``distributed.Future`` objects (resolved once, before training)
            and are passed whole to every call: per-sample arrays such as
            ``sample_weight`` are not split into blocks (as in dask-ml).

        Returns
        -------
        self or awaitable
            The fitted search; under an asynchronous client an awaitable that
            resolves to it (``await search.fit(X, y)``).

        Examples
        --------
        With no active client, a temporary in-process cluster runs the search;
        the fitted search predicts and scores block by block on dask input:

        >>> import dask.array as da
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import SGDClassifier
        >>> from skhpo import SuccessiveHalvingSearchCV
        >>> X, y = make_classification(n_samples=200, random_state=0)
        >>> X, y = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
        >>> search = SuccessiveHalvingSearchCV(
        ...     SGDClassifier(random_state=0), {"alpha": [1e-4, 1e-2, 1.0]}, 3, 1,
        ...     max_iter=3, random_state=0,
        ... ).fit(X, y, classes=[0, 1])
        >>> search.predict(X).chunks
        ((50, 50, 50, 50),)
        >>> 0.5 < search.score(X, y) <= 1
        True
        """
        self._validate_params()
        self._check_deprecated_params()
        check_verbose(self.verbose)
        warn_ignored_callbacks(self)
        check_single_scoring(self.scoring)
        _execution.check_test_size(self.test_size, 1)
        self._check_checkpoint()
        _execution.check_fit_data(X, y)
        plan = self._plan()
        runs = []
        try:
            return _execution.run_on_client(
                self._fit_on_client, X, y, fit_params, plan, runs
            )
        except BaseException:
            # E.g. KeyboardInterrupt: keep what was finished.
            self._store_partial(runs)
            raise

    def _check_checkpoint(self):
        if self.checkpoint is None:
            return
        if isinstance(self.random_state, bool) or not isinstance(
            self.random_state, numbers.Integral
        ):
            raise ValueError(
                f"checkpoint={self.checkpoint!r} needs an integer random_state, got "
                f"random_state={self.random_state!r}: a resumed search must sample "
                "the same parameters, hold out the same validation rows and visit "
                "the blocks in the same order as the search that wrote the "
                "checkpoint. Pass e.g. random_state=0."
            )

    def _fingerprint(self, estimator, X, y, fit_params):
        """What a checkpoint must agree with to be resumed by this search."""
        ignored = {"estimator", "parameters", "checkpoint", "max_time", "verbose"}
        ignored |= {"prefix", "predict_meta", "predict_proba_meta", "transform_meta"}
        settings = {
            name: describe_value(value)
            for name, value in self.get_params(deep=False).items()
            if name not in ignored
        }
        return {
            "search": type(self).__name__,
            "estimator": describe_estimator(estimator),
            "parameters": describe_value(self.parameters),
            "settings": settings,
            "X": hash_array(X),
            "y": hash_array(y),
            "fit_params": describe_value(fit_params),
        }

    def _check_deprecated_params(self):
        """Warn about (or reject) deprecated dask-ml parameters."""

    def _plan(self):
        """Build the runs: ``(specs, split_random_state)``; raises on bad params."""
        raise NotImplementedError

    def _space(self):
        return SearchSpace(self.parameters)

    def _sample(self, n, random_state):
        """``n`` parameter settings, or the whole grid for ``n="grid"``."""
        space = self._space()
        if n == "grid":
            return list(space.grid())
        parameters = self.parameters
        if isinstance(parameters, SearchSpace):
            parameters = parameters.to_sklearn()
        # scikit-learn's sampler, as dask-ml: the same seed draws the same
        # settings (without replacement when every value is a list).
        return list(ParameterSampler(parameters, n, random_state=random_state))

    def _check_estimator(self, estimator):
        if not hasattr(estimator, "partial_fit"):
            raise ValueError(
                f"estimator must implement partial_fit; got {estimator!r}, which "
                "does not. Adaptive searches train every model block by block "
                "with partial_fit: use an estimator such as SGDClassifier, "
                "SGDRegressor, MLPClassifier, MultinomialNB or MiniBatchKMeans "
                "(scikit-learn's Pipeline has no partial_fit: see the user guide "
                "for a Pipeline that forwards it to its last step)."
            )
        self._space().check_estimator(estimator)

    async def _fit_on_client(self, client, X, y, fit_params, plan, runs):
        specs, split_random_state = plan
        estimator = await _execution.gather_if_future(client, self.estimator)
        self._check_estimator(estimator)
        scorer = check_scoring(estimator, self.scoring)
        fit_params = await _execution.resolve_fit_params(client, fit_params)
        verbose = check_verbose(self.verbose)
        checkpoint = None
        if self.checkpoint is not None:
            checkpoint = ModelCheckpoint(
                self.checkpoint, self._fingerprint(estimator, X, y, fit_params)
            )
        try:
            with (
                adaptive_progress(self, client) as progress,
                _LoggingContext(self.verbose),
            ):
                results = await _execution.run_adaptive(
                    client,
                    estimator=self.estimator,
                    X=X,
                    y=y,
                    fit_params=fit_params,
                    scorer=scorer,
                    specs=specs,
                    test_size=self.test_size,
                    random_state=split_random_state,
                    log_every=int(1 / verbose) if verbose > 0 else 0,
                    on_record=progress,
                    checkpoint=checkpoint,
                    max_time=self.max_time,
                    runs_out=runs,
                )
        except BaseException:
            self._store_partial(runs)
            raise
        self._store_results(results, scorer)
        # Speculative partial_fit calls (not in history_): submitted, and thrown
        # away because the policy stopped the model (see skhpo._execution).
        self._speculative_calls_ = {
            "submitted": sum(r.speculative_calls for r in results),
            "wasted": sum(r.wasted_calls for r in results),
        }
        return self

    # -- results --------------------------------------------------------------
    def _model_key(self, run, model_id):
        """The public id of model ``model_id`` of run ``run``."""
        return model_id

    def _combine(self, results):
        """Merge the runs: ``(history, model_history, ids, columns)``.

        ``columns`` are extra ``cv_results_`` columns, one value per id. Records
        are copied, never modified.
        """
        [result] = results
        model_history = {m: list(h) for m, h in result.model_history.items()}
        return list(result.history), model_history, list(model_history), {}

    def _tabulate(self, results):
        """``(cv_results, history, model_history, ids)`` of the scored models."""
        history, model_history, ids, columns = self._combine(results)
        scored = [i for i in ids if model_history[i]]
        columns = {
            name: [v for i, v in zip(ids, values) if model_history[i]]
            for name, values in columns.items()
        }
        cv_results = _cv_results(model_history, scored, columns) if scored else None
        return cv_results, history, model_history, scored

    def _store_results(self, results, scorer):
        cv_results, history, model_history, ids = self._tabulate(results)
        finished = [(i, r) for i, r in enumerate(results) if r.best_id is not None]
        if not finished:
            raise RuntimeError(
                f"max_time={self.max_time!r} seconds passed before any model was "
                "scored: there is no result. Give the search more time (a larger "
                "max_time, or None)."
            )
        run, best = max(
            finished,
            key=lambda item: np.nan_to_num(  # a NaN score below every other
                item[1].model_history[item[1].best_id][-1]["score"], nan=-np.inf
            ),
        )
        self._set_fitted(
            cv_results=cv_results,
            history=history,
            model_history=model_history,
            best_index=ids.index(self._model_key(run, best.best_id)),
            best_estimator=best.best_estimator,
            scorer=scorer,
        )

    def _store_partial(self, runs):
        """Keep what a failed or interrupted search finished.

        ``history_``, ``model_history_``, ``cv_results_`` (scored models only)
        and the best of them (``best_index_``, ``best_score_``,
        ``best_params_``); no ``best_estimator_``: the search did not finish.
        Whatever an earlier ``fit`` left is removed first.
        """
        for name in [n for n in vars(self) if n.endswith("_") and n[0] != "_"]:
            delattr(self, name)
        if not runs:
            return
        results = [run.partial_result() for run in runs]
        cv_results, history, model_history, _ = self._tabulate(results)
        self.history_ = history
        self.model_history_ = model_history
        if cv_results is None:
            return
        self.cv_results_ = cv_results
        self.best_index_ = int(np.argmin(cv_results["rank_test_score"]))
        self.best_score_ = float(cv_results["test_score"][self.best_index_])
        self.best_params_ = cv_results["params"][self.best_index_]

    def _set_fitted(
        self, *, cv_results, history, model_history, best_index, best_estimator, scorer
    ):
        self.cv_results_ = cv_results
        self.history_ = history
        self.model_history_ = model_history
        self.best_index_ = int(best_index)
        self.best_estimator_ = best_estimator
        self.best_score_ = float(cv_results["test_score"][best_index])
        self.best_params_ = cv_results["params"][best_index]
        self.scorer_ = scorer
        self.n_splits_ = 1
        # One number judges a model in an adaptive search (as in dask-ml).
        self.multimetric_ = False
        if hasattr(best_estimator, "feature_names_in_"):
            self.feature_names_in_ = best_estimator.feature_names_in_

    # -- delegation to the best model ------------------------------------------
    def _apply(self, method, X, meta=None):
        check_is_fitted(self, "best_estimator_")
        return _execution.apply_method(self.best_estimator_, method, X, meta=meta)

    @available_if(_best_or_estimator_has("predict"))
    def predict(self, X):
        """Predict with the best model; lazy and blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array
            A dask array with one block per row block of ``X`` on dask input.
        """
        return self._apply("predict", X, getattr(self, "predict_meta", None))

    @available_if(_best_or_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the best model; lazy and blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples, n_classes)
        """
        return self._apply(
            "predict_proba", X, getattr(self, "predict_proba_meta", None)
        )

    @available_if(_best_or_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the best model; blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples, n_classes)
        """
        return self._apply(
            "predict_log_proba", X, getattr(self, "predict_proba_meta", None)
        )

    @available_if(_best_or_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the best model; lazy and blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array
        """
        return self._apply("decision_function", X)

    @available_if(_best_or_estimator_has("transform"))
    def transform(self, X):
        """Transform with the best model; lazy and blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array
        """
        return self._apply("transform", X, getattr(self, "transform_meta", None))

    @available_if(_best_or_estimator_has("inverse_transform"))
    def inverse_transform(self, X):
        """Inverse transform with the best model; blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array
        """
        return self._apply("inverse_transform", X)

    @available_if(_best_or_estimator_has("score_samples"))
    def score_samples(self, X):
        """``score_samples`` of the best model; blockwise on dask input.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,)
        """
        return self._apply("score_samples", X)

    def score(self, X, y=None, **params):
        """Score the best model with ``scorer_`` (dask-aware: blockwise on dask).

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame
        y : array-like, dask array or dask Series, default=None
        **params
            Passed to the scorer (e.g. ``sample_weight``).

        Returns
        -------
        float
        """
        check_is_fitted(self, "best_estimator_")
        return self.scorer_(self.best_estimator_, X, y, **params)

    def get_metadata_routing(self):
        """Metadata routing: ``fit`` keyword arguments go to ``partial_fit``.

        Returns
        -------
        MetadataRouter
            ``fit`` routes to the estimator's ``partial_fit``. Note that
            ``fit`` passes its keyword arguments to every ``partial_fit`` call
            as they are, with or without routing enabled.
        """
        router = MetadataRouter(owner=self)
        if not _execution.is_future(self.estimator):
            router.add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="partial_fit"),
            )
        return router


# -- cv_results_ ---------------------------------------------------------------


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _param_columns(params):
    """``param_<name>`` masked arrays, as scikit-learn's ``cv_results_``."""
    names = sorted({name for p in params for name in p})
    columns = {}
    for name in names:
        values = [p.get(name) for p in params]
        present = [name in p for p in params]
        kept = [v for v, ok in zip(values, present) if ok]
        try:
            array = np.array(kept)
            dtype = (
                array.dtype if array.dtype.kind != "U" and array.ndim == 1 else object
            )
        except ValueError:
            dtype = object
        column = MaskedArray(np.empty(len(params), dtype=dtype), mask=True)
        for i, (value, ok) in enumerate(zip(values, present)):
            if ok:
                column[i] = value
        columns[f"param_{name}"] = column
    return columns


def _rank(scores):
    """Rank 1 for the highest score; NaN scores rank last (as scikit-learn)."""
    scores = np.asarray(scores, dtype=float)
    keyed = np.where(np.isnan(scores), np.inf, -scores)
    return scipy.stats.rankdata(keyed, method="min").astype(np.int32)


def _cv_results(model_history, ids, columns=None):
    """dask-ml's ``cv_results_`` plus scikit-learn's standard keys.

    Parameters
    ----------
    model_history : dict
        ``{model_id: [record, ...]}``.
    ids : list
        Model ids in row order.
    columns : dict, optional
        Extra columns (e.g. ``bracket``), one value per row.
    """
    hists = [model_history[i] for i in ids]
    pf = [[r["partial_fit_time"] for r in h] for h in hists]
    st = [[r["score_time"] for r in h] for h in hists]
    test_score = np.array([h[-1]["score"] for h in hists], dtype=float)
    params = [h[0]["params"] for h in hists]
    results = {
        "mean_partial_fit_time": np.array([np.mean(t) for t in pf]),
        "mean_score_time": np.array([np.mean(t) for t in st]),
        "std_partial_fit_time": np.array([np.std(t) for t in pf]),
        "std_score_time": np.array([np.std(t) for t in st]),
        "test_score": test_score,
        "model_id": np.array(ids),
        "params": _object_array(params),
        "partial_fit_calls": np.array([h[-1]["partial_fit_calls"] for h in hists]),
    }
    results.update(_param_columns(params))
    results["rank_test_score"] = _rank(test_score)
    # scikit-learn's standard keys: one validation split.
    results["mean_test_score"] = test_score.copy()
    results["std_test_score"] = np.zeros(len(ids))
    results["split0_test_score"] = test_score.copy()
    results["mean_fit_time"] = np.array([np.sum(t) for t in pf])
    results["std_fit_time"] = np.zeros(len(ids))
    for name, values in (columns or {}).items():
        results[name] = np.asarray(values)
    return results
