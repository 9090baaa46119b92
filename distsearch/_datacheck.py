"""Checks of a tournament's data, run on the loaded table before any fit.

Invariants:

- every check runs before the first model is fitted, and a failure is a
  :class:`~distsearch._data.DataSpecError` whose message names the data
  (the file, or the mock kind), the column and the rows at fault (rows are
  counted from 0 after the header, with the line of a CSV file);
  ``distsearch._data`` loads the data and calls these checks, this module
  imports nothing of the package;
- the task is what scikit-learn's :func:`~sklearn.utils.multiclass.type_of_target`
  says of the target ("continuous" is regression, "binary" and "multiclass"
  are classification, "multilabel-indicator" is multilabel), unless the
  config sets ``data['task']``; the description says which and why;
- missing feature values are imputed inside each candidate's pipeline (so on
  each fold's training rows only) or are an error, as ``data['missing']``
  says; a missing target value is always an error;
- the sizes are checked with the very held-out split the run makes
  (:func:`held_out_split`): the search part has at least ``n_splits`` rows,
  the held-out part at least one (one per class when stratified), and every
  class has at least 2 rows (a stratified split) and at least ``n_splits`` in
  the search part (a stratified fold).
"""

import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target

_TASK_OF_TYPE = {
    "continuous": "regression",
    "binary": "classification",
    "multiclass": "classification",
    "multilabel-indicator": "multilabel",
}
MISSING = ("impute", "error")
_SHOWN_ROWS = 5


