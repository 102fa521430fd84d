"""Hyperband against a passive random search, laptop-scale (Sievert et al. 2019).

A replication of "Better and faster hyperparameter optimization with Dask"
(S. Sievert, T. Augspurger, M. Rocklin, SciPy 2019) on one machine: an
``MLPClassifier`` trained with ``partial_fit`` on a synthetic 4-class problem
(6 informative and 14 noise features, two clusters per class), tuned over 7
hyperparameters (architecture with 24 neurons in 1-4 layers, ``alpha``,
``batch_size``, ``learning_rate_init``, ``solver``, ``momentum``,
``activation``).

- **Hyperband**: ``HyperbandSearchCV(max_iter=R)``, ``aggressiveness=3``.
- **Passive**: the same total ``partial_fit`` work spent on a plain random
  search, as the paper (and dask-ml's documentation) configures it:
  ``IncrementalSearchCV(n_initial_parameters=round(calls / R), max_iter=R,
  decay_rate=None)``: every model is trained ``R`` calls.

Both run on the same 2-worker ``LocalCluster`` (processes) and data, for several
seeds. Reported, from each run's ``history_``:

1. best validation score so far against the cumulative number of
   ``partial_fit`` calls and against wall time (``--output`` writes the curves);
2. the number of calls Hyperband needs to reach the passive search's *final*
   best score, as a fraction of the passive search's calls (target <= 1/3; the
   paper: "at least 3 times quicker");
3. the wall time of one Hyperband run on 2 workers over 1 worker, on heavier
   blocks, the fastest of two alternating runs each (target <= 0.6); on a
   2-core machine other processes share the cores;
4. a Hyperband run whose validation set is 4x one worker's ``memory_limit``
   (the workers spill to disk; no task receives more than one validation
   block), which must complete.

Speculative ``partial_fit`` calls (submitted while a round finishes, thrown away
when the policy stops the model) are not in ``history_``; the table reports
how many Hyperband wasted.

Usage::

    python -m benchmarks.bench_hyperband            # about 15 minutes
    python -m benchmarks.bench_hyperband --quick    # about 5 minutes
    python -m benchmarks.bench_hyperband --seeds 0 1 2 3 4 --output curves.csv
"""

import argparse
import logging
import os
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from scipy.stats import loguniform, uniform
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPClassifier

from skhpo._hyperband import HyperbandSearchCV
from skhpo._incremental import IncrementalSearchCV

CLASSES = np.arange(4)
# The search of the paper's experiment: 24 neurons in 1-6 layers, and the
# settings of plain SGD with momentum.
SPACE = {
    "hidden_layer_sizes": [(24,), (12, 12), (6, 6, 6, 6), (4, 4, 4, 4, 4, 4)],
    "activation": ["relu", "logistic", "tanh"],
    "alpha": loguniform(1e-6, 1e-3),
    "batch_size": [16, 32, 64, 128, 256, 512],
    "learning_rate": ["constant", "invscaling", "adaptive"],
    "learning_rate_init": loguniform(1e-4, 1e-2),
    "power_t": uniform(0.1, 0.8),
    "momentum": uniform(0, 1),
    "nesterovs_momentum": [True, False],
}


def model():
    return MLPClassifier(solver="sgd", random_state=0)


def make_data(seed, n_blocks, block_rows):
    """The paper's synthetic problem: 4 classes, 2 informative and 4 noise
    features, as dask arrays of ``n_blocks`` row blocks."""
    X, y = make_classification(
        n_samples=n_blocks * block_rows,
        n_features=6,
        n_informative=2,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=seed,
    )
    X = X.astype(np.float32)
    return (
        da.from_array(X, chunks=(block_rows, -1)),
        da.from_array(y, chunks=block_rows),
    )


def best_so_far(history):
    """``(calls, seconds, best score)`` after each record of ``history_``.

    ``calls`` is the total number of ``partial_fit`` calls of all models when
    the record arrived (records are in arrival order).
    """
    calls, total, best, rows = {}, 0, -np.inf, []
    for record in sorted(history, key=lambda r: r["elapsed_wall_time"]):
        total += record["partial_fit_calls"] - calls.get(record["model_id"], 0)
        calls[record["model_id"]] = record["partial_fit_calls"]
        best = max(best, record["score"])
        rows.append((total, record["elapsed_wall_time"], best))
    return np.array(rows)


def first_reaching(curve, target):
    """The first row of ``curve`` whose best score reaches ``target``, or None."""
    reached = np.flatnonzero(curve[:, 2] >= target)
    return curve[reached[0]] if len(reached) else None


