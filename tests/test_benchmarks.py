"""Smoke test of the benchmark harness in ``benchmarks/`` (not a benchmark).

It runs the quality benchmark on one tiny problem with skhpo's optimizers only,
checks that peers that are not installed are skipped cleanly, and checks the
bayesmark normalization on a hand-made table.
"""

import importlib.util
import math
import os

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from benchmarks import bench_ask_overhead, bench_grid_dask, bench_smbo
from benchmarks._optimizers import PEERS, SKHPO, available
from benchmarks._problems import PROBLEMS, QUICK, SUITE, TINY


def test_problem_lists_are_known():
    assert len(SUITE) == 18
    assert set(SUITE + QUICK + TINY) <= set(PROBLEMS)
    models = {PROBLEMS[name].model for name in SUITE}
    assert models == {
        "DT",
        "RF",
        "MLP-adam",
        "SVM",
        "kNN",
        "ada",
        "GB",
        "lasso",
        "linear",
    }


def test_harness_runs_on_a_tiny_problem(tmp_path):
    runs_csv = tmp_path / "smbo_runs_smoke.csv"
    scored, summary = bench_smbo.main(
        [
            "--problems",
            TINY[0],
            "--seeds",
            "1",
            "--budget",
            "4",
            "--n-reference",
            "8",
            "--optimizers",
            ",".join(SKHPO),
            "--output",
            str(runs_csv),
        ]
    )
    assert sorted(summary.index) == sorted(SKHPO)
    assert (scored["n_evals"] == 4).all()
    assert scored["score"].between(0, 100).all()
    runs = pd.read_csv(runs_csv)
    assert len(runs) == 1 + len(SKHPO)  # the reference random search + 4 runs
    assert (tmp_path / "smbo_scores_smoke.csv").exists()


def test_missing_peers_are_skipped(tmp_path, capsys):
    usable, missing = available(PEERS)
    assert sorted(usable + list(missing)) == sorted(PEERS)
    for name, modules in missing.items():
        assert all(importlib.util.find_spec(m) is None for m in modules), name
    if not missing:
        pytest.skip("every peer is installed")
    peer = next(iter(missing))
    _, summary = bench_smbo.main(
        [
            "--problems",
            TINY[0],
            "--seeds",
            "1",
            "--budget",
            "4",
            "--n-reference",
            "8",
            "--optimizers",
            f"{peer},skhpo-random",
            "--output",
            str(tmp_path / "runs.csv"),
        ]
    )
    assert list(summary.index) == ["skhpo-random"]
    assert f"skipping {peer}" in capsys.readouterr().err


def test_ask_overhead_measures_skhpo():
    median, times = bench_ask_overhead.measure("skhpo-tpe", 10, repeats=1)
    assert len(times) == 2
    assert 0 < median < 5


def _row(problem, optimizer, seed, losses):
    values = [float(v) for v in losses.split()]
    return {
        "problem": problem,
        "optimizer": optimizer,
        "seed": seed,
        "best_loss": min(values),
        "optimizer_seconds": 0.0,
        "losses": losses,
    }


REF = bench_smbo.REFERENCE
HAND_MADE = pd.DataFrame(
    [
        # p1: median random loss 4; the best loss ever seen, 1, comes from a run.
        _row("p1", REF, 0, "2 3 4 5 6"),
        _row("p1", "skhpo-tpe", 0, "3 1"),  # 100
        _row("p1", "skhpo-tpe", 1, "2.5"),  # 100 * (1 - 1.5 / 3) = 50
        _row("p1", "optuna-tpe", 0, "4"),  # at the median: 0
        _row("p1", "optuna-tpe", 1, "2.5"),  # 50
        # p2: median 20, best 10 from the reference search.
        _row("p2", REF, 0, "10 20 30"),
        _row("p2", "skhpo-tpe", 0, "15"),  # 100 * (1 - 5 / 10) = 50
        _row("p2", "skhpo-tpe", 1, "12"),  # 80
        _row("p2", "optuna-tpe", 0, "40"),  # worse than the median: clipped to 0
        _row("p2", "optuna-tpe", 1, "10"),  # 100
    ]
)


