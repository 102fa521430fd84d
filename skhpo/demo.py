"""The main job: tune an SVC on scikit-learn's digits with Bayesian optimization
(SMBOSearchCV), in parallel on a local dask cluster that the demo starts itself.

Run it with ``make demo`` or ``python -m skhpo.demo``. Each round asks the surrogate
for ``n_points`` candidates and cross-validates them on the dask workers through
joblib's dask backend; the dashboard link is printed first.
"""

import argparse
import time

import joblib
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from skhpo import SMBOSearchCV
from skhpo.space import Categorical, Real, SearchSpace

SPACE = {
    "C": Real(1e-2, 1e3, log=True),
    "gamma": Real(1e-5, 1e-1, log=True),
    "class_weight": Categorical([None, "balanced"]),
}


def results_table(search, top=5):
    """The ``top`` best candidates of a fitted search, as a DataFrame."""
    results = pd.DataFrame(search.cv_results_)
    columns = ["rank_test_score", "mean_test_score", "std_test_score", "mean_fit_time"]
    params = [c for c in results if c.startswith("param_")]
    return results.sort_values("rank_test_score")[columns + params].head(top)


def main(n_iter=30, cv=3, n_workers=2, random_state=0, verbose=1, surrogate="tpe"):
    """Run the demo search and return the fitted search object."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y
    )
    space = SearchSpace(SPACE)
    estimator = SVC()
    space.check_estimator(estimator)
    search = SMBOSearchCV(
        estimator,
        space,
        n_iter=n_iter,
        surrogate=surrogate,
        n_points=n_workers,
        cv=cv,
        random_state=random_state,
        verbose=verbose,
    )
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"skhpo demo: {len(X_train)} digits images, {n_workers} dask workers")
        print(f"dask dashboard: {client.dashboard_link}")
        print(f"search space: {space}")
        print(f"SMBOSearchCV(surrogate={surrogate!r}): {n_iter} candidates, {cv} folds")
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            search.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(f"\nTop candidates ({n_iter} tried in {elapsed:.1f} s):")
        print(results_table(search).to_string(index=False))
    print(f"\nbest parameters: {search.best_params_}")
    print(f"best cross-validated accuracy: {search.best_score_:.4f}")
    print(f"held-out test accuracy: {search.score(X_test, y_test):.4f}")
    return search


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-iter", type=int, default=30, help="candidates to try")
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds")
    parser.add_argument("--n-workers", type=int, default=2, help="dask workers")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--surrogate", default="tpe", choices=["tpe", "gp", "rf", "random"]
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse_args()
    main(
        args.n_iter,
        args.cv,
        args.n_workers,
        args.random_state,
        surrogate=args.surrogate,
    )
