"""Mistakes caught before the first fit: the data, the options, the output folder.

Every case runs the command line in-process and expects exit status 2 with a
message naming what is wrong, and no run folder (nothing was fitted).
"""

import socket
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distsearch._cli import main
from distsearch._tournament import _new_run_id, run_tournament

RIDGE = """
from sklearn.linear_model import Ridge
contenders = [("ridge", Ridge(), {"alpha": [1.0]})]
"""
LOGISTIC = """
from sklearn.linear_model import LogisticRegression
contenders = [("logistic", LogisticRegression(), {"C": [1.0]})]
"""


def write_case(tmp_path, csv, data_extra="", settings="", models=RIDGE):
    """``data.csv`` and a config reading it (target ``y``) with ``models``."""
    (tmp_path / "data.csv").write_text(csv)
    config = tmp_path / "config.py"
    data = f"data = {{'kind': 'file', 'path': 'data.csv', 'target': 'y'{data_extra}}}\n"
    config.write_text(textwrap.dedent(models) + data + settings)
    return config


def usage_error(capsys, argv):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("distsearch tournament: configuration error: ")
    assert "Traceback" not in err
    return err


def rows_csv(n, target=lambda i: 1.5 * i + (i % 3)):
    return "a,b,y\n" + "".join(f"{i},{(i * 7) % 5},{target(i)}\n" for i in range(n))


CSV_CASES = {
    "header only": ("a,b,y\n", "", "", RIDGE, ["data['path']", "data.csv has no data rows"]),
    "no feature columns": ("y\n1.5\n2.5\n3.5\n", "", "", RIDGE, ["no feature columns", "['y'] are the target"]),
    "missing target": (
        rows_csv(12).replace("\n4,3,7.0\n", "\n4,3,\n"),
        "",
        "",
        RIDGE,
        ["data['target']", "target column 'y' has no value in row 4 (line 6 of the file)"],
    ),
    "missing feature, error asked": (
        rows_csv(12).replace("\n2,4,", "\n2,,").replace("\n5,0,", "\n5,,"),
        ", 'missing': 'error'",
        "",
        RIDGE,
        ["data['missing']", "feature column 'b' has no value in rows 2, 5 (lines 4, 7 of the file)"],
    ),
    "empty feature column": (
        "a,b,y\n" + "".join(f"{i},,{i}.5\n" for i in range(12)),
        "",
        "",
        RIDGE,
        ["feature column 'b' has no value in any row"],
    ),
    "constant target": (rows_csv(12, target=lambda i: 2.5), "", "", RIDGE, ["target column 'y' is constant (2.5"]),
    "one row": (rows_csv(1), "", "", RIDGE, ["data['path']", "data.csv has a single data row"]),
    "two rows": (rows_csv(2), "", "", RIDGE, ["has 2 rows", "use at least 7 rows"]),
    "more folds than rows": (
        rows_csv(8),
        "",
        "n_splits = 10\n",
        RIDGE,
        ["has 8 rows", "leaves 6 for the search", "10 folds need at least 10", "use at least 13 rows"],
    ),
    "a class of one row": (
        rows_csv(20, target=lambda i: "rare" if i == 13 else ("x" if i % 2 else "z")),
        "",
        "",
        LOGISTIC,
        ["data['target']", "class 'rare' of target column 'y' has a single row: row 13 (line 15 of the file)"],
    ),
    "a class too small for the folds": (
        rows_csv(30, target=lambda i: "rare" if i in (3, 13, 23) else ("x" if i % 2 else "z")),
        "",
        "",
        LOGISTIC,
        ["class 'rare' of target column 'y' has 3 rows: rows 3, 13, 23 (lines 5, 15, 25 of the file)", "fewer than the 5 stratified folds"],
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_data_is_an_exit_2_error_before_any_fit(tmp_path, capsys, case):
    csv, data_extra, settings, models, expected = CSV_CASES[case]
    config = write_case(tmp_path, csv, data_extra, settings, models)
    output = tmp_path / "out"
    err = usage_error(capsys, ["tournament", str(config), "--output", str(output), "--no-progress"])
    assert f"{config}: data" in err
    assert str(tmp_path / "data.csv") in err  # names the file
    for fragment in expected:
        assert fragment in err
    assert not output.exists()  # no run folder: the run never started


def test_missing_features_are_imputed_and_named_in_the_summary(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "colour": rng.choice(["red", "blue"], 60)})
    frame["y"] = 2.0 * frame["a"] + (frame["colour"] == "red") + rng.normal(scale=0.1, size=60)
    frame.loc[[3, 9, 40], "a"] = np.nan
    frame.loc[[7], "colour"] = np.nan
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = write_case(tmp_path, frame.to_csv(index=False), settings="n_splits = 3\n")
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lambda s: None)
    # Every fit succeeded: the NaN were imputed inside the pipelines.
    assert np.isfinite(run.search.cv_results_["mean_test_r2"]).all() and not run.failures
    summary = (run.run_dir / "summary.txt").read_text()
    assert "missing values, imputed in each candidate's pipeline" in summary
    assert "a (3 rows), colour (1 row)" in summary
    imputer = run.search.best_estimator_.named_steps["prep"].named_transformers_["num"][0]
    # The median of the fold's (here: the search part's) rows, not of all rows.
    X_train = run.search.best_estimator_.named_steps["prep"].feature_names_in_
    assert list(X_train) == ["a", "colour"]
    assert imputer.statistics_[0] != pytest.approx(float(frame["a"].median()))


