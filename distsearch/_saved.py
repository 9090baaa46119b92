"""The tournament's saved model: its input schema, its packages, and ``load_model``.

``model.joblib`` (a joblib dict) holds the final estimator and its metadata,
among them ``schema`` (the training columns in order, their dtypes, the
categories seen in each categorical column) and ``packages`` (the
distributions whose classes make up the estimator, with their versions).
``model.json`` beside it repeats the metadata that is plain data, so the
packages can be checked before anything is unpickled.

Invariants:

- :func:`load_model` checks that every recorded package is installed before
  unpickling (a missing one is an ImportError naming it and the version the
  model was saved with) and warns, naming them, when installed versions
  differ;
- :meth:`SavedModel.predict` and friends check the input against the schema
  before predicting: a missing column, a non-numeric value in a numeric
  column and a category never seen in training are each a ValueError naming
  the column and the values; extra columns are ignored; missing values (NaN)
  are left to the pipeline's imputation;
- ``joblib.load`` unpickles: load only model files you trust.
"""

import importlib.metadata
import json
import warnings
from pathlib import Path

import pandas as pd

from ._versions import versions

MODEL = "model.joblib"
MODEL_JSON = "model.json"


def input_schema(X, categorical):
    """The schema of a training frame: columns, dtypes, categories seen."""
    return {
        "columns": [str(c) for c in X.columns],
        "dtypes": {str(c): str(X[c].dtype) for c in X.columns},
        "categories": {
            str(c): sorted({str(v) for v in X[c].dropna().unique()}) for c in categorical
        },
    }


