"""The optimizers under test behind one ask/tell interface, on neutral spaces.

Every optimizer minimizes a loss and is used with its library's defaults (initial
design, acquisition, candidates), seeded by ``seed``. Peers are optional: an
optimizer whose library is not importable is listed by :func:`available` as
missing and never imported.

==================  ===========================================================
name                what runs
==================  ===========================================================
skhpo-tpe/gp/rf     ``skhpo.samplers.Optimizer(surrogate=...)``, ask(1)/tell
skhpo-random        ``Optimizer(surrogate="random")``, the baseline
optuna-tpe          ``optuna.samplers.TPESampler(seed=seed)``, study.ask/tell
optuna-gp           ``optuna.samplers.GPSampler(seed=seed)`` (needs torch)
hyperopt-tpe        ``hyperopt.fmin(algo=tpe.suggest, rstate=default_rng(seed))``
skopt-gp            ``skopt.Optimizer`` configured exactly as ``gp_minimize``
smac-rf             ``smac.HyperparameterOptimizationFacade`` (random forest,
                    log-EI, Sobol initial design), deterministic scenario
==================  ===========================================================
"""

import importlib.util
import math
import tempfile
import time

import numpy as np

__all__ = ["OPTIMIZERS", "SKHPO", "PEERS", "available", "make", "minimize"]

SKHPO = ["skhpo-tpe", "skhpo-gp", "skhpo-rf", "skhpo-random"]
PEERS = ["optuna-tpe", "optuna-gp", "hyperopt-tpe", "skopt-gp", "smac-rf"]

# name -> modules that must be importable
_REQUIRES = {
    "skhpo-tpe": ["skhpo"],
    "skhpo-gp": ["skhpo"],
    "skhpo-rf": ["skhpo"],
    "skhpo-random": ["skhpo"],
    "optuna-tpe": ["optuna"],
    "optuna-gp": ["optuna", "torch"],
    "hyperopt-tpe": ["hyperopt"],
    "skopt-gp": ["skopt"],
    "smac-rf": ["smac", "ConfigSpace"],
}
OPTIMIZERS = SKHPO + PEERS


def available(names=OPTIMIZERS):
    """``(usable, missing)``: missing maps a name to the modules it lacks."""
    usable, missing = [], {}
    for name in names:
        if name not in _REQUIRES:
            raise ValueError(f"Unknown optimizer {name!r}; choose among {OPTIMIZERS}.")
        lacking = [m for m in _REQUIRES[name] if importlib.util.find_spec(m) is None]
        if lacking:
            missing[name] = lacking
        else:
            usable.append(name)
    return usable, missing


def _labels(param):
    """String labels of a categorical's choices, for libraries that want them."""
    return [str(c) for c in param.choices]


def _coerce(space, params):
    """Plain Python values, categorical labels mapped back to the choices."""
    out = {}
    for name, param in space.items():
        value = params[name]
        if param.kind == "int":
            value = int(np.clip(round(float(value)), param.low, param.high))
        elif param.kind == "real":
            value = float(np.clip(float(value), param.low, param.high))
        else:
            labels = _labels(param)
            value = param.choices[labels.index(str(value))]
        out[name] = value
    return out


# -- ask/tell adapters -------------------------------------------------------------


class AskTell:
    """Base class: ``ask() -> params``, ``tell(params, loss)``."""

    def __init__(self, space, seed, budget):
        self.space = space
        self.seed = seed
        self.budget = budget

    def ask(self):
        raise NotImplementedError

    def tell(self, params, loss):
        raise NotImplementedError

    def warm_start(self, params_list, losses):
        """Tell points this optimizer did not ask (history for overhead timing)."""
        for params, loss in zip(params_list, losses):
            self.tell(params, loss)


