"""IncrementalSearchCV and InverseDecaySearchCV, drop-in for dask-ml's."""

from __future__ import annotations

import numbers
import warnings

from sklearn.utils import check_random_state

from ._adaptive import BaseAdaptiveSearchCV
from ._compat import Interval
from ._execution import RunSpec
from .schedules import IncrementalPolicy, InverseDecayPolicy

__all__ = ["IncrementalSearchCV", "InverseDecaySearchCV"]

_COMMON_PARAMETERS = """\
    estimator : estimator object or distributed.Future
        Cloned for every parameter setting. It must implement ``partial_fit``
        and either ``score`` or a ``scoring``. A Future of an estimator is
        gathered once.
    parameters : dict, list of dicts or SearchSpace
        Parameter names mapped to lists of values or distributions (anything
        with ``rvs``: scipy.stats, skhpo's ``Real``/``Integer``/
        ``Categorical``); a list of dicts is a union of sub-spaces. Names of a
        Pipeline's steps are ``<step>__<param>``.
    n_initial_parameters : int or "grid", default=10
        Number of parameter settings sampled (with scikit-learn's
        ``ParameterSampler``: the same seed draws the same settings as dask-ml),
        or ``"grid"`` for every point of a grid of lists."""

_TAIL_PARAMETERS = """\
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of parameter settings, the validation split and the
        order in which blocks are visited.
    scoring : str, callable or None, default=None
        One scorer name or callable, from :mod:`skhpo.metrics` (dask-aware: the
        validation set is scored block by block). None uses the estimator's
        ``score`` (blockwise accuracy / R^2 for scikit-learn's defaults).
    verbose : bool or float in [0, 1], default=False
        Fraction of rounds whose best score is logged to the ``skhpo`` logger
        (a bool logs every round). If truthy, the messages are also printed to
        stdout during ``fit``.
    prefix : str, default=""
        Log messages start with ``[CV<prefix>]``."""

_RELIABILITY_PARAMETERS = """\
    checkpoint : str, os.PathLike or None, default=None
        Not in dask-ml. A file to which every score is journaled as it arrives
        (JSON lines, ``os.fsync``-ed), with the scored model pickled to the
        directory ``<checkpoint>.models/``. Fitting again with the same file
        restores ``history_`` and the models and continues where the search
        stopped (after a crash, Ctrl-C or ``max_time``); a file written by
        another search (estimator, space, data, settings) is refused. Needs an
        integer ``random_state``. See the user guide's reliability page.
    max_time : float or None, default=None
        Not in dask-ml. Seconds after which the search stops waiting for
        results and ends with the models scored so far (``best_estimator_``
        is the best of them); None: no limit."""

_ATTRIBUTES = """\
    cv_results_ : dict of numpy arrays
        One row per model: ``model_id``, ``params``, ``param_<name>`` (masked
        arrays), ``test_score`` (the model's latest validation score),
        ``rank_test_score``, ``partial_fit_calls``, ``mean_partial_fit_time``,
        ``std_partial_fit_time``, ``mean_score_time``, ``std_score_time``
        (dask-ml's keys), and scikit-learn's ``mean_test_score``,
        ``std_test_score``, ``split0_test_score``, ``mean_fit_time``,
        ``std_fit_time`` (one validation split; ``mean_fit_time`` is the
        model's total ``partial_fit`` time).
    history_ : list of dict
        One record per score, in the order the scores arrived: ``model_id``,
        ``params``, ``partial_fit_calls``, ``partial_fit_time`` (seconds in
        ``partial_fit`` since the model's previous score), ``score``,
        ``score_time``, ``elapsed_wall_time``.
    model_history_ : dict
        ``{model_id: [record, ...]}``: ``history_`` per model.
    best_estimator_ : estimator
        The model with the highest latest score among the models the search
        kept to the end (as dask-ml), trained; there is no refit.
    best_score_ : float
        Its latest validation score.
    best_params_ : dict
        Its parameters.
    best_index_ : int
        Its row in ``cv_results_``.
    scorer_ : callable
        The scorer used on the validation set.
    n_splits_ : int
        1: one validation split.
    multimetric_ : bool
        False: one score judges a model."""


