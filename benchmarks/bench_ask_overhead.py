"""The optimizer's own time per ``ask`` as the history grows.

For every optimizer and history size ``n`` (10, 50, 200, 1000): a fresh
optimizer is told ``n`` random trials of a synthetic objective on a
10-dimensional mixed space (3 reals, 2 log reals, an integer, a log integer,
3 categoricals), then runs ``--repeats`` + 1 cycles of ask -> objective -> tell.
The first cycle is a warm-up and is discarded; the figure is the median time
of the others, objective excluded, and their mean is reported too (skhpo's GP
re-estimates its hyperparameters only every 2 % of growth of the history, so
its cycles alternate cheap conditioning and occasional refits: the mean is its
amortized cost). Slow optimizers get fewer cycles (at least
one timed), and larger sizes are skipped once an ask takes over
``--max-seconds``. A cycle times ask and tell together because
libraries put the model fit in different places (skhpo and optuna fit in ask,
scikit-optimize fits in tell and only returns a precomputed point in ask).

Every optimizer uses the model from 10 trials on (skhpo ``n_initial_points=10``;
optuna's and scikit-optimize's default of 10). BLAS, OpenMP and torch are
limited to one thread (``--threads``) so that figures do not depend on the
load of a shared machine's other cores.

Usage::

    python -m benchmarks.bench_ask_overhead --quick
    python -m benchmarks.bench_ask_overhead --sizes 10,50,200,1000 --repeats 5
"""

import argparse
import datetime
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._optimizers import available, make
from ._problems import categorical, integer, real, sample_params

RESULTS = Path(__file__).parent / "results"
OPTIMIZERS = [
    "skhpo-tpe",
    "skhpo-gp",
    "skhpo-rf",
    "optuna-tpe",
    "optuna-gp",
    "skopt-gp",
]
REFERENCE = "optuna-tpe"

SPACE = {
    "x1": real(0.0, 1.0),
    "x2": real(-5.0, 5.0),
    "x3": real(0.0, 10.0),
    "lr": real(1e-5, 1.0, log=True),
    "alpha": real(1e-3, 1e3, log=True),
    "depth": integer(1, 20),
    "width": integer(1, 1000, log=True),
    "kind": categorical("a", "b", "c"),
    "loss": categorical("hinge", "log", "squared", "huber"),
    "flag": categorical(True, False),
}


def objective(p):
    """A cheap synthetic loss with an optimum inside the space."""
    return (
        (p["x1"] - 0.3) ** 2
        + ((p["x2"] - 1.0) / 5.0) ** 2
        + math.sin(p["x3"]) ** 2
        + (math.log10(p["lr"]) + 2.5) ** 2 / 10.0
        + (math.log10(p["alpha"]) - 1.0) ** 2 / 20.0
        + ((p["depth"] - 7) / 10.0) ** 2
        + (math.log10(p["width"]) - 2.0) ** 2 / 5.0
        + {"a": 0.0, "b": 0.2, "c": 0.4}[p["kind"]]
        + {"hinge": 0.3, "log": 0.0, "squared": 0.5, "huber": 0.1}[p["loss"]]
        + 0.1 * (not p["flag"])
    )


def _history(n, seed):
    rng = np.random.RandomState(seed)
    params = [sample_params(SPACE, rng) for _ in range(n)]
    return params, [objective(p) for p in params]