def compare(seed, max_iter, n_blocks, block_rows):
    """Hyperband and the passive search on one seed's data."""
    X, y = make_data(seed, n_blocks, block_rows)
    hyperband = HyperbandSearchCV(
        model(), SPACE, max_iter=max_iter, random_state=seed, test_size=0.2
    )
    n_passive = round(hyperband.metadata["partial_fit_calls"] / max_iter)
    passive = IncrementalSearchCV(
        model(),
        SPACE,
        n_initial_parameters=n_passive,
        max_iter=max_iter,
        decay_rate=None,
        random_state=seed + 10_000,
        test_size=0.2,
    )
    out = {"seed": seed, "n_passive": n_passive}
    for name, search in [("hyperband", hyperband), ("passive", passive)]:
        start = time.perf_counter()
        search.fit(X, y, classes=CLASSES)
        out[f"{name}_time"] = time.perf_counter() - start
        out[f"{name}_curve"] = best_so_far(search.history_)
        out[f"{name}_calls"] = int(out[f"{name}_curve"][-1, 0])
        out[f"{name}_best"] = search.best_score_
        out[f"{name}_wasted"] = search._speculative_calls_["wasted"]
    target = out["passive_best"]
    row = first_reaching(out["hyperband_curve"], target)
    out["reach_calls"] = np.inf if row is None else row[0]
    out["reach_time"] = np.inf if row is None else row[1]
    out["ratio"] = out["reach_calls"] / out["passive_calls"]
    return out


def cluster(n_workers, **kwargs):
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        **kwargs,
    )


def scaling(max_iter, n_blocks, block_rows, repeats=2):
    """Wall time of the same Hyperband run on 1 and on 2 workers.

    The runs alternate (1, 2, 1, 2, ...) and the fastest of ``repeats`` is kept
    for each, the figure least disturbed by other processes on the machine.
    """
    X, y = make_data(0, n_blocks, block_rows)
    times = {1: [], 2: []}
    for _ in range(repeats):
        for n_workers in (1, 2):
            with cluster(n_workers) as c, Client(c):
                X_, y_ = X.persist(), y.persist()  # data on the workers first
                search = HyperbandSearchCV(
                    model(), SPACE, max_iter=max_iter, random_state=0, test_size=0.2
                )
                start = time.perf_counter()
                search.fit(X_, y_, classes=CLASSES)
                times[n_workers].append(time.perf_counter() - start)
                calls = search.metadata_["partial_fit_calls"]
    return {n: min(t) for n, t in times.items()}, times, calls


def _linear_target(block, w):
    return (block @ w > 0).astype(np.int64)


def _make_big(seed, n_rows, n_features, block_rows):
    """Random data generated on the workers, with a learnable linear target."""
    rs = da.random.RandomState(seed)
    X = rs.normal(size=(n_rows, n_features), chunks=(block_rows, n_features))
    w = np.random.RandomState(seed).normal(size=n_features)
    y = X.map_blocks(_linear_target, w, drop_axis=1, dtype=np.int64)
    return X, y


def memory(memory_limit, factor, n_workers, block_mib, n_features=50):
    """A Hyperband run whose validation set is ``factor`` x one worker's memory.

    ``n_workers`` workers with ``memory_limit`` each hold the data together
    (each starts at ~300 MiB of Python, numpy and scikit-learn); a task that
    gathered the validation set would need ``factor`` x the limit, and the
    nanny would kill its worker at 98% of it.
    """
    test_size = 0.9
    row_bytes = 8 * n_features + 8  # X row and its target
    validation_bytes = factor * memory_limit
    n_rows = int(validation_bytes / test_size / row_bytes) + 1
    block_rows = int(block_mib * 2**20 / row_bytes)
    X, y = _make_big(0, n_rows, n_features, block_rows)
    config = {
        "distributed.worker.memory.target": 0.7,
        "distributed.worker.memory.spill": 0.8,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.98,
    }
    with dask.config.set(config):
        with cluster(n_workers, memory_limit=memory_limit) as c, Client(c):
            search = HyperbandSearchCV(
                SGDClassifier(random_state=0),
                {"alpha": loguniform(1e-6, 1e-1)},
                max_iter=3,
                random_state=0,
                test_size=test_size,
                scoring="accuracy",
            )
            start = time.perf_counter()
            search.fit(X, y, classes=[0, 1])
            elapsed = time.perf_counter() - start
    n_validation = sum(int(np.ceil(test_size * n)) for n in X.chunks[0])
    return {
        "validation_gib": n_validation * row_bytes / 2**30,
        "limit_gib": memory_limit / 2**30,
        "n_workers": n_workers,
        "seconds": elapsed,
        "best_score": search.best_score_,
        "n_scores": len(search.history_),
    }


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small configuration")
    p.add_argument("--seeds", type=int, nargs="+", help="data/search seeds")
    p.add_argument("--max-iter", type=int, help="Hyperband's max_iter")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--output", help="write the best-so-far curves to this CSV")
    return p


def _secs(values):
    return ", ".join(f"{v:.1f}" for v in values) + " s"


def _fmt_ratio(value):
    return "never" if not np.isfinite(value) else f"{value:.3f}"


