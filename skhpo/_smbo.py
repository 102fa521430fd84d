"""SMBOSearchCV: sequential model-based (Bayesian) optimization as a BaseSearchCV."""

import math
import numbers
import time
import warnings

import numpy as np
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions, collect_fit_failures
from .samplers import Optimizer
from .space import SearchSpace

__all__ = ["SMBOSearchCV"]


_NON_FINITE = "One or more of the (test|train) scores are non-finite"


def _warn_non_finite(results):
    """Warn once, as scikit-learn does after each round, about non-finite scores."""
    for kind in ("train", "test"):
        for key in results:
            if key.startswith(f"mean_{kind}_"):
                scores = np.asarray(results[key], dtype=float)
                if not np.isfinite(scores).all():
                    warnings.warn(
                        f"One or more of the {kind} scores are non-finite: {scores}",
                        category=UserWarning,
                        stacklevel=2,
                    )
                    break


def _begin(ctx, estimator, **kwargs):
    """Open a sub-task of scikit-learn's callback context, if there is one."""
    if ctx is None:
        return None
    return ctx.subcontext(**kwargs).call_on_fit_task_begin(estimator=estimator)


def _end(ctx, estimator):
    if ctx is not None:
        ctx.call_on_fit_task_end(estimator=estimator)


class _SameFolds:
    """A CV splitter that replays the folds of its first ``split`` call.

    ``evaluate_candidates`` splits the data anew at every call; a shuffling
    splitter without a seed would give every batch of a sequential search other
    folds. Wrapping it makes every candidate see the same folds.
    """

    def __init__(self, cv):
        self.cv = cv
        self._folds = None

    def split(self, X, y=None, **params):
        if self._folds is None:
            self._folds = list(self.cv.split(X, y, **params))
        return iter(self._folds)

    def get_n_splits(self, X=None, y=None, **params):
        return self.cv.get_n_splits(X, y, **params)


