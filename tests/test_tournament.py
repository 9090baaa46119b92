"""The tournament command: config files, data, the run and its run folder."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split

from distsearch._cli import main
from distsearch._config import ConfigError
from distsearch._tournament import _prepare, run_tournament

EXAMPLES = Path(__file__).parent.parent / "examples"

# Fast contenders for everything but the default path (Keras pays seconds of
# start-up per worker).
FAST_REGRESSION = """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 1.0, 10.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2, 4]}),
]
"""


def write_config(tmp_path, text, name="config.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def only_run_dir(output):
    (run_dir,) = list(output.iterdir())
    return run_dir


def summary_section(summary, heading):
    """The lines of ``summary.txt`` from ``heading`` to the next blank line."""
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def leaderboard_rows(summary):
    """The leaderboard rows of ``summary.txt`` as dicts (header -> cell)."""
    section = summary_section(summary, "Leaderboard:")
    header = re.split(r"\s{2,}", section[1].strip())
    return [dict(zip(header, re.split(r"\s{2,}", line.strip()))) for line in section[2:]]


def check_summary_against_cv_results(run_dir, metrics):
    """Every leaderboard number of summary.txt equals what cv_results.csv says."""
    summary = (run_dir / "summary.txt").read_text()
    results = pd.read_csv(run_dir / "cv_results.csv")
    rows = leaderboard_rows(summary)
    assert len(rows) == len(results)
    ranked = results.sort_values(f"rank_test_{metrics[0]}", kind="stable")
    n_splits = sum(1 for c in results if re.fullmatch(r"split\d+_test_" + metrics[0], c))
    for row, (_, expected) in zip(rows, ranked.iterrows()):
        assert int(row["rank"]) == expected[f"rank_test_{metrics[0]}"]
        assert row["model"] == expected["model"]
        for metric in metrics:
            splits = expected[[f"split{k}_test_{metric}" for k in range(n_splits)]].astype(float)
            sem = splits.std(ddof=1) / np.sqrt(n_splits)
            assert float(row[f"{metric} mean"]) == pytest.approx(expected[f"mean_test_{metric}"], abs=6e-5, nan_ok=True)
            assert float(row[f"{metric} sem"]) == pytest.approx(sem, abs=6e-5, nan_ok=True)
    return rows


def held_out_split(run):
    """The held-out rows of a run, split again from its data and seed."""
    stratify = run.dataset.y if run.dataset.task == "classification" else None
    return train_test_split(
        run.dataset.X,
        run.dataset.y,
        test_size=run.n_test,
        random_state=run.seed,
        stratify=stratify,
    )


def test_default_quick_run_as_the_readme_runs_it(tmp_path):
    """``python -m distsearch tournament --quick``: every file, every number."""
    output = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "distsearch", "tournament", "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    run_dir = only_run_dir(output)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint",
        "cv_results.csv",
        "hyperparameters-keras.png",
        "hyperparameters-lightgbm.png",
        "hyperparameters-ridge.png",
        "model.joblib",
        "model.json",
        "options.json",
        "parallel-keras.png",
        "parallel-lightgbm.png",
        "parallel-ridge.png",
        "predicted-vs-true.png",
        "report.html",
        "run.json",
        "scores.png",
        "summary.txt",
    ]
    # The progress bar went by; the console fits 100 columns, shows the
    # leaderboard and ends with the winner, its scores and the report.
    assert "18/18" in completed.stderr
    assert "Leaderboard: 6 candidates ranked by r2" in completed.stdout
    console = completed.stdout.splitlines()
    assert max(map(len, console[:-1])) <= 100
    assert console[-4].startswith("Winner: ") and console[-3].startswith("  CV r2: ")
    assert console[-2].startswith("  held-out r2: ")
    assert console[-1] == f"Report: {run_dir.relative_to(tmp_path) / 'report.html'}"  # run in tmp_path

    rows = check_summary_against_cv_results(run_dir, ["r2", "neg_root_mean_squared_error"])
    assert {row["model"] for row in rows} == {"lightgbm", "keras", "ridge"}
    # The early-stopping models report their best iterations, per candidate.
    results = pd.read_csv(run_dir / "cv_results.csv")
    for row, (_, expected) in zip(rows, results.sort_values("rank_test_r2", kind="stable").iterrows()):
        if expected["model"] == "ridge":
            assert row["best iter"] == "-"
        else:
            assert 1 <= float(row["best iter"]) <= 20  # --quick caps training at 20
            assert float(row["best iter"]) == pytest.approx(expected["mean_best_iteration"], abs=0.05)

    summary = (run_dir / "summary.txt").read_text()
    model = joblib.load(run_dir / "model.joblib")
    winner = rows[0]["model"]
    held_out = summary_section(summary, "Held-out test set")
    assert held_out[1].startswith(f"  winner {winner} (rank 1")
    assert f"r2 = {model['test_score']['r2']:.4f}" in held_out[1]
    assert held_out[2].startswith("  ensemble, voting of the top 3:")
    assert "seed: 0   backend: loky" in summary
    assert "rows: 2000" in summary and "held-out test set: 60 rows" in summary
    for heading in ("Best candidate per model", "Failed candidates", "Timings", "Versions"):
        assert heading in summary

    # The saved model: what it needs to be used, and it predicts.
    assert model["model_name"] == winner
    assert model["feature_names"] == [f"num_{j}" for j in range(10)] + ["cat"]
    assert model["versions"]["scikit-learn"]
    assert model["task"] == "regression" and model["seed"] == 0
    frame = pd.DataFrame(np.zeros((4, 10)), columns=model["feature_names"][:-1])
    frame["cat"] = "type_1"
    assert model["estimator"].predict(frame).shape == (4,)

    for png in ("scores.png", "predicted-vs-true.png"):
        image = imread(run_dir / png)
        assert image.ndim == 3 and min(image.shape[:2]) > 300


def test_regression_run_scores_the_winner_and_ensemble_on_held_out_rows(tmp_path):
    config = write_config(
        tmp_path,
        FAST_REGRESSION
        + """
