"""SuccessiveHalvingSearchCV, drop-in for dask-ml's."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ._incremental import (
    _ATTRIBUTES,
    _RELIABILITY_PARAMETERS,
    _TAIL_PARAMETERS,
    IncrementalSearchCV,
)
from .schedules import (
    SuccessiveHalvingPolicy,
    observed_successive_halving_metadata,
    successive_halving_metadata,
)

__all__ = ["SuccessiveHalvingSearchCV"]


def _check_n_initial_iter(n_initial_iter):
    if n_initial_iter is None:
        raise ValueError(
            "n_initial_iter must be an integer >= 1; got n_initial_iter=None. It "
            "is the number of partial_fit calls every model receives before the "
            "first cut (dask-ml's default None does not run either): pass e.g. "
            "SuccessiveHalvingSearchCV(model, params, n_initial_parameters=10, "
            "n_initial_iter=3)."
        )


class SuccessiveHalvingSearchCV(IncrementalSearchCV):
    __doc__ = f"""Successive halving: train many models briefly, keep the best
    ``1 / aggressiveness``, train them ``aggressiveness`` times longer, repeat.

    Drop-in replacement for ``dask_ml.model_selection.SuccessiveHalvingSearchCV``
    (dask-ml 2025.1); ``SuccessiveHalvingSearchCV(model, params, 10, 5)`` starts 10
    models with 5 ``partial_fit`` calls each. At rung ``k`` the best
    ``floor(n * aggressiveness ** -k)`` models are trained up to
    ``round(n_initial_iter * aggressiveness ** k)`` calls, until one model is
    left or ``max_iter`` is reached (Jamieson & Talwalkar, 2016). The decisions
    are those of :class:`skhpo.schedules.SuccessiveHalvingPolicy`.

    Parameters
    ----------
    estimator : estimator object or distributed.Future
        Cloned for every parameter setting; must implement ``partial_fit``.
    parameters : dict, list of dicts or SearchSpace
        The search space (see :class:`IncrementalSearchCV`).
    n_initial_parameters : int or "grid", default=10
        Number of models at the first rung.
    n_initial_iter : int
        ``partial_fit`` calls of every model before the first cut. Required
        (dask-ml's default None fails there too).
    max_iter : int or None, default=None
        Models stop at ``max_iter`` calls; None: only the halving stops them.
    aggressiveness : float, default=3
        Factor by which each rung cuts the models and multiplies their calls;
        >= 2.
    test_size : float in (0, 1) or None, default=None
        Fraction of every block held out for validation; None holds out
        ``min(0.2, 1 / n_blocks)``.
    patience : int or False, default=False
        Stop a model whose score did not improve by more than ``tol`` in its
        last ``patience`` calls; an integer >= 2.
    tol : float or None, default=0.001
        Improvement that counts for ``patience``.
{_TAIL_PARAMETERS}
{_RELIABILITY_PARAMETERS}

    Attributes
    ----------
{_ATTRIBUTES}
    metadata : dict
        Work planned (available before ``fit``): ``n_models``,
        ``partial_fit_calls`` and ``max_iter`` (the longest training).
    metadata_ : dict
        Work done, same keys.

    See Also
    --------
    HyperbandSearchCV : Successive halving over several trade-offs at once.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skhpo import SuccessiveHalvingSearchCV
    >>> client = Client(processes=False, n_workers=2, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> search = SuccessiveHalvingSearchCV(
    ...     SGDClassifier(random_state=0), {{"alpha": np.logspace(-4, 0, 10)}},
    ...     9, 1, max_iter=9, random_state=0,
    ... )
    >>> search.metadata
    {{'partial_fit_calls': 21, 'n_models': 9, 'max_iter': 9}}
    >>> search.fit(X, y, classes=[0, 1]).metadata_ == search.metadata
    True
    >>> client.close()
    """

    def __init__(
        self,
        estimator,
        parameters,
        n_initial_parameters=10,
        n_initial_iter=None,
        max_iter=None,
        aggressiveness=3,
        test_size=None,
        patience=False,
        tol=1e-3,
        random_state=None,
        scoring=None,
        verbose=False,
        prefix="",
        checkpoint=None,
        max_time=None,
    ):
        self.estimator = estimator
        self.parameters = parameters
        self.n_initial_parameters = n_initial_parameters
        self.n_initial_iter = n_initial_iter
        self.max_iter = max_iter
        self.aggressiveness = aggressiveness
        self.test_size = test_size
        self.patience = patience
        self.tol = tol
        self.random_state = random_state
        self.scoring = scoring
        self.verbose = verbose
        self.prefix = prefix
        self.checkpoint = checkpoint
        self.max_time = max_time

    def _check_deprecated_params(self):
        pass

    def _policy(self):
        _check_n_initial_iter(self.n_initial_iter)
        return SuccessiveHalvingPolicy(
            n_initial_iter=self.n_initial_iter,
            n_initial_parameters=self._n_models(),
            aggressiveness=self.aggressiveness,
            max_iter=self.max_iter,
            patience=self.patience,
            tol=self.tol,
        )

    def _n_initial_models(self):
        if self.n_initial_parameters == "grid":
            return self._space().n_grid_points
        return self.n_initial_parameters

    @property
    def metadata(self):
        """Work planned: ``partial_fit_calls``, ``n_models`` and ``max_iter``.

        Equal to dask-ml's ``metadata`` (its ``_simulate_sha``), and to
        ``metadata_`` after a fit without patience.
        """
        _check_n_initial_iter(self.n_initial_iter)
        return successive_halving_metadata(
            self._n_initial_models(),
            self.n_initial_iter,
            self.aggressiveness,
            self.max_iter,
        )

    @property
    def metadata_(self):
        """Work done in ``fit``: ``partial_fit_calls``, ``n_models``, ``max_iter``."""
        check_is_fitted(self, "model_history_")
        return observed_successive_halving_metadata(
            self.model_history_, self._n_initial_models()
        )
