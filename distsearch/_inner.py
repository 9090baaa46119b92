"""The inner split of a model helper's fit rows, for early stopping.

Shared by the LightGBM helpers (:mod:`distsearch.models`) and the Keras
helpers (``distsearch._keras``), so that neither imports the other for it.
Invariant: the split only ever divides the rows given to ``fit`` (a fold's
training rows inside a search), seeded by the helper's ``random_state``.
"""

import math
import numbers

import numpy as np
from sklearn.model_selection import train_test_split


def _check_validation_fraction(validation_fraction):
    if not (
        isinstance(validation_fraction, numbers.Real)
        and 0.0 < validation_fraction < 1.0
    ):
        raise ValueError(
            "validation_fraction must be a float in (0, 1); got "
            f"{validation_fraction!r}. To fit without early stopping, set "
            "early_stopping_rounds (LightGBM) or patience (Keras) to None."
        )


def _inner_split(y, validation_fraction, classifier, seed):
    """Split the fit rows into inner (train, validation) positions.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The targets of the rows given to ``fit``.
    validation_fraction : float in (0, 1)
        Share of the rows kept for early stopping (rounded up, at least 1).
    classifier : bool
        Stratify by class, when every class has enough rows for it.
    seed : int or None

    Returns
    -------
    train, validation : sorted ndarrays of int
        Disjoint positions in ``y`` covering all rows.
    """
    _check_validation_fraction(validation_fraction)
    y = np.asarray(y)
    n_samples = y.shape[0]
    stratify = None
    if classifier:
        labels = y if y.ndim == 1 else y.reshape(n_samples, -1)
        if labels.ndim == 2:
            labels = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
        _, counts = np.unique(labels, return_counts=True)
        n_val = math.ceil(validation_fraction * n_samples)
        if counts.min() >= 2 and min(n_val, n_samples - n_val) >= len(counts):
            stratify = labels
    train, validation = train_test_split(
        np.arange(n_samples),
        test_size=validation_fraction,
        stratify=stratify,
        random_state=seed,
    )
    return np.sort(train), np.sort(validation)
