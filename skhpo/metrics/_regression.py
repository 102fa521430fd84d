"""Block statistics for regression metrics.

Every block is reduced to a few numbers per output column: the total weight, the
weighted sums of squared and absolute residuals, and the weighted mean and sum of
squared deviations (``M2``) of ``y_true`` and of the residual. Blocks merge with
Chan et al.'s pairwise update ("Updating formulae and a pairwise algorithm for
computing sample variances", 1979), which is as accurate as scikit-learn's
two-pass formula, so R^2 and explained variance need one pass over the data.
Arithmetic is float64 throughout; scikit-learn computes float32 inputs in float32,
so on float32 data the two agree to float32 precision only.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils import assert_all_finite

__all__ = [
    "FINALIZERS",
    "check_any_weight",
    "total_weight",
    "merge_regression",
    "regression_block",
]


def _moments(values, weights, total):
    """Weighted mean and sum of squared deviations of each column."""
    if total == 0:
        zeros = np.zeros(values.shape[1])
        return zeros, zeros.copy()
    mean = (weights[:, np.newaxis] * values).sum(axis=0) / total
    m2 = (weights[:, np.newaxis] * (values - mean) ** 2).sum(axis=0)
    return mean, m2


def check_any_weight(stats):
    """scikit-learn's check that some sample weight is not zero (``any_weight``
    is True for unweighted blocks, and merges with ``or``)."""
    if not stats["any_weight"]:
        raise ValueError("Sample weights must contain at least one non-zero number.")


def regression_block(y_true, y_pred, sample_weight):
    """Sufficient statistics of one block for the regression metrics."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    assert_all_finite(y_true)  # scikit-learn's messages (NaN, infinity)
    assert_all_finite(y_pred)
    if y_true.ndim == 1:
        y_true = y_true[:, np.newaxis]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, np.newaxis]
    if y_true.ndim != 2 or y_pred.ndim != 2:
        raise ValueError(
            f"y_true and y_pred must be 1-D or 2-D, got shapes {y_true.shape} and "
            f"{y_pred.shape}."
        )
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(
            "y_true and y_pred have different number of output "
            f"({y_true.shape[1]}!={y_pred.shape[1]})"
        )
    n = len(y_true)
    if sample_weight is None:
        weights = np.ones(n)
    else:
        weights = np.asarray(sample_weight, dtype=np.float64)
    total = weights.sum()
    residual = y_true - y_pred
    mean_y, m2_y = _moments(y_true, weights, total)
    mean_r, m2_r = _moments(residual, weights, total)
    return dict(
        n=n,
        weight=total,
        any_weight=sample_weight is None or bool(np.any(weights)),
        sse=(weights[:, np.newaxis] * residual**2).sum(axis=0),
        sae=(weights[:, np.newaxis] * np.abs(residual)).sum(axis=0),
        mean_y=mean_y,
        m2_y=m2_y,
        mean_r=mean_r,
        m2_r=m2_r,
    )


def _chan(w_a, mean_a, m2_a, w_b, mean_b, m2_b):
    """Merge weighted (mean, M2) pairs (Chan, Golub and LeVeque)."""
    if w_a == 0:
        return mean_b, m2_b
    if w_b == 0:
        return mean_a, m2_a
    total = w_a + w_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (w_b / total)
    m2 = m2_a + m2_b + delta**2 * (w_a * w_b / total)
    return mean, m2


def merge_regression(*parts):
    """Merge per-block regression statistics (a tree-reduction step)."""
    merged = parts[0]
    for part in parts[1:]:
        if part["sse"].shape != merged["sse"].shape:
            raise ValueError("Blocks returned different numbers of outputs.")
        mean_y, m2_y = _chan(
            merged["weight"],
            merged["mean_y"],
            merged["m2_y"],
            part["weight"],
            part["mean_y"],
            part["m2_y"],
        )
        mean_r, m2_r = _chan(
            merged["weight"],
            merged["mean_r"],
            merged["m2_r"],
            part["weight"],
            part["mean_r"],
            part["m2_r"],
        )
        merged = dict(
            n=merged["n"] + part["n"],
            weight=merged["weight"] + part["weight"],
            any_weight=merged["any_weight"] or part["any_weight"],
            sse=merged["sse"] + part["sse"],
            sae=merged["sae"] + part["sae"],
            mean_y=mean_y,
            m2_y=m2_y,
            mean_r=mean_r,
            m2_r=m2_r,
        )
    return merged