@pytest.mark.parametrize(
    "target, setting, task, note",
    [
        (lambda i: i % 4, "", "classification", "type_of_target of 'y' is 'multiclass'"),
        (lambda i: i % 4, ", 'task': 'regression'", "regression", "set by data['task']"),
        (lambda i: 0.5 * i, "", "regression", "type_of_target of 'y' is 'continuous'"),
    ],
)
def test_task_is_inferred_as_scikit_learn_does_and_printed(tmp_path, target, setting, task, note):
    from distsearch._tournament import _prepare

    models = LOGISTIC if task == "classification" else RIDGE
    config = write_case(tmp_path, rows_csv(40, target), setting, models=models)
    _, dataset, *_ = _prepare(config, seed=0, quick=False)
    assert dataset.task == task
    assert f"task: {task} (" in dataset.description and note in dataset.description


@pytest.mark.parametrize(
    "argv, key, fragment",
    [
        (["--n-jobs", "0"], "n_jobs", "expected a positive int, or a negative one (-1: all cores), got 0"),
        (["--seed", "-1"], "seed", "expected an int between 0 and 2**32 - 1, got -1"),
    ],
)
def test_bad_option_is_an_exit_2_error(tmp_path, capsys, argv, key, fragment):
    err = usage_error(capsys, ["tournament", "--output", str(tmp_path / "out"), *argv])
    assert f"options: {key}: {fragment}" in err


def test_unwritable_output_is_an_exit_2_error(tmp_path, capsys):
    config = write_case(tmp_path, rows_csv(20))
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for output, fragment in (
        (a_file, f"{a_file} is a file, not a folder"),
        (a_file / "below", f"{a_file} is a file, not a folder"),
        (Path("/proc/distsearch-results"), "cannot create a run folder in /proc/distsearch-results"),
        (Path("/sys/distsearch-results"), "cannot create a run folder in /sys/distsearch-results"),
    ):
        err = usage_error(capsys, ["tournament", str(config), "--output", str(output), "--no-progress"])
        assert f"options: output: {fragment}" in err


