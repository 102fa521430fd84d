"""Functional API: minimize a function over a search space, hyperopt-style."""

import math
import numbers
from dataclasses import dataclass, field

from .samplers import Optimizer

__all__ = ["OptimizeResult", "minimize"]


@dataclass
class OptimizeResult:
    """Result of :func:`minimize`.

    Attributes
    ----------
    best_params : dict or None
        Parameters of the lowest value; None if every evaluation failed.
    best_value : float
        Lowest value found; NaN if every evaluation failed.
    history : list of dict
        One dict per evaluation, in order, with keys ``"iteration"`` (0-based),
        ``"params"``, ``"value"`` (NaN for a failure), ``"status"`` (``"ok"`` or
        ``"fail"``) and ``"error"`` (None, or ``"TypeName: message"`` of the
        exception or of the invalid value).
    optimizer : Optimizer
        The optimizer, with every evaluation told (scores are minus the values),
        to continue the search with its ``ask``/``tell``.
    """

    best_params: dict | None
    best_value: float
    history: list = field(default_factory=list)
    optimizer: Optimizer | None = field(default=None, repr=False)

    @property
    def n_failures(self):
        """Number of failed evaluations."""
        return sum(h["status"] == "fail" for h in self.history)

    def __repr__(self):
        return (
            f"OptimizeResult(best_value={self.best_value!r}, "
            f"best_params={self.best_params!r}, n_evaluations={len(self.history)}, "
            f"n_failures={self.n_failures})"
        )


def _evaluate(objective, params):
    try:
        value = objective(params)
    except Exception as exc:  # the objective's failure is data, not an error
        return math.nan, f"{type(exc).__name__}: {exc}"
    number = None
    if not isinstance(value, (bool, str, bytes)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    if number is None:
        return math.nan, (
            f"TypeError: the objective returned {value!r} of type "
            f"{type(value).__name__}, expected a number"
        )
    value = number
    if not math.isfinite(value):
        return math.nan, f"ValueError: the objective returned {value!r}"
    return value, None


def minimize(
    objective,
    space,
    n_iter=50,
    *,
    surrogate="tpe",
    acquisition="ei",
    n_initial_points=None,
    random_state=None,
):
    """Minimize ``objective`` over a search space by Bayesian optimization.

    The function is evaluated ``n_iter`` times, one point at a time, at the points
    proposed by an :class:`~skhpo.samplers.Optimizer`.

    Parameters
    ----------
    objective : callable
        ``objective(params) -> float`` for a parameter dict; lower is better.
        An exception, a non-finite value (NaN, inf) or a non-number is recorded as
        a failed evaluation (``status="fail"`` with the error in the history), is
        steered away from, and does not stop the search. ``KeyboardInterrupt``
        still interrupts.
    space : SearchSpace, dict or list of dicts
        Anything :class:`~skhpo.space.SearchSpace` accepts.
    n_iter : int, default=50
        Number of evaluations. Fewer are made when a finite space has fewer
        points: no point is evaluated twice.
    surrogate : {"tpe", "gp", "rf", "random"}, default="tpe"
        See :class:`~skhpo.samplers.Optimizer`.
    acquisition : {"ei", "pi", "lcb"}, default="ei"
        See :class:`~skhpo.samplers.Optimizer`.
    n_initial_points : int, default=None
        Evaluations of an initial design (a Latin hypercube) before the model
        is used; see
        :class:`~skhpo.samplers.Optimizer`.
    random_state : int, RandomState instance or None, default=None
        Same seed, same sequence of evaluations (for a deterministic objective).

    Returns
    -------
    OptimizeResult
        ``best_params``, ``best_value``, ``history`` and the ``optimizer``.

    Raises
    ------
    ValueError
        For an invalid ``n_iter`` or an invalid option of the optimizer.

    Examples
    --------
    >>> from skhpo._minimize import minimize
    >>> from skhpo.space import Real
    >>> def f(p):
    ...     if p["kind"] == "broken":
    ...         raise RuntimeError("no such model")
    ...     return (p["x"] - 1) ** 2
    >>> res = minimize(f, {"x": Real(-5, 5), "kind": ["ok", "broken"]}, n_iter=40,
    ...                random_state=0)
    >>> round(res.best_params["x"], 1), res.best_params["kind"]
    (1.0, 'ok')
    >>> failed = [h for h in res.history if h["status"] == "fail"]
    >>> failed[0]["error"]
    'RuntimeError: no such model'
    """
    if (
        not isinstance(n_iter, numbers.Integral)
        or isinstance(n_iter, bool)
        or n_iter < 1
    ):
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}.")
    if not callable(objective):
        raise ValueError(
            f"objective must be a callable params -> float, got {objective!r}."
        )
    opt = Optimizer(
        space,
        surrogate=surrogate,
        acquisition=acquisition,
        n_initial_points=n_initial_points,
        random_state=random_state,
    )
    history = []
    for iteration in range(int(n_iter)):
        batch = opt.ask(1)
        if not batch:  # a finite space with every point evaluated
            break
        params = batch[0]
        value, error = _evaluate(objective, params)
        opt.tell([params], [-value])
        history.append(
            {
                "iteration": iteration,
                "params": params,
                "value": value,
                "status": "ok" if error is None else "fail",
                "error": error,
            }
        )
    best = opt.best_params
    return OptimizeResult(
        best_params=best,
        best_value=math.nan if best is None else -opt.best_score,
        history=history,
        optimizer=opt,
    )
