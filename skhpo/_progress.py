"""Progress of a search: a tqdm bar, or plain lines when tqdm is not installed.

Every skhpo search shows its progress through :class:`SearchProgress` when its
``verbose`` is truthy, and is silent when it is 0 or False:

- a progress bar (``tqdm.auto``: a text bar in a terminal, a widget in Jupyter)
  on stderr, with the work done, the elapsed time and the best score so far;
  while it is open, what the search prints on stdout goes through
  ``tqdm.write``, so the bar stays at the bottom of a terminal;
- without tqdm (it is in the ``progress`` extra: ``pip install
  "skhpo[progress]"``), one plain line per update on stdout instead;
- the dask dashboard link of the cluster the search runs on, once per link in
  a process (a second search on the same cluster does not repeat it).

How a search uses it (the synchronous and the dask code paths alike)::

    with SearchProgress(total, verbose=self.verbose, desc="SMBOSearchCV",
                        client=client) as progress:
        ...
        progress.update(n_done, best_score)  # absolute counts, after each step
        progress.write("a message")          # instead of print, under the bar

``total`` is the planned amount of work (None if it is not known), ``n_done``
the amount done so far (not an increment), ``best_score`` the best score so far
(higher is better, as in scikit-learn), ``client`` the ``distributed.Client``
whose dashboard link to print, or None. The adaptive searches use
:class:`PartialFitProgress`, which counts ``partial_fit`` calls from the
engine's score records.

What ``verbose`` means:

- ``SMBOSearchCV``: an int, as in scikit-learn. ``verbose >= 1`` shows the bar
  (scikit-learn's own per-round line "Fitting k folds for each of n candidates"
  is printed above it), ``verbose >= 2`` also prints scikit-learn's line per fit.
- adaptive searches: dask-ml's semantics are kept, ``verbose`` in [0, 1] is the
  fraction of rounds whose best score is logged (True: every round). The bar is
  shown whenever ``verbose`` is truthy (True or a positive fraction), and
  counts ``partial_fit`` calls against the planned total (``metadata
  ["partial_fit_calls"]`` for Hyperband and successive halving; unknown, so no
  percentage, for the incremental searches).

scikit-learn's experimental callbacks (``sklearn.callback``, scikit-learn >= 1.9)
work with ``SMBOSearchCV``: ``search.set_callbacks(ProgressBar())`` shows one
bar per round under the search's bar. The adaptive searches ignore them, with a
warning (see :func:`warn_ignored_callbacks`).
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings

import numpy as np

__all__ = [
    "PartialFitProgress",
    "adaptive_progress",
    "SearchProgress",
    "show_dashboard_link",
    "warn_ignored_callbacks",
]

# Dashboard links already printed in this process.
_shown_links = set()


def show_dashboard_link(client, file=None):
    """Print ``client``'s dask dashboard link, unless it was printed before.

    Parameters
    ----------
    client : distributed.Client or None
        The client a search runs on; None prints nothing.
    file : file-like, default=None
        Where to print; ``sys.stdout`` if None.
    """
    link = getattr(client, "dashboard_link", None)
    if link and link not in _shown_links:
        _shown_links.add(link)
        print(f"dask dashboard: {link}", file=file or sys.stdout, flush=True)


def _import_tqdm():
    """``tqdm.auto.tqdm`` and tqdm's stdout wrapper, or None without tqdm."""
    try:
        from tqdm.auto import tqdm
        from tqdm.contrib import DummyTqdmFile
    except ImportError:
        return None
    return tqdm, DummyTqdmFile


def _format_score(score):
    return "n/a" if score is None else f"{score:.4f}"


