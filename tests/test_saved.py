"""The saved model: schema and packages in model.joblib / model.json, load_model's input checks."""

import importlib.metadata
import json
import textwrap

import joblib
import numpy as np
import pytest

from distsearch import SavedModel, load_model
from distsearch._tournament import run_tournament


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    config = folder / "config.py"
    config.write_text(textwrap.dedent("""
        from sklearn.linear_model import Ridge
        from sklearn.tree import DecisionTreeRegressor

        data = {"kind": "mock_regression", "n_samples": 60, "n_features": 3, "n_categorical_features": 3}
        contenders = [
            ("ridge", Ridge(), {"alpha": [1.0]}),
            ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [3]}),
        ]
        n_splits = 3
    """))
    return run_tournament(config, n_jobs=1, output=folder / "out", progress=False, log=lambda s: None)


def test_schema_and_packages_are_recorded(run):
    saved = joblib.load(run.run_dir / "model.joblib")
    X = run.dataset.X
    assert saved["schema"]["columns"] == list(X.columns)
    assert saved["schema"]["dtypes"] == {c: str(X[c].dtype) for c in X.columns}
    assert saved["schema"]["categories"] == {
        c: sorted(X[c].astype(str).unique()) for c in run.dataset.categorical
    }
    # What unpickling the pipeline needs, with the installed versions.
    packages = saved["packages"]
    assert {"scikit-learn", "numpy"} <= set(packages)
    assert all(packages[n] == importlib.metadata.version(n) for n in packages)
    assert "lightgbm" not in packages and "keras" not in packages
    # model.json repeats the plain metadata, readable without unpickling.
    plain = json.loads((run.run_dir / "model.json").read_text())
    assert plain["schema"] == saved["schema"] and plain["packages"] == packages
    assert plain["model_name"] == run.search.best_model_name_ and "estimator" not in plain


def test_load_model_predicts_as_the_estimator_and_checks_input(run):
    model = load_model(run.run_dir / "model.joblib")
    assert isinstance(model, SavedModel)
    X = run.dataset.X.head(20)
    estimator = joblib.load(run.run_dir / "model.joblib")["estimator"]
    np.testing.assert_array_equal(model.predict(X), estimator.predict(X))
    # Columns in another order, and an extra one, are fine.
    shuffled = X[X.columns[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(model.predict(shuffled), estimator.predict(X))

    column = run.dataset.categorical[0]
    with pytest.raises(ValueError, match=rf"X lacks the column\(s\) \['{column}'\]"):
        model.predict(X.drop(columns=column))
    unknown = X.copy()
    unknown.loc[unknown.index[:2], column] = "never-seen"
    with pytest.raises(ValueError, match=rf"column '{column}' has value\(s\) never seen in training: \['never-seen'\] \(in 2 row"):
        model.predict(unknown)
    numeric = next(c for c in X.columns if c not in run.dataset.categorical)
    bad = X.astype({numeric: object})
    bad.loc[bad.index[0], numeric] = "abc"
    with pytest.raises(ValueError, match=rf"column '{numeric}' is numeric in training .* not numbers: \['abc'\]"):
        model.predict(bad)
    with pytest.raises(ValueError, match="X must be a pandas DataFrame"):
        model.predict(X.to_numpy())


def test_load_model_checks_packages_before_unpickling(run, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "model.joblib").write_bytes((run.run_dir / "model.joblib").read_bytes())
    plain = json.loads((run.run_dir / "model.json").read_text())
    plain["packages"]["not-a-real-package-xyz"] = "1.2.3"
    (folder / "model.json").write_text(json.dumps(plain))
    with pytest.raises(ImportError, match=r"not installed: not-a-real-package-xyz \(saved with 1.2.3\)"):
        load_model(folder)
    del plain["packages"]["not-a-real-package-xyz"]
    plain["packages"]["numpy"] = "0.0.1"
    (folder / "model.json").write_text(json.dumps(plain))
    with pytest.warns(UserWarning, match=r"numpy 0.0.1 \(installed: "):
        load_model(folder)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "nowhere")
