"""A bare ``pip install`` (no extras) never fails after the work.

A fresh virtual environment gets this checkout with its core dependencies
only (pip reuses its cache; ``--no-compile`` and a venv without pip of its
own keep it to about 15 s of CPU). In it, an sklearn-only config runs to a
complete run folder (the plots skipped and said so), and everything that
needs an extra stops before any fit with the extra to install. It runs in
the default suite, so in CI; ``-m "not install"`` leaves it out locally.
"""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

data = {"kind": "mock_regression", "n_samples": 80, "n_features": 4}
contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2, 3]}),
]
n_splits = 3
"""

# Run in the bare environment: what needs an extra stops before any fit.
API_CHECKS = r"""
import sys
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from distsearch import MultiModelSearchCV
from distsearch._cli import main
from distsearch.models import LightGBMRegressor

X, y = make_regression(n_samples=40, n_features=3, random_state=0)
for what, make in [
    ("progress", lambda: MultiModelSearchCV(Ridge(), {"alpha": [1.0]}, cv=2, progress=True).fit(X, y)),
    ("lightgbm", lambda: MultiModelSearchCV([("boost", LightGBMRegressor(), {})], cv=2).fit(X, y)),
    ("plot", lambda: MultiModelSearchCV(Ridge(), {"alpha": [1.0]}, cv=2).fit(X, y).plot_scores()),
    ("keras", lambda: __import__("distsearch.models").models.KerasRegressor),
]:
    try:
        make()
        print(what, "no error")
    except ImportError as exc:
        print(what, exc)
for argv in (["tournament"], ["tournament", "--backend", "dask"]):
    print("exit", main(argv + ["--output", "unused"]))
from distsearch._tournament import run_tournament

run = run_tournament("config.py", output="api-out", log=lambda line: None)  # progress: when installed
print("api", sorted(p.name for p in run.run_dir.iterdir()))
"""


@pytest.mark.install
@pytest.mark.timeout(900)
def test_bare_install_runs_an_sklearn_config_or_stops_up_front(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "distsearch", source / "distsearch", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile", str(source)],
        check=True,
    )
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.lower()
    for extra_package in ("matplotlib", "tqdm", "lightgbm", "keras", "distributed", "ray", "ipywidgets"):
        assert f"\n{extra_package}==" not in "\n" + listed  # truly bare

    (tmp_path / "config.py").write_text(textwrap.dedent(CONFIG))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(
        [str(venv / "bin" / "distsearch"), "tournament", "config.py", "--output", "out"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no progress without tqdm, and no error
    assert 'plots: skipped, matplotlib is not installed (pip install "distsearch[plot]")' in run.stdout
    (run_dir,) = (tmp_path / "out").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint", "config.py", "cv_results.csv", "model.joblib", "model.json", "options.json",
        "report.html", "run.json", "summary.txt",
    ]
    summary = (run_dir / "summary.txt").read_text()
    assert "Leaderboard: 4 candidates ranked by r2" in summary
    assert '  scores.png: matplotlib is not installed (pip install "distsearch[plot]")' in summary

    checks = subprocess.run(
        [str(python), "-c", API_CHECKS], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert checks.returncode == 0, checks.stderr
    assert checks.stdout.splitlines() == [
        "progress progress=True needs the 'tqdm' package: pip install \"distsearch[progress]\"",
        "lightgbm model 'boost' (LightGBMRegressor) needs the 'lightgbm' package: "
        "pip install \"distsearch[lightgbm]\"",
        "plot plot_scores needs the 'matplotlib' package: pip install \"distsearch[plot]\"",
        "keras distsearch.models.KerasRegressor needs the 'keras' package: pip install \"distsearch[keras]\"",
        "exit 2",
        "exit 2",
        # run_tournament with no options writes what the command did.
        f"api {sorted(p.name for p in run_dir.iterdir())}",
    ]
    assert "need ['lightgbm', 'keras', 'scikeras'], not installed: pip install \"distsearch[lightgbm,keras]\"" in checks.stderr
    assert "backend='dask' needs the 'distributed' package: pip install \"distsearch[dask]\"" in checks.stderr
    assert not (tmp_path / "unused").exists()