class SearchProgress:
    """Progress bar of a search, a context manager; silent when not verbose.

    Parameters
    ----------
    total : int or None
        Planned amount of work; None if it is not known in advance.
    verbose : int, float or bool, default=1
        Shows progress when truthy.
    desc : str, default="search"
        Label of the bar (e.g. the search's class name).
    unit : str, default="trial"
        What ``total`` counts.
    client : distributed.Client, default=None
        Client whose dashboard link is printed when the bar opens.
    """

    def __init__(
        self, total=None, *, verbose=1, desc="search", unit="trial", client=None
    ):
        self.total = total
        self.verbose = verbose
        self.desc = desc
        self.unit = unit
        self.client = client
        self._bar = None
        self._stdout = contextlib.ExitStack()
        self._start = None
        self.n_done = 0
        self.best_score = None

    @property
    def enabled(self):
        """Whether progress is shown (``verbose`` is truthy)."""
        return bool(self.verbose)

    def __enter__(self):
        self._start = time.perf_counter()
        if not self.enabled:
            return self
        show_dashboard_link(self.client)
        found = _import_tqdm()
        if found is not None:
            tqdm, stdout_to_tqdm = found
            self._bar = tqdm(
                total=self.total,
                desc=self.desc,
                unit=f" {self.unit}",
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self._stdout.enter_context(
                contextlib.redirect_stdout(stdout_to_tqdm(sys.stdout))
            )
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n_done, best_score=None):
        """Set the work done so far and the best score so far.

        Parameters
        ----------
        n_done : int
            Work done since the start (an absolute count, not an increment).
        best_score : float, default=None
            Best score so far; None if there is none yet.
        """
        self.n_done = int(n_done)
        if best_score is not None and np.isfinite(best_score):
            self.best_score = float(best_score)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(
                f"best={_format_score(self.best_score)}", refresh=False
            )
            self._bar.update(self.n_done - self._bar.n)
            return
        of_total = "" if self.total is None else f"/{self.total}"
        print(
            f"[{self.desc}] {self.n_done}{of_total} {self.unit}s in "
            f"{time.perf_counter() - self._start:.1f} s, best score "
            f"{_format_score(self.best_score)}",
            flush=True,
        )

    def write(self, message):
        """Print a message (under the bar when there is one); silent if not verbose.

        Parameters
        ----------
        message : str
        """
        if self.enabled:
            print(message, flush=True)

    def close(self):
        """Close the bar and stop redirecting stdout; safe to call twice."""
        self._stdout.close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class PartialFitProgress(SearchProgress):
    """Progress of an adaptive search, counting ``partial_fit`` calls.

    Call it with each score record of the engine, ``progress(run, record)``:
    ``run`` tells the runs (Hyperband brackets) apart, ``record`` has the
    ``model_id``, its total ``partial_fit_calls`` and its ``score``.

    Parameters
    ----------
    total : int or None
        Planned ``partial_fit`` calls; None if not known in advance.
    verbose : float or bool, default=1
        Shows progress when truthy.
    desc : str, default="search"
        Label of the bar.
    client : distributed.Client, default=None
        Client whose dashboard link is printed when the bar opens.
    """

    def __init__(self, total=None, *, verbose=1, desc="search", client=None):
        super().__init__(
            total, verbose=verbose, desc=desc, unit="partial_fit", client=client
        )
        self._calls = {}

    def __call__(self, run, record):
        key = (run, record["model_id"])
        done = self.n_done + record["partial_fit_calls"] - self._calls.get(key, 0)
        self._calls[key] = record["partial_fit_calls"]
        best = record["score"]
        if self.best_score is not None and not best > self.best_score:
            best = self.best_score
        self.update(done, best)


def adaptive_progress(search, client):
    """The :class:`PartialFitProgress` of an adaptive search's ``fit``.

    Parameters
    ----------
    search : estimator
        The adaptive search; its ``metadata["partial_fit_calls"]`` (Hyperband,
        successive halving) is the total, if it has one.
    client : distributed.Client
        The client the search runs on.

    Returns
    -------
    PartialFitProgress
    """
    total = None
    if search.verbose and hasattr(type(search), "metadata"):
        with warnings.catch_warnings():
            # fit already warned about the parameters, if need be.
            warnings.simplefilter("ignore")
            total = search.metadata["partial_fit_calls"]
    return PartialFitProgress(
        total, verbose=search.verbose, desc=type(search).__name__, client=client
    )


def warn_ignored_callbacks(search):
    """Warn that the callbacks set with ``set_callbacks`` are not called.

    The adaptive searches do not call scikit-learn's callbacks: their fit is a
    coroutine on the dask event loop (an awaitable under an asynchronous
    client) whose work is not a task tree known in advance, since models stop
    when the policy decides, and their models' ``partial_fit`` calls run on the
    workers as separate tasks.

    Parameters
    ----------
    search : estimator
        An adaptive search about to be fitted.
    """
    callbacks = getattr(search, "_skl_callbacks", None)
    if callbacks:
        warnings.warn(
            f"{type(search).__name__} does not call scikit-learn callbacks; the "
            f"callbacks {callbacks!r} set with set_callbacks are ignored. Use "
            "verbose=True for a progress bar, and the fitted history_ (or "
            "skhpo.plot.plot_adaptive_history) to monitor scores.",
            UserWarning,
            stacklevel=3,
        )
