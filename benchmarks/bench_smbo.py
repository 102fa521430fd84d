"""Optimization quality at equal budget, bayesmark style.

Every optimizer minimizes the cross-validated loss of scikit-learn models on
bundled data sets (:mod:`benchmarks._problems`) for a fixed number of
evaluations, from several seeds. Each run's best loss is normalized per problem
as bayesmark (Uber, NeurIPS 2020 black-box optimization challenge) does::

    score = 100 * (1 - clip((best - opt) / (median_random - opt), -1, 1))

- ``median_random``: the median loss of ONE uniformly random configuration,
  estimated from a reference random search of ``--n-reference`` evaluations
  drawn by the benchmark's own sampler (bayesmark: ``PERF_CLIP``, the median of
  all random-search evaluations);
- ``opt``: the best loss ever observed on the problem among the runs scored
  together, over the reference random search and every evaluation of every
  run of every optimizer (bayesmark: ``PERF_BEST``, the minimum over all
  methods; bayesmark also pads it by a few ulps, which changes nothing here);
- so 100 = found the best known loss, 0 = no better than the median random
  configuration (the clip floors worse runs at 0, as bayesmark does). A problem
  whose median random loss equals ``opt`` is left out with a warning.

Per-problem scores are averaged over seeds, then over problems with equal
weights (bayesmark's mean ``NORMED_MEAN`` over test cases); the standard error
is over problems. Scores depend on ``opt``, hence on the set of runs scored
together: compare optimizers within one scored set only.

Usage::

    python -m benchmarks.bench_smbo --quick
    python -m benchmarks.bench_smbo --seeds 3 --budget 50 --n-jobs 2
    python -m benchmarks.bench_smbo --problems DT-wine-acc,SVM-breast-acc \\
        --optimizers skhpo-tpe,optuna-tpe
    python -m benchmarks.bench_smbo --rescore benchmarks/results/smbo_runs_X.csv
    python -m benchmarks.bench_smbo --rescore all_runs.csv skhpo_rerun.csv
    # more seeds of some optimizers, scored with an earlier run's references:
    python -m benchmarks.bench_smbo --seeds 3,4 --optimizers skhpo-tpe,optuna-tpe \
        --n-reference 0 --output more.csv
    python -m benchmarks.bench_smbo --rescore all_runs.csv more.csv
"""

import argparse
import datetime
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._optimizers import OPTIMIZERS, PEERS, SKHPO, available, minimize
from ._problems import PROBLEMS, QUICK, SUITE, get_problems, sample_params

RESULTS = Path(__file__).parent / "results"
REFERENCE = "reference-random"
REFERENCE_SEED = 20200
_TARGETS = [  # (better, worse): issue 3's quality targets
    ("skhpo-tpe", "optuna-tpe"),
    ("skhpo-tpe", "hyperopt-tpe"),
    ("skhpo-gp", "optuna-gp"),
    ("skhpo-gp", "skopt-gp"),
    ("skhpo-rf", "smac-rf"),
    ("skhpo-tpe", "skhpo-random"),
    ("skhpo-gp", "skhpo-random"),
    ("skhpo-rf", "skhpo-random"),
]


# -- running -----------------------------------------------------------------------