def total_weight(stats):
    """The summed weight, with scikit-learn's checks: some weight is not zero
    (ValueError) and the sum is not zero (ZeroDivisionError)."""
    check_any_weight(stats)
    if stats["weight"] == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return stats["weight"]


def _per_output(sums, stats):
    return sums / total_weight(stats)


def _average_outputs(errors, multioutput):
    """Combine per-output values as scikit-learn's ``multioutput`` option says."""
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return errors
        if multioutput == "uniform_average":
            return float(np.average(errors))
        raise ValueError(
            "Allowed 'multioutput' string values are ('raw_values', "
            f"'uniform_average', 'variance_weighted'). You provided "
            f"multioutput={multioutput!r}."
        )
    weights = np.asarray(multioutput, dtype=np.float64)
    if weights.shape != errors.shape:
        raise ValueError(
            "There must be equally many custom weights "
            f"({weights.shape[0]}) as outputs ({errors.shape[0]})."
        )
    return float(np.average(errors, weights=weights))


def _mean_squared_error(stats, multioutput="uniform_average"):
    return _average_outputs(_per_output(stats["sse"], stats), multioutput)


def _root_mean_squared_error(stats, multioutput="uniform_average"):
    errors = np.sqrt(_per_output(stats["sse"], stats))
    return _average_outputs(errors, multioutput)


def _mean_absolute_error(stats, multioutput="uniform_average"):
    return _average_outputs(_per_output(stats["sae"], stats), multioutput)


def _fraction_explained(numerator, denominator, multioutput, force_finite):
    """Port of scikit-learn's ``_assemble_fraction_of_explained_deviance``."""
    nonzero_denominator = denominator != 0
    if not force_finite:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - numerator / denominator
    else:
        nonzero_numerator = numerator != 0
        scores = np.ones(len(numerator))
        valid = nonzero_denominator & nonzero_numerator
        scores[valid] = 1 - numerator[valid] / denominator[valid]
        scores[nonzero_numerator & ~nonzero_denominator] = 0.0
    if isinstance(multioutput, str) and multioutput == "raw_values":
        return scores
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        if not np.any(nonzero_denominator):
            return float(np.average(scores))
        return float(np.average(scores, weights=denominator))
    return _average_outputs(scores, multioutput)


def _r2_score(stats, multioutput="uniform_average", force_finite=True):
    check_any_weight(stats)
    if stats["n"] < 2:
        warnings.warn(
            "R^2 score is not well-defined with less than two samples.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    total_weight(stats)  # weights summing to zero raise, as in scikit-learn
    return _fraction_explained(stats["sse"], stats["m2_y"], multioutput, force_finite)


def _explained_variance_score(stats, multioutput="uniform_average", force_finite=True):
    numerator = _per_output(stats["m2_r"], stats)
    denominator = _per_output(stats["m2_y"], stats)
    return _fraction_explained(numerator, denominator, multioutput, force_finite)


#: scikit-learn metric name -> (finalizer, keyword arguments it understands).
FINALIZERS = {
    "mean_squared_error": (_mean_squared_error, {"multioutput"}),
    "root_mean_squared_error": (_root_mean_squared_error, {"multioutput"}),
    "mean_absolute_error": (_mean_absolute_error, {"multioutput"}),
    "r2_score": (_r2_score, {"multioutput", "force_finite"}),
    "explained_variance_score": (
        _explained_variance_score,
        {"multioutput", "force_finite"},
    ),
}