def measure(name, n, repeats, seed=0, budget_seconds=math.inf):
    """Seconds per ask+tell cycle with ``n`` told trials: (median, all cycles).

    Cycles stop early (after the warm-up and one timed cycle at least) once
    they have taken ``budget_seconds`` in all.
    """
    params, losses = _history(n, seed)
    opt = make(name, SPACE, seed, n + repeats + 1, n_initial_points=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.warm_start(params, losses)
        times = []
        while len(times) < repeats + 1:
            start = time.perf_counter()
            p = opt.ask()
            between = time.perf_counter()
            loss = objective(p)
            resume = time.perf_counter()
            opt.tell(p, loss)
            end = time.perf_counter()
            times.append((between - start) + (end - resume))
            if len(times) >= 2 and sum(times) > budget_seconds:
                break
    return float(np.median(times[1:])), times


def run(optimizers, sizes, repeats, max_seconds):
    rows = []
    for name in optimizers:
        slow = None
        for n in sizes:
            if slow is not None:
                print(f"  {name:12s} n={n:5d} skipped: {slow}", flush=True)
                rows.append(
                    {
                        "optimizer": name,
                        "n_trials": n,
                        "ms_per_ask": math.nan,
                        "mean_ms_per_ask": math.nan,
                    }
                )
                continue
            median, times = measure(name, n, repeats, budget_seconds=4 * max_seconds)
            if median > max_seconds:
                slow = f"{median:.0f} s per ask at {n} trials > {max_seconds:.0f} s"
            print(
                f"  {name:12s} n={n:5d} {1000 * median:9.1f} ms per ask "
                f"(cycles: {', '.join(f'{1000 * t:.0f}' for t in times)})",
                flush=True,
            )
            rows.append(
                {
                    "optimizer": name,
                    "n_trials": n,
                    "ms_per_ask": 1000 * median,
                    "mean_ms_per_ask": 1000 * float(np.mean(times[1:])),
                }
            )
    return pd.DataFrame(rows)


def report(rows, title=""):
    table = rows.pivot(index="optimizer", columns="n_trials", values="ms_per_ask")
    table = table.reindex([o for o in OPTIMIZERS if o in table.index])
    print(f"\n{title}")
    print("Milliseconds per ask (median; ask + tell, objective excluded)")
    print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    if "mean_ms_per_ask" in rows:
        means = rows.pivot(
            index="optimizer", columns="n_trials", values="mean_ms_per_ask"
        )
        print("\nMilliseconds per ask (mean of the same cycles)")
        print(means.reindex(table.index).to_string(float_format=lambda v: f"{v:.1f}"))
    sizes = list(table.columns)
    if len(sizes) > 1:
        a, b = sizes[-2], sizes[-1]
        growth = np.log(table[b] / table[a]) / math.log(b / a)
        print(f"\nGrowth exponent between {a} and {b} trials (1 = linear)")
        print(growth.to_string(float_format=lambda v: f"{v:.2f}"))
    if REFERENCE in table.index:
        print(f"\nRatio to {REFERENCE} (< 1: faster)")
        print(
            (table / table.loc[REFERENCE]).to_string(float_format=lambda v: f"{v:.2f}")
        )
    return table


def _ints(value):
    return [int(v) for v in value.split(",") if v.strip()]


def parser():
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_ask_overhead",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--quick", action="store_true", help="sizes 10,50,200; 3 repeats")
    p.add_argument("--sizes", type=_ints, default=None, help="10,50,200,1000")
    p.add_argument("--repeats", type=int, default=None, help="timed cycles (5)")
    p.add_argument(
        "--optimizers",
        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
        default=None,
        help=f"subset of {','.join(OPTIMIZERS)} (default: all importable)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=10.0,
        help="skip the larger sizes once an ask takes longer; stop repeating "
        "once the cycles at one size took 4 times longer (10)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="BLAS/torch threads; 0 = library default"
    )
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    sizes = args.sizes or ([10, 50, 200] if args.quick else [10, 50, 200, 1000])
    repeats = args.repeats or (3 if args.quick else 5)
    usable, missing = available(args.optimizers or OPTIMIZERS)
    for name, mods in missing.items():
        print(f"skipping {name}: {', '.join(mods)} not importable", file=sys.stderr)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        if "optuna-gp" in usable:
            import torch

            torch.set_num_threads(args.threads)
    config = (
        f"10-D mixed space, sizes {sizes}, median of {repeats} cycles, "
        f"{args.threads or 'default'} thread(s)"
    )
    print(f"bench_ask_overhead: {config}", flush=True)
    rows = run(usable, sizes, repeats, args.max_seconds)
    table = report(rows, f"bench_ask_overhead ({config})")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"ask_overhead_{stamp}.csv"
    rows.to_csv(path, index=False)
    print(f"\nresults: {path}")
    return table


if __name__ == "__main__":
    main()
