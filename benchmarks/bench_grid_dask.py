"""scikit-learn's GridSearchCV on 2 cores: sequential, loky, joblib's dask, skhpo's.

The example skhpo is built around: a 169-candidate grid (13 ``C`` x 13 ``gamma``
on log grids) of an ``SVC`` on ``make_classification`` data, 3-fold CV (507
fits), run in the same process

1. **sequential**: ``GridSearchCV(n_jobs=None)``;
2. **processes**: no search at all, the machine's limit: the same 507 fits and
   scores (same folds, same parameters) in 2 bare worker processes that take
   them from a shared queue, timed from the moment both are ready;
3. **loky**: ``n_jobs=2`` (joblib's default process backend);
4. **joblib-dask**: ``joblib.parallel_config(backend="dask")`` on a 2-worker
   ``LocalCluster`` with default settings, as users write it;
5. **skhpo-dask**: ``skhpo.parallel.dask_backend(n_workers=2)``.

The parallel searches run twice on the same workers: the first search starts
on new workers (loky's reusable executor is shut down before it; the dask
clusters are new) and the second, timed as ``fit_s``, is what every further
search of a session costs. ``first_s`` is the first search with its start-up:
loky spawns its workers inside the search, the dask configurations start a
cluster before it (``start_s``, included in ``first_s``).

Each configuration runs ``--repeat`` times, interleaved (the machine may be
shared), in an order rotated from round to round; the table reports the best
and the median fit time and the speedups against the sequential run (best
against best, median against median), and loky's time over skhpo-dask's round
by round. Target: skhpo-dask >= 1.8x and faster than loky.

For the dask runs, the task stream says where the time goes: tasks (batches of
fits) per run, the fits' compute seconds summed over the workers (against the
sequential run's total), the workers' busy fraction between the first task's
start and the last one's end, and the idle gaps between two tasks of a worker.

``--estimator forest`` runs the same comparison on a grid whose fits are
parallel themselves: 12 random forests of 50 trees (``max_depth`` x
``min_samples_leaf``), 3-fold CV (36 fits), each forest building its trees
through joblib. joblib's dask backend sends those trees to the cluster as
tasks of their own; skhpo's builds them in the fit's worker, as loky does.

Usage::

    python -m benchmarks.bench_grid_dask             # 1000 samples, 3 repeats
    python -m benchmarks.bench_grid_dask --quick     # 400 samples, 2 repeats
    python -m benchmarks.bench_grid_dask --n-samples 800 --repeat 5 \\
        --configs sequential,processes,loky,skhpo-dask
    python -m benchmarks.bench_grid_dask --estimator forest
"""

import argparse
import contextlib
import logging
import multiprocessing
import os
import queue
import time

import joblib
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, get_task_stream
from joblib.externals.loky import reusable_executor
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.svm import SVC

from skhpo.parallel import dask_backend

CONFIGS = ("sequential", "processes", "loky", "joblib-dask", "skhpo-dask")
GRID = {"C": np.logspace(-3, 3, 13), "gamma": np.logspace(-4, 2, 13)}
#: ``--estimator`` choices: (estimator, grid, description).
ESTIMATORS = {
    "svc": (SVC(), GRID, "SVC, 13 x 13 grid"),
    "forest": (
        RandomForestClassifier(n_estimators=50, random_state=0),
        {"max_depth": [4, 8, None], "min_samples_leaf": [1, 2, 4, 8]},
        "random forest of 50 trees, 3 x 4 grid",
    ),
}
N_WORKERS = 2


def data(n_samples, random_state=0):
    """The classification problem: 20 features, 10 informative."""
    return make_classification(
        n_samples=n_samples, n_features=20, n_informative=10, random_state=random_state
    )


@contextlib.contextmanager
def _joblib_dask():
    """joblib's dask backend on a default 2-worker LocalCluster."""
    with (
        LocalCluster(
            n_workers=N_WORKERS, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
        joblib.parallel_config(backend="dask"),
    ):
        yield client


@contextlib.contextmanager
def _context(config):
    if config == "joblib-dask":
        with _joblib_dask() as client:
            yield client
    elif config == "skhpo-dask":
        with dask_backend(n_workers=N_WORKERS) as client:
            yield client
    else:
        yield None


def _shut_down_loky():
    """Shut joblib's reusable loky executor down: the next ``n_jobs=2`` call
    spawns new workers."""
    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)