def test_dead_scheduler_address_fails_fast(tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    err = usage_error(
        capsys,
        ["tournament", "--backend", "dask", "--scheduler-address", address, "--output", str(tmp_path / "out")],
    )
    assert f"options: scheduler_address: No dask scheduler answers at {address} (Connection refused" in err
    assert "leave --scheduler-address out" in err
    assert not (tmp_path / "out").exists()


def test_run_ids_are_unique_under_concurrent_starts(tmp_path):
    n = 96
    barrier = threading.Barrier(n)

    def start(_):
        barrier.wait()
        return _new_run_id(tmp_path)

    with ThreadPoolExecutor(n) as pool:
        ids = list(pool.map(start, range(n)))
    assert len(set(ids)) == n
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


# ----------------------------------------------------------------------
# Failed fits: kept on the search, and a model failing on every candidate
# ----------------------------------------------------------------------
def test_a_model_failing_on_every_candidate_gets_its_own_warning():
    from sklearn.datasets import make_regression
    from sklearn.exceptions import FitFailedWarning
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from distsearch import MultiModelSearchCV

    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    search = MultiModelSearchCV(
        [
            ("ridge", Ridge(), {"alpha": [0.1, 1.0]}),
            # A Pipeline takes no sample_weight: each of its fits fails.
            ("pipe", make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [1.0, 10.0]}),
        ],
        cv=3,
    )
    with pytest.warns(FitFailedWarning) as caught:
        search.fit(X, y, sample_weight=np.ones(60))
    own = [str(w.message) for w in caught if "Every fit of model" in str(w.message)]
    assert own == [
        "Every fit of model 'pipe' failed (6 fits of 2 candidates); its first error: "
        + search.fit_errors_[2, 0].strip().splitlines()[-1]
        + " (all errors: fit_errors_)"
    ]
    assert own[0].split("its first error: ")[1].startswith(
        "ValueError: Pipeline.fit does not accept the sample_weight parameter"
    )
    assert sorted(search.fit_errors_) == [(c, k) for c in (2, 3) for k in range(3)]
    assert all(e.startswith("Traceback (most recent call last):") for e in search.fit_errors_.values())
    assert list(search.cv_results_["model"][[2, 3]]) == ["pipe", "pipe"]
    assert search.best_model_name_ == "ridge"
    search.fit(X, y)
    assert search.fit_errors_ == {}


def test_the_tournament_reports_the_searchs_errors_without_refitting(tmp_path, monkeypatch):
    config = write_case(
        tmp_path,
        rows_csv(30),
        settings="n_splits = 3\n",
        models="""
from sklearn.linear_model import Ridge
from tests_checks_models import FailsInFit
contenders = [
    ("ridge", Ridge(), {"alpha": [1.0]}),
    ("fails", FailsInFit(), {"message": ["first", "second"]}),
]
""",
    )
    (tmp_path / "tests_checks_models.py").write_text(
        textwrap.dedent(
            """
            import os
            from sklearn.base import BaseEstimator, RegressorMixin

            class FailsInFit(RegressorMixin, BaseEstimator):
                '''Fails in a fit; counts its fits in a file named by an environment variable.'''

                def __init__(self, message="x"):
                    self.message = message

                def fit(self, X, y):
                    with open(os.environ["FITS_LOG"], "a") as log:
                        log.write("fit\\n")
                    raise RuntimeError(f"failed: {self.message}")
            """
        )
    )
    fits = tmp_path / "fits.log"
    lines = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FITS_LOG", str(fits))
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append)
    # 2 candidates x 3 folds, each fitted once: no fit again in the driver.
    assert fits.read_text().count("fit") == 6
    assert [f["error"] for f in run.failures] == ["RuntimeError: failed: first", "RuntimeError: failed: second"]
    assert "every candidate of model 'fails' failed; its first error: RuntimeError: failed: first" in lines


# ----------------------------------------------------------------------
# Optional packages: checked before any fit, named with their extra
# ----------------------------------------------------------------------
def _regression_data():
    from sklearn.datasets import make_regression

    return make_regression(n_samples=40, n_features=3, random_state=0)


def test_a_helper_without_its_library_stops_before_any_fit(monkeypatch):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from distsearch import MultiModelSearchCV
    from distsearch.models import LightGBMRegressor

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if not installed
    search = MultiModelSearchCV(
        [
            ("ridge", Ridge(), {"alpha": [1.0]}),
            ("boost", make_pipeline(StandardScaler(), LightGBMRegressor()), {}),
        ],
        cv=2,
    )
    with pytest.raises(
        ImportError,
        match=r"model 'boost' \(LightGBMRegressor\) needs the 'lightgbm' package: "
        r'pip install "distsearch\[lightgbm\]"',
    ):
        search.fit(*_regression_data())
    assert not hasattr(search, "cv_results_")


def test_keras_helpers_and_plots_name_their_extra(monkeypatch):
    import distsearch.models
    from distsearch import MultiModelSearchCV
    from sklearn.linear_model import Ridge

    search = MultiModelSearchCV([("ridge", Ridge(), {"alpha": [1.0, 2.0]})], cv=2).fit(*_regression_data())
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, "distsearch._keras", raising=False)
    with pytest.raises(ImportError, match=r'distsearch.models.KerasRegressor needs the \'keras\' package: pip install "distsearch\[keras\]"'):
        distsearch.models.KerasRegressor
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'plot_scores needs the \'matplotlib\' package: pip install "distsearch\[plot\]"'):
        search.plot_scores()


