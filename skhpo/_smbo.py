"""SMBOSearchCV: sequential model-based (Bayesian) optimization as a BaseSearchCV."""

import contextlib
import hashlib
import io
import itertools
import math
import numbers
import os
import re
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state

from . import _execution
from ._checkpoint import Journal, describe_estimator, describe_value, hash_array
from ._compat import (
    Interval,
    StrOptions,
    collect_fit_failures,
    record_fits,
    replay_fits,
)
from ._execution._joblib import check_client, dask_backend
from ._execution._smbo_driver import (
    async_client,
    check_async_client,
    run_async_search,
)
from ._progress import SearchProgress
from .samplers import Optimizer
from .space import SearchSpace

__all__ = ["SMBOSearchCV"]


_NON_FINITE = "One or more of the (test|train) scores are non-finite"

# scikit-learn's input validation failing to convert the data to numbers.
_VALIDATION_FRAME = re.compile(r"sklearn[\\/]utils[\\/]validation\.py")
_NOT_NUMERIC = re.compile(
    r"could not convert|dtype='numeric' is not compatible|Complex data not supported"
    r"|Unable to convert array"
)


def _scheduler_address(client):
    """The scheduler address of a ``distributed.Client`` or a cluster object."""
    scheduler = getattr(client, "scheduler", None)
    return getattr(client, "scheduler_address", None) or getattr(
        scheduler, "address", None
    )


def _check_input_accepted(outputs, space):
    """Raise when every fit of a candidate failed converting the data to numbers.

    Called for the first candidate of a search: when all its fits failed, with
    the same error, in scikit-learn's input validation because ``X`` or ``y``
    cannot be converted to numbers (strings given to a numeric estimator), every
    other candidate would fail the same way. Not checked when the space swaps
    estimators or pipeline steps, as the next candidate may accept the data.
    """
    errors = {output.get("fit_error") for output in outputs}
    if len(errors) != 1 or None in errors:
        return
    (error,) = errors
    message = error.strip().splitlines()[-1]
    if not (_VALIDATION_FRAME.search(error) and _NOT_NUMERIC.search(message)):
        return
    structural = [
        v
        for sub in space.subspaces
        for dim in sub.values()
        if dim.is_finite
        for v in dim.values()
        if hasattr(v, "fit") or (isinstance(v, str) and v in ("passthrough", "drop"))
    ]
    if structural:
        return
    raise ValueError(
        "The estimator cannot use this data: every fit of the first candidate "
        f"failed in scikit-learn's input validation, before any training, with\n"
        f"    {message}\n"
        "This does not depend on the hyperparameters searched, so the search was "
        "stopped instead of failing every candidate. Pass data the estimator "
        "accepts: numbers, or strings encoded by a Pipeline step (OneHotEncoder, "
        "a ColumnTransformer, a text vectorizer)."
    )


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


class _Captured(Exception):
    """Stops the probe of `_capture_fit_setup` at its first fit."""


def _capture_fit_setup(evaluate_candidates, cv):
    """What ``evaluate_candidates`` would fit with, without fitting anything.

    One probe call inside `replay_fits` stops at its first fit and keeps the
    arguments scikit-learn passes to ``_fit_and_score``: the (cloned) estimator,
    ``X`` and ``y`` as indexed by the search, and the keyword arguments (scorer,
    routed fit and score params, return flags, ``error_score``, ``verbose``).
    ``cv`` (a `_SameFolds`) keeps the folds it was asked for.
    """
    setup = {}

    def provider(estimator, X, y, **kwargs):
        for name in (
            "train",
            "test",
            "parameters",
            "split_progress",
            "candidate_progress",
            "caller",
            "callback_ctx",
        ):
            kwargs.pop(name, None)
        setup.update(estimator=estimator, X=X, y=y, fit_kwargs=kwargs)
        raise _Captured

    # The probe is not a round: keep scikit-learn's "Fitting ..." line quiet.
    with contextlib.redirect_stdout(io.StringIO()), replay_fits(provider):
        try:
            evaluate_candidates([{}], cv=cv)
        except _Captured:
            pass
    setup["folds"] = list(cv.split(setup["X"], setup["y"]))
    return setup


