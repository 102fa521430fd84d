"""HyperbandSearchCV, drop-in for dask-ml's."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state

from ._adaptive import BaseAdaptiveSearchCV
from ._execution import RunSpec
from ._incremental import _ATTRIBUTES, _RELIABILITY_PARAMETERS, _TAIL_PARAMETERS
from .schedules import (
    hyperband_metadata,
    hyperband_policies,
    hyperband_random_states,
    observed_hyperband_metadata,
)

__all__ = ["HyperbandSearchCV"]


def _model_id(bracket, model_id):
    """dask-ml's model ids: ``"bracket=<b>-<i>"``."""
    return f"bracket={bracket}-{model_id}"


class HyperbandSearchCV(BaseAdaptiveSearchCV):
    __doc__ = f"""Hyperband: successive halving over several exploration trade-offs
    at once, its brackets run concurrently on dask.

    Drop-in replacement for ``dask_ml.model_selection.HyperbandSearchCV``
    (dask-ml 2025.1). Hyperband (Li et al., JMLR 2018) only needs ``max_iter``,
    the most ``partial_fit`` calls one model receives: bracket ``s`` (``0 <= s <=
    s_max = floor(log(max_iter, aggressiveness))``) is a successive-halving
    search starting ``ceil((s_max + 1) * aggressiveness ** s / (s + 1))`` models
    with ``int(max_iter * aggressiveness ** -s)`` calls each; the most adaptive
    bracket tries many models briefly, bracket 0 trains a few for ``max_iter``
    calls. The brackets and their budgets are exactly dask-ml's (see
    :func:`skhpo.schedules.hyperband_brackets`); they share the cluster and the
    validation set, and the best model over all brackets wins.

    Parameters
    ----------
    estimator : estimator object or distributed.Future
        Cloned for every parameter setting; must implement ``partial_fit``.
    parameters : dict, list of dicts or SearchSpace
        The search space (see :class:`IncrementalSearchCV`).
    max_iter : int, default=81
        Most ``partial_fit`` calls of one model (``R`` in the paper).
    aggressiveness : float, default=3
        Cut factor (``eta``); >= 2. 4 is more aggressive.
    patience : bool or int, default=False
        Stop models whose score stalls: an integer >= 2 (a value below
        ``max_iter // aggressiveness`` warns), or True for
        ``max_iter // aggressiveness``. Without it ``metadata_ == metadata``
        for ``aggressiveness=3``; other values can give a bracket one more
        round than planned (dask-ml's successive halving, reproduced: its
        model counts round down), whose model then gets up to
        ``aggressiveness`` times its planned calls, beyond ``max_iter``:
        ``max_iter=9, aggressiveness=2`` plans 102 calls and makes 110.
    tol : float or None, default=0.001
        Improvement that counts for ``patience``.
    test_size : float in (0, 1) or None, default=None
        Fraction of every block held out for validation; None holds out
        ``min(0.2, 1 / n_blocks)``.
{_TAIL_PARAMETERS}
        Brackets log with the prefix ``[CV<prefix>, bracket=<b>]``.
    predict_meta, predict_proba_meta, transform_meta : array-like, default=None
        Empty arrays like the outputs of ``predict``, ``predict_proba`` and
        ``transform``, used on dask input when the output cannot be inferred.
{_RELIABILITY_PARAMETERS}

    Attributes
    ----------
{_ATTRIBUTES}
        Hyperband's ``cv_results_`` has a ``bracket`` column; model ids are
        strings ``"bracket=<b>-<i>"`` and history records have ``bracket``.
    metadata : dict
        The work planned (available before ``fit``, equal to dask-ml's):
        ``n_models``, ``partial_fit_calls`` and ``brackets``, one dict per
        bracket with ``bracket``, ``n_models``, ``partial_fit_calls``,
        ``decisions`` and ``SuccessiveHalvingSearchCV params``.
    metadata_ : dict
        The work done, same structure.

    See Also
    --------
    SuccessiveHalvingSearchCV : One bracket.
    skhpo.schedules.hyperband_metadata : The plan as a function.

    Notes
    -----
    All brackets run at the same time on one client, as coroutines: their
    tasks interleave on the workers, so the cluster stays busy while a bracket
    waits for its slowest model.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skhpo import HyperbandSearchCV
    >>> client = Client(processes=False, n_workers=2, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> search = HyperbandSearchCV(
    ...     SGDClassifier(random_state=0), {{"alpha": np.logspace(-4, 0, 20)}},
    ...     max_iter=9, random_state=0,
    ... )
    >>> [(b["bracket"], b["n_models"], b["partial_fit_calls"])
    ...  for b in search.metadata["brackets"]]
    [(0, 3, 27), (1, 5, 21), (2, 9, 21)]
    >>> _ = search.fit(X, y, classes=[0, 1])
    >>> search.metadata_["partial_fit_calls"], search.metadata["partial_fit_calls"]
    (69, 69)
    >>> sorted(set(search.cv_results_["bracket"].tolist()))
    [0, 1, 2]
    >>> client.close()
    """

    def __init__(
        self,
        estimator,
        parameters,
        max_iter=81,
        aggressiveness=3,
        patience=False,
        tol=1e-3,
        test_size=None,
        random_state=None,
        scoring=None,
        verbose=False,
        prefix="",
        predict_meta=None,
        predict_proba_meta=None,
        transform_meta=None,
        checkpoint=None,
        max_time=None,
    ):
        self.estimator = estimator
        self.parameters = parameters
        self.max_iter = max_iter
        self.aggressiveness = aggressiveness
        self.patience = patience
        self.tol = tol
        self.test_size = test_size
        self.random_state = random_state
        self.scoring = scoring
        self.verbose = verbose
        self.prefix = prefix
        self.predict_meta = predict_meta
        self.predict_proba_meta = predict_proba_meta
        self.transform_meta = transform_meta
        self.checkpoint = checkpoint
        self.max_time = max_time

    def _metadata_kwargs(self):
        return dict(
            patience=self.patience,
            tol=self.tol,
            test_size=self.test_size,
            scoring=self.scoring,
            verbose=self.verbose,
            prefix=self.prefix,
        )

    @property
    def metadata(self):
        """The work Hyperband plans, as dask-ml's ``metadata`` (before ``fit``)."""
        return hyperband_metadata(
            self.max_iter,
            self.aggressiveness,
            random_state=self.random_state,
            **self._metadata_kwargs(),
        )

    def _plan(self):
        policies = hyperband_policies(
            self.max_iter, self.aggressiveness, patience=self.patience, tol=self.tol
        )
        random_state = check_random_state(self.random_state)
        seeds = hyperband_random_states(
            self.max_iter, self.aggressiveness, random_state
        )
        specs = []
        self._bracket_random_states = {}
        for bracket, policy in policies.items():
            if bracket == 0:
                # dask-ml gives bracket 0 Hyperband's own random_state.
                seed, rng = self.random_state, check_random_state(self.random_state)
            else:
                seed = seeds[bracket]
                rng = np.random.RandomState(seed)
            self._bracket_random_states[bracket] = seed
            params = self._sample(policy.n_initial_parameters, rng)
            prefix = f"{self.prefix}, bracket={bracket}"
            # The most adaptive bracket first when the workers are busy (as
            # dask-ml starts it first): it finds good models with the least work.
            specs.append(RunSpec(policy, params, rng, prefix, priority=1000 * bracket))
        self._brackets = list(policies)
        return specs, random_state

    def _model_key(self, run, model_id):
        return _model_id(self._brackets[run], model_id)

    def _combine(self, results):
        history, model_history, ids, brackets = [], {}, [], []
        for run, (bracket, result) in enumerate(zip(self._brackets, results)):
            copies = {}
            for model_id, records in result.model_history.items():
                new_id = self._model_key(run, model_id)
                model_history[new_id] = [
                    {**record, "model_id": new_id, "bracket": bracket}
                    for record in records
                ]
                copies.update(zip(map(id, records), model_history[new_id]))
                ids.append(new_id)
                brackets.append(bracket)
            history.extend(copies[id(record)] for record in result.history)
        history.sort(key=lambda record: record["elapsed_wall_time"])
        return history, model_history, ids, {"bracket": brackets}

    def _store_results(self, results, scorer):
        super()._store_results(results, scorer)
        by_bracket = {
            bracket: dict(result.model_history)
            for bracket, result in zip(self._brackets, results)
        }
        with warnings.catch_warnings():
            # resolve_hyperband_patience already warned when fit started.
            warnings.simplefilter("ignore", UserWarning)
            metadata = observed_hyperband_metadata(
                by_bracket,
                self.max_iter,
                self.aggressiveness,
                random_state=0,
                **self._metadata_kwargs(),
            )
        for info in metadata["brackets"]:
            params = info["SuccessiveHalvingSearchCV params"]
            params["random_state"] = self._bracket_random_states[info["bracket"]]
        self.metadata_ = metadata