def test_without_matplotlib_the_run_folder_is_complete_but_the_plots(tmp_path, monkeypatch):
    config = write_case(tmp_path, rows_csv(30), settings="n_splits = 3\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    lines = []
    run = run_tournament(config, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append)
    assert sorted(p.name for p in run.run_dir.iterdir()) == [
        "checkpoint", "config.py", "cv_results.csv", "model.joblib", "model.json", "options.json",
        "report.html", "run.json", "summary.txt",
    ]
    assert lines[1].startswith('plots: skipped, matplotlib is not installed (pip install "distsearch[plot]")') or any(
        line.startswith("plots: skipped, matplotlib is not installed") for line in lines
    )
    summary = (run.run_dir / "summary.txt").read_text()
    skipped = summary.split("\nSkipped\n")[1].split("\n\n")[0].splitlines()
    assert skipped[:2] == [
        '  scores.png: matplotlib is not installed (pip install "distsearch[plot]")',
        '  predicted-vs-true.png: matplotlib is not installed (pip install "distsearch[plot]")',
    ]
    # Then each model's hyperparameter plots, skipped the same way.
    assert all(
        line.startswith(("  hyperparameters-", "  parallel-")) and line.endswith('is not installed (pip install "distsearch[plot]")')
        for line in skipped[2:]
    )


def test_default_tournament_without_its_libraries_is_an_exit_2_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    err = usage_error(capsys, ["tournament", "--output", str(tmp_path / "out")])
    assert (
        "built-in default: contenders: the built-in contenders (LightGBM, a Keras network, a linear "
        "baseline) need ['lightgbm'], not installed: pip install \"distsearch[lightgbm,keras]\"" in err
    )
    assert not (tmp_path / "out").exists()


def test_progress_where_it_can_be_shown(tmp_path, capsys):
    """A terminal gets tqdm's redrawn bar; a log gets plain lines, never a '\\r' frame."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    from sklearn.linear_model import Ridge

    from distsearch import MultiModelSearchCV

    search = "MultiModelSearchCV(Ridge(), {'alpha': [0.1, 1.0, 10.0, 100.0, 1000.0]}, cv=4, progress=True)"
    eval(search).fit(*_regression_data())  # stderr is captured here: a log
    logged = capsys.readouterr().err
    assert "\r" not in logged
    lines = logged.splitlines()
    assert lines[-1].startswith("search: 20/20 fits [") and lines[-1].endswith(", best=1")
    assert [line.split()[1] for line in lines] == [f"{n}/20" for n in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)]

    script = tmp_path / "search.py"
    script.write_text(
        "from sklearn.datasets import make_regression\n"
        "from sklearn.linear_model import Ridge\n"
        "from distsearch import MultiModelSearchCV\n"
        f"{search}.fit(*make_regression(n_samples=40, n_features=3, random_state=0))\n"
    )
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    process = subprocess.Popen([sys.executable, str(script)], stderr=terminal, stdout=subprocess.DEVNULL)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait() == 0
    text = output.decode()
    assert "\r" in text and "search: 100%" in text and "20/20" in text


def test_progress_in_a_notebook_is_a_widget_without_tqdm_warnings(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from sklearn.datasets import make_regression\n"
            "from sklearn.linear_model import Ridge\n"
            "from distsearch import MultiModelSearchCV\n"
            "X, y = make_regression(n_samples=40, n_features=3, random_state=0)\n"
            "MultiModelSearchCV(Ridge(), {'alpha': [0.1, 1.0]}, cv=2, progress=True).fit(X, y);"
        ),
        # Without ipywidgets: tqdm's text bar, which the notebook redraws in place.
        nbformat.v4.new_code_cell(
            "import sys\n"
            "sys.modules['ipywidgets'] = None\n"
            "MultiModelSearchCV(Ridge(), {'alpha': [0.1, 1.0]}, cv=2, progress=True).fit(X, y);"
        ),
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    widget, text = notebook.cells[0].outputs, notebook.cells[1].outputs
    assert [o for o in widget if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert "".join(o.get("text", "") for o in widget) == ""
    assert not [o for o in text if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in text)
    assert "search: 100%" in text and "4/4" in text
    assert "IProgress" not in text and "TqdmWarning" not in text