def main(argv=None):
    args = parser().parse_args(argv)
    quick = args.quick
    seeds = args.seeds or ([0, 1] if quick else [0, 1, 2])
    max_iter = args.max_iter or (27 if quick else 81)
    n_blocks, block_rows = 20, (500 if quick else 1000)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    print(
        f"bench_hyperband: MLPClassifier, {n_blocks} blocks x {block_rows} rows, "
        f"max_iter={max_iter}, seeds {seeds}, {os.cpu_count()} cpus",
        flush=True,
    )

    rows = []  # (figure, value, target, verdict)
    runs = []
    with cluster(2) as c, Client(c):
        for seed in seeds:
            out = compare(seed, max_iter, n_blocks, block_rows)
            runs.append(out)
            print(
                f"  seed {seed}: hyperband best {out['hyperband_best']:.4f} "
                f"({out['hyperband_calls']} calls, {out['hyperband_time']:.0f} s), "
                f"passive best {out['passive_best']:.4f} ({out['n_passive']} models, "
                f"{out['passive_calls']} calls, {out['passive_time']:.0f} s); "
                f"hyperband reaches it after {out['reach_calls']:.0f} calls "
                f"(ratio {_fmt_ratio(out['ratio'])})",
                flush=True,
            )
    ratios = np.array([r["ratio"] for r in runs])
    median_ratio = float(np.median(ratios))
    for r in runs:
        rows.append(
            (
                f"seed {r['seed']}: best score hyperband / passive",
                f"{r['hyperband_best']:.4f} / {r['passive_best']:.4f}",
                "",
                "",
            )
        )
        rows.append(
            (
                f"seed {r['seed']}: calls hyperband / passive (wasted spec.)",
                f"{r['hyperband_calls']} / {r['passive_calls']} "
                f"({r['hyperband_wasted']} / {r['passive_wasted']})",
                "",
                "",
            )
        )
        rows.append(
            (
                f"seed {r['seed']}: wall s hyperband / passive",
                f"{r['hyperband_time']:.1f} / {r['passive_time']:.1f}",
                "",
                "",
            )
        )
        reach_time = r["reach_time"]
        rows.append(
            (
                f"seed {r['seed']}: calls (s) to reach passive final / passive",
                f"{r['reach_calls']:.0f} ({reach_time:.1f} s) / "
                f"{r['passive_calls']} ({r['passive_time']:.1f} s) = "
                f"{_fmt_ratio(r['ratio'])}",
                "<= 0.333",
                "ok" if r["ratio"] <= 1 / 3 else "MISS",
            )
        )
    rows.append(
        (
            "median calls-to-reach ratio over seeds",
            _fmt_ratio(median_ratio),
            "<= 0.333",
            "ok" if median_ratio <= 1 / 3 else "MISS",
        )
    )

    if not args.skip_scaling:
        scale_iter = 27
        scale_rows = 1000 if quick else 4000
        times, every, calls = scaling(scale_iter, n_blocks, scale_rows)
        ratio = times[2] / times[1]
        print(
            f"  scaling: hyperband max_iter={scale_iter} ({calls} calls, blocks "
            f"of {scale_rows} rows): 1 worker {_secs(every[1])}, 2 workers "
            f"{_secs(every[2])}",
            flush=True,
        )
        rows.append(
            (
                f"wall s, 1 worker / 2 workers (max_iter={scale_iter}, best of "
                f"{len(every[1])})",
                f"{times[1]:.1f} / {times[2]:.1f}",
                "",
                "",
            )
        )
        rows.append(
            (
                "wall time 2 workers / 1 worker",
                f"{ratio:.2f}",
                "<= 0.60",
                "ok" if ratio <= 0.6 else "MISS",
            )
        )

    if not args.skip_memory:
        mem = memory(2**30, factor=4, n_workers=8, block_mib=64)
        print(
            f"  memory: validation {mem['validation_gib']:.2f} GiB, "
            f"{mem['n_workers']} workers with memory_limit {mem['limit_gib']:.2f} "
            f"GiB, {mem['n_scores']} scores in {mem['seconds']:.0f} s",
            flush=True,
        )
        rows.append(
            (
                "validation set / one worker's memory_limit",
                f"{mem['validation_gib']:.2f} / {mem['limit_gib']:.2f} GiB = "
                f"{mem['validation_gib'] / mem['limit_gib']:.1f}x",
                ">= 4x",
                "ok"
                if mem["validation_gib"] >= 4 * mem["limit_gib"] * 0.99
                else "MISS",
            )
        )
        rows.append(
            (
                "  that run: completed, scores, wall s",
                f"yes, {mem['n_scores']}, {mem['seconds']:.0f}",
                "completes",
                "ok",
            )
        )

    elapsed = time.perf_counter() - start
    print()
    print(f"bench_hyperband ({elapsed / 60:.1f} min)")
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'figure':{width}}  {'value':{vwidth}}  {'target':8}  verdict")
    for figure, value, target, verdict in rows:
        print(f"{figure:{width}}  {value:{vwidth}}  {target:8}  {verdict}")

    if args.output:
        import pandas as pd

        frames = []
        for r in runs:
            for name in ("hyperband", "passive"):
                curve = r[f"{name}_curve"]
                frames.append(
                    pd.DataFrame(
                        {
                            "seed": r["seed"],
                            "search": name,
                            "partial_fit_calls": curve[:, 0],
                            "seconds": curve[:, 1],
                            "best_score": curve[:, 2],
                        }
                    )
                )
        pd.concat(frames).to_csv(args.output, index=False)
        print(f"curves written to {args.output}")
    return rows


if __name__ == "__main__":
    main()
