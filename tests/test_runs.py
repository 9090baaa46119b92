"""Run history: config and options kept in the run folder, `distsearch runs`, `show`, `--resume` checks."""

import json
import textwrap

import numpy as np
import pytest

from distsearch._cli import main
from distsearch._tournament import run_tournament

CONFIG = """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

data = {"kind": "mock_regression", "n_samples": 60, "n_features": 3, "noise": 20.0}
contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 100.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2]}),
]
n_splits = 3
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    config = folder / "config.py"
    config.write_text(textwrap.dedent(CONFIG))
    output = folder / "results"
    runs = [
        run_tournament(config, seed=seed, n_jobs=1, output=output, progress=False, log=lambda s: None)
        for seed in (0, 1)
    ]
    return config, output, runs


def test_the_run_folder_keeps_the_config_and_every_option(history):
    config, output, runs = history
    run_dir = runs[0].run_dir
    assert (run_dir / "config.py").read_text() == config.read_text()
    options = json.loads((run_dir / "options.json").read_text())
    assert options == {
        "config": str(config),
        "config_sha256": __import__("hashlib").sha256(config.read_bytes()).hexdigest(),
        "seed": 0,
        "quick": False,
        "backend": None,
        "scheduler_address": None,
        "n_jobs": 1,
        "output": str(output),
        "progress": False,
        "search": None,
        "n_trials": None,
        "mlflow": None,
    }
    record = json.loads((run_dir / "run.json").read_text())
    search = runs[0].search
    assert record["winner"] == search.best_model_name_ and record["metric"] == "r2"
    assert record["cv_score"] == search.cv_results_["mean_test_r2"][search.best_index_]
    assert record["test_score"] == runs[0].winner_test["r2"]
    assert record["wall_seconds"] > 0


def test_runs_lists_every_run(history, capsys):
    config, output, runs = history
    assert main(["runs", "--output", str(output)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "date", "config", "winner", "metric", "CV", "held-out", "wall", "s"]
    assert len(lines) == 3 and max(map(len, lines)) <= 100
    for line, run in zip(lines[1:], runs):
        cells = line.split()
        search = run.search
        assert cells[0] == run.run_id
        assert cells[4:7] == [search.best_model_name_, "r2", f"{search.cv_results_['mean_test_r2'][search.best_index_]:.4f}"]
        assert cells[7] == f"{run.winner_test['r2']:.4f}"
    # The two seeds gave two different runs.
    assert runs[0].winner_test["r2"] != runs[1].winner_test["r2"]


def test_show_prints_the_summary(history, capsys):
    _, output, runs = history
    assert main(["show", runs[1].run_id, "--output", str(output)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith((runs[1].run_dir / "summary.txt").read_text())
    assert "report.html" in shown and "run.json" in shown
    assert main(["show", "nope", "--output", str(output)]) == 2
    assert "no finished run 'nope'" in capsys.readouterr().err


def test_resume_with_another_config_or_seed_refuses_with_the_differences(history, tmp_path, capsys):
    config, output, runs = history
    changed = tmp_path / "config.py"
    changed.write_text(textwrap.dedent(CONFIG).replace("n_splits = 3", "n_splits = 4"))
    run_id = runs[0].run_id
    before = sorted(p.name for p in (output / run_id / "checkpoint").rglob("*"))
    code = main(["tournament", str(changed), "--resume", run_id, "--output", str(output), "--seed", "2",
                 "--no-progress", "--n-jobs", "1"])
    assert code == 2
    error = capsys.readouterr().err
    assert f"run {run_id} was started with other settings" in error
    assert f"config: {config} then, {changed} now; the contents differ" in error
    assert "-n_splits = 3" in error and "+n_splits = 4" in error
    assert "seed: 0 then, 2 now" in error
    # Nothing was fitted or rewritten.
    assert sorted(p.name for p in (output / run_id / "checkpoint").rglob("*")) == before
    assert (output / run_id / "config.py").read_text() == config.read_text()
    assert json.loads((output / run_id / "options.json").read_text())["seed"] == 0
    assert np.isfinite(json.loads((output / run_id / "run.json").read_text())["cv_score"])
