"""Progress bars of the searches (skhpo._progress) and scikit-learn's callbacks."""

import sys
import warnings

import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.svm import SVC

from skhpo import (
    IncrementalSearchCV,
    SMBOSearchCV,
    SuccessiveHalvingSearchCV,
    _progress,
)
from skhpo._progress import PartialFitProgress, SearchProgress

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SPACE = {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(autouse=True)
def forget_shown_links(monkeypatch):
    monkeypatch.setattr(_progress, "_shown_links", set())


@pytest.fixture
def without_tqdm(monkeypatch):
    """``import tqdm.auto`` raises ImportError, as when tqdm is not installed."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def _smbo(verbose, n_iter=4):
    return SMBOSearchCV(
        SVC(), SPACE, n_iter=n_iter, n_points=2, cv=2, random_state=0, verbose=verbose
    )


def _chunked_data():
    X, y = make_classification(n_samples=300, random_state=0)
    return da.from_array(X, chunks=100), da.from_array(y, chunks=100)


# -- SMBOSearchCV ------------------------------------------------------------------


def test_smbo_verbose_shows_a_bar_with_trials_and_best_score(capfd):
    search = _smbo(verbose=1).fit(X_IRIS, Y_IRIS)
    err = capfd.readouterr().err
    assert "SMBOSearchCV" in err
    assert "4/4" in err
    assert f"best={search.best_score_:.4f}" in err


@pytest.mark.parametrize("verbose", [0, False])
def test_smbo_not_verbose_is_silent(capfd, verbose):
    _smbo(verbose=verbose).fit(X_IRIS, Y_IRIS)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_without_tqdm_progress_is_printed_as_lines(capfd, without_tqdm):
    search = _smbo(verbose=1).fit(X_IRIS, Y_IRIS)
    out, err = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("[SMBOSearchCV]")]
    assert [line.split(" in ")[0] for line in lines] == [
        "[SMBOSearchCV] 2/4 candidates",
        "[SMBOSearchCV] 4/4 candidates",
    ]
    assert lines[-1].endswith(f"best score {search.best_score_:.4f}")
    assert "%|" not in err


def test_smbo_max_time_message_is_printed_under_the_bar(capfd):
    search = _smbo(verbose=1, n_iter=4)
    search.set_params(max_time=1e-9).fit(X_IRIS, Y_IRIS)
    out = capfd.readouterr().out
    assert "max_time=1e-09 s reached" in out


# -- the progress objects ----------------------------------------------------------

records = st.lists(
    st.tuples(
        st.sampled_from(["", ", bracket=1"]),
        st.integers(0, 3),
        st.integers(1, 3),
        st.one_of(st.floats(-1, 1), st.just(np.nan)),
    ),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(records)
def test_partial_fit_progress_counts_calls_of_every_model_of_every_run(steps):
    progress = PartialFitProgress(verbose=0)
    calls, scores = {}, []
    for run, model_id, more_calls, score in steps:
        calls[run, model_id] = calls.get((run, model_id), 0) + more_calls
        record = {
            "model_id": model_id,
            "partial_fit_calls": calls[run, model_id],
            "score": score,
        }
        progress(run, record)
        scores.append(score)
    assert progress.n_done == sum(calls.values())
    finite = [s for s in scores if np.isfinite(s)]
    assert progress.best_score == (max(finite) if finite else None)


def test_progress_without_total_shows_counts(capfd):
    with SearchProgress(None, desc="demo", unit="thing") as progress:
        progress.update(3, 0.5)
    err = capfd.readouterr().err
    assert "demo: 3 thing" in err
    assert "best=0.5000" in err


def test_progress_restores_stdout_when_the_search_raises():
    stdout = sys.stdout
    with pytest.raises(RuntimeError, match="boom"):
        with SearchProgress(3) as progress:
            assert sys.stdout is not stdout
            progress.update(1, 0.1)
            raise RuntimeError("boom")
    assert sys.stdout is stdout
    progress.close()  # closing twice is harmless


# -- scikit-learn's callbacks (sklearn.callback, scikit-learn >= 1.9) --------------

callback = pytest.importorskip("sklearn.callback")


class RecordingCallback:
    """A FitCallback that records the tasks it sees."""

    def __init__(self):
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", None))

    def teardown(self, estimator, context):
        self.events.append(("teardown", None))

    def on_fit_task_begin(self, estimator, context, **kwargs):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, **kwargs):
        self.events.append(("end", context.task_name))


def _fit_quietly(search, *args, **kwargs):
    with warnings.catch_warnings():
        # SVC itself does not support callbacks: scikit-learn warns about it.
        warnings.filterwarnings("ignore", "The estimator .* does not support")
        return search.fit(*args, **kwargs)


def test_smbo_calls_sklearn_callbacks_for_every_round_and_fit():
    recorder = RecordingCallback()
    search = _smbo(verbose=0, n_iter=4).set_callbacks(recorder)
    _fit_quietly(search, X_IRIS, Y_IRIS)
    begun = [name for event, name in recorder.events if event == "begin"]
    assert recorder.events[0] == ("setup", None)
    assert recorder.events[-1] == ("teardown", None)
    assert begun.count("smbo-round") == 2
    # 2 rounds x 2 candidates x 2 folds.
    assert begun.count("candidate-split-evaluation") == 8
    assert begun[:2] == ["fit", "search"]
    assert begun[-1] == "refit-with-best-params"
    assert len(begun) == len([e for e, _ in recorder.events if e == "end"])


def test_smbo_runs_with_sklearn_progress_bar():
    pytest.importorskip("rich")
    search = _smbo(verbose=0, n_iter=4).set_callbacks(callback.ProgressBar())
    _fit_quietly(search, X_IRIS, Y_IRIS)
    assert len(search.cv_results_["params"]) == 4


# -- on a dask cluster (last: the module's cluster lives until the end) -----


def test_smbo_on_joblib_dask_prints_the_dashboard_link_once(capfd, client):
    with client.as_current(), joblib.parallel_config(backend="dask"):
        _smbo(verbose=1, n_iter=2).fit(X_IRIS, Y_IRIS)
        _smbo(verbose=1, n_iter=2).fit(X_IRIS, Y_IRIS)
    out = capfd.readouterr().out
    assert out.count(f"dask dashboard: {client.dashboard_link}") == 1


def test_smbo_on_a_client_shows_its_dashboard_and_bar(capfd, client):
    with client.as_current():
        search = _smbo(verbose=1).fit(X_IRIS, Y_IRIS)
    out, err = capfd.readouterr()
    assert f"dask dashboard: {client.dashboard_link}" in out
    assert "4/4" in err
    assert f"best={search.best_score_:.4f}" in err


@pytest.mark.parametrize("verbose", [True, 1, 0.5])
def test_adaptive_verbose_shows_partial_fit_calls_against_the_plan(
    capfd, client, verbose
):
    X, y = _chunked_data()
    search = SuccessiveHalvingSearchCV(
        SGDClassifier(random_state=0),
        {"alpha": [1e-4, 1e-2, 1.0]},
        3,
        1,
        max_iter=3,
        random_state=0,
        verbose=verbose,
    )
    with client.as_current():
        search.fit(X, y, classes=[0, 1])
    out, err = capfd.readouterr()
    done = search.metadata_["partial_fit_calls"]
    assert f"{done}/{search.metadata['partial_fit_calls']}" in err
    assert "partial_fit/s" in err
    # The best score received so far, which the final best model may not keep.
    best = max(record["score"] for record in search.history_)
    assert f"best={best:.4f}" in err
    assert f"dask dashboard: {client.dashboard_link}" in out
    # dask-ml's log lines are kept, above the bar.
    assert "[CV] creating 3 models" in out


def _small_incremental(**kwargs):
    """Two SGD models, two partial_fit calls each."""
    return IncrementalSearchCV(
        SGDClassifier(random_state=0),
        {"alpha": [1e-4, 1e-2]},
        n_initial_parameters=2,
        max_iter=2,
        decay_rate=None,
        random_state=0,
        **kwargs,
    )


@pytest.mark.parametrize("verbose", [0, 0.0, False])
def test_adaptive_not_verbose_shows_no_bar(capfd, client, verbose):
    X, y = _chunked_data()
    search = _small_incremental(verbose=verbose)
    with client.as_current():
        search.fit(X, y, classes=[0, 1])
    out, err = capfd.readouterr()
    assert "partial_fit" not in out + err
    assert "dashboard" not in out


def test_adaptive_searches_warn_that_callbacks_are_ignored(client):
    X, y = _chunked_data()
    search = _small_incremental().set_callbacks(RecordingCallback())
    with client.as_current():
        with pytest.warns(UserWarning, match="does not call scikit-learn callbacks"):
            search.fit(X, y, classes=[0, 1])
    assert search.best_score_ >= 0