data = {"kind": "mock_regression", "n_categorical_features": 3, "n_samples": 60, "n_features": 5, "noise": 5.0}
n_splits = 4
test_size = 0.25
scoring = {"r2": "r2", "mae": "neg_mean_absolute_error"}
ensemble = {"method": "stacking", "top_k": 3}
""",
    )
    run = run_tournament(config, seed=3, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert run.dataset.X["cat"].nunique() == 3 and len(run.dataset.X) == 180
    assert (run.n_train, run.n_test) == (135, 45)
    check_summary_against_cv_results(run.run_dir, ["r2", "mae"])

    X_train, X_test, y_train, y_test = held_out_split(run)
    assert len(run.search.best_estimator_.predict(X_test)) == 45
    for metric, scorer in (("r2", "r2"), ("mae", "neg_mean_absolute_error")):
        expected = get_scorer(scorer)(run.search.best_estimator_, X_test, y_test)
        assert run.winner_test[metric] == pytest.approx(expected)
        expected = get_scorer(scorer)(run.ensemble["estimator"], X_test, y_test)
        assert run.ensemble["test"][metric] == pytest.approx(expected)
    # The ensemble was fitted on the search rows only.
    assert run.ensemble["estimator"].n_features_in_ == X_train.shape[1]
    assert len(run.ensemble["estimator"].estimators_) == 3
    summary = (run.run_dir / "summary.txt").read_text()
    assert f"ensemble, stacking of the top 3: " in summary
    assert f"mae = {run.ensemble['test']['mae']:.4f}" in summary
    # The final model is the winner refit on every row.
    final = joblib.load(run.run_dir / "model.joblib")["estimator"]
    np.testing.assert_allclose(
        final.predict(X_test),
        clone(run.search.best_estimator_).fit(run.dataset.X, run.dataset.y).predict(X_test),
    )


def test_same_seed_same_run_whatever_the_backend(tmp_path):
    config = write_config(tmp_path, FAST_REGRESSION + "data = {'kind': 'mock_regression', 'n_samples': 80, 'n_features': 5}\n")
    a, b = (
        run_tournament(
            config, seed=5, n_jobs=n_jobs, backend=backend, output=tmp_path / "out", progress=False, log=lambda s: None
        )
        for n_jobs, backend in ((1, None), (2, "threading"))
    )
    assert a.run_dir != b.run_dir
    assert "backend: loky   n_jobs: 1" in (a.run_dir / "summary.txt").read_text()
    assert "backend: threading   n_jobs: 2" in (b.run_dir / "summary.txt").read_text()
    drop = lambda frame: frame.drop(columns=[c for c in frame if c.endswith("_time")])  # noqa: E731
    pd.testing.assert_frame_equal(
        drop(pd.read_csv(a.run_dir / "cv_results.csv")), drop(pd.read_csv(b.run_dir / "cv_results.csv"))
    )
    assert a.winner_test == b.winner_test


def test_classification_run(tmp_path):
    config = write_config(
        tmp_path,
        """
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