def _single_threaded():
    """Limit BLAS/OpenMP (and torch) to one thread: runs may share the cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_one(problem, optimizer, seed, budget):
    """One optimization run; returns a row of the runs table."""
    if optimizer == "optuna-gp":
        import torch  # noqa: F401  (so that its threads are limited too)
    _single_threaded()
    prob = PROBLEMS[problem]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = minimize(optimizer, prob.space, prob.evaluate, budget, seed)
    losses = result["losses"]
    return {
        "problem": problem,
        "optimizer": optimizer,
        "seed": seed,
        "budget": budget,
        "n_evals": len(losses),
        "best_loss": float(np.min(losses)),
        "objective_seconds": result["objective_seconds"],
        "optimizer_seconds": result["optimizer_seconds"],
        "losses": " ".join(f"{v:.10g}" for v in losses),
    }


def run_reference(problem, n):
    """The reference random search that defines ``median_random``."""
    _single_threaded()
    prob = PROBLEMS[problem]
    rng = np.random.RandomState(REFERENCE_SEED)
    start = time.perf_counter()
    losses = [prob.evaluate(sample_params(prob.space, rng)) for _ in range(n)]
    return {
        "problem": problem,
        "optimizer": REFERENCE,
        "seed": REFERENCE_SEED,
        "budget": n,
        "n_evals": n,
        "best_loss": float(np.min(losses)),
        "objective_seconds": time.perf_counter() - start,
        "optimizer_seconds": 0.0,
        "losses": " ".join(f"{v:.10g}" for v in losses),
    }


def _parallel_rows(tasks, n_jobs, on_row):
    if n_jobs == 1:
        for func, args in tasks:
            on_row(func(*args))
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    for row in parallel(delayed(func)(*args) for func, args in tasks):
        on_row(row)


def run(problems, optimizers, seeds, budget, n_reference, n_jobs=1, runs_csv=None):
    """Run the reference searches and every (seed, problem, optimizer) run.

    Rows are appended to ``runs_csv`` as they finish (when given), so that an
    interrupted benchmark can still be scored with ``--rescore``.
    """
    # Seed by seed, each problem's reference search just before its first runs:
    # a benchmark stopped early still has whole (problem, seed) pairs to score.
    tasks = []
    for seed in seeds:
        for p in problems:
            if seed == seeds[0] and n_reference > 0:
                tasks.append((run_reference, (p, n_reference)))
            tasks += [(run_one, (p, o, seed, budget)) for o in optimizers]
    rows = []
    start = time.perf_counter()

    def on_row(row):
        rows.append(row)
        if runs_csv is not None:
            pd.DataFrame([row]).to_csv(
                runs_csv, mode="a", header=not runs_csv.exists(), index=False
            )
        print(
            f"  [{len(rows):4d}/{len(tasks)} {time.perf_counter() - start:7.0f}s] "
            f"{row['problem']:22s} {row['optimizer']:16s} seed={row['seed']:<5d} "
            f"best={row['best_loss']:.5g} opt_s={row['optimizer_seconds']:.1f}",
            flush=True,
        )

    _parallel_rows(tasks, n_jobs, on_row)
    return pd.DataFrame(rows)


# -- scoring -------------------------------------------------------------------------


def _losses(cell):
    if isinstance(cell, str):
        return np.array([float(v) for v in cell.split()])
    return np.asarray(cell, dtype=float)


def normalize(runs):
    """Bayesmark's normalized score of every run.

    Parameters
    ----------
    runs : DataFrame
        Columns ``problem``, ``optimizer``, ``seed``, ``best_loss`` and
        ``losses`` (every loss of the run, a list or a space-separated string).
        Rows whose optimizer is ``"reference-random"`` are the reference random
        search of their problem.

    Returns
    -------
    DataFrame
        The optimizer runs (reference rows dropped) with ``median_random``,
        ``opt_loss``, ``normalized_loss`` and ``score`` columns. Problems whose
        median random loss equals the best loss (more than half of the random
        configurations are optimal) cannot be normalized and are dropped with
        a warning.
    """
    out = []
    for problem, group in runs.groupby("problem", sort=False):
        is_ref = (group["optimizer"] == REFERENCE).to_numpy()
        ref = group[is_ref]
        if ref.empty:
            raise ValueError(
                f"No {REFERENCE!r} row for problem {problem!r}: the median random "
                "loss is undefined. Run the reference search (--n-reference)."
            )
        median_random = float(np.median(np.concatenate(list(map(_losses, ref.losses)))))
        all_losses = np.concatenate(list(map(_losses, group.losses)))
        opt = float(np.min(all_losses))
        if not median_random > opt:
            warnings.warn(
                f"{problem}: the median random loss equals the best loss "
                f"({opt:.6g}); the problem cannot be normalized and is left out.",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        res = group[~is_ref].copy()
        res["median_random"] = median_random
        res["opt_loss"] = opt
        res["normalized_loss"] = np.clip(
            (res["best_loss"] - opt) / (median_random - opt), -1.0, 1.0
        )
        res["score"] = 100.0 * (1.0 - res["normalized_loss"])
        out.append(res)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def per_problem(scored):
    """Mean score over seeds: a problem x optimizer table."""
    return scored.pivot_table(
        index="problem", columns="optimizer", values="score", aggfunc="mean", sort=False
    )


def summarize(scored):
    """One row per optimizer: mean normalized score over problems (seed-averaged),
    its standard error over problems, the mean rank and the optimizer's own time."""
    table = per_problem(scored)
    n = table.count()
    ranks = table.rank(axis=1, ascending=False).mean()
    overhead = scored.groupby("optimizer")["optimizer_seconds"].median()
    summary = pd.DataFrame(
        {
            "score": table.mean(),
            "se": table.std(ddof=1) / np.sqrt(n),
            "mean_rank": ranks,
            "n_problems": n,
            "n_runs": scored.groupby("optimizer").size(),
            "opt_s_per_run": overhead,
        }
    )
    return summary.sort_values("score", ascending=False)


