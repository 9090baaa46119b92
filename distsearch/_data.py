"""Tournament data: mock data sets and the user's own table.

A data spec is a dict with a ``kind``:

- ``"mock_regression"``: as the seed's flow, ``n_categorical_features``
  independent :func:`~sklearn.datasets.make_regression` sets (one per
  category, each with its own coefficients) concatenated, with a categorical
  column ``cat`` naming the set when there are two or more. The other keys are
  ``make_regression`` arguments (``n_samples`` is per category).
- ``"seed_regression"``: exactly the seed's rows (metaflow-helper's
  ``generate_data``): ``make_regression_init_kwargs`` maps each category key
  to its own :func:`~sklearn.datasets.make_regression` arguments (their
  ``random_state`` included); each call gives columns ``num_0..``, a ``cat``
  column holding the key (even with one category) and the target, and the
  frames are concatenated in the dict's order. A category without a
  ``random_state`` is seeded from the tournament's seed (the seed's was
  unseeded). ``n_numeric_features``, when given, must equal every
  category's ``n_features``.
- ``"mock_classification"``: :func:`~sklearn.datasets.make_classification`.
- ``"mock_multilabel"``: :func:`~sklearn.datasets.make_multilabel_classification`.
- ``"file"``: a CSV or Parquet file (``path``) with a named ``target`` column
  (a list of 0/1 columns for multilabel targets); ``task`` is
  ``"regression"`` or ``"classification"``, inferred when left out as
  scikit-learn's ``type_of_target`` does (a float target with non-integer
  values is a regression target; integers and labels are classes);
  ``missing`` is ``"impute"`` (the default: missing feature values are
  imputed inside each candidate's pipeline) or ``"error"``.

Every table is checked before any fit (see :mod:`distsearch._datacheck`):
missing values, the target, the task, and whether the rows suffice for the
held-out split and the folds.

Numeric columns are the features as they are; non-numeric columns are
categorical (one-hot encoded inside each candidate's pipeline).
"""

import inspect
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.datasets import (
    make_classification,
    make_multilabel_classification,
    make_regression,
)

from ._datacheck import MISSING, DataSpecError, check_table
from ._seeding import derived_seed

_MAKERS = {
    "mock_regression": make_regression,
    "mock_classification": make_classification,
    "mock_multilabel": make_multilabel_classification,
}
_TASKS = ("regression", "classification")


class _Dataset(NamedTuple):
    """A tournament's data: features, target and what describes them."""

    X: pd.DataFrame
    y: object  # Series, or DataFrame of 0/1 columns for multilabel
    task: str  # "regression", "classification" or "multilabel"
    categorical: list
    description: str
    origin: str = ""  # what the data is, for error messages ("file data/x.csv")
    csv: bool = False  # whether rows are named by their line in a CSV file


def _maker_keys(kind):
    """The spec keys a mock kind accepts (its maker's arguments)."""
    keys = set(inspect.signature(_MAKERS[kind]).parameters)
    keys -= {"random_state", "coef", "return_X_y", "return_indicator", "return_distributions"}
    if kind == "mock_regression":
        keys.add("n_categorical_features")
    return keys


def _check_data_spec(spec):
    """Validate a data spec without loading anything; raises DataSpecError."""
    if not isinstance(spec, dict):
        raise DataSpecError(None, f"expected a dict with a 'kind' key, got {spec!r}")
    kinds = sorted([*_MAKERS, "file", "seed_regression"])
    kind = spec.get("kind")
    if kind not in kinds:
        raise DataSpecError("kind", f"expected one of {kinds}, got {kind!r}")
    if kind == "file":
        allowed = {"kind", "path", "target", "task", "missing"}
        for key in ("path", "target"):
            if key not in spec:
                raise DataSpecError(key, f"a 'file' data spec needs {key!r}")
        target = spec["target"]
        if not (
            isinstance(target, str)
            or (isinstance(target, list) and target and all(isinstance(t, str) for t in target))
        ):
            raise DataSpecError(
                "target", f"expected a column name or a list of them, got {target!r}"
            )
        if spec.get("task", "regression") not in _TASKS:
            raise DataSpecError("task", f"expected one of {list(_TASKS)}, got {spec['task']!r}")
        if spec.get("missing", "impute") not in MISSING:
            raise DataSpecError(
                "missing", f"expected one of {list(MISSING)}, got {spec['missing']!r}"
            )
        if Path(spec["path"]).suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise DataSpecError(
                "path", f"expected a .csv or .parquet file, got {spec['path']!r}"
            )
    elif kind == "seed_regression":
        allowed = {"kind", "make_regression_init_kwargs", "n_numeric_features"}
        _check_seed_regression(spec)
    else:
        allowed = {"kind"} | _maker_keys(kind)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise DataSpecError(
            unknown[0],
            f"unknown key for kind {kind!r}; expected keys among {sorted(allowed)}",
        )
    for key, value in spec.items():
        if key.startswith("n_") and not (
            isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
        ):
            raise DataSpecError(key, f"expected an int >= 1, got {value!r}")


