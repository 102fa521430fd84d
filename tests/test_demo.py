"""The showcase (``make demo``) runs end to end on a small configuration."""

import matplotlib
import pytest

from skhpo import _progress, demo

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def forget_shown_links(monkeypatch):
    monkeypatch.setattr(_progress, "_shown_links", set())


def test_demo_runs_both_searches_and_writes_the_plots(capsys, tmp_path):
    output = tmp_path / "demo.png"
    smbo, hyperband = demo.main(
        n_iter=4,
        cv=2,
        n_workers=2,
        verbose=0,
        max_iter=3,
        n_chunks=3,
        output=output,
        processes=False,
    )
    out = capsys.readouterr().out
    assert "dask dashboard: http://" in out
    for title in ("SMBOSearchCV: 4 candidates", "HyperbandSearchCV: "):
        assert title in out
    # The results tables: a header row and parameter columns of each search.
    assert out.count("rank_test_score  mean_test_score") == 2
    assert "gamma" in out and "alpha" in out and "partial_fit_calls" in out
    assert f"plots written to {output}" in out
    assert output.stat().st_size > 10_000
    assert output.read_bytes().startswith(b"\x89PNG")
    assert set(smbo.best_params_) == {"C", "gamma", "class_weight"}
    assert set(hyperband.best_params_) == {"alpha", "loss", "penalty"}
    assert len(smbo.cv_results_["params"]) == 4
    assert 0 <= hyperband.best_score_ <= 1


def test_results_table_keeps_the_best_rows_first():
    cv_results = {
        "params": [{"a": 1}, {"a": 2}, {"a": 3}],
        "param_a": [1, 2, 3],
        "mean_test_score": [0.2, 0.9, 0.5],
        "std_test_score": [0.0, 0.1, 0.0],
        "mean_fit_time": [1.0, 1.0, 1.0],
        "rank_test_score": [3, 1, 2],
    }
    table = demo.results_table(cv_results, top=2)
    assert list(table.columns) == [
        "rank_test_score",
        "mean_test_score",
        "std_test_score",
        "mean_fit_time",
        "a",
    ]
    assert table["a"].tolist() == [2, 3]


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], (30, 3, 2, 27, "skhpo-demo.png", False)),
        (
            ["--n-iter", "5", "--max-iter", "9", "--output", "x.svg", "--quiet"],
            (5, 3, 2, 9, "x.svg", True),
        ),
    ],
)
def test_demo_command_line(argv, expected):
    args = demo._parse_args(argv)
    got = (args.n_iter, args.cv, args.n_workers, args.max_iter, args.output)
    assert got + (args.quiet,) == expected
