"""``python -m benchmarks`` (``make bench``): every benchmark, quick configuration.

Runs ``bench_smbo --quick`` (3 problems, budget 15, 1 seed),
``bench_ask_overhead --quick`` (histories of 10, 50 and 200 trials) and
``bench_hyperband --quick`` (Hyperband against a passive search on a 2-worker
LocalCluster) and prints their tables; about ten minutes in all. Peers that are
not installed are skipped.
For the full runs see benchmarks/README.md.
"""

import sys
import time

from . import bench_ask_overhead, bench_hyperband, bench_smbo


def main():
    start = time.perf_counter()
    print("=" * 30, "bench_smbo --quick", "=" * 30, flush=True)
    bench_smbo.main(["--quick"])
    print("\n" + "=" * 30, "bench_ask_overhead --quick", "=" * 30, flush=True)
    bench_ask_overhead.main(["--quick"])
    print("\n" + "=" * 30, "bench_hyperband --quick", "=" * 30, flush=True)
    bench_hyperband.main(["--quick"])
    print(f"\nall benchmarks: {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