class SMBOSearchCV(BaseSearchCV):
    """Bayesian optimization over hyperparameters, with cross-validation.

    Sequential model-based optimization (SMBO): after ``n_initial_points`` random
    candidates, a surrogate model of the cross-validated score is fitted on the
    candidates tried so far, and the next candidates maximize an acquisition
    function (Expected Improvement by default) over the search space. Each round
    asks ``n_points`` candidates, evaluates them with cross-validation (in parallel
    with ``n_jobs`` and any joblib backend, dask's included), and tells their scores
    to the surrogate.

    Everything a :class:`~sklearn.model_selection.RandomizedSearchCV` user relies on
    works: multimetric scoring with ``refit=<name>`` or a callable, groups and
    metadata routing, ``cv_results_`` (with an ``iter`` column: the round in which
    a candidate was asked), ``best_*``, pipelines, ``clone`` and pickling. All
    candidates are scored on the same folds, also with a shuffling splitter that has
    no seed. A candidate whose fits all fail is recorded with ``error_score`` and
    steers the surrogate away; fit failures are reported in one warning for the
    whole search.

    Interrupting ``fit`` (Ctrl-C) stops it and cancels the pending fits; the search
    keeps ``cv_results_``, ``best_index_``, ``best_params_`` and ``best_score_`` of
    the rounds that finished before the interrupt (nothing is refitted), and the
    ``KeyboardInterrupt`` propagates.

    Parameters
    ----------
    estimator : estimator object
        The object to tune; it is cloned for every fit.
    param_distributions : dict, list of dicts or SearchSpace
        The search space: lists, scipy.stats distributions or skhpo's
        :class:`~skhpo.space.Real`, :class:`~skhpo.space.Integer` and
        :class:`~skhpo.space.Categorical`. A list of dicts is a conditional space
        of disjoint sub-spaces.
    n_iter : int, default=50
        Number of candidates to evaluate; fewer when a finite space has fewer
        points (no candidate is evaluated twice).
    surrogate : {"tpe", "gp", "rf", "random"}, default="tpe"
        Model of the score: tree-structured Parzen estimator, Gaussian process,
        random forest, or plain random search.
    acquisition : {"ei", "pi", "lcb"}, default="ei"
        Expected Improvement, Probability of Improvement or Lower Confidence Bound
        (for the ``"gp"`` and ``"rf"`` surrogates).
    n_initial_points : int, default=None
        Random candidates evaluated before the surrogate is used; None lets the
        optimizer choose from the number of dimensions.
    n_points : int, default=1
        Candidates asked per round and evaluated in parallel; they are distinct.
    scoring : str, callable, list, tuple or dict, default=None
        As in :class:`~sklearn.model_selection.GridSearchCV`. With several metrics
        the surrogate models the ``refit`` metric (the first one when ``refit``
        is a callable or False).
    n_jobs : int, default=None
        Parallel jobs for the fits of a round.
    refit : bool, str or callable, default=True
        Refit the best candidate on the whole data, as in GridSearchCV.
    cv : int, cross-validation generator or iterable, default=None
        Determines the folds, as in GridSearchCV.
    verbose : int, default=0
        Verbosity.
    pre_dispatch : int or str, default="2*n_jobs"
        Jobs dispatched ahead, as in GridSearchCV.
    random_state : int, RandomState instance or None, default=None
        Seed of the optimizer; the same seed gives the same candidates, whatever
        ``n_jobs``.
    error_score : "raise" or float, default=np.nan
        Score of a failed fit, as in GridSearchCV.
    return_train_score : bool, default=False
        Also compute training scores.
    max_time : float, default=None
        Budget in seconds. Checked between rounds: once it is spent, no new round
        starts and the search ends normally with the candidates evaluated so far
        (at least one round always runs). None means no budget.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        As GridSearchCV's, plus ``iter``.
    best_estimator_ : estimator
        The best candidate refitted on the whole data (with ``refit``).
    best_score_ : float
        Mean cross-validated score of the best candidate.
    best_params_ : dict
        Parameters of the best candidate.
    best_index_ : int
        Index of the best candidate in ``cv_results_``.
    scorer_ : function or dict
        Scorer(s) used on the held-out data.
    n_splits_ : int
        Number of cross-validation splits.
    refit_time_ : float
        Seconds spent refitting the best candidate.
    multimetric_ : bool
        Whether several metrics were used.
    optimizer_ : skhpo.samplers.Optimizer
        The optimizer after the search, holding the full history of the surrogate.

    See Also
    --------
    sklearn.model_selection.RandomizedSearchCV : Random search.
    skhpo.minimize : The same optimizers for objectives that are not estimators.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> from skhpo import SMBOSearchCV
    >>> from skhpo.space import Real
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SMBOSearchCV(SVC(), {"C": Real(1e-2, 1e2, log=True)}, n_iter=8,
    ...                       cv=3, random_state=0).fit(X, y)
    >>> sorted(search.best_params_)
    ['C']
    >>> len(search.cv_results_["iter"])
    8
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_distributions": [dict, list, SearchSpace],
        "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "surrogate": [StrOptions({"tpe", "gp", "rf", "random"})],
        "acquisition": [StrOptions({"ei", "pi", "lcb"})],
        "n_initial_points": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_points": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "max_time": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=50,
        surrogate="tpe",
        acquisition="ei",
        n_initial_points=None,
        n_points=1,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        max_time=None,
    ):
        self.max_time = max_time
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.surrogate = surrogate
        self.acquisition = acquisition
        self.n_initial_points = n_initial_points
        self.n_points = n_points
        self.random_state = random_state
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )

    def fit(self, X, y=None, **params):
        """Run the search.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target; None for unsupervised learning.
        **params : dict
            Parameters for the estimator's ``fit``, the scorer and the splitter
            (``groups``), routed as in GridSearchCV.

        Returns
        -------
        self : object
            The fitted search.
        """
        # Check the parameters and the space before any fit starts.
        self._validate_params()
        self._space = SearchSpace(self.param_distributions)
        self._space.check_estimator(self.estimator)
        return super().fit(X, y, **params)

    def _new_optimizer(self, random_state):
        return Optimizer(
            self._space,
            surrogate=self.surrogate,
            acquisition=self.acquisition,
            n_initial_points=self.n_initial_points,
            random_state=random_state,
        )

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        """Ask candidates, evaluate them, tell their scores, until ``n_iter``."""
        optimizer = self._new_optimizer(check_random_state(self.random_state))
        self.optimizer_ = optimizer
        cv = _SameFolds(self._checked_cv_orig)
        n_rounds = math.ceil(self.n_iter / self.n_points)
        search_ctx = _begin(
            callback_ctx, self, task_name="search", max_subtasks=n_rounds
        )
        start = time.perf_counter()
        results = None
        try:
            with collect_fit_failures(self.error_score), warnings.catch_warnings():
                # scikit-learn warns about non-finite scores after every round;
                # warn once at the end instead.
                warnings.filterwarnings("ignore", _NON_FINITE, UserWarning)
                for it in range(n_rounds):
                    if it > 0 and self._out_of_time(start):
                        break
                    batch = optimizer.ask(
                        min(self.n_points, self.n_iter - optimizer.n_told)
                    )
                    if not batch:  # every point of a finite space was evaluated
                        break
                    n = len(batch)
                    round_ctx = _begin(
                        search_ctx,
                        self,
                        task_name="smbo-round",
                        max_subtasks=n * self.n_splits_,
                        sequential_subtasks=False,
                    )
                    kwargs = {} if round_ctx is None else {"callback_ctx": round_ctx}
                    results = evaluate_candidates(
                        batch, cv=cv, more_results={"iter": [it] * n}, **kwargs
                    )
                    _end(round_ctx, self)
                    this_round = np.asarray(results["iter"]) == it
                    optimizer.tell(batch, self._scores(results)[this_round])
                    self._report_progress(optimizer, start)
        except KeyboardInterrupt:
            # Keep what was finished: the rounds completed before the interrupt.
            if results is not None:
                self._keep_partial_results(results)
            raise
        _end(search_ctx, self)
        _warn_non_finite(results)

    def _out_of_time(self, start):
        elapsed = time.perf_counter() - start
        if self.max_time is None or elapsed < self.max_time:
            return False
        if self.verbose > 0:
            print(
                f"[SMBOSearchCV] max_time={self.max_time} s reached after "
                f"{elapsed:.1f} s; stopping with the candidates evaluated so far."
            )
        return True

    def _report_progress(self, optimizer, start):
        if self.verbose > 0:
            print(
                f"[SMBOSearchCV] {optimizer.n_told}/{self.n_iter} candidates in "
                f"{time.perf_counter() - start:.1f} s, best score "
                f"{optimizer.best_score:.4f}: {optimizer.best_params}"
            )

    def _keep_partial_results(self, results):
        """Set the fitted attributes from the rounds finished before an interrupt."""
        self.cv_results_ = results
        self.multimetric_ = "mean_test_score" not in results
        if self.refit or not self.multimetric_:
            _, metric = self._get_scorers()
            self.best_index_ = self._select_best_index(self.refit, metric, results)
            self.best_params_ = results["params"][self.best_index_]
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{metric}"][self.best_index_]

    def _scores(self, results):
        """The mean test score the surrogate models, for every candidate so far."""
        key = "mean_test_score"
        if key not in results:
            metric = self.refit if isinstance(self.refit, str) else None
            key = f"mean_test_{metric}"
            if key not in results:
                key = next(k for k in results if k.startswith("mean_test_"))
        return np.asarray(results[key], dtype=float)