def _check_seed_regression(spec):
    """Check a ``seed_regression`` spec's categories; raises DataSpecError."""
    key = "make_regression_init_kwargs"
    categories = spec.get(key)
    if not (isinstance(categories, dict) and categories):
        raise DataSpecError(
            key, f"expected a non-empty dict of category -> make_regression arguments, got {categories!r}"
        )
    allowed = set(inspect.signature(make_regression).parameters)
    widths = set()
    for category, kwargs in categories.items():
        where = f"{key}[{category!r}]"
        if not isinstance(kwargs, dict):
            raise DataSpecError(where, f"expected a dict of make_regression arguments, got {kwargs!r}")
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise DataSpecError(
                where, f"{unknown[0]!r} is not a make_regression argument; they are {sorted(allowed)}"
            )
        widths.add(kwargs.get("n_features", 100))
    if len(widths) > 1:
        raise DataSpecError(key, f"every category needs the same n_features, got {sorted(widths)}")
    n_numeric = spec.get("n_numeric_features")
    if n_numeric is not None and n_numeric not in widths:
        raise DataSpecError(
            "n_numeric_features", f"is {n_numeric!r}, but the categories have n_features {widths.pop()}"
        )


def _mock_regression(spec, seed):
    kwargs = {k: v for k, v in spec.items() if k not in ("kind", "n_categorical_features")}
    n_categories = spec.get("n_categorical_features", 1)
    frames = []
    for i in range(n_categories):
        X, y = make_regression(**kwargs, random_state=derived_seed(seed, i))
        frame = pd.DataFrame(X, columns=[f"num_{j}" for j in range(X.shape[1])])
        if n_categories > 1:
            frame["cat"] = f"type_{i}"
        frame["target"] = y
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop(columns="target"), frame["target"]


def _seed_regression(spec, seed):
    """The seed's ``generate_data``: one make_regression per category, in order."""
    frames = []
    for i, (category, kwargs) in enumerate(spec["make_regression_init_kwargs"].items()):
        kwargs = dict(kwargs)
        kwargs.setdefault("random_state", derived_seed(seed, i))
        kwargs["coef"] = False  # the seed discards the coefficients
        X, y = make_regression(**kwargs)
        frame = pd.DataFrame(X, columns=[f"num_{j}" for j in range(X.shape[1])])
        frame["cat"] = category
        frame["target"] = y
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop(columns="target"), frame["target"]


def _mock_classification(spec, seed, maker):
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    X, y = maker(**kwargs, random_state=derived_seed(seed, 0))
    X = pd.DataFrame(X, columns=[f"num_{j}" for j in range(X.shape[1])])
    if y.ndim == 2:
        return X, pd.DataFrame(y, columns=[f"label_{k}" for k in range(y.shape[1])])
    return X, pd.Series(y, name="target")


def _read_table(spec, base_dir):
    path = Path(spec["path"])
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise DataSpecError("path", f"file {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    else:
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise DataSpecError(
                "path", f'reading Parquet needs pyarrow: pip install "distsearch[parquet]" ({exc})'
            ) from exc
    targets = [spec["target"]] if isinstance(spec["target"], str) else spec["target"]
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise DataSpecError(
            "target", f"column(s) {missing} not in {path.name}; its columns are {list(frame.columns)}"
        )
    X = frame.drop(columns=targets)
    if isinstance(spec["target"], str):
        return X, frame[spec["target"]], path
    return X, frame[targets], path


def _load_data(spec, seed, base_dir=None):
    """Build or read the data a spec describes.

    Parameters
    ----------
    spec : dict
        A data spec (see the module docstring), already checked.
    seed : int
        Seed of the mock data.
    base_dir : str or Path, optional
        Directory that a relative file path is relative to.

    Returns
    -------
    _Dataset
    """
    kind = spec["kind"]
    task = None
    if kind == "file":
        X, y, path = _read_table(spec, base_dir)
        if not isinstance(y, pd.DataFrame):
            task = spec.get("task")
        origin, csv = f"file {path}", path.suffix.lower() == ".csv"
    else:
        if kind == "mock_regression":
            X, y = _mock_regression(spec, seed)
            task = "regression"
        elif kind == "seed_regression":
            X, y = _seed_regression(spec, seed)
            task = "regression"
        else:
            X, y = _mock_classification(spec, seed, _MAKERS[kind])
        args = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "kind")
        origin, csv = f"{kind} ({args}; seed {seed})", False
    task, task_note, missing = check_table(
        X, y, origin=origin, csv=csv, task=task, missing=spec.get("missing", "impute")
    )
    if kind != "file":
        task_note = None  # the mock kind sets the task
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    description = _describe(origin, X, y, task, categorical, task_note, missing)
    return _Dataset(X, y, task, categorical, description, origin, csv)


def _describe(origin, X, y, task, categorical, task_note=None, missing=None):
    """A few lines that describe a data set, for the summary."""
    lines = [
        f"source: {origin}",
        f"rows: {len(X)}, features: {X.shape[1]} "
        f"({X.shape[1] - len(categorical)} numeric, {len(categorical)} categorical"
        + (f": {', '.join(map(str, categorical))}" if categorical else "")
        + ")",
        f"task: {task}" + (f" ({task_note})" if task_note else ""),
    ]
    if missing:
        lines.append(
            "missing values, imputed in each candidate's pipeline (numeric: the median of "
            "the fold's training rows; categorical: a category of their own): "
            + ", ".join(f"{c} ({n} row{'s' if n > 1 else ''})" for c, n in missing.items())
        )
    if task == "regression":
        lines.append(
            f"target {y.name}: mean {y.mean():.4g}, std {y.std():.4g}, "
            f"min {y.min():.4g}, max {y.max():.4g}"
        )
    elif task == "classification":
        counts = y.value_counts().sort_index()
        lines.append(
            f"target {y.name}: {len(counts)} classes, counts "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
        )
    else:
        lines.append(
            f"targets: {y.shape[1]} labels, positives per label "
            + ", ".join(f"{c}: {int(y[c].sum())}" for c in y.columns)
        )
    return "\n".join(lines)