class Skhpo(AskTell):
    def __init__(self, space, seed, budget, surrogate, n_initial_points=None):
        from skhpo.samplers import Optimizer
        from skhpo.space import Categorical, Integer, Real

        super().__init__(space, seed, budget)
        dims = {}
        for name, p in space.items():
            if p.kind == "real":
                dims[name] = Real(p.low, p.high, log=p.log)
            elif p.kind == "int":
                dims[name] = Integer(p.low, p.high, log=p.log)
            else:
                dims[name] = Categorical(list(p.choices))
        self.opt = Optimizer(
            dims,
            surrogate=surrogate,
            n_initial_points=n_initial_points,
            random_state=seed,
        )

    def ask(self):
        return _coerce(self.space, self.opt.ask(1)[0])

    def tell(self, params, loss):
        self.opt.tell([params], [-loss])

    def warm_start(self, params_list, losses):
        self.opt.tell(list(params_list), [-v for v in losses])


class Optuna(AskTell):
    def __init__(self, space, seed, budget, sampler):
        import optuna
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        super().__init__(space, seed, budget)
        self.dists = {}
        for name, p in space.items():
            if p.kind == "real":
                self.dists[name] = FloatDistribution(p.low, p.high, log=p.log)
            elif p.kind == "int":
                self.dists[name] = IntDistribution(p.low, p.high, log=p.log)
            else:
                self.dists[name] = CategoricalDistribution(_labels(p))
        if sampler == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        self.study = optuna.create_study(sampler=sampler, direction="minimize")
        self._trials = {}

    def _to_optuna(self, params):
        return {
            k: str(v) if self.space[k].kind == "cat" else v for k, v in params.items()
        }

    def ask(self):
        trial = self.study.ask(self.dists)
        params = _coerce(self.space, trial.params)
        self._trials[id(params)] = trial
        return params

    def tell(self, params, loss):
        trial = self._trials.pop(id(params), None)
        if trial is None:
            import optuna

            self.study.add_trial(
                optuna.trial.create_trial(
                    params=self._to_optuna(params),
                    distributions=self.dists,
                    value=loss,
                )
            )
        else:
            self.study.tell(trial, loss)


class Skopt(AskTell):
    """``skopt.Optimizer`` set up as ``gp_minimize`` sets it up (0.10.x)."""

    def __init__(self, space, seed, budget):
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real
        from skopt.utils import cook_estimator, normalize_dimensions

        super().__init__(space, seed, budget)
        dims = []
        for name, p in space.items():
            prior = "log-uniform" if p.log else "uniform"
            if p.kind == "real":
                dims.append(Real(p.low, p.high, prior=prior, name=name))
            elif p.kind == "int":
                dims.append(Integer(p.low, p.high, prior=prior, name=name))
            else:
                dims.append(Categorical(_labels(p), name=name))
        dims = normalize_dimensions(dims)
        rng = np.random.RandomState(seed)
        estimator = cook_estimator(
            "GP",
            space=dims,
            random_state=rng.randint(0, np.iinfo(np.int32).max),
            noise="gaussian",
        )
        self.opt = Optimizer(
            dims,
            estimator,
            n_initial_points=10,
            acq_func="gp_hedge",
            acq_optimizer="auto",
            random_state=rng,
            acq_optimizer_kwargs={
                "n_points": 10000,
                "n_restarts_optimizer": 5,
                "n_jobs": 1,
            },
            acq_func_kwargs={"xi": 0.01, "kappa": 1.96},
        )
        self.names = list(space)

    def _row(self, params):
        return [
            str(params[k]) if self.space[k].kind == "cat" else params[k]
            for k in self.names
        ]

    def ask(self):
        return _coerce(self.space, dict(zip(self.names, self.opt.ask())))

    def tell(self, params, loss):
        self.opt.tell(self._row(params), float(loss))

    def warm_start(self, params_list, losses):
        self.opt.tell([self._row(p) for p in params_list], [float(v) for v in losses])


