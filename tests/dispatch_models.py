"""Estimators for tests/test_dispatch.py.

dask and ray workers import this module by name (test_dispatch.py puts this
folder on their PYTHONPATH), as they would import a user's own models.
"""

import os
import signal
import time
import uuid
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge


class SlowRidge(Ridge):
    """Ridge whose fit first sleeps ``delay`` seconds and logs its start.

    The log file's name starts with the pid of the process that ran the fit.
    """

    def __init__(self, alpha=1.0, delay=0.0, log_dir=None):
        super().__init__(alpha=alpha)
        self.delay = delay
        self.log_dir = log_dir

    def fit(self, X, y):
        if self.log_dir is not None:
            Path(self.log_dir, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
        time.sleep(self.delay)
        return super().fit(X, y)


class LoggedRegressor(RegressorMixin, BaseEstimator):
    """Predicts the mean; writes one file per fit call; raises when ``fail``."""

    def __init__(self, fail=False, log_dir=None):
        self.fail = fail
        self.log_dir = log_dir

    def fit(self, X, y):
        Path(self.log_dir, f"{'fail' if self.fail else 'ok'}-{uuid.uuid4().hex}").touch()
        if self.fail:
            raise ValueError("this model always fails")
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class CrashingRegressor(RegressorMixin, BaseEstimator):
    """Predicts ``scale`` times the mean; ends its process when ``crash``.

    ``crash`` is ``"exit"`` (``os._exit(3)``), ``"segfault"`` (SIGSEGV sent to
    itself) or ``"hang"`` (sleeps for an hour: for ``fit_timeout``); False
    fits normally. Used by tests/test_crashes.py; workers import it by name.
    """

    def __init__(self, scale=1.0, crash=False):
        self.scale = scale
        self.crash = crash

    def fit(self, X, y):
        if self.crash == "exit":
            os._exit(3)
        if self.crash == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.crash == "hang":
            time.sleep(3600)
        self.mean_ = float(np.mean(y)) * self.scale
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class ExitOnceRidge(Ridge):
    """Ridge whose first fit ends its process (``os._exit(3)``): a worker lost once.

    The first fit to create the file ``marker`` exits; every other fit (and
    every fit when ``marker`` is None) is Ridge's.
    """

    def __init__(self, alpha=1.0, marker=None):
        super().__init__(alpha=alpha)
        self.marker = marker

    def fit(self, X, y):
        if self.marker is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(3)
        return super().fit(X, y)
