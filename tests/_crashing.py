"""An estimator whose fit kills its own process, for tests on worker processes.

A module of its own, imported by its file name from ``tests/``: dask worker
processes (started by multiprocessing's spawn, with this process's
``sys.path``) can then unpickle it, which they cannot do for classes defined in
test modules imported by pytest's ``importlib`` mode.
"""

import os
import signal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class CrashingClassifier(ClassifierMixin, BaseEstimator):
    """SIGKILLs the process running ``fit`` when ``c > crash_above``, as a fit
    that segfaults or is killed for its memory would; scores peak at 0.3."""

    def __init__(self, c=0.5, crash_above=0.8):
        self.c = c
        self.crash_above = crash_above

    def fit(self, X, y):
        if self.c > self.crash_above:
            os.kill(os.getpid(), signal.SIGKILL)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return 1.0 - abs(self.c - 0.3)