class IncrementalSearchCV(BaseAdaptiveSearchCV):
    __doc__ = f"""Incrementally search parameters of a model with ``partial_fit``.

    Drop-in replacement for ``dask_ml.model_selection.IncrementalSearchCV``
    (dask-ml 2025.1), running on today's dask.distributed. It samples
    ``n_initial_parameters`` settings, holds out ``test_size`` of every block of
    the data for validation, and trains every model one block at a time, scoring
    it every ``fits_per_score`` calls, until it reached ``max_iter`` calls or (with
    ``patience``) its score stops improving. The decisions are those of
    :class:`skhpo.schedules.IncrementalPolicy`.

    Parameters
    ----------
{_COMMON_PARAMETERS}
    decay_rate : "deprecated", float or None, default="deprecated"
        Deprecated in dask-ml and ignored, as there: a value other than None
        raises a ``FutureWarning`` at ``fit``. Use :class:`InverseDecaySearchCV`
        to decay the number of models. (dask-ml's default is a private
        sentinel; scikit-learn's convention is the string "deprecated".)
    test_size : float in (0, 1) or None, default=None
        Fraction of every block held out for validation; None holds out
        ``min(0.2, 1 / n_blocks)``.
    patience : int or False, default=False
        Stop a model whose score did not improve by more than ``tol`` in its
        last ``patience`` ``partial_fit`` calls; an integer >= 2.
    tol : float or None, default=0.001
        Improvement that counts for ``patience``.
    fits_per_score : int, default=1
        ``partial_fit`` calls between two scores of a model.
    max_iter : int, default=100
        Most ``partial_fit`` calls of a model.
{_TAIL_PARAMETERS}
    scores_per_fit : int or None, default=None
        Deprecated alias of ``fits_per_score`` (as in dask-ml).
    predict_meta, predict_proba_meta, transform_meta : array-like, default=None
        Empty arrays like the outputs of ``predict``, ``predict_proba`` and
        ``transform``, used on dask input when the output cannot be inferred.
{_RELIABILITY_PARAMETERS}

    Attributes
    ----------
{_ATTRIBUTES}

    See Also
    --------
    InverseDecaySearchCV : Drops models as ``1 / (1 + t)``.
    SuccessiveHalvingSearchCV, HyperbandSearchCV : Stop most models early.

    Notes
    -----
    The search runs on the active ``distributed.Client``, or on a temporary
    in-process ``LocalCluster`` if there is none; with an asynchronous client,
    ``fit`` returns an awaitable. See the user guide for how the data is split
    and where the behaviour differs from dask-ml.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from distributed import Client
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skhpo import IncrementalSearchCV
    >>> client = Client(processes=False, n_workers=2, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> X, y = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    >>> search = IncrementalSearchCV(
    ...     SGDClassifier(random_state=0), {{"alpha": np.logspace(-4, 0, 10)}},
    ...     n_initial_parameters=4, max_iter=3, decay_rate=None, random_state=0,
    ... ).fit(X, y, classes=[0, 1])
    >>> search.cv_results_["partial_fit_calls"].tolist()
    [3, 3, 3, 3]
    >>> search.predict(X)
    dask.array<_apply_block, shape=(400,), dtype=int64, chunksize=(100,), ...>
    >>> client.close()
    """

    def __init__(
        self,
        estimator,
        parameters,
        n_initial_parameters=10,
        decay_rate="deprecated",
        test_size=None,
        patience=False,
        tol=0.001,
        fits_per_score=1,
        max_iter=100,
        random_state=None,
        scoring=None,
        verbose=False,
        prefix="",
        scores_per_fit=None,
        predict_meta=None,
        predict_proba_meta=None,
        transform_meta=None,
        checkpoint=None,
        max_time=None,
    ):
        self.estimator = estimator
        self.parameters = parameters
        self.n_initial_parameters = n_initial_parameters
        self.decay_rate = decay_rate
        self.test_size = test_size
        self.patience = patience
        self.tol = tol
        self.fits_per_score = fits_per_score
        self.max_iter = max_iter
        self.random_state = random_state
        self.scoring = scoring
        self.verbose = verbose
        self.prefix = prefix
        self.scores_per_fit = scores_per_fit
        self.predict_meta = predict_meta
        self.predict_proba_meta = predict_proba_meta
        self.transform_meta = transform_meta
        self.checkpoint = checkpoint
        self.max_time = max_time

    def _check_deprecated_params(self):
        if self.decay_rate == "deprecated":
            warnings.warn(
                "decay_rate has been deprecated since Dask-ML v1.4.0 and is "
                "ignored by IncrementalSearchCV. Use InverseDecaySearchCV to use "
                "decay_rate, or specify decay_rate=None to silence this warning.",
                FutureWarning,
                stacklevel=3,
            )
        elif self.decay_rate is not None:
            warnings.warn(
                "decay_rate is deprecated in IncrementalSearchCV and ignored. Use "
                f"InverseDecaySearchCV to use decay_rate={self.decay_rate}, or "
                "specify decay_rate=None.",
                FutureWarning,
                stacklevel=3,
            )
        self._fits_per_score()

    def _fits_per_score(self):
        scores_per_fit = getattr(self, "scores_per_fit", None)
        if scores_per_fit is None:
            return self.fits_per_score
        if self.fits_per_score != 1:
            raise ValueError(
                f"Specify fits_per_score, not scores_per_fit: got fits_per_score="
                f"{self.fits_per_score!r} and scores_per_fit={scores_per_fit!r}. "
                "scores_per_fit is a deprecated alias; pass only fits_per_score."
            )
        warnings.warn(
            "scores_per_fit has been deprecated since Dask-ML v1.4.0. Specify "
            f"fits_per_score={scores_per_fit} instead.",
            FutureWarning,
            stacklevel=4,
        )
        return scores_per_fit

    def _n_models(self):
        """``n_initial_parameters`` for a policy: None means "every model"."""
        n = self.n_initial_parameters
        return None if n == "grid" else n

    def _policy(self):
        fits_per_score = self.fits_per_score
        if getattr(self, "scores_per_fit", None) is not None:
            fits_per_score = self.scores_per_fit
        return IncrementalPolicy(
            max_iter=self.max_iter,
            patience=self.patience,
            tol=self.tol,
            fits_per_score=fits_per_score,
        )

    def _plan(self):
        policy = self._policy()
        rng = check_random_state(self.random_state)
        params = self._sample(self.n_initial_parameters, rng)
        return [RunSpec(policy, params, rng, self.prefix)], rng


