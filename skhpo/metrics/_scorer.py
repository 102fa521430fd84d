"""Scorers that keep dask validation data chunked.

A scorer is called as ``scorer(estimator, X, y_true, sample_weight=None)`` and
returns a float, like scikit-learn's. On in-memory inputs (numpy, pandas, lists,
sparse matrices) it *is* scikit-learn's scorer: the call is delegated unchanged. On
dask inputs the estimator's response method runs block by block
(``X.map_blocks(estimator.predict, ...)``, or per partition of a dask DataFrame),
each block is reduced to a few statistics next to the data, the statistics are
merged in a tree inside dask, and only scalars or small tables are computed.
"""

from __future__ import annotations

import traceback
import uuid
import warnings
from inspect import getattr_static, signature

import numpy as np
import sklearn
import sklearn.metrics as skm
from dask import delayed
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils import assert_all_finite
from sklearn.utils.metadata_routing import (
    MetadataRequest,
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.multiclass import type_of_target

from . import _classification as _clf
from . import _regression as _reg
from ._dask import (
    BlockMismatchError,
    RowBlocks,
    any_dask,
    compute,
    is_dask_collection,
    tree_reduce,
)

__all__ = [
    "DaskGatherWarning",
    "check_scoring",
    "get_scorer",
    "get_scorer_names",
    "make_scorer",
]


class DaskGatherWarning(UserWarning):
    """A scorer without a dask-aware implementation gathered dask data.

    Raised when a scorer that skhpo cannot reduce blockwise (a scorer name or
    metric outside :func:`get_scorer_names` ``(dask_aware=True)``, or options that
    the blockwise reduction does not cover) is called on dask inputs. The
    predictions are still computed block by block, but they, ``y_true`` and
    ``sample_weight`` are gathered into the calling process, and scikit-learn's
    scorer runs on them. Filter it with
    ``warnings.filterwarnings("ignore", category=DaskGatherWarning)``.

    Examples
    --------
    >>> import warnings
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skhpo.metrics import DaskGatherWarning, get_scorer
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = X.sum(axis=1)
    >>> reg = LinearRegression().fit(X, y)
    >>> median_ae = get_scorer("neg_median_absolute_error")  # not dask-aware
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     score = median_ae(reg, da.from_array(X, chunks=5), y)
    >>> [w.category.__name__ for w in caught]
    ['DaskGatherWarning']
    >>> abs(score) < 1e-9
    True
    """


# --------------------------------------------------------------------------
# which metrics have a blockwise implementation

#: Metrics of the joint distribution of (y_true, y_pred) labels.
_TABLE_METRICS = frozenset(
    [
        skm.accuracy_score,
        skm.balanced_accuracy_score,
        skm.cohen_kappa_score,
        skm.f1_score,
        skm.fbeta_score,
        skm.hamming_loss,
        skm.jaccard_score,
        skm.matthews_corrcoef,
        skm.precision_score,
        skm.recall_score,
        skm.zero_one_loss,
    ]
)
#: Binary ranking metrics: functions of the (y_true, y_score) distribution.
_RANK_METRICS = frozenset([skm.roc_auc_score, skm.average_precision_score])
_REGRESSION_METRICS = {
    skm.mean_squared_error: "mean_squared_error",
    skm.root_mean_squared_error: "root_mean_squared_error",
    skm.mean_absolute_error: "mean_absolute_error",
    skm.r2_score: "r2_score",
    skm.explained_variance_score: "explained_variance_score",
}
_LOG_LOSS_KWARGS = frozenset(["normalize", "labels"])

_PROBA = "predict_proba"
_DECISION = ("decision_function", "predict_proba")

#: Scorer names with a dask-aware implementation, defined as scikit-learn
#: defines them: name -> (metric, response_method, greater_is_better, kwargs).
_DASK_AWARE = {
    "accuracy": (skm.accuracy_score, "predict", True, {}),
    "balanced_accuracy": (skm.balanced_accuracy_score, "predict", True, {}),
    "matthews_corrcoef": (skm.matthews_corrcoef, "predict", True, {}),
    "neg_log_loss": (skm.log_loss, _PROBA, False, {}),
    "roc_auc": (skm.roc_auc_score, _DECISION, True, {}),
    "average_precision": (skm.average_precision_score, _DECISION, True, {}),
    "r2": (skm.r2_score, "predict", True, {}),
    "explained_variance": (skm.explained_variance_score, "predict", True, {}),
    "neg_mean_squared_error": (skm.mean_squared_error, "predict", False, {}),
    "neg_root_mean_squared_error": (
        skm.root_mean_squared_error,
        "predict",
        False,
        {},
    ),
    "neg_mean_absolute_error": (skm.mean_absolute_error, "predict", False, {}),
}
for _name, _metric in [
    ("precision", skm.precision_score),
    ("recall", skm.recall_score),
    ("f1", skm.f1_score),
    ("jaccard", skm.jaccard_score),
]:
    _DASK_AWARE[_name] = (_metric, "predict", True, {"average": "binary"})
    for _average in ("macro", "micro", "weighted"):
        _DASK_AWARE[f"{_name}_{_average}"] = (
            _metric,
            "predict",
            True,
            {"pos_label": None, "average": _average},
        )


def get_scorer_names(*, dask_aware=False):
    """Names accepted by :func:`get_scorer` and :func:`check_scoring`.

    Parameters
    ----------
    dask_aware : bool, default=False
        If True, only the names whose scorers reduce dask inputs blockwise. The
        other names also accept dask inputs, but gather ``y_true`` and the
        predictions (see :class:`DaskGatherWarning`).

    Returns
    -------
    list of str
        Sorted scorer names.

    Examples
    --------
    >>> from skhpo.metrics import get_scorer_names
    >>> "roc_auc" in get_scorer_names(dask_aware=True)
    True
    >>> "neg_median_absolute_error" in get_scorer_names(dask_aware=True)
    False
    >>> "neg_median_absolute_error" in get_scorer_names()
    True
    """
    if dask_aware:
        return sorted(_DASK_AWARE)
    return sorted(set(skm.get_scorer_names()) | set(_DASK_AWARE))


# --------------------------------------------------------------------------
# dask inputs


def _apply_block(stats_fn, index, response, transform, y_true, sample_weight):
    """Turn one row block of (response, y_true, sample_weight) into statistics."""
    response = np.asarray(response)
    if transform is not None:
        kind, arg = transform
        response = response[:, arg] if kind == "column" else -1 * response
    y_true = np.asarray(y_true)
    n = len(response)
    if len(y_true) != n:
        raise BlockMismatchError(
            f"Row block {index}: X has {n} rows but y_true has {len(y_true)}."
        )
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.shape != (n,):
            raise BlockMismatchError(
                f"Row block {index}: X has {n} rows but sample_weight has shape "
                f"{sample_weight.shape}."
            )
        assert_all_finite(sample_weight, input_name="sample_weight")
    return stats_fn(y_true, response, sample_weight)


class _DaskInputs:
    """X and y_true of one scorer call, aligned by row block.

    Responses (``estimator.predict(X)`` etc.) and aligned sample weights are
    built once and shared by every scorer of a multimetric call.
    ``check_lengths``: see :meth:`RowBlocks.aligned`; ``unchecked`` says whether
    blocks of unknown row counts were paired as they are.
    """

    def __init__(self, X, y_true, *, check_lengths=False):
        self.X = X
        self.y_true = y_true
        self.check_lengths = check_lengths
        self.rows = RowBlocks(X, "X")
        self.y_blocks, self.y_tail, self.unchecked = self.rows.aligned(
            y_true, "y_true", check_lengths=check_lengths
        )
        self._weights = {}
        self._estimators = {}
        self._responses = {}

    def weight_blocks(self, sample_weight):
        """Row blocks of ``sample_weight`` (one None per block if it is None)."""
        if sample_weight is None:
            return [None] * self.rows.nblocks
        key = id(sample_weight)
        if key not in self._weights:
            blocks, tail, unchecked = self.rows.aligned(
                sample_weight, "sample_weight", check_lengths=self.check_lengths
            )
            if tail != ():
                raise ValueError(
                    "sample_weight must be 1-D with one weight per row of X; got "
                    f"trailing shape {tail}."
                )
            self.unchecked |= unchecked
            # (the weights kept alive with their blocks: their id is the key)
            self._weights[key] = (sample_weight, blocks)
        return self._weights[key][1]

    def _estimator_key(self, estimator):
        key = id(estimator)
        if key not in self._estimators:
            # One graph key holds the estimator; every prediction task reads it.
            name = f"skhpo-estimator-{uuid.uuid4().hex}"
            self._estimators[key] = (estimator, delayed(estimator, name=name))
        return self._estimators[key][1]

    def response(self, estimator, method):
        """Delayed row blocks of ``estimator.<method>(X)``."""
        key = (id(estimator), method)
        if key not in self._responses:
            tail, dtype = _output_spec(estimator, method, self.y_tail)
            self._responses[key] = self.rows.response_blocks(
                self._estimator_key(estimator), method, tail, dtype
            )
        return self._responses[key]

    def reduce(self, estimator, method, transform, stats_fn, combine, sample_weight):
        """Delayed merged statistics of every row block."""
        blocks = zip(
            self.response(estimator, method),
            self.y_blocks,
            self.weight_blocks(sample_weight),
        )
        parts = [
            delayed(_apply_block, pure=True)(stats_fn, i, r, transform, y, w)
            for i, (r, y, w) in enumerate(blocks)
        ]
        return tree_reduce(parts, combine)

    def gather(self, estimator, method):
        """All of ``estimator.<method>(X)`` in memory (computed block by block)."""
        blocks = compute(self.response(estimator, method))[0]
        return np.concatenate([np.asarray(b) for b in blocks], axis=0)


def _on_dask_inputs(run, X, y_true):
    """``run(_DaskInputs(X, y_true))``, again with row counts computed if blocks
    of unknown row counts, paired as they were, did not line up."""
    inputs = _DaskInputs(X, y_true)
    try:
        return run(inputs)
    except BlockMismatchError:
        if not inputs.unchecked:
            raise
    return run(_DaskInputs(X, y_true, check_lengths=True))


def _classes(estimator):
    """``estimator.classes_`` as a 1-D array, or None (multi-output, missing)."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return None
    classes = np.asarray(classes)
    return classes if classes.ndim == 1 else None


def _is_classifier(estimator):
    try:
        return is_classifier(estimator)
    except Exception:  # objects without scikit-learn tags
        return False


def _output_spec(estimator, method, y_tail):
    """Shape of one output row and dtype of ``estimator.<method>`` (metadata)."""
    classes = _classes(estimator) if _is_classifier(estimator) else None
    if method == "predict":
        dtype = classes.dtype if classes is not None else np.dtype(np.float64)
        return tuple(y_tail), dtype
    if classes is None:
        return (), np.dtype(np.float64)
    if method in ("predict_proba", "predict_log_proba") or len(classes) > 2:
        return (len(classes),), np.dtype(np.float64)
    return (), np.dtype(np.float64)


def _resolve_response(estimator, response_method, pos_label):
    """The method scikit-learn's scorer would call and how it post-processes it.

    Mirrors ``sklearn.utils._response._get_response_values``: the first available
    method of ``response_method``; for binary classifiers the probability column
    of ``pos_label`` (default ``classes_[-1]``) and decision values negated when
    ``pos_label`` is ``classes_[0]``.

    Returns
    -------
    method : str
    transform : tuple or None
        ``("column", j)`` or ``("negate", None)`` applied to each output block.
    one_dimensional : bool or None
        Whether the processed response is 1-D (None: it follows y_true's shape).
    """
    methods = [response_method] if isinstance(response_method, str) else response_method
    method = next((m for m in methods if getattr(estimator, m, None) is not None), None)
    if method is None:
        raise AttributeError(
            f"{estimator.__class__.__name__} has none of the following attributes: "
            f"{', '.join(methods)}."
        )
    if not _is_classifier(estimator):
        return method, None, None if method == "predict" else True
    classes = _classes(estimator)
    if classes is None:
        return method, None, False
    target_type = type_of_target(classes)
    if target_type == "binary":
        if pos_label is not None and pos_label not in classes.tolist():
            raise ValueError(
                f"pos_label={pos_label} is not a valid label: It should be one of "
                f"{classes}"
            )
        if pos_label is None:
            pos_label = classes[-1]
    if method in ("predict_proba", "predict_log_proba"):
        if target_type == "binary":
            if len(classes) < 2:
                raise ValueError(
                    f"Got {method} of shape (n_samples, {len(classes)}), but need "
                    "classifier with two classes."
                )
            column = int(np.flatnonzero(classes == pos_label)[0])
            return method, ("column", column), True
        return method, None, False
    if method == "decision_function":
        if target_type == "binary":
            transform = ("negate", None) if pos_label == classes[0] else None
            return method, transform, True
        return method, None, False
    return method, None, None


def _reemit(caught):
    for message, category in caught:
        warnings.warn(message, category, stacklevel=4)


def _as_score(value):
    """A Python float for scalar scores; arrays (``multioutput="raw_values"``) stay."""
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value)


class _Plan:
    """Delayed objects to compute and how to turn their values into a score."""

    def __init__(self, collections, finish):
        self.collections = collections
        self.finish = finish


class _PrecomputedResponses:
    """Stand-in estimator whose response methods return gathered dask predictions.

    Lets a scikit-learn scorer without a blockwise counterpart run on dask
    inputs: predictions are computed block by block and only they (not X) are
    gathered. Everything else (``classes_``, tags) is the wrapped estimator's.
    """

    _RESPONSES = ("predict", "predict_proba", "predict_log_proba", "decision_function")

    def __init__(self, estimator, inputs):
        self._estimator = estimator
        self._inputs = inputs

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_estimator", "_inputs"):
            raise AttributeError(name)
        value = getattr(self._estimator, name)
        if name not in self._RESPONSES:
            return value

        def response(X):
            return self._inputs.gather(self._estimator, name)

        response.__name__ = name
        return response


# --------------------------------------------------------------------------
# scorers


def _sklearn_scorer_call(sk_scorer, estimator, X, y_true, sample_weight, kwargs):
    if sample_weight is not None:
        kwargs = {**kwargs, "sample_weight": sample_weight}
    return sk_scorer(estimator, X, y_true, **kwargs)


class _DaskAwareScorer:
    """A scikit-learn compatible scorer that reduces dask inputs blockwise.

    Build instances with :func:`make_scorer` or :func:`get_scorer`.
    """

    def __init__(
        self,
        sk_scorer,
        *,
        score_func,
        sign=1,
        kwargs=None,
        response_method="predict",
        name=None,
    ):
        self._sk_scorer = sk_scorer
        self._score_func = score_func
        self._sign = sign
        self._kwargs = {} if kwargs is None else dict(kwargs)
        self._response_method = response_method
        self._name = name
        self._score_request = None

    # -- public behaviour -------------------------------------------------

    @property
    def dask_aware(self):
        """Whether dask inputs are reduced blockwise (else they are gathered)."""
        func = self._score_func
        return (
            func in _TABLE_METRICS
            or func in _RANK_METRICS
            or func in _REGRESSION_METRICS
            or func is skm.log_loss
        )

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        """Score ``estimator`` on ``X`` against ``y_true``.

        Parameters
        ----------
        estimator : fitted estimator
        X : array-like, DataFrame, dask array or dask DataFrame
        y_true : array-like, dask array or dask Series
        sample_weight : array-like or dask array of shape (n_samples,), default=None
        **kwargs
            Further keyword arguments of the metric (metadata), as scikit-learn's
            scorers accept them.

        Returns
        -------
        float
            The score; greater is better (losses are negated).
        """
        if not is_dask_collection(X):
            if any_dask(y_true, sample_weight):
                y_true, sample_weight = compute(y_true, sample_weight)
            return _as_score(
                _sklearn_scorer_call(
                    self._sk_scorer, estimator, X, y_true, sample_weight, kwargs
                )
            )

        def run(inputs):
            plan = self._plan(estimator, inputs, sample_weight, kwargs)
            return plan.finish(compute(*plan.collections))

        return _on_dask_inputs(run, X, y_true)

    def _accept_sample_weight(self):
        # Read by scikit-learn's multimetric scorer when metadata routing is off.
        return "sample_weight" in signature(self._score_func).parameters

    def set_score_request(self, **kwargs):
        """Request metadata (``sample_weight``) when metadata routing is enabled.

        Parameters
        ----------
        **kwargs : dict
            ``param=alias`` pairs, alias one of ``True``, ``False``, ``None`` or
            a string, as in scikit-learn's ``set_score_request``.

        Returns
        -------
        self
        """
        if not sklearn.get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. "
                "You can enable it using "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        self._score_request = dict(kwargs)
        return self

    def get_metadata_routing(self):
        """The metadata this scorer requests (see scikit-learn's routing guide)."""
        request = MetadataRequest(owner=self)
        requests = self._score_request
        if requests is None:
            requests = {"sample_weight": None} if self._accept_sample_weight() else {}
        for param, alias in requests.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def __repr__(self):
        if self._name is not None and not self.dask_aware:
            return f"get_scorer({self._name!r})"
        func = getattr(self._score_func, "__name__", repr(self._score_func))
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        kwargs = "".join(f", {k}={v}" for k, v in self._kwargs.items())
        return (
            f"make_scorer({func}{sign}, response_method={self._response_method!r}"
            f"{kwargs})"
        )

    # -- dask -------------------------------------------------------------

    def _pos_label(self, estimator):
        if is_regressor(estimator):
            return None
        if "pos_label" in self._kwargs:
            return self._kwargs["pos_label"]
        parameters = signature(self._score_func).parameters
        if "pos_label" in parameters:
            return parameters["pos_label"].default
        return None

    def _plan(self, estimator, inputs, sample_weight, call_kwargs):
        """Delayed statistics for dask inputs, or a gathering fallback."""
        if not self.dask_aware:
            return self._fallback_plan(estimator, inputs, sample_weight, call_kwargs)
        kwargs = {**self._kwargs, **call_kwargs}
        func = self._score_func
        method, transform, one_dimensional = _resolve_response(
            estimator, self._response_method, self._pos_label(estimator)
        )
        y_1d = inputs.y_tail == ()
        response_1d = y_1d if one_dimensional is None else one_dimensional
        sign = self._sign

        if func in _TABLE_METRICS or func in _RANK_METRICS:
            if not (y_1d and response_1d):
                return self._fallback_plan(
                    estimator, inputs, sample_weight, call_kwargs
                )
            table = inputs.reduce(
                estimator,
                method,
                transform,
                _clf.table_block,
                _clf.merge_tables,
                sample_weight,
            )
            if func in _TABLE_METRICS:
                # At most n_labels_true * n_labels_pred rows: finish here.
                def finish(values):
                    return _as_score(
                        sign * _clf.finalize_table(values[0], func, kwargs)
                    )

                return _Plan([table], finish)

            # One row per distinct score: evaluate inside the cluster.
            result = delayed(_clf.finalize_table_in_graph, pure=True)(
                table, func, kwargs
            )

            def finish(values):
                value, caught = values[0]
                _reemit(caught)
                return _as_score(sign * value)

            return _Plan([result], finish)

        if func is skm.log_loss:
            if not (y_1d and set(kwargs) <= _LOG_LOSS_KWARGS):
                return self._fallback_plan(
                    estimator, inputs, sample_weight, call_kwargs
                )
            stats = inputs.reduce(
                estimator,
                method,
                transform,
                _clf.log_loss_block,
                _clf.merge_log_loss,
                sample_weight,
            )
            return _Plan(
                [stats],
                lambda values: _as_score(
                    sign * _clf.finalize_log_loss(values[0], **kwargs)
                ),
            )

        finalize, supported = _reg.FINALIZERS[_REGRESSION_METRICS[func]]
        if not set(kwargs) <= supported or len(inputs.y_tail) > 1:
            return self._fallback_plan(estimator, inputs, sample_weight, call_kwargs)
        stats = inputs.reduce(
            estimator,
            method,
            transform,
            _reg.regression_block,
            _reg.merge_regression,
            sample_weight,
        )
        return _Plan(
            [stats], lambda values: _as_score(sign * finalize(values[0], **kwargs))
        )

    def _fallback_plan(self, estimator, inputs, sample_weight, call_kwargs):
        def finish(values):
            warnings.warn(
                f"{self!r} has no dask-aware implementation for these inputs and "
                "options: y_true and the predictions (computed block by block) "
                "are gathered into this process. Use a scorer from "
                "skhpo.metrics.get_scorer_names(dask_aware=True) to keep them "
                "chunked.",
                DaskGatherWarning,
                stacklevel=4,
            )
            y_true, weights = compute(inputs.y_true, sample_weight)
            proxy = _PrecomputedResponses(estimator, inputs)
            return _as_score(
                _sklearn_scorer_call(
                    self._sk_scorer, proxy, inputs.X, y_true, weights, call_kwargs
                )
            )

        return _Plan([], finish)


def make_scorer(
    score_func, *, response_method="predict", greater_is_better=True, **kwargs
):
    """Make a dask-aware scorer from a metric, like ``sklearn.metrics.make_scorer``.

    On in-memory inputs the scorer is exactly scikit-learn's
    ``make_scorer(score_func, ...)``. On dask inputs, these metrics are reduced
    blockwise, and only scalars or small tables are computed:

    - label metrics: ``accuracy_score``, ``balanced_accuracy_score``,
      ``precision_score``, ``recall_score``, ``f1_score``, ``fbeta_score``,
      ``jaccard_score``, ``matthews_corrcoef``, ``cohen_kappa_score``,
      ``hamming_loss``, ``zero_one_loss`` (1-D targets, any keyword arguments);
    - binary ranking metrics: ``roc_auc_score``, ``average_precision_score``
      (1-D scores, any keyword arguments);
    - ``log_loss`` (1-D targets; ``normalize``, ``labels``);
    - ``r2_score``, ``explained_variance_score``, ``mean_squared_error``,
      ``root_mean_squared_error``, ``mean_absolute_error`` (1-D or 2-D targets;
      ``multioutput``, and ``force_finite`` where the metric has it).

    Any other metric or option also works on dask inputs, but gathers
    ``y_true`` and the blockwise predictions (never ``X``) and warns with
    :class:`DaskGatherWarning`.

    Parameters
    ----------
    score_func : callable
        Metric ``score_func(y_true, y_pred, **kwargs)``.
    response_method : {"predict", "predict_proba", "decision_function"} or \
            list/tuple of those, default="predict"
        Estimator method giving the predictions; with a list, the first one the
        estimator has.
    greater_is_better : bool, default=True
        False for losses; the scorer then returns the negated loss.
    **kwargs
        Keyword arguments passed to ``score_func``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, sample_weight=None) -> float``; picklable,
        usable as ``scoring=`` in scikit-learn's searches and ``cross_validate``.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.metrics import fbeta_score
    >>> from skhpo.metrics import make_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    >>> clf = LogisticRegression().fit(X, y)
    >>> f2 = make_scorer(fbeta_score, beta=2)
    >>> f2
    make_scorer(fbeta_score, response_method='predict', beta=2)
    >>> in_memory = f2(clf, X, y)
    >>> chunked = f2(clf, da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    >>> bool(np.isclose(in_memory, chunked))
    True
    """
    sk_scorer = skm.make_scorer(
        score_func,
        response_method=response_method,
        greater_is_better=greater_is_better,
        **kwargs,
    )
    return _DaskAwareScorer(
        sk_scorer,
        score_func=score_func,
        sign=1 if greater_is_better else -1,
        kwargs=kwargs,
        response_method=response_method,
    )


def get_scorer(scoring):
    """Get a dask-aware scorer from its name, like ``sklearn.metrics.get_scorer``.

    Every scikit-learn scorer name is accepted. These are reduced blockwise on
    dask inputs (only scalars or small tables are computed): ``accuracy``,
    ``balanced_accuracy``, ``f1``, ``precision``, ``recall``, ``jaccard`` and their
    ``_macro``, ``_micro``, ``_weighted`` variants, ``matthews_corrcoef``,
    ``neg_log_loss``, ``roc_auc``, ``average_precision`` (binary), ``r2``,
    ``explained_variance``, ``neg_mean_squared_error``,
    ``neg_root_mean_squared_error``, ``neg_mean_absolute_error``. The other names
    run scikit-learn's scorer on gathered ``y_true`` and blockwise predictions
    (:class:`DaskGatherWarning`). ``roc_auc`` and ``average_precision`` keep one
    row per distinct score in the task that evaluates them (see Notes).

    Parameters
    ----------
    scoring : str, callable or None
        A scorer name, or a callable returned as is, or None (returned as is).

    Returns
    -------
    scorer : callable or None
        ``scorer(estimator, X, y_true, sample_weight=None) -> float``.

    Raises
    ------
    ValueError
        If ``scoring`` is not a known scorer name; the message lists them.

    Notes
    -----
    ``roc_auc`` and ``average_precision`` are exact: each row block is reduced to
    the summed weight of each distinct ``(label, score)`` pair, tables are merged
    in a tree, and scikit-learn's metric is evaluated on the merged table inside
    the cluster. That last table has one row per distinct score: up to the number
    of validation rows for continuous scores (about 24 bytes per row), held by a
    single task; scores with few distinct values keep it small.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skhpo.metrics import get_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2))
    >>> y = X @ [1.0, -2.0] + 0.1 * rng.normal(size=100)
    >>> reg = LinearRegression().fit(X, y)
    >>> r2 = get_scorer("r2")
    >>> dX, dy = da.from_array(X, chunks=25), da.from_array(y, chunks=25)
    >>> bool(np.isclose(r2(reg, dX, dy), r2(reg, X, y), rtol=1e-12))
    True
    """
    if not isinstance(scoring, str):
        return scoring
    if scoring in _DASK_AWARE:
        func, response_method, greater_is_better, kwargs = _DASK_AWARE[scoring]
        return _DaskAwareScorer(
            skm.get_scorer(scoring),
            score_func=func,
            sign=1 if greater_is_better else -1,
            kwargs=kwargs,
            response_method=response_method,
            name=scoring,
        )
    if scoring in skm.get_scorer_names():
        # Gathers dask inputs; keeps scikit-learn's attributes, which some of
        # its tools read (TunedThresholdClassifierCV: _score_func, _sign...).
        sk_scorer = skm.get_scorer(scoring)
        return _DaskAwareScorer(
            sk_scorer,
            score_func=sk_scorer._score_func,
            sign=sk_scorer._sign,
            kwargs=sk_scorer._kwargs,
            response_method=sk_scorer._response_method,
            name=scoring,
        )
    raise ValueError(
        f"{scoring!r} is not a valid scoring value. Valid names are: "
        f"{', '.join(get_scorer_names())}. The names reduced blockwise on dask "
        f"inputs are: {', '.join(get_scorer_names(dask_aware=True))}."
    )


# --------------------------------------------------------------------------
# check_scoring


def _default_score_name(estimator):
    """The scorer name of ``estimator.score`` if it is scikit-learn's default
    ("accuracy" or "r2"), also for a pipeline ending in such an estimator."""
    if getattr_static(type(estimator), "score", None) is getattr_static(
        Pipeline, "score"
    ):
        return _default_score_name(estimator._final_estimator)
    score = getattr(type(estimator), "score", None)
    return {ClassifierMixin.score: "accuracy", RegressorMixin.score: "r2"}.get(score)


class _EstimatorScore:
    """``estimator.score``, with scikit-learn's default scores made dask-aware.

    When the estimator's ``score`` is ``ClassifierMixin.score`` (accuracy) or
    ``RegressorMixin.score`` (R^2), or a ``Pipeline``'s whose last step's is,
    and the inputs are dask collections, the equivalent blockwise scorer runs
    instead of ``score`` gathering the data.
    """

    def __init__(self, estimator):
        self._estimator = estimator

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        if any_dask(X, y_true, sample_weight) and not kwargs:
            name = _default_score_name(estimator)
            if name is not None:
                return get_scorer(name)(
                    estimator, X, y_true, sample_weight=sample_weight
                )
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return estimator.score(X, y_true, **kwargs)

    def _accept_sample_weight(self):
        return "sample_weight" in signature(self._estimator.score).parameters

    def __repr__(self):
        return f"{type(self._estimator).__name__}.score"


class _MultimetricScorer:
    """Several scorers evaluated together; returns ``{name: score}``.

    On dask inputs the responses are shared and every blockwise statistic is
    computed in a single ``dask.compute``.
    """

    def __init__(self, scorers, raise_exc=True):
        self._scorers = scorers
        self._raise_exc = raise_exc

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        routed = self._route(kwargs)
        if not is_dask_collection(X):
            return {
                name: self._guard(scorer, estimator, X, y_true, routed[name])
                for name, scorer in self._scorers.items()
            }
        return _on_dask_inputs(
            lambda inputs: self._score_dask(estimator, inputs, routed), X, y_true
        )

    def _route(self, kwargs):
        """``{name: keyword arguments}``, as scikit-learn's multimetric scorer
        routes them: by the scorers' requests when metadata routing is on, else
        everything to every scorer, ``sample_weight`` to those that take it."""
        if sklearn.get_config()["enable_metadata_routing"]:
            routed = process_routing(self, "score", **kwargs)
            return {name: dict(routed[name].score) for name in self._scorers}
        weight = kwargs.get("sample_weight")
        common = {k: v for k, v in kwargs.items() if k != "sample_weight"}
        return {
            name: {**common, "sample_weight": weight}
            if weight is not None and _accepts_sample_weight(scorer)
            else common
            for name, scorer in self._scorers.items()
        }

    def _score_dask(self, estimator, inputs, routed):
        plans, scores = {}, {}
        for name, scorer in self._scorers.items():
            kwargs = dict(routed[name])
            if not isinstance(scorer, _DaskAwareScorer):
                scores[name] = self._guard(
                    scorer, estimator, inputs.X, inputs.y_true, kwargs
                )
                continue
            weight = kwargs.pop("sample_weight", None)
            try:
                plans[name] = scorer._plan(estimator, inputs, weight, kwargs)
            except Exception as error:
                scores[name] = self._failed(error)
        try:
            values = compute(*[c for plan in plans.values() for c in plan.collections])
        except Exception as error:
            self._failed(error)
            values = None  # find out which scorer failed: compute them one by one
        start = 0
        for name, plan in plans.items():
            try:
                if values is None:
                    own = compute(*plan.collections)
                else:
                    own = values[start : start + len(plan.collections)]
                scores[name] = plan.finish(own)
            except Exception as error:
                scores[name] = self._failed(error)
            start += len(plan.collections)
        return {name: scores[name] for name in self._scorers}

    def _guard(self, scorer, estimator, X, y_true, kwargs):
        try:
            return scorer(estimator, X, y_true, **kwargs)
        except Exception as error:
            return self._failed(error)

    def _failed(self, error):
        """Raise ``error``, or with ``raise_exc=False`` return its traceback
        (blocks that did not line up always raise: the call is made again)."""
        if self._raise_exc or isinstance(error, BlockMismatchError):
            raise error
        return "".join(traceback.format_exception(error))

    def _accept_sample_weight(self):
        return any(_accepts_sample_weight(s) for s in self._scorers.values())

    def get_metadata_routing(self):
        """Route ``score`` metadata to each scorer (see scikit-learn's routing
        guide), as scikit-learn's multimetric scorer does."""
        return MetadataRouter(owner=self).add(
            **self._scorers,
            method_mapping=MethodMapping().add(caller="score", callee="score"),
        )

    def __repr__(self):
        return f"MultiMetricScorer({', '.join(repr(n) for n in self._scorers)})"


def _accepts_sample_weight(scorer):
    accepts = getattr(scorer, "_accept_sample_weight", None)
    if accepts is not None:
        return accepts()
    try:
        return "sample_weight" in signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def _check_multimetric(scoring):
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError(
                "An empty dict was passed as scoring. Pass at least one name: "
                "scorer pair."
            )
        if not all(isinstance(k, str) for k in scoring):
            raise ValueError(
                "The keys of a scoring dict must be strings (the metric names); got "
                f"{list(scoring)!r}."
            )
        return {
            k: get_scorer(v) if isinstance(v, str) else _check_callable(v)
            for k, v in scoring.items()
        }
    names = list(scoring)
    if not names:
        raise ValueError(
            f"An empty {type(scoring).__name__} was passed as scoring. Pass at least "
            "one scorer name."
        )
    if not all(isinstance(n, str) for n in names):
        raise ValueError(
            "A list, tuple or set of scorers must contain only scorer names; got "
            f"{names!r}. Use a dict {{name: callable}} for callables."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate scorer names in {names!r}; list each once.")
    return {name: get_scorer(name) for name in names}


def _check_callable(scoring):
    module = getattr(scoring, "__module__", None)
    if (
        isinstance(module, str)
        and module.startswith("sklearn.metrics.")
        and not module.startswith("sklearn.metrics._scorer")
        and not module.startswith("sklearn.metrics.tests.")
    ):
        raise ValueError(
            f"scoring value {scoring!r} looks like it is a metric function rather "
            "than a scorer. A scorer should require an estimator as its first "
            "parameter. Please use `skhpo.metrics.make_scorer` to convert a metric "
            "to a scorer."
        )
    if not callable(scoring):
        raise ValueError(f"scoring must be callable, got {scoring!r}.")
    return scoring


def check_scoring(estimator=None, scoring=None, *, allow_none=False, raise_exc=True):
    """Determine the scorer from user options, like ``sklearn.metrics.check_scoring``.

    Parameters
    ----------
    estimator : estimator object or None, default=None
        The estimator to be scored; used when ``scoring`` is None.
    scoring : str, callable, list, tuple, set, dict or None, default=None
        - a scorer name (see :func:`get_scorer_names`) or a callable scorer;
        - None: the estimator's own ``score`` method. On dask inputs, an
          estimator whose ``score`` is scikit-learn's default (accuracy for
          classifiers, R^2 for regressors), or a ``Pipeline`` ending in one, is
          scored blockwise instead; another ``score`` receives the dask inputs
          as they are;
        - several scorers: a list, tuple or set of names, or a dict
          ``{name: scorer or scorer name}``. The returned callable gives
          ``{name: score}``; on dask inputs, all of them share one computation.
    allow_none : bool, default=False
        If ``scoring`` is None and the estimator has no ``score`` method, return
        None instead of raising.
    raise_exc : bool, default=True
        For several scorers: if False, a failing scorer's score is the formatted
        traceback instead of the exception being raised.

    Returns
    -------
    scorer : callable or None
        ``scorer(estimator, X, y_true, sample_weight=None)``.

    Raises
    ------
    TypeError
        If ``scoring`` is None and the estimator has no ``score`` method.
    ValueError
        If ``scoring`` is an unknown name, a metric function instead of a scorer,
        or an invalid collection of scorers.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skhpo.metrics import check_scoring
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> y = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1, 1])
    >>> clf = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    >>> scorer = check_scoring(clf, ["accuracy", "balanced_accuracy"])
    >>> scorer(clf, da.from_array(X, chunks=4), da.from_array(y, chunks=4))
    {'accuracy': 0.9, 'balanced_accuracy': 0.875}
    >>> check_scoring(clf)(clf, X, y)
    0.9
    """
    if isinstance(scoring, str):
        return get_scorer(scoring)
    if callable(scoring):
        return _check_callable(scoring)
    if isinstance(scoring, (list, tuple, set, dict)):
        return _MultimetricScorer(_check_multimetric(scoring), raise_exc=raise_exc)
    if scoring is None:
        if hasattr(estimator, "score"):
            return _EstimatorScore(estimator)
        if allow_none:
            return None
        raise TypeError(
            "If no scoring is specified, the estimator passed should have a 'score' "
            f"method. The estimator {estimator!r} does not. Pass scoring= a scorer "
            "name or callable."
        )
    raise ValueError(
        f"scoring is invalid (got {scoring!r}): pass a scorer name, a callable, a "
        "list/tuple/set of names, a dict {name: scorer}, or None."
    )