def test_normalization_matches_bayesmark_by_hand():
    scored = bench_smbo.normalize(HAND_MADE)
    got = scored.set_index(["problem", "optimizer", "seed"])
    expected = {
        ("p1", "skhpo-tpe", 0): 100.0,
        ("p1", "skhpo-tpe", 1): 50.0,
        ("p1", "optuna-tpe", 0): 0.0,
        ("p1", "optuna-tpe", 1): 50.0,
        ("p2", "skhpo-tpe", 0): 50.0,
        ("p2", "skhpo-tpe", 1): 80.0,
        ("p2", "optuna-tpe", 0): 0.0,
        ("p2", "optuna-tpe", 1): 100.0,
    }
    for key, score in expected.items():
        assert got.loc[key, "score"] == pytest.approx(score), key
    assert got.loc[("p1", "skhpo-tpe", 0), "opt_loss"] == 1.0
    assert got.loc[("p1", "skhpo-tpe", 0), "median_random"] == 4.0
    assert got.loc[("p2", "optuna-tpe", 0), "normalized_loss"] == 1.0  # clipped

    # Seeds are averaged per problem, then problems with equal weights.
    summary = bench_smbo.summarize(scored)
    assert summary.loc["skhpo-tpe", "score"] == pytest.approx((75 + 65) / 2)
    assert summary.loc["optuna-tpe", "score"] == pytest.approx((25 + 50) / 2)
    # Standard error over problems: std([75, 65], ddof=1) / sqrt(2) = 5.
    assert summary.loc["skhpo-tpe", "se"] == pytest.approx(5.0)
    assert summary.loc["optuna-tpe", "se"] == pytest.approx(12.5)
    assert summary.loc["skhpo-tpe", "mean_rank"] == pytest.approx(1.0)

    comparisons = bench_smbo.compare(scored).set_index("comparison")
    diff = comparisons.loc["skhpo-tpe - optuna-tpe"]
    assert diff["diff"] == pytest.approx(32.5)
    assert diff["se"] == pytest.approx(math.sqrt(((50 - 15) ** 2) / 2) / math.sqrt(2))


def test_degenerate_problem_is_left_out():
    runs = pd.concat(
        [
            HAND_MADE,
            pd.DataFrame(
                [
                    _row("p3", REF, 0, "1 1 1 2"),  # median random == best
                    _row("p3", "skhpo-tpe", 0, "1"),
                ]
            ),
        ]
    )
    with pytest.warns(RuntimeWarning, match="p3: the median random loss equals"):
        scored = bench_smbo.normalize(runs)
    assert set(scored["problem"]) == {"p1", "p2"}


def test_unfinished_pairs_are_left_out():
    runs = HAND_MADE[
        ~((HAND_MADE["optimizer"] == "optuna-tpe") & (HAND_MADE["seed"] == 1))
    ]
    kept = bench_smbo.complete(runs)
    assert set(kept.loc[kept["optimizer"] != REF, "seed"]) == {0}
    assert (kept["optimizer"] == REF).sum() == 2


def test_missing_reference_is_an_error():
    runs = HAND_MADE[HAND_MADE["optimizer"] != REF]
    with pytest.raises(ValueError, match="No 'reference-random' row for problem"):
        bench_smbo.normalize(runs)


def test_grid_benchmark_compares_loky_and_dask_round_by_round():
    times = [("loky", 10.0), ("skhpo-dask", 8.0), ("sequential", 20.0)]
    times += [("loky", 9.0), ("skhpo-dask", 12.0), ("sequential", 19.0)]
    runs = [{"config": config, "fit_s": seconds} for config, seconds in times]
    ratios = bench_grid_dask.paired_ratios(runs, "loky", "skhpo-dask")
    assert ratios.tolist() == [1.25, 0.75]


def test_grid_benchmark_bare_processes_fit_what_the_search_fits():
    """The machine's limit is measured on the search's own fits and scores."""
    X, y = bench_grid_dask.data(90)
    grid = {"C": [0.01, 10.0], "gamma": [0.01, 1.0]}
    rows = {
        config: bench_grid_dask.run(config, X, y, grid)
        for config in ("sequential", "processes", "loky")
    }
    assert 0.5 < rows["sequential"]["best_score"] < 1
    for row in rows.values():
        assert row["best_score"] == pytest.approx(rows["sequential"]["best_score"])
        assert row["fit_s"] > 0 and row["work_s"] > 0
    # loky's first search (on new workers) is timed apart from the second.
    assert rows["loky"]["first_s"] > 0


def test_grid_benchmark_fits_the_estimator_it_is_given():
    X, y = bench_grid_dask.data(60)
    forest = clone(bench_grid_dask.ESTIMATORS["forest"][0]).set_params(n_estimators=3)
    grid = {"max_depth": [1, 3]}
    rows = [
        bench_grid_dask.run(config, X, y, grid, forest)
        for config in ("sequential", "processes")
    ]
    assert rows[0]["best_score"] == pytest.approx(rows[1]["best_score"])
    sequential = GridSearchCV(forest, grid, cv=3).fit(X, y)
    assert rows[0]["best_score"] == pytest.approx(sequential.best_score_)


def test_grid_benchmark_reports_a_dead_bare_process():
    X, y = bench_grid_dask.data(30)
    with pytest.raises(RuntimeError, match="a bare worker process failed"):
        bench_grid_dask.run("processes", X, y, {"C": [-1.0]})  # C must be > 0


def test_grid_benchmark_configs_leave_the_environment_as_they_found_it(monkeypatch):
    """A nanny adds dask's worker settings to its process's environment, where
    the workers of the configurations that follow would inherit them."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    before = dict(os.environ)
    X, y = bench_grid_dask.data(60)
    row = bench_grid_dask.run("joblib-dask", X, y, {"C": [0.1, 1.0]})
    assert row["tasks"] > 0  # the fits ran on the cluster
    assert dict(os.environ) == before


def test_grid_benchmark_rotates_the_order_of_the_configurations():
    configs = ["a", "b", "c"]
    orders = [bench_grid_dask.rotated(configs, r) for r in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], configs]