class Smac(AskTell):
    """SMAC3's hyperparameter-optimization facade (random forest) via ask/tell."""

    def __init__(self, space, seed, budget):
        from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
        from smac import HyperparameterOptimizationFacade, Scenario

        super().__init__(space, seed, budget)
        cs = ConfigurationSpace(seed=seed)
        for name, p in space.items():
            if p.kind == "real":
                cs.add(Float(name, (p.low, p.high), log=p.log))
            elif p.kind == "int":
                cs.add(Integer(name, (p.low, p.high), log=p.log))
            else:
                cs.add(Categorical(name, _labels(p)))
        self._tmp = tempfile.TemporaryDirectory(prefix="skhpo-bench-smac-")
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=budget,
            seed=seed,
            output_directory=self._tmp.name,
        )
        self.smac = HyperparameterOptimizationFacade(
            scenario,
            _unused_target,
            overwrite=True,
            logging_level=False,
        )
        self._infos = {}

    def ask(self):
        info = self.smac.ask()
        params = _coerce(self.space, dict(info.config))
        self._infos[id(params)] = info
        return params

    def tell(self, params, loss):
        from smac.runhistory.dataclasses import TrialValue

        info = self._infos.pop(id(params))
        self.smac.tell(info, TrialValue(cost=float(loss)), save=False)

    def warm_start(self, params_list, losses):
        raise NotImplementedError("warm start is not used for SMAC")

    def __del__(self):
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()


def _unused_target(config, seed=0):  # pragma: no cover - ask/tell only
    raise RuntimeError("the benchmark drives SMAC with ask/tell")


def make(name, space, seed, budget, n_initial_points=None):
    """An :class:`AskTell` adapter (all but hyperopt-tpe)."""
    if name.startswith("skhpo-"):
        return Skhpo(space, seed, budget, name[6:], n_initial_points)
    if name.startswith("optuna-"):
        return Optuna(space, seed, budget, name[7:])
    if name == "skopt-gp":
        return Skopt(space, seed, budget)
    if name == "smac-rf":
        return Smac(space, seed, budget)
    raise ValueError(f"No ask/tell adapter for {name!r}.")


# -- one optimization run ----------------------------------------------------------


class _Timed:
    """The objective, counting its own wall time so overhead can be separated."""

    def __init__(self, objective):
        self.objective = objective
        self.seconds = 0.0
        self.losses = []

    def __call__(self, params):
        start = time.perf_counter()
        loss = float(self.objective(params))
        self.seconds += time.perf_counter() - start
        self.losses.append(loss)
        return loss


def _hyperopt_minimize(space, objective, budget, seed):
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    hp_space = {}
    for name, p in space.items():
        if p.kind == "real" and p.log:
            hp_space[name] = hp.loguniform(name, math.log(p.low), math.log(p.high))
        elif p.kind == "real":
            hp_space[name] = hp.uniform(name, p.low, p.high)
        elif p.kind == "int" and p.log:
            hp_space[name] = hp.qloguniform(name, math.log(p.low), math.log(p.high), 1)
        elif p.kind == "int":
            hp_space[name] = hp.uniformint(name, p.low, p.high)
        else:
            hp_space[name] = hp.choice(name, _labels(p))

    def fn(params):
        return {"loss": objective(_coerce(space, params)), "status": STATUS_OK}

    fmin(
        fn,
        hp_space,
        algo=tpe.suggest,
        max_evals=budget,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
        verbose=False,
    )


def minimize(name, space, objective, budget, seed):
    """Run optimizer ``name`` for ``budget`` evaluations of ``objective``.

    Returns
    -------
    dict
        ``losses`` (in evaluation order), ``objective_seconds`` and
        ``optimizer_seconds`` (wall time spent outside the objective).
    """
    timed = _Timed(objective)
    start = time.perf_counter()
    if name == "hyperopt-tpe":
        _hyperopt_minimize(space, timed, budget, seed)
    else:
        opt = make(name, space, seed, budget)
        for _ in range(budget):
            params = opt.ask()
            opt.tell(params, timed(params))
    total = time.perf_counter() - start
    return {
        "losses": timed.losses,
        "objective_seconds": timed.seconds,
        "optimizer_seconds": total - timed.seconds,
    }
