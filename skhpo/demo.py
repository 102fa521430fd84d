"""The skhpo showcase: Bayesian optimization and Hyperband on a local dask cluster.

Run it with ``make demo`` or ``python -m skhpo.demo`` (``--help`` for options).
On scikit-learn's digits, on a local dask cluster that the demo starts itself:

1. ``SMBOSearchCV`` (TPE surrogate) tunes an SVC's ``C``, ``gamma`` and
   ``class_weight`` with cross-validation, the fits running on the dask workers
   through joblib's dask backend;
2. ``HyperbandSearchCV`` tunes an ``SGDClassifier`` trained with ``partial_fit``
   on a dask array of the same images in several chunks, stopping the poor
   models early.

Both show a progress bar; the dashboard link is printed first. Each search ends
with a compact table of its best candidates, and the plots (optimization
history, parameter importances, Hyperband's training curves) are written to a
PNG file whose path is printed at the end.
"""

import argparse
import pathlib
import time

import dask.array as da
import joblib
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from skhpo import HyperbandSearchCV, SMBOSearchCV
from skhpo._progress import show_dashboard_link
from skhpo.results import cv_results_frame
from skhpo.space import Categorical, Real, SearchSpace

SVC_SPACE = {
    "C": Real(1e-2, 1e3, log=True),
    "gamma": Real(1e-5, 1e-1, log=True),
    "class_weight": Categorical([None, "balanced"]),
}

SGD_SPACE = {
    "alpha": Real(1e-6, 1e-1, log=True),
    "loss": Categorical(["hinge", "log_loss", "modified_huber"]),
    "penalty": Categorical(["l2", "l1", "elasticnet"]),
}


def results_table(search, top=5):
    """The ``top`` best candidates of a fitted search, as a compact DataFrame.

    Parameters
    ----------
    search : fitted search or dict
        Any search with ``cv_results_`` (skhpo's or scikit-learn's), or its
        ``cv_results_``.
    top : int, default=5
        Number of rows.

    Returns
    -------
    pandas.DataFrame
        Rank, mean test score, its standard deviation over the folds and the
        mean fit time (``partial_fit`` calls and bracket for the adaptive
        searches) and the parameters, best first.
    """
    frame = cv_results_frame(search)
    if "partial_fit_calls" in frame:  # adaptive: one validation score per model
        extra = ["partial_fit_calls", "bracket"]
    else:
        extra = ["std_test_score", "mean_fit_time"]
    columns = ["rank_test_score", "mean_test_score", *extra]
    columns += [c for c in frame if c.startswith("param_")]
    frame = frame[[c for c in columns if c in frame]].sort_values("rank_test_score")
    return frame.head(top).rename(columns=lambda c: c.removeprefix("param_"))


def _print_table(title, search, elapsed):
    print(
        f"\n{title}: {len(search.cv_results_['params'])} candidates in "
        f"{elapsed:.1f} s; the best:"
    )
    with pd.option_context(
        "display.width", 120, "display.max_columns", 20, "display.precision", 4
    ):
        print(results_table(search).to_string(index=False))
    print(f"best parameters: {search.best_params_}")


