"""--mlflow: a tournament logged to a local MLflow store (a SQLite file) and to a local `mlflow server`.

MLflow 3 refuses its plain-folder ``FileStore`` unless MLFLOW_ALLOW_FILE_STORE
is set; its local default is a SQLite file, used here.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (.ci/run installs it)")

from mlflow.tracking import MlflowClient  # noqa: E402

from distsearch._cli import main  # noqa: E402
from distsearch._results import sem, split_scores  # noqa: E402
from distsearch._tournament import run_tournament  # noqa: E402

CONFIG = """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

data = {"kind": "mock_regression", "n_samples": 50, "n_features": 3, "n_categorical_features": 2}
contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2]}),
]
n_splits = 3
"""


def write_config(folder, extra=""):
    path = folder / "config.py"
    path.write_text(textwrap.dedent(CONFIG) + extra)
    return path


def runs_of(client, experiment="distsearch"):
    (parent,) = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        filter_string="tags.distsearch.run_id != ''",
    )
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    return parent, children


def test_local_store_parent_children_artifacts_and_model(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = write_config(tmp_path, f"mlflow = {{'tracking_uri': {store!r}, 'experiment': 'tests'}}\n")
    # Artifacts under tmp_path (a SQLite store's default is ./mlruns).
    MlflowClient(store).create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    before = mlflow.get_tracking_uri()
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    assert mlflow.get_tracking_uri() == before  # the global URI is restored
    client = MlflowClient(store)
    parent, children = runs_of(client, "tests")
    assert any((tmp_path / "artifacts").rglob("report.html"))
    search = run.search
    results = search.cv_results_

    # The parent: settings, the winner's CV and held-out scores.
    assert parent.data.tags["distsearch.run_id"] == run.run_id
    assert parent.data.params["winner"] == search.best_model_name_
    assert parent.data.params["seed"] == "0" and parent.data.params["n_splits"] == "3"
    assert parent.data.metrics["test_r2"] == pytest.approx(run.winner_test["r2"])
    assert parent.data.metrics["cv_r2"] == pytest.approx(results["mean_test_r2"][search.best_index_])
    assert parent.data.metrics["cv_r2_sem"] == pytest.approx(sem(split_scores(search, "r2"))[search.best_index_])

    # A child per candidate: its model, parameters, scores and per-fold scores.
    assert len(children) == len(results["params"]) == 3
    for child in children:
        rank = int(child.data.tags["rank"])
        (index,) = np.flatnonzero(results["rank_test_r2"] == rank)
        assert child.data.params["model"] == results["model"][index]
        for key, value in results["params"][index].items():
            assert child.data.params[key.removeprefix("model__")] == str(value)
        assert child.data.metrics["mean_r2"] == pytest.approx(results["mean_test_r2"][index])
        assert child.data.metrics["mean_fit_time"] == pytest.approx(results["mean_fit_time"][index])
        folds = client.get_metric_history(child.info.run_id, "fold_r2")
        assert [m.step for m in sorted(folds, key=lambda m: m.step)] == [0, 1, 2]
        np.testing.assert_allclose(
            [m.value for m in sorted(folds, key=lambda m: m.step)],
            [results[f"split{k}_test_r2"][index] for k in range(3)],
        )

    # The report, plots and run files as artifacts; the final model with its signature.
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "summary.txt", "cv_results.csv", "options.json", "config.py", "plots", "model.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/scores.png", "plots/predicted-vs-true.png", "plots/hyperparameters-ridge.png"} <= plots
    model_uri = f"runs:/{parent.info.run_id}/model"
    mlflow.set_tracking_uri(store)
    try:
        info = mlflow.models.get_model_info(model_uri)
        assert [c["name"] for c in info.signature.inputs.to_dict()] == list(run.dataset.X.columns)
        logged = mlflow.sklearn.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(before)
    rows = run.dataset.X.head(10)
    import joblib

    np.testing.assert_allclose(logged.predict(rows), joblib.load(run.final_path)["estimator"].predict(rows))


def test_bad_mlflow_setting_fails_before_any_fit(tmp_path, capsys):
    config = write_config(tmp_path, "mlflow = 3\n")
    assert main(["tournament", str(config), "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "mlflow: expected True, a tracking URI" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A local `mlflow server` on 127.0.0.1 and a free port, stopped (with its workers) after the test."""
    port = free_port()
    executable = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or shutil.which("mlflow")
    server = subprocess.Popen(
        [
            executable, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--artifacts-destination", str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


@pytest.mark.timeout(600)  # the server's start (imports, database) is slow on a busy machine
def test_cli_logs_to_a_local_mlflow_server(tmp_path, mlflow_server, capsys):
    config = write_config(tmp_path)
    output = tmp_path / "out"
    code = main(["tournament", str(config), "--output", str(output), "--n-jobs", "1", "--no-progress",
                 "--mlflow", mlflow_server])
    assert code == 0
    assert "MLflow: run " in capsys.readouterr().out
    client = MlflowClient(mlflow_server)
    parent, children = runs_of(client)
    (run_dir,) = output.iterdir()
    assert parent.data.tags["distsearch.run_id"] == run_dir.name
    assert len(children) == 3
    results = pd.read_csv(run_dir / "cv_results.csv")
    assert sorted(c.data.metrics["mean_r2"] for c in children) == pytest.approx(sorted(results["mean_test_r2"]))
    # The artifacts went through the server to its artifact store.
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "plots"} <= artifacts
    assert any((tmp_path / "artifacts").rglob("report.html"))
    # The final model, logged with the run, through the server.
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        info = mlflow.models.get_model_info(f"runs:/{parent.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(before)
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["num_0", "num_1", "num_2", "cat"]
