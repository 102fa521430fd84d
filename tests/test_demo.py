from skhpo import demo


def test_demo_runs_a_real_search_on_a_local_cluster(capsys):
    search = demo.main(n_iter=3, cv=2, n_workers=2, verbose=0)
    out = capsys.readouterr().out
    assert "dask dashboard: http://" in out
    assert "best parameters:" in out
    assert len(search.cv_results_["params"]) == 3
    assert set(search.best_params_) == {"C", "gamma", "class_weight"}
    assert 0 <= search.best_score_ <= 1


def test_demo_command_line_defaults():
    args = demo._parse_args([])
    assert (args.n_iter, args.cv, args.n_workers) == (30, 3, 2)
