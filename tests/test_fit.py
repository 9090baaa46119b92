"""A task holds as few copies of the data as possible (distsearch/_fit.py).

Measured without timing or RSS: X is an array that logs every copy of some
of its rows, and the model logs its fit and its predictions, with whether
the training rows it was fitted on are still alive (a weak reference). So
the log shows, in order, when each fold's training and test rows are copied
and when they are let go. The peak memory itself is measured by
``benchmarks/bench_backends.py --only memory``.
"""

import weakref

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold

from distsearch import MultiModelSearchCV

LOG = []


class LoggedRows(np.ndarray):
    """An array that logs the number of rows of each copy of some of its rows."""

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, (list, np.ndarray)):
            LOG.append(("copy rows", len(rows)))
        return super().__getitem__(key)


class Probe(RegressorMixin, BaseEstimator):
    """Predicts the mean; logs its fit and predictions (training rows alive?)."""

    def fit(self, X, y):
        LOG.append(("fit", len(X)))
        self.training_rows_ = weakref.ref(X)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        LOG.append(("predict", len(X), self.training_rows_() is not None))
        return np.full(len(X), self.mean_)


@pytest.fixture
def log():
    LOG.clear()
    yield LOG
    LOG.clear()


@pytest.mark.parametrize("return_train_score", [False, True])
def test_test_rows_copied_after_the_fit_training_rows_dropped_first(
    log, return_train_score
):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3)).view(LoggedRows)
    y = rng.standard_normal(30)
    MultiModelSearchCV(
        Probe(), {}, cv=KFold(3), refit=False, return_train_score=return_train_score
    ).fit(X, y)
    if return_train_score:  # the training rows are kept to be scored last
        task = [
            ("copy rows", 20),
            ("fit", 20),
            ("copy rows", 10),
            ("predict", 10, True),
            ("predict", 20, True),
        ]
    else:  # and let go before the test rows are copied
        task = [("copy rows", 20), ("fit", 20), ("copy rows", 10), ("predict", 10, False)]
    assert log == task * 3
