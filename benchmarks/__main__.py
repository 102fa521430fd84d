"""``python -m benchmarks`` (``make bench``): every benchmark, quick configuration.

Runs, each in its ``--quick`` configuration, and prints their tables:

- ``bench_smbo``: SMBO quality against peers (3 problems, budget 15, 1 seed);
- ``bench_ask_overhead``: time per ``ask`` with 10, 50 and 200 trials;
- ``bench_hyperband``: Hyperband against a passive search, 2-worker LocalCluster;
- ``bench_async_smbo``: asynchronous SMBOSearchCV on a 2-worker LocalCluster;
- ``bench_grid_dask``: a 169-candidate GridSearchCV sequential, with loky, on
  joblib's dask backend and on skhpo's;
- ``bench_scoring_memory``: skhpo.metrics on validation data 4x a worker's
  memory.

About 20 minutes in all on 2 cores. Peers that are not installed are skipped.
For the full runs see benchmarks/README.md.
"""

import sys
import time

from . import (
    bench_ask_overhead,
    bench_async_smbo,
    bench_grid_dask,
    bench_hyperband,
    bench_scoring_memory,
    bench_smbo,
)


def main():
    start = time.perf_counter()
    print("=" * 30, "bench_smbo --quick", "=" * 30, flush=True)
    bench_smbo.main(["--quick"])
    print("\n" + "=" * 30, "bench_ask_overhead --quick", "=" * 30, flush=True)
    bench_ask_overhead.main(["--quick"])
    print("\n" + "=" * 30, "bench_hyperband --quick", "=" * 30, flush=True)
    bench_hyperband.main(["--quick"])
    print("\n" + "=" * 30, "bench_async_smbo --quick", "=" * 30, flush=True)
    bench_async_smbo.main(["--quick"])
    print("\n" + "=" * 30, "bench_grid_dask --quick", "=" * 30, flush=True)
    bench_grid_dask.main(["--quick"])
    print("\n" + "=" * 30, "bench_scoring_memory --quick", "=" * 30, flush=True)
    bench_scoring_memory.main(["--quick"])
    print(f"\nall benchmarks: {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