def compare(scored, pairs=_TARGETS):
    """Paired differences of per-problem scores: ``a - b`` and its standard error."""
    table = per_problem(scored)
    rows = []
    for a, b in pairs:
        if a in table and b in table:
            diff = (table[a] - table[b]).dropna()
            se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.nan
            rows.append({"comparison": f"{a} - {b}", "diff": diff.mean(), "se": se})
    skhpo = [o for o in SKHPO if o in table and o != "skhpo-random"]
    peers = [o for o in PEERS if o in table]
    if skhpo and peers:
        best_ours = max(skhpo, key=lambda o: table[o].mean())
        best_peer = max(peers, key=lambda o: table[o].mean())
        diff = (table[best_ours] - table[best_peer]).dropna()
        rows.append(
            {
                "comparison": f"best skhpo ({best_ours}) - best peer ({best_peer})",
                "diff": diff.mean(),
                "se": diff.std(ddof=1) / math.sqrt(len(diff)),
            }
        )
    return pd.DataFrame(rows)


def complete(runs):
    """Keep the (problem, seed) pairs that every optimizer finished: an
    interrupted run must not compare optimizers on different seeds."""
    ref = runs["optimizer"] == REFERENCE
    opt = runs[~ref]
    n_opt = opt["optimizer"].nunique()
    sizes = opt.groupby(["problem", "seed"])["optimizer"].transform("nunique")
    kept = opt[sizes == n_opt]
    if len(kept) < len(opt):
        print(
            f"note: {len(opt) - len(kept)} run(s) of unfinished (problem, seed) "
            "pairs left out",
            file=sys.stderr,
        )
    return pd.concat([runs[ref], kept], ignore_index=True)


def report(runs, title=""):
    """Print the summary, the paired comparisons and the per-problem scores."""
    scored = normalize(complete(runs))
    summary = summarize(scored)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"\n{title}")
    print("Mean normalized score (100 = best known loss, 0 = median random draw)")
    print(summary.to_string(float_format=lambda v: f"{v:.1f}"))
    comparisons = compare(scored)
    if len(comparisons):
        print("\nPaired differences over problems (positive: the first is better)")
        print(comparisons.to_string(index=False, float_format=lambda v: f"{v:+.1f}"))
    print("\nPer-problem score (mean over seeds)")
    table = per_problem(scored)[summary.index]
    print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    return scored, summary


# -- command line --------------------------------------------------------------------


def _split(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value):
    """``N`` (one number) is seeds 0..N-1; a comma-separated list is itself."""
    values = _split(value)
    if "," not in value:
        if int(values[0]) < 1:
            raise argparse.ArgumentTypeError(
                f"--seeds {value}: give a number of seeds >= 1, or a list such as "
                "'0,' for seed 0 alone"
            )
        return list(range(int(values[0])))
    return [int(v) for v in values]