data = {"kind": "mock_classification", "n_samples": 240, "n_classes": 3, "n_informative": 4}
contenders = [
    ("logistic", LogisticRegression(), {"C": [0.1, 1.0]}),
    ("tree", DecisionTreeClassifier(random_state=0), {"max_depth": [2, 4]}),
]
n_splits = 3
scoring = ["roc_auc_ovr", "accuracy"]
ensemble = {"method": "voting", "top_k": 2}
""",
    )
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert run.dataset.task == "classification"
    assert type(run.cv).__name__ == "StratifiedKFold"
    check_summary_against_cv_results(run.run_dir, ["roc_auc_ovr", "accuracy"])
    assert run.ensemble["estimator"].voting == "soft"
    _, X_test, _, y_test = held_out_split(run)
    # Stratified held-out split: each class keeps its share.
    assert y_test.value_counts().min() >= 15
    expected = get_scorer("accuracy")(run.search.best_estimator_, X_test, y_test)
    assert run.winner_test["accuracy"] == pytest.approx(expected)
    names = {p.name for p in run.run_dir.iterdir()}
    assert {"confusion-matrix.png", "roc-curve.png"} <= names
    assert "predicted-vs-true.png" not in names
    assert joblib.load(run.run_dir / "model.joblib")["classes"] == [0, 1, 2]


def test_multilabel_run_with_default_contenders(tmp_path):
    config = write_config(
        tmp_path,
        """
data = {"kind": "mock_multilabel", "n_samples": 200, "n_classes": 3, "n_features": 8}
n_splits = 3
""",
    )
    run = run_tournament(config, n_jobs=2, quick=True, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert run.dataset.task == "multilabel"
    assert list(run.dataset.y.columns) == ["label_0", "label_1", "label_2"]
    assert set(run.search.cv_results_["model"]) == {"forest", "knn", "ridge"}
    check_summary_against_cv_results(run.run_dir, ["f1_micro", "jaccard_samples"])
    _, X_test, _, y_test = held_out_split(run)
    expected = get_scorer("f1_micro")(run.search.best_estimator_, X_test, y_test)
    assert run.winner_test["f1_micro"] == pytest.approx(expected)
    assert {"confusion-matrix.png", "roc-curve.png"} <= {p.name for p in run.run_dir.iterdir()}
    assert joblib.load(run.run_dir / "model.joblib")["target"] == ["label_0", "label_1", "label_2"]


def test_csv_input_with_a_categorical_column(tmp_path):
    rng = np.random.RandomState(0)
    n = 150
    frame = pd.DataFrame(
        {"size": rng.normal(size=n), "colour": rng.choice(["red", "blue", "green"], size=n)}
    )
    frame["bought"] = np.where(frame["size"] + (frame["colour"] == "red") > 0.5, "yes", "no")
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "shop.csv", index=False)
    config = write_config(
        tmp_path,
        """
from sklearn.linear_model import LogisticRegression