def write_plots(smbo, hyperband, output):
    """Write the plots of both searches to one image file.

    Parameters
    ----------
    smbo : fitted SMBOSearchCV
    hyperband : fitted HyperbandSearchCV
    output : str or path-like
        The file; its suffix (``.png``, ``.svg``, ``.pdf``) sets the format.

    Returns
    -------
    pathlib.Path
        The absolute path of the file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skhpo.plot import (
        plot_adaptive_history,
        plot_optimization_history,
        plot_param_importances,
    )

    fig, axes = plt.subplots(2, 2, figsize=(13, 9), layout="constrained")
    plot_optimization_history(smbo, ax=axes[0, 0])
    plot_param_importances(smbo, random_state=0, ax=axes[0, 1])
    plot_adaptive_history(hyperband, ax=axes[1, 0])
    plot_param_importances(hyperband, random_state=0, ax=axes[1, 1])
    axes[0, 0].set_title("SMBOSearchCV (SVC): accuracy per candidate")
    axes[0, 1].set_title("SMBOSearchCV (SVC): parameter importances")
    axes[1, 0].set_title("HyperbandSearchCV (SGDClassifier): training curves")
    axes[1, 1].set_title("HyperbandSearchCV (SGDClassifier): parameter importances")
    path = pathlib.Path(output).resolve()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(
    n_iter=30,
    cv=3,
    n_workers=2,
    random_state=0,
    verbose=1,
    surrogate="tpe",
    max_iter=27,
    n_chunks=5,
    output="skhpo-demo.png",
    processes=True,
):
    """Run both searches of the demo and write their plots.

    Parameters
    ----------
    n_iter : int, default=30
        Candidates of ``SMBOSearchCV``.
    cv : int, default=3
        Cross-validation folds of ``SMBOSearchCV``.
    n_workers : int, default=2
        Workers of the local dask cluster (one thread each).
    random_state : int, default=0
        Seed of the data split and of both searches.
    verbose : int, default=1
        Progress bars when 1, silent searches when 0.
    surrogate : {"tpe", "gp", "rf", "random"}, default="tpe"
        Surrogate of ``SMBOSearchCV``.
    max_iter : int, default=27
        Most ``partial_fit`` calls of a Hyperband model.
    n_chunks : int, default=5
        Chunks of the dask array of training images.
    output : str or path-like or None, default="skhpo-demo.png"
        The image file of the plots; None writes none.
    processes : bool, default=True
        Workers in processes (as on a real cluster), or threads of this one.

    Returns
    -------
    smbo : SMBOSearchCV
        The fitted Bayesian-optimization search.
    hyperband : HyperbandSearchCV
        The fitted Hyperband search.
    """
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels in [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y
    )
    smbo = SMBOSearchCV(
        SVC(),
        SearchSpace(SVC_SPACE),
        n_iter=n_iter,
        surrogate=surrogate,
        n_points=n_workers,
        cv=cv,
        random_state=random_state,
        verbose=verbose,
    )
    hyperband = HyperbandSearchCV(
        SGDClassifier(tol=None, random_state=random_state),
        SearchSpace(SGD_SPACE),
        max_iter=max_iter,
        random_state=random_state,
        verbose=bool(verbose),
    )
    chunk = -(-len(X_train) // n_chunks)  # ceil: n_chunks row blocks
    X_dask = da.from_array(X_train, chunks=(chunk, X.shape[1]))
    y_dask = da.from_array(y_train, chunks=chunk)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        print(
            f"skhpo demo: {len(X_train)} digits images (8x8), {n_workers} dask workers"
        )
        show_dashboard_link(client)

        print(
            f"\n1. SMBOSearchCV(SVC(), surrogate={surrogate!r}): {n_iter} "
            f"candidates, {cv}-fold cross-validation"
        )
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            smbo.fit(X_train, y_train)
        _print_table("SMBOSearchCV", smbo, time.perf_counter() - start)
        print(
            f"held-out accuracy of the refitted best SVC: "
            f"{smbo.score(X_test, y_test):.4f}"
        )

        print(
            f"\n2. HyperbandSearchCV(SGDClassifier(), max_iter={max_iter}): "
            f"{hyperband.metadata['n_models']} models, partial_fit on "
            f"{X_dask.numblocks[0]} chunks of a dask array"
        )
        start = time.perf_counter()
        hyperband.fit(X_dask, y_dask, classes=list(range(10)))
        _print_table("HyperbandSearchCV", hyperband, time.perf_counter() - start)
        print(
            f"held-out accuracy of the best SGDClassifier: "
            f"{hyperband.score(X_test, y_test):.4f}"
        )

    if output is not None:
        try:
            path = write_plots(smbo, hyperband, output)
        except ImportError:
            print(
                "\nplots skipped: matplotlib is not installed (pip install "
                '"skhpo[plot]")'
            )
        else:
            print(f"\nplots written to {path}")
    return smbo, hyperband


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n-iter", type=int, default=30, help="SMBO candidates")
    parser.add_argument("--cv", type=int, default=3, help="SMBO folds")
    parser.add_argument("--n-workers", type=int, default=2, help="dask workers")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--surrogate", default="tpe", choices=["tpe", "gp", "rf", "random"]
    )
    parser.add_argument(
        "--max-iter", type=int, default=27, help="Hyperband's most partial_fit calls"
    )
    parser.add_argument(
        "--n-chunks", type=int, default=5, help="chunks of the dask array"
    )
    parser.add_argument(
        "--output", default="skhpo-demo.png", help="image file of the plots"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (verbose=0)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse_args()
    main(
        n_iter=args.n_iter,
        cv=args.cv,
        n_workers=args.n_workers,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
        surrogate=args.surrogate,
        max_iter=args.max_iter,
        n_chunks=args.n_chunks,
        output=args.output,
    )