def _objects(estimator):
    """The estimator, every estimator among its parameters and their fitted attributes."""
    seen, stack, found = set(), [estimator], []
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj)
        if hasattr(obj, "get_params") and not isinstance(obj, type):
            try:
                stack.extend(obj.get_params(deep=True).values())
            except Exception:  # noqa: BLE001 - an odd estimator: its class still counts
                pass
            stack.extend(v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_"))
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    return found


def required_packages(estimator):
    """The distributions (name -> version) needed to unpickle ``estimator``.

    Every class in the method resolution order of every object that makes
    up the estimator counts (a subclass of a scikeras wrapper needs scikeras;
    a fitted Keras model needs Keras and its backend).
    """
    roots = set()
    for obj in _objects(estimator):
        for cls in type(obj).__mro__:
            root = cls.__module__.split(".")[0]
            if root not in ("builtins", "abc", "typing"):
                roots.add(root)
    if "keras" in roots:
        try:
            import keras

            roots.add(keras.backend.backend())  # "jax", "tensorflow", "torch"
        except Exception:  # noqa: BLE001 - keras absent or unusable: nothing to add
            pass
    mapping = importlib.metadata.packages_distributions()
    names = sorted({name for root in roots for name in mapping.get(root, [])} | ({"distsearch"} & roots))
    installed = versions(names, of="distribution")
    return {name: version for name, version in installed.items() if version is not None}


def write_model_json(path, saved):
    """``model.json``: the saved metadata that is plain data (no estimator)."""
    plain = {k: v for k, v in saved.items() if k != "estimator"}
    Path(path).write_text(json.dumps(plain, indent=2, default=str) + "\n")


def _check_packages(packages, path):
    installed = versions(packages, of="distribution")
    missing = {n: v for n, v in packages.items() if installed[n] is None}
    if missing:
        raise ImportError(
            f"{path} needs package(s) that are not installed: "
            + ", ".join(f"{n} (saved with {v})" for n, v in missing.items())
            + "; install them, e.g. pip install "
            + " ".join(f"'{n}=={v}'" for n, v in missing.items())
        )
    changed = {n: (v, installed[n]) for n, v in packages.items() if installed[n] != v}
    if changed:
        warnings.warn(
            f"{path} was saved with other package versions than the installed ones: "
            + ", ".join(f"{n} {old} (installed: {new})" for n, (old, new) in changed.items())
            + "; its predictions may differ.",
            UserWarning,
            stacklevel=3,
        )


def load_model(path):
    """Load a tournament's ``model.joblib`` as a model that checks its input.

    Parameters
    ----------
    path : str or Path
        A ``model.joblib`` file, or the run folder that holds it. It is
        unpickled: load only files you trust.

    Returns
    -------
    SavedModel
        The final estimator behind a check of the input against the schema
        of the training data.

    Raises
    ------
    ImportError
        When a package the model needs is not installed (named, with the
        version the model was saved with). Differing installed versions
        give a UserWarning.

    Examples
    --------
    >>> import tempfile, textwrap, pathlib
    >>> from distsearch import load_model
    >>> from distsearch._tournament import run_tournament
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.py").write_text(textwrap.dedent('''
    ...     from sklearn.linear_model import Ridge
    ...     data = {"kind": "mock_regression", "n_samples": 40, "n_features": 2,
    ...             "n_categorical_features": 2}
    ...     contenders = [("ridge", Ridge(), {"alpha": [1.0]})]
    ...     n_splits = 3
    ... '''))
    >>> run = run_tournament(folder / "config.py", n_jobs=1, output=folder / "results",
    ...                      progress=False, log=lambda line: None)
    >>> model = load_model(run.run_dir)
    >>> model.schema["columns"], model.schema["categories"]
    (['num_0', 'num_1', 'cat'], {'cat': ['type_0', 'type_1']})
    >>> rows = run.dataset.X.head(3)
    >>> model.predict(rows).shape
    (3,)
    >>> model.predict(rows.drop(columns="num_1"))
    Traceback (most recent call last):
    ...
    ValueError: X lacks the column(s) ['num_1'] that the model was trained with; expected columns: ['num_0', 'num_1', 'cat'].
    >>> model.predict(rows.assign(cat="type_7"))
    Traceback (most recent call last):
    ...
    ValueError: column 'cat' has value(s) never seen in training: ['type_7'] (in 3 row(s)); seen: ['type_0', 'type_1'].
    """
    import joblib

    path = Path(path)
    if path.is_dir():
        path = path / MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    sidecar = path.with_name(MODEL_JSON)
    if sidecar.is_file():
        _check_packages(json.loads(sidecar.read_text()).get("packages", {}), path)
    saved = joblib.load(path)
    if not isinstance(saved, dict) or "estimator" not in saved:
        raise ValueError(f"{path} is not a distsearch tournament's model.joblib (a dict with 'estimator').")
    if not sidecar.is_file():
        _check_packages(saved.get("packages", {}), path)
    return SavedModel(saved)


class SavedModel:
    """A tournament's final model that checks its input against the training schema.

    Made by :func:`load_model` from the dict that ``model.joblib`` holds.

    Parameters
    ----------
    saved : dict
        The saved model: ``estimator`` (the fitted pipeline), ``schema``
        (see below) and its metadata.

    Attributes
    ----------
    estimator : estimator
        The fitted pipeline (preprocessing and the winning model).
    schema : dict
        The training data's ``columns`` (in order), their ``dtypes`` and,
        per categorical column, the ``categories`` seen.
    metadata : dict
        Everything else saved with it: model name, parameters, CV and
        held-out scores, packages and versions, run id.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> from distsearch import SavedModel
    >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    >>> model = SavedModel({
    ...     "estimator": LinearRegression().fit(X, [0.0, 2.0, 4.0]),
    ...     "schema": {"columns": ["x"], "dtypes": {"x": "float64"}, "categories": {}},
    ... })
    >>> model.predict(pd.DataFrame({"x": [3.0]})).round(6).tolist()
    [6.0]
    >>> model.predict(pd.DataFrame({"y": [3.0]}))
    Traceback (most recent call last):
    ...
    ValueError: X lacks the column(s) ['x'] that the model was trained with; expected columns: ['x'].
    """

    def __init__(self, saved):
        self.estimator = saved["estimator"]
        self.schema = saved.get("schema")
        self.metadata = {k: v for k, v in saved.items() if k not in ("estimator", "schema")}

    def __repr__(self):
        return f"SavedModel({self.metadata.get('model_name')!r}, run {self.metadata.get('run_id')!r})"

    def check_input(self, X):
        """``X`` checked against the schema and reduced to its columns, in order.

        Raises
        ------
        ValueError
            Naming the missing column(s), a numeric column with values that
            are not numbers, or the categories never seen in training.
        """
        if self.schema is None:
            return X
        columns = self.schema["columns"]
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"X must be a pandas DataFrame with the columns {columns}; got {type(X).__name__}."
            )
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ValueError(
                f"X lacks the column(s) {missing} that the model was trained with; expected columns: {columns}."
            )
        categories = self.schema["categories"]
        for column in columns:
            values = X[column]
            if column in categories:
                present = values.dropna().astype(str)
                unseen = present[~present.isin(categories[column])]
                if len(unseen):
                    raise ValueError(
                        f"column {column!r} has value(s) never seen in training: "
                        f"{sorted(unseen.unique().tolist())[:10]} (in {len(unseen)} row(s)); "
                        f"seen: {categories[column][:20]}."
                    )
            elif not pd.api.types.is_numeric_dtype(values):
                numbers = pd.to_numeric(values, errors="coerce")
                bad = values[numbers.isna() & values.notna()]
                if len(bad):
                    raise ValueError(
                        f"column {column!r} is numeric in training ({self.schema['dtypes'][column]}) but has "
                        f"value(s) that are not numbers: {bad.astype(str).unique().tolist()[:10]}."
                    )
                X = X.assign(**{column: numbers})
        return X[columns]

    def predict(self, X):
        """Predictions for ``X`` after :meth:`check_input`."""
        return self.estimator.predict(self.check_input(X))

    def predict_proba(self, X):
        """Class probabilities for ``X`` after :meth:`check_input` (classifiers)."""
        return self.estimator.predict_proba(self.check_input(X))

    def decision_function(self, X):
        """Decision function for ``X`` after :meth:`check_input`, where the model has one."""
        return self.estimator.decision_function(self.check_input(X))