class InverseDecaySearchCV(IncrementalSearchCV):
    __doc__ = f"""Incremental search that keeps the best ``n / (1 + t) ** decay_rate``
    models at time ``t``.

    Drop-in replacement for ``dask_ml.model_selection.InverseDecaySearchCV``
    (dask-ml 2025.1). ``t`` is the number of ``partial_fit`` calls so far; the
    worse models are dropped as it grows, until one model is left. The decisions
    are those of :class:`skhpo.schedules.InverseDecayPolicy`.

    Parameters
    ----------
{_COMMON_PARAMETERS}
    test_size : float in (0, 1) or None, default=None
        Fraction of every block held out for validation; None holds out
        ``min(0.2, 1 / n_blocks)``.
    patience : int or False, default=False
        Stop a model whose score did not improve by more than ``tol`` in its
        last ``patience`` ``partial_fit`` calls; an integer >= 2.
    tol : float or None, default=0.001
        Improvement that counts for ``patience``.
    fits_per_score : int, default=1
        With ``patience``, the ``partial_fit`` calls between two scores.
    max_iter : int, default=100
        Most ``partial_fit`` calls of a model.
{_TAIL_PARAMETERS}
    decay_rate : float, default=1.0
        How fast the number of models decays; 0 keeps every model.
{_RELIABILITY_PARAMETERS}

    Attributes
    ----------
{_ATTRIBUTES}

    See Also
    --------
    IncrementalSearchCV, SuccessiveHalvingSearchCV, HyperbandSearchCV

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import SGDRegressor
    >>> from skhpo import InverseDecaySearchCV
    >>> X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    >>> search = InverseDecaySearchCV(
    ...     SGDRegressor(random_state=0), {{"alpha": np.logspace(-5, -1, 20)}},
    ...     n_initial_parameters=6, max_iter=10, random_state=0,
    ... ).fit(X, y)  # no client: a temporary in-process cluster
    >>> len(search.cv_results_["model_id"])
    6
    >>> int(search.cv_results_["partial_fit_calls"].max()) <= 10
    True
    """

    _constraint_overrides = {
        "decay_rate": [Interval(numbers.Real, 0, None, closed="left")]
    }

    def __init__(
        self,
        estimator,
        parameters,
        n_initial_parameters=10,
        test_size=None,
        patience=False,
        tol=0.001,
        fits_per_score=1,
        max_iter=100,
        random_state=None,
        scoring=None,
        verbose=False,
        prefix="",
        decay_rate=1.0,
        checkpoint=None,
        max_time=None,
    ):
        self.estimator = estimator
        self.parameters = parameters
        self.n_initial_parameters = n_initial_parameters
        self.test_size = test_size
        self.patience = patience
        self.tol = tol
        self.fits_per_score = fits_per_score
        self.max_iter = max_iter
        self.random_state = random_state
        self.scoring = scoring
        self.verbose = verbose
        self.prefix = prefix
        self.decay_rate = decay_rate
        self.checkpoint = checkpoint
        self.max_time = max_time

    def _check_deprecated_params(self):
        pass

    def _policy(self):
        return InverseDecayPolicy(
            n_initial_parameters=self._n_models(),
            decay_rate=self.decay_rate,
            max_iter=self.max_iter,
            patience=self.patience,
            tol=self.tol,
            fits_per_score=self.fits_per_score,
        )
