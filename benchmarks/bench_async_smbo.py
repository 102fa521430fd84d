"""Asynchronous SMBOSearchCV on a 2-worker LocalCluster (issue 5, targets 2 and 3).

Two measurements, each against a baseline run in the same process:

(a) **Fits of varying duration**: ``n_trials`` candidates (64), 3-fold CV, of a
    model whose fit lasts 20 to 200 ms depending on its parameter. Sequential
    ``SMBOSearchCV(execution="joblib")`` (one fit at a time, in this process)
    against ``execution="async"`` on 2 single-threaded workers. Reported: wall
    times and their ratio (target <= 0.6; the limit is 0.5), and the workers'
    utilization, ``sum(fit + score time) / (wall x 2 workers)`` (target >= 90 %).
(b) **Cheap fits**: ``n_cheap`` candidates (1000) of a model that fits in about
    1 ms, 3-fold CV, async on the same cluster. Reported: overhead per trial,
    ``(wall - sum(fit + score time) / 2) / n_trials`` (target < 5 ms), with the
    random surrogate (the execution overhead: tasks, grouping, bookkeeping) and
    with TPE (adds the surrogate's ``ask``), and the sequential run's own
    overhead per trial for comparison.

The fits *sleep* (they release the GIL), so that the in-process workers
(``LocalCluster(processes=False)``, which this module's model needs: worker
processes could not import it) run them in parallel whatever else loads the
machine; the measure is of the scheduling, not of the CPU. The scheduler, the
search's driver and both workers share the machine's 2 cores.

Usage::

    python -m benchmarks.bench_async_smbo            # about 2 minutes
    python -m benchmarks.bench_async_smbo --quick    # 16 and 200 trials
"""

import argparse
import logging
import sys
import time

import numpy as np
from distributed import Client, LocalCluster
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification

from skhpo import SMBOSearchCV
from skhpo.space import Real


class Sleeper(ClassifierMixin, BaseEstimator):
    """Fits in ``base + span * c`` seconds (asleep); scores peak at c = 0.3."""

    def __init__(self, c=0.5, base=0.02, span=0.18):
        self.c = c
        self.base = base
        self.span = span

    def fit(self, X, y):
        time.sleep(self.base + self.span * self.c)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return 1.0 - abs(self.c - 0.3)


def _run(estimator, n_trials, execution, surrogate, X, y):
    search = SMBOSearchCV(
        estimator,
        {"c": Real(0.0, 1.0)},
        n_iter=n_trials,
        cv=3,
        surrogate=surrogate,
        execution=execution,
        refit=False,
        random_state=0,
    )
    start = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - start
    r = search.cv_results_
    busy = float(np.sum((r["mean_fit_time"] + r["mean_score_time"]) * 3))
    return wall, busy, len(r["params"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 and 200 trials")
    args = parser.parse_args(argv)
    n_trials, n_cheap = (16, 200) if args.quick else (64, 1000)
    X, y = make_classification(n_samples=300, random_state=0)
    n_workers = 2
    rows = []
    slow, cheap = Sleeper(), Sleeper(base=0.001, span=0.0)
    seq_wall, seq_busy, n = _run(slow, n_trials, "joblib", "tpe", X, y)
    rows.append(("(a) sequential, tpe", n, seq_wall, seq_busy, None))
    wall, busy, n = _run(cheap, n_cheap, "joblib", "random", X, y)
    rows.append(("(b) sequential 1 ms, random", n, wall, busy, None))
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster),
    ):
        wall, busy, n = _run(slow, n_trials, "async", "tpe", X, y)
        rows.append(("(a) async 2 workers, tpe", n, wall, busy, n_workers))
        for surrogate in ("random", "tpe"):
            c_wall, c_busy, c_n = _run(cheap, n_cheap, "async", surrogate, X, y)
            rows.append(
                (f"(b) async 1 ms, {surrogate}", c_n, c_wall, c_busy, n_workers)
            )

    print(
        f"{'run':32s} {'trials':>6s} {'wall s':>8s} {'busy s':>8s} "
        f"{'util %':>7s} {'overhead ms/trial':>18s}"
    )
    for name, n, wall, busy, workers in rows:
        w = workers or 1
        util = 100 * busy / (wall * w)
        overhead = 1000 * (wall - busy / w) / n
        print(f"{name:32s} {n:6d} {wall:8.2f} {busy:8.2f} {util:7.1f} {overhead:18.2f}")
    a_async = rows[2]
    util = a_async[3] / (a_async[2] * n_workers)
    ratio = a_async[2] / seq_wall
    print(
        f"\n(a) wall async / sequential: {ratio:.2f} (target <= 0.6); worker "
        f"utilization {100 * util:.1f} % (target >= 90 %)"
    )
    for name, n, wall, busy, workers in rows[3:]:
        overhead = 1000 * (wall - busy / workers) / n
        print(f"{name}: overhead {overhead:.2f} ms per trial (target < 5 ms)")
    return rows


if __name__ == "__main__":
    sys.exit(main() and 0)