class DataSpecError(ValueError):
    """A data spec, or the data it gives, is invalid; ``key`` names the entry at fault."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def _plain(value):
    """A numpy scalar as the Python value it holds (for a readable repr)."""
    return value.item() if isinstance(value, np.generic) else value


def _rows(index, csv):
    """``rows 2, 5 (lines 4, 7 of the file)``, at most a few of them."""
    index = [int(i) for i in index]
    shown = ", ".join(map(str, index[:_SHOWN_ROWS]))
    more = f" and {len(index) - _SHOWN_ROWS} more" if len(index) > _SHOWN_ROWS else ""
    text = f"row{'s' if len(index) > 1 else ''} {shown}{more}"
    if csv:
        lines = ", ".join(str(i + 2) for i in index[:_SHOWN_ROWS])
        text += f" (line{'s' if len(index) > 1 else ''} {lines}{more} of the file)"
    return text


def check_table(X, y, *, origin, csv, task=None, missing="impute"):
    """Check a loaded table and settle its task; raises DataSpecError.

    Parameters
    ----------
    X : pandas.DataFrame
        The feature columns.
    y : pandas.Series or pandas.DataFrame
        The target column (several for a multilabel target).
    origin : str
        What the data is, for the messages (``"file data/x.csv"``).
    csv : bool
        Whether rows are also named by their line in a CSV file.
    task : str or None
        The task set by the config, or None to infer it.
    missing : {"impute", "error"}
        What missing feature values do.

    Returns
    -------
    task : str
        "regression", "classification" or "multilabel".
    task_note : str
        How the task was settled, for the description.
    missing_columns : dict
        Feature column -> number of rows missing it (imputed in the pipelines).
    """
    targets = list(y.columns) if isinstance(y, pd.DataFrame) else [y.name]
    if len(X) == 0:
        raise DataSpecError("path", f"{origin} has no data rows (only a header?)")
    if len(X) == 1:
        raise DataSpecError("path", f"{origin} has a single data row; there is nothing to learn from")
    if X.shape[1] == 0:
        raise DataSpecError(
            "target",
            f"{origin} has no feature columns: its only column(s) {targets} are the target",
        )
    frame = y.to_frame() if isinstance(y, pd.Series) else y
    for column in frame.columns:
        absent = np.flatnonzero(frame[column].isna().to_numpy())
        if len(absent):
            raise DataSpecError(
                "target",
                f"{origin}: target column {column!r} has no value in {_rows(absent, csv)}; "
                "drop those rows or fill them in",
            )
    missing_columns = {}
    for column in X.columns:
        absent = np.flatnonzero(X[column].isna().to_numpy())
        if len(absent) == len(X):
            raise DataSpecError(
                "path", f"{origin}: feature column {column!r} has no value in any row; drop it"
            )
        if len(absent) and missing == "error":
            raise DataSpecError(
                "missing",
                f"{origin}: feature column {column!r} has no value in {_rows(absent, csv)} "
                "(data['missing'] = 'error'; 'impute' fills them in)",
            )
        if len(absent):
            missing_columns[column] = len(absent)

    kind = type_of_target(y)
    inferred = _TASK_OF_TYPE.get(kind)
    if isinstance(y, pd.DataFrame):
        if inferred != "multilabel":
            raise DataSpecError(
                "target",
                f"{origin}: the target columns {targets} are not 0/1 labels "
                f"(scikit-learn's type_of_target: {kind!r}); a list of targets is a "
                "multilabel target",
            )
        task, note = "multilabel", "several 0/1 target columns"
    elif task is not None:
        note = f"set by data['task']; scikit-learn's type_of_target: {kind!r}"
    elif inferred is None:
        raise DataSpecError(
            "task",
            f"{origin}: cannot tell the task from target column {targets[0]!r} "
            f"(scikit-learn's type_of_target: {kind!r}); set data['task']",
        )
    else:
        task = inferred
        note = (
            f"inferred: scikit-learn's type_of_target of {targets[0]!r} is {kind!r}; "
            "data['task'] overrides it"
        )
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataSpecError("task", f"'regression' needs a numeric target, got {y.dtype}")
    if task != "multilabel" and y.nunique() < 2:
        raise DataSpecError(
            "target",
            f"{origin}: target column {targets[0]!r} is constant ({_plain(y.iloc[0])!r} in every "
            "row); there is nothing to learn",
        )
    return task, note, missing_columns


def held_out_split(X, y, task, test_size, seed):
    """The run's seeded held-out split: ``X_train, X_test, y_train, y_test``.

    Stratified by class for classification.
    """
    stratify = y if task == "classification" else None
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)


def _split_sizes(n_rows, test_size):
    """(search rows, held-out rows) of ``train_test_split`` with a float test_size."""
    n_test = math.ceil(test_size * n_rows)
    return n_rows - n_test, n_test


def _rows_needed(test_size, n_train, n_test):
    """The fewest rows that leave ``n_train`` search rows and ``n_test`` held-out rows."""
    n = n_train + n_test
    while _split_sizes(n, test_size)[0] < n_train or _split_sizes(n, test_size)[1] < n_test:
        n += 1
    return n


def check_sizes(dataset, *, n_splits, test_size, seed, csv):
    """Check that the held-out split and the folds can be made; raises DataSpecError.

    Parameters
    ----------
    dataset : _Dataset
        The checked data (after any ``--quick`` subsample).
    n_splits : int
        The cross-validation folds.
    test_size : float
        The held-out share.
    seed : int
        The seed of the held-out split.
    csv : bool
        Whether rows are also named by their line in a CSV file.
    """
    origin, y = dataset.origin, dataset.y
    n_splits = max(n_splits, 2)  # n_splits=1 is one shuffled split: 2 rows at least
    n_rows = len(dataset.X)
    n_train, n_test = _split_sizes(n_rows, test_size)
    classes = y.value_counts(sort=False) if dataset.task == "classification" else None
    n_classes = len(classes) if classes is not None else 1
    if n_train < n_splits or n_test < n_classes:
        needed = _rows_needed(test_size, max(n_splits, n_classes), n_classes)
        raise DataSpecError(
            None,
            f"{origin} has {n_rows} rows: a held-out share of {test_size} leaves {n_train} "
            f"for the search and {n_test} held out, but {n_splits} folds need at least "
            f"{n_splits} search rows"
            + (f" and the {n_classes} classes at least {n_classes} held-out rows" if n_classes > 1 else "")
            + f"; use at least {needed} rows, or fewer folds (n_splits)",
        )
    if classes is None:
        return
    for label, count in classes.items():
        if count < 2:
            rows = np.flatnonzero((y == label).to_numpy())
            raise DataSpecError(
                "target",
                f"{origin}: class {_plain(label)!r} of target column {y.name!r} has a single row: "
                f"{_rows(rows, csv)}; the stratified held-out split needs at least 2 per "
                "class: add rows of it, or drop it",
            )
    _, _, y_train, _ = held_out_split(dataset.X, y, dataset.task, test_size, seed)
    for label, count in y_train.value_counts(sort=False).items():
        if count < n_splits:
            rows = np.flatnonzero((y == label).to_numpy())
            raise DataSpecError(
                "target",
                f"{origin}: class {_plain(label)!r} of target column {y.name!r} has {classes[label]} "
                f"rows: {_rows(rows, csv)}; {count} of them are in the search part after "
                f"the held-out split, fewer than the {n_splits} stratified folds, each of which "
                "needs one; add rows of it, drop it, or use fewer folds (n_splits)",
            )
