"""Scoring validation data 4x larger than a worker's memory: skhpo.metrics.

A 2-worker ``LocalCluster`` (processes, one thread each) with a small
``memory_limit`` per worker scores a fitted model on a validation dask array
``--factor`` (4) times larger than that limit, generated blockwise on the
workers (it never exists in one piece):

1. ``skhpo.metrics.get_scorer("accuracy")`` for a ``LogisticRegression`` and
   ``get_scorer("r2")`` for a ``Ridge``, called from the client as a search's
   scoring step would: predictions and the metric are computed block by block
   inside dask; only scalars leave the workers;
2. scikit-learn's ``get_scorer("accuracy")`` on the same arrays, in a worker
   task, as it runs under ``GridSearchCV`` on dask: its input validation turns
   the dask array into one numpy array of the full size in that worker.

Every worker's resident memory is sampled every 50 ms during each run
(``client.run``); the table reports the peak against ``memory_limit`` (a worker
that imported scikit-learn and skhpo already uses about 0.45 GB). Target: the
skhpo scorers finish with peak worker memory within the limit; scikit-learn's
scorer needs the whole array in one worker (the table shows that size) and
fails there (the nanny restarts the worker when it passes 95% of its limit, or
the allocation fails).

Usage::

    python -m benchmarks.bench_scoring_memory                  # 1 GB limit, 4 GB
    python -m benchmarks.bench_scoring_memory --quick          # 0.8 GB, 3.2 GB
    python -m benchmarks.bench_scoring_memory --memory-limit 1.5 --factor 4
    python -m benchmarks.bench_scoring_memory --skip-sklearn
"""

import argparse
import logging
import os
import threading
import time

import dask
import dask.array as da
import numpy as np
import pandas as pd
import psutil
from distributed import Client, LocalCluster
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import get_scorer as sklearn_get_scorer

from skhpo.metrics import get_scorer

N_FEATURES = 20
BLOCK_ROWS = 100_000  # 16 MB blocks of float64
GB = 1e9


def problem(n_rows, random_state=0):
    """Lazy data: X, a class label and a regression target per row.

    The labels and targets depend on X through one fixed linear model (plus
    noise); ``random_state`` draws X.
    """
    w = np.random.default_rng(0).normal(size=N_FEATURES)
    X = da.random.default_rng(random_state).standard_normal(
        (n_rows, N_FEATURES), chunks=(BLOCK_ROWS, N_FEATURES)
    )
    noise = da.random.default_rng(random_state + 1).standard_normal(
        n_rows, chunks=BLOCK_ROWS
    )
    signal = X @ w + noise
    return X, (signal > 0).astype(np.int64), signal


def models(random_state=0):
    """A classifier and a regressor, fitted in memory on a small sample."""
    X, y_class, y_reg = problem(2_000, random_state=random_state + 2)
    X, y_class, y_reg = dask.compute(X, y_class, y_reg, scheduler="sync")
    return LogisticRegression().fit(X, y_class), Ridge().fit(X, y_reg)


def _rss():
    return psutil.Process().memory_info().rss


class PeakMemory:
    """Sample every worker's resident memory in a background thread."""

    def __init__(self, client, interval=0.05):
        self.client, self.interval = client, interval
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:  # a worker restarting between two samples
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _import_models():
    import sklearn.linear_model  # noqa: F401

    import skhpo.metrics  # noqa: F401

    return _rss()


def _sklearn_score_in_task(model, n_rows):
    """scikit-learn's accuracy scorer on the validation data, inside a task."""
    X, y, _ = problem(n_rows)
    return sklearn_get_scorer("accuracy")(model, X, y)


def run_skhpo(client, name, model, X, y):
    with PeakMemory(client) as mem:
        start = time.perf_counter()
        score = get_scorer(name)(model, X, y)
        seconds = time.perf_counter() - start
    return {
        "scorer": f"skhpo {name}",
        "outcome": f"{score:.4f}",
        "seconds": seconds,
        "peak_worker_gb": max(mem.peak.values()) / GB,
    }


def run_sklearn(client, model, n_rows):
    with PeakMemory(client) as mem:
        start = time.perf_counter()
        future = client.submit(_sklearn_score_in_task, model, n_rows, pure=False)
        try:
            outcome = f"{future.result():.4f} (finished)"
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}"
        seconds = time.perf_counter() - start
    return {
        "scorer": "scikit-learn accuracy (in a task)",
        "outcome": outcome,
        "seconds": seconds,
        "peak_worker_gb": max(mem.peak.values()) / GB,
    }


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="0.8 GB limit")
    p.add_argument("--memory-limit", type=float, help="GB per worker (1.0)")
    p.add_argument("--factor", type=float, default=4.0, help="data / memory limit")
    p.add_argument("--skip-sklearn", action="store_true")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    limit = args.memory_limit or (0.8 if args.quick else 1.0)
    n_rows = int(args.factor * limit * GB / (8 * N_FEATURES))
    n_rows -= n_rows % BLOCK_ROWS
    X, y_class, y_reg = problem(n_rows)
    classifier, regressor = models()
    print(
        f"bench_scoring_memory: validation X of {n_rows} x {N_FEATURES} float64 = "
        f"{X.nbytes / GB:.1f} GB in {X.numblocks[0]} blocks; 2 workers with "
        f"memory_limit={limit:.2f} GB each; {os.cpu_count()} cpus",
        flush=True,
    )
    rows = []
    with (
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 0,
                "distributed.admin.system-monitor.interval": "50ms",
            }
        ),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=f"{limit * GB:.0f}B",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        baseline = max(client.run(_import_models).values()) / GB
        print(f"  worker memory after importing the models: {baseline:.2f} GB")
        for name, model, y in [
            ("accuracy", classifier, y_class),
            ("r2", regressor, y_reg),
        ]:
            rows.append(run_skhpo(client, name, model, X, y))
            print(f"  {rows[-1]}", flush=True)
        if not args.skip_sklearn:
            rows.append(run_sklearn(client, classifier, n_rows))
            print(f"  {rows[-1]}", flush=True)
    table = pd.DataFrame(rows).set_index("scorer")
    table["within_limit"] = table["peak_worker_gb"] <= limit
    table["needs_gb_in_one_worker"] = [
        f"{X.nbytes / GB:.1f}" if name.startswith("scikit") else "one block"
        for name in table.index
    ]
    with pd.option_context("display.width", 140, "display.precision", 2):
        print(f"\nmemory_limit {limit:.2f} GB per worker, data {X.nbytes / GB:.1f} GB:")
        print(table.to_string())
    ok = table.loc[table.index.str.startswith("skhpo"), "within_limit"].all()
    print(f"\nskhpo scorers within the limit: {'yes' if ok else 'NO'}")
    return table


if __name__ == "__main__":
    main()