data = {"kind": "file", "path": "data/shop.csv", "target": "bought"}
contenders = [("logistic", LogisticRegression(), {"C": [0.1, 10.0]})]
n_splits = 3
""",
    )
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert run.dataset.task == "classification" and run.dataset.categorical == ["colour"]
    summary = (run.run_dir / "summary.txt").read_text()
    assert "features: 2 (1 numeric, 1 categorical: colour)" in summary
    assert "target bought: 2 classes" in summary
    model = joblib.load(run.run_dir / "model.joblib")
    assert model["feature_names"] == ["size", "colour"]
    assert model["target"] == "bought"
    predicted = model["estimator"].predict(frame[["size", "colour"]])
    assert set(predicted) <= {"yes", "no"}
    assert (predicted == frame["bought"]).mean() > 0.8


def test_parquet_input_regression_with_an_absolute_path(tmp_path):
    rng = np.random.RandomState(1)
    frame = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
    frame["price"] = 3.0 * frame["a"] - frame["b"] + rng.normal(scale=0.1, size=90)
    frame.to_parquet(tmp_path / "prices.parquet")
    config = write_config(
        tmp_path,
        f"""
from sklearn.linear_model import Ridge

data = {{"kind": "file", "path": {str(tmp_path / "prices.parquet")!r}, "target": "price"}}
contenders = [("ridge", Ridge(), {{"alpha": [0.1, 1.0]}})]
n_splits = 3
""",
    )
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert run.dataset.task == "regression"
    assert run.winner_test["r2"] > 0.95
    assert (run.run_dir / "predicted-vs-true.png").exists()


def test_seed_style_contenders_spec(tmp_path):
    config = write_config(
        tmp_path,
        """
from scipy.stats import loguniform

data = {"kind": "mock_regression", "n_samples": 100, "n_features": 5}
contenders_spec = [
    {
        "__model": ["sklearn.linear_model.Ridge"],
        "__model__init_kwargs__alpha": loguniform(1e-2, 1e2),
        "__n_iter": 3,
    },
    {
        "__model": ["sklearn.tree.DecisionTreeRegressor"],
        "__model__init_kwargs__max_depth": [2, 3],
        "__model__init_kwargs__random_state": [0],
    },
]
n_splits = 3
scoring = "r2"
""",
    )
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    models = list(run.search.cv_results_["model"])
    assert models == ["Ridge"] * 3 + ["DecisionTreeRegressor"] * 2
    check_summary_against_cv_results(run.run_dir, ["r2"])


def test_a_failing_candidate_is_reported_and_the_run_goes_on(tmp_path):
    config = write_config(
        tmp_path,
        """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