def _stream_stats(records):
    """Tasks, summed compute seconds, busy fraction and idle gaps per worker."""
    intervals = {}
    for record in records:
        for step in record["startstops"]:
            if step["action"] == "compute":
                intervals.setdefault(record["worker"], []).append(
                    (step["start"], step["stop"])
                )
    busy, span, gaps, n_tasks = 0.0, 0.0, [], 0
    for spans in intervals.values():
        spans.sort()
        n_tasks += len(spans)
        busy += sum(stop - start for start, stop in spans)
        span += spans[-1][1] - spans[0][0]
        gaps += [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    return {
        "tasks": n_tasks,
        "compute_s": busy,
        "busy_fraction": busy / span if span else np.nan,
        "median_gap_ms": 1e3 * np.median(gaps) if gaps else np.nan,
        "max_gap_ms": 1e3 * np.max(gaps) if gaps else np.nan,
    }


def _search(config, X, y, grid, client, estimator):
    """Fit the grid search; its seconds, CPU seconds of this process, tasks."""
    started, cpu = time.perf_counter(), time.process_time()
    search = GridSearchCV(
        estimator, grid, cv=3, n_jobs=N_WORKERS if config == "loky" else None
    )
    with get_task_stream(client) if client else contextlib.nullcontext() as ts:
        search.fit(X, y)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return search, seconds, cpu, ts


@contextlib.contextmanager
def _own_environment():
    """Restore ``os.environ`` on exit. A dask nanny adds its
    ``pre-spawn-environ`` (glibc's malloc settings, thread limits) to the
    environment of the process that starts it, for good: the worker processes
    of every later configuration would inherit them."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(config, X, y, grid=GRID, estimator=None):
    """One round of ``config`` searching ``grid`` of ``estimator`` (default: an
    ``SVC``): fit seconds, start-up, profile (see the module docstring)."""
    estimator = SVC() if estimator is None else estimator
    with _own_environment():
        return _run(config, X, y, grid, estimator)


def _run(config, X, y, grid, estimator):
    if config == "processes":
        return _run_processes(X, y, grid, estimator)
    row = {"config": config, "first_s": np.nan, "start_s": np.nan}
    if config == "loky":
        _shut_down_loky()
    start = time.perf_counter()
    with _context(config) as client:
        started = time.perf_counter()
        if config != "sequential":  # the first search on new workers
            _search(config, X, y, grid, client, estimator)
            row["first_s"] = time.perf_counter() - start
            if client is not None:
                row["start_s"] = started - start
        search, seconds, cpu, ts = _search(config, X, y, grid, client, estimator)
    row.update(
        fit_s=seconds,
        # CPU seconds of this process (client, scheduler, joblib's threads):
        # on 2 cores they are taken from the workers.
        main_cpu_s=cpu,
        best_score=search.best_score_,
        # Fit and score seconds as GridSearchCV timed them, summed over fits.
        work_s=3
        * float(
            np.sum(
                search.cv_results_["mean_fit_time"]
                + search.cv_results_["mean_score_time"]
            )
        ),
    )
    if client is not None:
        row.update(_stream_stats(ts.data))
    return row


def _process_worker(estimator, X, y, candidates, folds, ready, go, jobs, results):
    """Fit and score the ``(candidate, fold)`` jobs taken from ``jobs`` until a
    None; send the scores and the fit and score seconds back."""
    ready.release()
    go.wait()
    scores, seconds = {}, 0.0
    while (job := jobs.get()) is not None:
        started = time.perf_counter()
        candidate, fold = job
        train, test = folds[fold]
        model = clone(estimator).set_params(**candidates[candidate])
        model.fit(X[train], y[train])
        scores[job] = model.score(X[test], y[test])
        seconds += time.perf_counter() - started
    results.put((scores, seconds))


def _result_of(processes, results):
    """The next result; an error instead of waiting forever if a process died."""
    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(
                    f"a bare worker process failed (exit codes {failed}); its "
                    "traceback is printed above"
                ) from None


def _run_processes(X, y, grid, estimator):
    """The fits of the search in bare processes: the machine's limit."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    jobs, results = context.Queue(), context.Queue()
    candidates = list(ParameterGrid(grid))
    folds = list(StratifiedKFold(3).split(X, y))  # GridSearchCV's cv=3
    for job in [(c, f) for c in range(len(candidates)) for f in range(len(folds))]:
        jobs.put(job)
    for _ in range(N_WORKERS):
        jobs.put(None)
    args = (estimator, X, y, candidates, folds, ready, go, jobs, results)
    processes = [
        context.Process(target=_process_worker, args=args) for _ in range(N_WORKERS)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    parts = [_result_of(processes, results) for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    scores = {job: score for part, _ in parts for job, score in part.items()}
    mean = [
        np.mean([scores[c, f] for f in range(len(folds))])
        for c in range(len(candidates))
    ]
    return {
        "config": "processes",
        "first_s": np.nan,
        "start_s": np.nan,
        "fit_s": seconds,
        "main_cpu_s": np.nan,
        "best_score": max(mean),
        "work_s": sum(part_seconds for _, part_seconds in parts),
    }


def summarize(runs):
    """Best and median fit time per config, and speedups against sequential."""
    frame = pd.DataFrame(runs)
    table = frame.groupby("config", sort=False).agg(
        runs=("fit_s", "size"),
        best_s=("fit_s", "min"),
        median_s=("fit_s", "median"),
        first_s=("first_s", "median"),
        cluster_start_s=("start_s", "median"),
        work_s=("work_s", "median"),
        main_cpu_s=("main_cpu_s", "median"),
    )
    if "sequential" in table.index:
        seq = table.loc["sequential"]
        table["speedup_best"] = seq["best_s"] / table["best_s"]
        table["speedup_median"] = seq["median_s"] / table["median_s"]
        table["speedup_first"] = seq["median_s"] / table["first_s"]
    return table


def profile(runs):
    """The task-stream figures of the dask runs, median over repeats."""
    frame = pd.DataFrame(runs)
    frame = frame[frame["config"].str.endswith("dask")]
    if frame.empty:
        return frame
    columns = [
        "tasks",
        "compute_s",
        "busy_fraction",
        "median_gap_ms",
        "max_gap_ms",
    ]
    return frame.groupby("config", sort=False)[columns].median()


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="400 samples, 2 repeats")
    p.add_argument("--n-samples", type=int, help="rows of the data (1000)")
    p.add_argument("--repeat", type=int, help="runs of each configuration (3)")
    p.add_argument(
        "--estimator", choices=sorted(ESTIMATORS), default="svc", help="(svc)"
    )
    p.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated subset of {','.join(CONFIGS)}",
    )
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    n_samples = args.n_samples or (400 if args.quick else 1000)
    repeat = args.repeat or (2 if args.quick else 3)
    configs = args.configs.split(",")
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        raise SystemExit(f"unknown configs {sorted(unknown)}; choose from {CONFIGS}")
    X, y = data(n_samples)
    estimator, grid, described = ESTIMATORS[args.estimator]
    n_fits = 3 * np.prod([len(v) for v in grid.values()])
    print(
        f"bench_grid_dask: {described}, 3-fold CV ({n_fits} fits), "
        f"{n_samples} samples, {repeat} repeats, {os.cpu_count()} cpus",
        flush=True,
    )
    runs = []
    for r in range(repeat):
        for config in rotated(configs, r):
            row = run(config, X, y, grid, estimator)
            runs.append(row)
            print(f"  [{r + 1}/{repeat}] {_round_line(row)}", flush=True)
    scores = {round(row["best_score"], 12) for row in runs}
    assert len(scores) == 1, f"the configurations disagree: {scores}"
    with pd.option_context("display.width", 120, "display.precision", 2):
        print(
            "\nbest_s, median_s: a search on workers that ran one before; "
            "first_s: the first search on new workers, their start-up included "
            "(median; speedup_first: sequential's median over it); work_s: fit + "
            "score seconds as GridSearchCV timed them, summed (processes: as "
            "they timed them); main_cpu_s: CPU seconds of this process (client, "
            "scheduler, joblib's threads):"
        )
        table = summarize(runs)
        print(table.to_string())
        prof = profile(runs)
        if not prof.empty:
            print(
                "\ntask stream of the dask runs, median over repeats (compute_s: "
                "the tasks' seconds on the workers):"
            )
            print(prof.to_string())
    # The targets are the SVC grid's (issue #5).
    targets = args.estimator == "svc"
    if "skhpo-dask" in configs and "sequential" in configs:
        speedup = table.loc["skhpo-dask", "speedup_median"]
        target = " (target >= 1.8x)" if targets else ""
        print(f"\nskhpo-dask speedup (median): {speedup:.2f}x{target}")
    if "skhpo-dask" in configs and "loky" in configs:
        for column, what in (("fit_s", "search"), ("first_s", "first search")):
            ratios = paired_ratios(runs, "loky", "skhpo-dask", column)
            print(
                f"loky time / skhpo-dask time ({what}), round by round: median "
                f"{np.median(ratios):.3f}, skhpo-dask faster in "
                f"{int(np.sum(ratios > 1))} of {len(ratios)} rounds"
                + (" (target: ahead)" if targets else "")
            )
    return runs


def _round_line(row):
    """One configuration's times in a round, as printed while the benchmark runs."""
    line = f"{row['config']:<11} {row['fit_s']:6.1f} s"
    if np.isfinite(row["first_s"]):
        line += f" (first search {row['first_s']:.1f} s"
        if np.isfinite(row["start_s"]):
            line += f", cluster start {row['start_s']:.1f} s of it"
        line += ")"
    return line


def rotated(configs, r):
    """The order of round ``r``: ``configs`` rotated by ``r`` places, so that
    no configuration always runs after the same one, or at the same point of a
    round."""
    k = r % len(configs)
    return configs[k:] + configs[:k]


def paired_ratios(runs, a, b, column="fit_s"):
    """``column`` of ``a`` over ``column`` of ``b`` in each round (the runs of
    a round are back to back, so a slow spell of a shared machine hits both)."""
    frame = pd.DataFrame(runs)
    times = {c: frame.loc[frame["config"] == c, column].to_numpy() for c in (a, b)}
    return times[a] / times[b]


if __name__ == "__main__":
    main()