def parser():
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_smbo",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--quick", action="store_true", help="3 problems, budget 15, 1 seed")
    p.add_argument(
        "--problems",
        type=_split,
        default=None,
        help="comma-separated problem names, or 'all' (default: the 18-problem suite)",
    )
    p.add_argument("--budget", type=int, default=None, help="evaluations per run (50)")
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="a count N (seeds 0..N-1, default 3) or a list such as '3,4' or '7,'",
    )
    p.add_argument(
        "--optimizers",
        type=_split,
        default=None,
        help=f"comma-separated subset of {','.join(OPTIMIZERS)} (default: all "
        "importable)",
    )
    p.add_argument(
        "--n-reference",
        type=int,
        default=None,
        help="evaluations of the reference random search per problem (100); 0 "
        "skips it: score the runs later with --rescore, together with a CSV that "
        "has the reference searches",
    )
    p.add_argument("--n-jobs", type=int, default=1, help="parallel runs (loky)")
    p.add_argument("--output", type=Path, default=None, help="per-run CSV path")
    p.add_argument(
        "--rescore",
        type=Path,
        nargs="+",
        default=None,
        help="score runs CSVs instead of running; a run in a later file replaces "
        "the same (problem, optimizer, seed) in an earlier one",
    )
    p.add_argument("--list", action="store_true", help="list problems and optimizers")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        for name, prob in PROBLEMS.items():
            mark = "*" if name in SUITE else " "
            print(f"{mark} {name:24s} {len(prob.space)} dims: {', '.join(prob.space)}")
        usable, missing = available()
        print("optimizers:", ", ".join(usable))
        for name, mods in missing.items():
            print(f"  {name}: not importable ({', '.join(mods)} missing)")
        return None
    if args.rescore is not None:
        runs = pd.concat(map(pd.read_csv, args.rescore), ignore_index=True)
        runs = runs.drop_duplicates(["problem", "optimizer", "seed"], keep="last")
        names = ", ".join(str(path) for path in args.rescore)
        return report(runs, f"Rescored {names}")

    quick = args.quick
    problems = args.problems or (QUICK if quick else SUITE)
    problems = [p.name for p in get_problems(problems)]
    budget = args.budget or (15 if quick else 50)
    seeds = args.seeds or ([0] if quick else [0, 1, 2])
    n_reference = args.n_reference
    if n_reference is None:
        n_reference = 30 if quick else 100
    usable, missing = available(args.optimizers or OPTIMIZERS)
    for name, mods in missing.items():
        print(f"skipping {name}: {', '.join(mods)} not importable", file=sys.stderr)

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    runs_csv = args.output or RESULTS / f"smbo_runs_{stamp}.csv"
    if runs_csv.exists():
        runs_csv.unlink()
    config = (
        f"{len(problems)} problems x {len(seeds)} seeds x budget {budget}, "
        f"{len(usable)} optimizers, reference random search of {n_reference}, "
        f"n_jobs={args.n_jobs}"
    )
    print(f"bench_smbo: {config}", flush=True)
    start = time.perf_counter()
    runs = run(problems, usable, seeds, budget, n_reference, args.n_jobs, runs_csv)
    elapsed = time.perf_counter() - start
    if n_reference == 0:
        print(f"\nruns: {runs_csv} (no reference search: score with --rescore)")
        return runs, None
    scored, summary = report(
        runs, f"bench_smbo ({config}; {elapsed / 60:.1f} min, {os.cpu_count()} cpus)"
    )
    scores_csv = runs_csv.with_name(runs_csv.name.replace("runs", "scores"))
    if scores_csv == runs_csv:
        scores_csv = runs_csv.with_suffix(".scores.csv")
    scored.drop(columns="losses").to_csv(scores_csv, index=False)
    print(f"\nruns: {runs_csv}\nscores: {scores_csv}")
    return scored, summary


if __name__ == "__main__":
    main()