def _mean_score(outputs, refit):
    """Mean test score over the splits of one candidate, as ``cv_results_`` has
    it: the ``refit`` metric, else the first one, with several metrics."""
    values = []
    for out in outputs:
        score = out["test_scores"]
        if isinstance(score, dict):  # a failed fit has the bare error_score
            score = score[refit if isinstance(refit, str) else next(iter(score))]
        values.append(float(score))
    return float(np.mean(values))


class _Trials:
    """The finished candidates of one ``fit``, in the order they finished.

    Each one is told to the optimizer, appended to the checkpoint's journal (its
    encoded parameters, round and the ``_fit_and_score`` output of every split)
    and can be replayed through ``evaluate_candidates``, so that ``cv_results_``
    is scikit-learn's own.
    """

    def __init__(self, search, optimizer, journal):
        self.search = search
        self.optimizer = optimizer
        self.journal = journal
        self.params, self.iters, self.outputs = [], [], []
        self.results = None  # the latest cv_results_
        self._n_in_results = 0  # the first candidates that are in it
        self._best = -math.inf
        self._since_best = 0

    def __len__(self):
        return len(self.params)

    @property
    def next_iter(self):
        """The first unused round number."""
        return max(self.iters, default=-1) + 1

    @property
    def stalled(self):
        """Whether the best score has not improved for ``n_iter_no_change``."""
        patience = self.search.n_iter_no_change
        return patience is not None and self._since_best >= patience

    def add(self, params, it, outputs):
        """Record a finished candidate: tell, journal, track improvement."""
        score = _mean_score(outputs, self.search.refit)
        self.optimizer.tell([params], [score])
        self.params.append(params)
        self.iters.append(it)
        self.outputs.append(outputs)
        if self.journal is not None:
            encoded = self.optimizer.space.encode(params).tolist()
            self.journal.append({"params": encoded, "iter": it, "splits": outputs})
        if score > self._best:
            self._best, self._since_best = score, 0
        else:
            self._since_best += 1
        if len(self.params) == 1:
            _check_input_accepted(outputs, self.optimizer.space)

    def restore(self, evaluate_candidates, cv, *, reask):
        """Tell and replay the candidates of the checkpoint, up to ``n_iter``.

        With ``reask``, each journaled round is first asked again: the optimizer
        goes through the same asks and tells as the run that wrote the journal,
        so that its random state and model (and hence the next candidates) are
        those of an uninterrupted run. Should a round differ (the journal was
        written asynchronously, with another ``n_points`` or another version),
        the asked points are cancelled and the rest is told as journaled.
        """
        if self.journal is None or not self.journal.records:
            return
        records = self.journal.records[: self.search.n_iter]
        journal, self.journal = self.journal, None  # already written
        space = self.optimizer.space
        for it, group in itertools.groupby(records, key=lambda r: r["iter"]):
            group = list(group)
            rows = [np.asarray(record["params"], dtype=float) for record in group]
            if reask:
                asked = self.optimizer.ask(len(rows))
                reask = len(asked) == len(rows) and all(
                    np.array_equal(space.encode(params), row, equal_nan=True)
                    for params, row in zip(asked, rows)
                )
                if not reask:
                    self.optimizer.cancel(asked)
            for row, record in zip(rows, group):
                self.add(space.decode(row), it, record["splits"])
        self.journal = journal
        self.replay(evaluate_candidates, cv)

    def replay(self, evaluate_candidates, cv):
        """Feed the candidates not in ``results`` yet through
        ``evaluate_candidates``, without fitting."""
        start = self._n_in_results
        if start == len(self.params):
            return
        outputs = self.outputs[start:]

        def provider(*args, split_progress, candidate_progress, **kwargs):
            return dict(outputs[candidate_progress[0]][split_progress[0]])

        # Nothing is fitted: keep scikit-learn's "Fitting N folds..." line quiet
        # (after an asynchronous run it came once every fit was over).
        with contextlib.redirect_stdout(io.StringIO()), replay_fits(provider):
            self.results = evaluate_candidates(
                self.params[start:], cv=cv, more_results={"iter": self.iters[start:]}
            )
        self._n_in_results = len(self.params)

    def evaluate(self, evaluate_candidates, batch, it, cv, **kwargs):
        """Fit a round of candidates with ``evaluate_candidates`` and add them."""
        outputs = []
        with record_fits(outputs.extend):
            self.results = evaluate_candidates(
                batch, cv=cv, more_results={"iter": [it] * len(batch)}, **kwargs
            )
        n_splits = len(outputs) // len(batch)
        for i, params in enumerate(batch):
            self.add(params, it, outputs[i * n_splits : (i + 1) * n_splits])
        self._n_in_results = len(self.params)


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

    On a dask cluster (a ``distributed.Client`` is active when ``fit`` is called, or
    is given as ``client``) the search runs asynchronously by default
    (``execution="auto"``): each (candidate, split) fit is a task, a candidate is
    told to the surrogate as soon as its last split finishes and the next one is
    asked right away, with the candidates still running taken into account, so no
    worker waits for a round to finish. Two candidates per worker thread are
    running at once, so that every candidate but those few is proposed knowing
    the scores before it; when fits take milliseconds, their splits are grouped
    into larger tasks and more candidates run at once (about 50 ms of fits per
    thread, at most a tenth of ``n_iter``). ``cv_results_``, refit and
    multimetric scoring are the same as in rounds.

    Interrupting ``fit`` (Ctrl-C) stops it and cancels the pending fits; the search
    keeps ``cv_results_``, ``best_index_``, ``best_params_`` and ``best_score_`` of
    the candidates that finished before the interrupt (nothing is refitted), and
    the ``KeyboardInterrupt`` propagates. The same holds when a fit raises with
    ``error_score="raise"`` (the error names the failing parameters) and when the
    dask cluster is lost (a ``RuntimeError``). A worker that dies only costs the
    fits it was running: dask runs them again on another worker.

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
        Candidates of an initial design (a Latin hypercube over the space)
        evaluated before the surrogate is used; None lets the optimizer choose
        (10 for TPE, ``2 * n_dims`` within [10, 20] for GP and RF); see
        :class:`~skhpo.samplers.Optimizer`.
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
    n_iter_no_change : int, default=None
        Stop early once the best mean test score has not improved for this many
        consecutive candidates (in the order they finished). None never stops
        early.
    execution : {"auto", "async", "joblib"}, default="auto"
        How the fits run:

        - ``"joblib"``: rounds of ``n_points`` candidates, whose fits run through
          joblib with ``n_jobs`` (any backend, dask's included with
          ``joblib.parallel_config(backend="dask")``); ``iter`` is the round.
        - ``"async"``: asynchronously on the active ``distributed.Client`` (an
          error without one); ``n_jobs``, ``n_points`` and ``pre_dispatch`` are
          unused and ``iter`` is the order in which candidates were asked.
        - ``"auto"``: ``"async"`` when a synchronous ``distributed.Client`` is
          active, unless the search runs inside a dask task or joblib's dask
          backend is active; ``"joblib"`` otherwise.
    checkpoint : str or path-like, default=None
        A file (JSON lines) to which every finished candidate is appended: its
        parameters and, for each split, its scores, times and fit error. Fitting
        again with the same file restores those candidates without fitting them
        (they are told to the surrogate and appear in ``cv_results_``) and
        continues up to ``n_iter`` candidates in all; in rounds, the resumed
        search proposes the candidates an uninterrupted one would have. A file
        written by another search (estimator class or parameters, space,
        scoring, data or folds) is refused with a ValueError; a line torn by a
        crash is dropped with a warning. None keeps no checkpoint.
    client : None, distributed.Client, str or cluster object, default=None
        The dask cluster the fits run on:

        - None: the active ``distributed.Client``, if any (see ``execution``);
        - a synchronous ``distributed.Client``;
        - a scheduler address such as ``"tcp://10.0.0.1:8786"``, connected to
          for the duration of ``fit``;
        - a cluster object: ``LocalCluster``, dask-jobqueue's ``SLURMCluster``,
          dask-kubernetes' ``KubeCluster`` or any object with a
          ``scheduler_address``.

        With a client, ``execution="auto"`` means ``"async"`` on it, and
        ``execution="joblib"`` runs the rounds on it through
        :func:`skhpo.parallel.dask_backend`. A client or cluster object is
        shared by :func:`~sklearn.base.clone` (not copied), and pickled as its
        scheduler's address.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        As GridSearchCV's, plus ``iter``; one row per candidate, in the order
        they finished (restored ones first).
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
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "execution": [StrOptions({"auto", "async", "joblib"})],
        "checkpoint": [str, os.PathLike, None],
        "client": "no_validation",  # checked by fit (it may connect)
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
        n_iter_no_change=None,
        execution="auto",
        checkpoint=None,
        client=None,
    ):
        self.client = client
        self.max_time = max_time
        self.n_iter_no_change = n_iter_no_change
        self.execution = execution
        self.checkpoint = checkpoint
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
        with self._on_client():
            return super().fit(X, y, **params)

    @contextlib.contextmanager
    def _on_client(self):
        """Make ``client`` the cluster of the fits (see the ``client`` parameter)."""
        if self.client is None:
            yield
            return
        client, owned = check_client(self.client, who="SMBOSearchCV")
        try:
            if self.execution == "joblib":
                with dask_backend(client):
                    yield
            else:
                with client.as_current():
                    yield
        finally:
            if owned:
                client.close()

    def _client_is_connection(self):
        """Whether ``client`` is a Client or cluster object (not None or an address)."""
        return not (self.client is None or isinstance(self.client, str))

    def __sklearn_clone__(self):
        if not self._client_is_connection():
            return super().__sklearn_clone__()
        # A client or cluster object is a connection: the clone shares it.
        params = self.get_params(deep=False)
        params = {k: clone(v, safe=False) for k, v in params.items() if k != "client"}
        return type(self)(**params, client=self.client)

    def __getstate__(self):
        state = super().__getstate__()
        if self._client_is_connection():
            # A connection cannot be pickled: keep its scheduler's address (in
            # a copy: the state may be this search's own __dict__).
            state = {**state, "client": _scheduler_address(self.client)}
        return state

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
        client = self._async_client()
        setup = None
        if client is not None or self.checkpoint is not None:
            setup = _capture_fit_setup(evaluate_candidates, cv)
        journal = None
        if self.checkpoint is not None:
            journal = Journal(self.checkpoint, self._fingerprint(setup))
        trials = _Trials(self, optimizer, journal)
        try:
            with (
                self._progress(client) as progress,
                collect_fit_failures(self.error_score),
                warnings.catch_warnings(),
            ):
                # scikit-learn warns about non-finite scores after every round;
                # warn once at the end instead.
                warnings.filterwarnings("ignore", _NON_FINITE, UserWarning)
                trials.restore(evaluate_candidates, cv, reask=client is None)
                if len(trials):
                    self._report_progress(progress, optimizer)
                if client is None:
                    self._run_rounds(
                        evaluate_candidates, cv, trials, progress, callback_ctx
                    )
                else:
                    try:
                        self._run_async(client, setup, trials, progress)
                    finally:
                        trials.replay(evaluate_candidates, cv)
        except BaseException:
            # Keep what was finished: the candidates evaluated before the
            # interrupt, the error or the loss of the cluster.
            if trials.results is not None:
                self._keep_partial_results(trials.results)
            raise
        _warn_non_finite(trials.results)

    def _async_client(self):
        """The dask client of the asynchronous path, None for the joblib one."""
        if self.execution == "joblib":
            return None
        if self.execution == "async" or self.client is not None:
            return check_async_client()
        return async_client()

    def _run_rounds(self, evaluate_candidates, cv, trials, progress, callback_ctx):
        """Rounds of ``n_points`` candidates through ``evaluate_candidates``."""
        optimizer = trials.optimizer
        first = trials.next_iter
        n_rounds = math.ceil(max(self.n_iter - optimizer.n_told, 0) / self.n_points)
        search_ctx = _begin(
            callback_ctx, self, task_name="search", max_subtasks=n_rounds
        )
        start = time.perf_counter()
        for it in range(first, first + n_rounds):
            if it > first and self._out_of_time(start, progress):
                break
            if trials.stalled:
                self._report_stall(progress)
                break
            batch = optimizer.ask(min(self.n_points, self.n_iter - optimizer.n_told))
            if not batch:  # every point of a finite space was evaluated
                break
            round_ctx = _begin(
                search_ctx,
                self,
                task_name="smbo-round",
                max_subtasks=len(batch) * self.n_splits_,
                sequential_subtasks=False,
            )
            kwargs = {} if round_ctx is None else {"callback_ctx": round_ctx}
            try:
                trials.evaluate(evaluate_candidates, batch, it, cv, **kwargs)
            except Exception as exc:
                if self.error_score == "raise":
                    exc.add_note(
                        f"Raised while fitting the candidates {batch!r} "
                        "(error_score='raise')."
                    )
                raise
            _end(round_ctx, self)
            self._report_progress(progress, optimizer)
        _end(search_ctx, self)

    def _run_async(self, client, setup, trials, progress):
        """Candidates asked one by one as workers free up (see
        :mod:`skhpo._execution._smbo_driver`)."""
        optimizer = trials.optimizer
        start = time.perf_counter()
        first = trials.next_iter
        asked = {}  # id(params) -> iter
        stopped = False
        if self.verbose > 0:  # scikit-learn's line, before the fits
            n_splits, n_left = len(setup["folds"]), self.n_iter - optimizer.n_told
            progress.write(
                f"Fitting {n_splits} folds for each of up to {n_left} candidates, "
                f"asynchronously on the dask cluster ({client.scheduler.address})"
            )

        def ask(n):
            nonlocal stopped
            if not stopped and asked and self._out_of_time(start, progress):
                stopped = True
            if not stopped and trials.stalled:
                self._report_stall(progress)
                stopped = True
            n = min(n, self.n_iter - optimizer.n_told - len(optimizer.pending))
            if self.n_iter_no_change is not None:  # check it often enough
                n = min(n, self.n_iter_no_change)
            if stopped or n < 1:
                return []
            batch = optimizer.ask(n)
            for params in batch:
                asked[id(params)] = first + len(asked)
            return batch

        def on_candidate(params, outputs):
            trials.add(params, asked[id(params)], outputs)
            self._report_progress(progress, optimizer)

        run_async_search(
            client,
            estimator=setup["estimator"],
            space=optimizer.space,
            X=setup["X"],
            y=setup["y"],
            folds=setup["folds"],
            fit_kwargs=setup["fit_kwargs"],
            ask=ask,
            on_candidate=on_candidate,
            n_max=self.n_iter,
        )

    def _report_stall(self, progress):
        progress.write(
            f"[SMBOSearchCV] no improvement in the last {self.n_iter_no_change} "
            "candidates (n_iter_no_change); stopping."
        )

    def _fingerprint(self, setup):
        """What a checkpoint must match: estimator, space, scoring, data, folds."""
        folds = hashlib.sha256()
        for train, test in setup["folds"]:
            folds.update(np.asarray(train).tobytes() + b"|")
            folds.update(np.asarray(test).tobytes() + b"|")
        y = setup["y"]
        return {
            "search": type(self).__name__,
            "estimator": describe_estimator(self.estimator),
            "space": repr(self._space),
            "scoring": describe_value(self.scoring),
            "return_train_score": bool(self.return_train_score),
            "error_score": repr(self.error_score),
            "folds": folds.hexdigest(),
            "X": {"shape": list(np.shape(setup["X"])), "hash": hash_array(setup["X"])},
            "y": None
            if y is None
            else {"shape": list(np.shape(y)), "hash": hash_array(y)},
        }

    def _out_of_time(self, start, progress):
        elapsed = time.perf_counter() - start
        if self.max_time is None or elapsed < self.max_time:
            return False
        progress.write(
            f"[SMBOSearchCV] max_time={self.max_time} s reached after "
            f"{elapsed:.1f} s; stopping with the candidates evaluated so far."
        )
        return True

    def _progress(self, client=None):
        """The progress bar of ``fit`` (see :mod:`skhpo._progress`), showing the
        dashboard of ``client`` (the asynchronous path's) or of joblib's dask
        backend."""
        if self.verbose > 0 and client is None:
            client = _execution.joblib_client()
        return SearchProgress(
            self.n_iter,
            verbose=self.verbose > 0,
            desc=type(self).__name__,
            unit="candidate",
            client=client,
        )

    def _report_progress(self, progress, optimizer):
        progress.update(optimizer.n_told, optimizer.best_score)

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