data = {"kind": "mock_regression", "n_samples": 90, "n_features": 5}
contenders = [
    ("ridge", Ridge(), {"alpha": [1.0, -1.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [3]}),
]
n_splits = 3
ensemble = {"method": "voting", "top_k": 3}
""",
    )
    lines = []
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append)
    assert "candidate of rank 3 (ridge) failed: sklearn.utils._param_validation.InvalidParameterError" in "\n".join(
        lines
    )
    (failure,) = run.failures
    assert failure["model"] == "ridge" and failure["params"] == {"model__alpha": -1.0}
    assert failure["rank"] == 3 and failure["failed_folds"] == [0, 1, 2]
    assert failure["error"].startswith(
        "sklearn.utils._param_validation.InvalidParameterError: The 'alpha' parameter of Ridge"
    )
    summary = (run.run_dir / "summary.txt").read_text()
    section = summary_section(summary, "Failed candidates")
    assert section[1].startswith(
        "  rank 3 ridge (alpha=-1) failed on fold(s) [0, 1, 2]: sklearn.utils._param_validation.InvalidParameterError"
    )
    rows = check_summary_against_cv_results(run.run_dir, ["r2"])
    assert rows[2]["r2 mean"] == "nan"
    # The ensemble leaves the failed candidate out.
    assert run.ensemble["description"].startswith("voting of the top 2: ")
    assert (run.run_dir / "model.joblib").exists()


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("n_splits = 0\n", "n_splits", "expected an int >= 1 (1: one train/validation split), got 0"),
        ("n_split = 5\n", "n_split", "unknown key"),
        ("score_path = 'r2'\n", "score_path", "expected a dotted metric function"),
        ("test_size = 20\n", "test_size", "expected a float between 0 and 1, got 20"),
        ("scoring = 'r_two'\n", "scoring", "'r_two' is not a scikit-learn scorer name"),
        ("scoring = ['r2']\nrank_by = 'mae'\n", "rank_by", "expected one of the scoring metrics ['r2']"),
        ("data = {'kind': 'mock_regression', 'n_sample': 9}\n", "data['n_sample']", "unknown key"),
        ("data = {'kind': 'file', 'path': 'nowhere.csv', 'target': 'y'}\n", "data['path']", "does not exist"),
        ("ensemble = {'method': 'bagging'}\n", "ensemble", "expected None or {'method'"),
        ("fit_timeout = -1\n", "fit_timeout", "expected None or a number of seconds > 0, got -1"),
        (
            "data = {'kind': 'mock_classification', 'n_features': 2}\n",
            "data",
            "ValueError: Number of informative, redundant and repeated features",
        ),
        (
            "from sklearn.linear_model import Ridge\ncontenders = [('ridge', Ridge(), {'alpah': [1.0]})]\n",
            "contenders",
            "has no parameter 'alpah'",
        ),
        (
            "from sklearn.linear_model import LogisticRegression\n"
            "contenders = [('logistic', LogisticRegression(), {'C': [1.0]})]\n",
            "contenders",
            "is not a regressor, but the data is a regression task",
        ),
        (
            "contenders_spec = [{'__model': ['sklearn.linear_model.Nothing']}]\n",
            "contenders_spec",
            "Nothing",
        ),
    ],
)
def test_bad_config_fails_before_any_fit(tmp_path, capsys, text, key, expected):
    config = write_config(tmp_path, text, name="bad.py")
    output = tmp_path / "out"
    assert main(["tournament", str(config), "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"distsearch tournament: configuration error: {config}: {key}: ")
    assert expected in error
    assert not output.exists()  # the run never started


@pytest.mark.parametrize("name", ["regression.py", "classification.py", "seed_contenders_spec.py"])
def test_examples_are_valid_configs(name):
    """Every example loads and resolves to its contenders (nothing is fitted)."""
    config, dataset, models, n_iter, scoring, rank_by, n_splits = _prepare(
        EXAMPLES / name, seed=0, quick=False
    )
    assert config.source == str(EXAMPLES / name)
    assert len(models) >= 2 and n_splits == 5
    assert rank_by in scoring
    assert dataset.task == ("classification" if name == "classification.py" else "regression")


def test_bad_config_error_from_the_python_api(tmp_path):
    config = write_config(tmp_path, "n_splits = 'five'\n")
    with pytest.raises(ConfigError, match=r"config.py: n_splits: expected an int >= 1 \(1: one train/validation split\), got 'five'") as info:
        run_tournament(config, output=tmp_path / "out")
    assert info.value.key == "n_splits"


def test_bad_option_fails_before_the_run(tmp_path, capsys):
    output = tmp_path / "out"
    assert main(["tournament", "--scheduler-address", "tcp://127.0.0.1:8786", "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "configuration error: options: backend: address='tcp://127.0.0.1:8786' is only used with" in error
    assert not output.exists()


def test_help_lists_the_options():
    completed = subprocess.run(
        [sys.executable, "-m", "distsearch", "tournament", "--help"], capture_output=True, text=True
    )
    assert completed.returncode == 0
    for option in ("--backend", "--scheduler-address", "--n-jobs", "--seed", "--output", "--quick"):
        assert option in completed.stdout


def test_halving_search_setting_and_rounds_in_the_log(tmp_path):
    config = write_config(
        tmp_path,
        """
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

data = {"kind": "mock_regression", "n_samples": 300, "n_features": 5}
n_splits = 3
search = "halving"
contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 1.0, 10.0]}),
    ("forest", RandomForestRegressor(n_estimators=9, random_state=0), {"max_depth": [2, 6]}),
]
""",
    )
    lines = []
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append)
    search = run.search
    assert search.resource == search.resources_ == {"forest": "model__n_estimators"}
    assert search.n_candidates_ == [5, 2]
    rounds = [line for line in lines if line.startswith("halving round")]
    assert len(rounds) == 2
    assert rounds[0].startswith("halving round 0: 5 candidates: ridge 3 (")
    assert "forest 2 (3 n_estimators)" in rounds[0]
    summary = (run.run_dir / "summary.txt").read_text()
    assert "Successive halving rounds" in summary
    for line in rounds:  # the summary has the log's rounds
        assert "  " + line.removeprefix("halving ") + "\n" in summary
