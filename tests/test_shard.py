"""Sharded searches: shards anywhere, a collect step equal to one in-process run."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from distsearch import MultiModelSearchCV
from distsearch._cli import main
from distsearch._shard import ShardError
from distsearch._tournament import run_tournament

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(n_samples=90, n_features=4, noise=5.0, random_state=0)
    return X, y


def search(**kwargs):
    # Ridge's alpha=-1 fails: failed fits must travel through the shards too.
    return MultiModelSearchCV(
        [
            ("ridge", Ridge(), {"alpha": [0.1, 1.0, -1.0]}),
            ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 2, 3, 4, 5]}),
        ],
        n_iter={"ridge": None, "tree": 3},
        cv=3,
        random_state=0,
        error_score=np.nan,
        **kwargs,
    )


def same_results(a, b):
    assert list(a) == list(b)
    for key in a:
        if key.endswith("_time"):
            continue  # measured in the shards
        left, right = a[key], b[key]
        if key == "params":
            assert left == right
        elif isinstance(left, np.ma.MaskedArray):  # param_*: compare what is not masked
            mask = np.ma.getmaskarray(left)
            np.testing.assert_array_equal(mask, np.ma.getmaskarray(right), err_msg=key)
            assert list(left.data[~mask]) == list(right.data[~mask]), key
        else:
            np.testing.assert_array_equal(np.asarray(left), np.asarray(right), err_msg=key)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning", "ignore::UserWarning")
def test_shards_then_collect_equal_one_run_on_loky(data, tmp_path):
    X, y = data
    store = tmp_path / "store"
    ran = [search(n_jobs=1).fit_shard(X, y, shard=(i, 4), store=store).n_shard_fits_ for i in range(4)]
    assert sum(ran) == 6 * 3 and sorted(ran) == [4, 4, 5, 5]
    collected = search(n_jobs=1).collect(X, y, store=store)
    reference = search(n_jobs=2, backend="loky").fit(X, y)
    same_results(collected.cv_results_, reference.cv_results_)
    assert collected.best_params_ == reference.best_params_
    assert collected.best_model_name_ == reference.best_model_name_
    np.testing.assert_array_equal(collected.predict(X), reference.predict(X))
    assert np.isnan(collected.cv_results_["mean_test_score"][2])  # the failed candidate
    # A shard run again fits nothing: its records are in the store.
    assert search(n_jobs=1).fit_shard(X, y, shard="1/4", store=store).n_shard_fits_ == 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning", "ignore::UserWarning")
def test_a_missing_shard_is_named_with_its_fits_and_nothing_is_fitted(data, tmp_path):
    X, y = data
    store = tmp_path / "store"
    for i in (0, 2):
        search(n_jobs=1).fit_shard(X, y, shard=(i, 3), store=store)
    with pytest.raises(ShardError, match=r"shard 1/3 \(not finished\): 6 fits") as info:
        search(n_jobs=1).collect(X, y, store=store)
    (fits,) = info.value.missing.values()
    assert [fold for _, _, fold in fits] == [1] * 6
    assert fits[0][:2] == ("ridge", {"alpha": 0.1})
    assert not list((store / "records").glob("*.tmp"))
    # Asked to, collect fits what is missing, and equals one run.
    collected = search(n_jobs=1).collect(X, y, store=store, run_missing=True)
    same_results(collected.cv_results_, search(n_jobs=1).fit(X, y).cv_results_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning", "ignore::UserWarning")
def test_a_store_of_another_search_is_refused(data, tmp_path):
    X, y = data
    store = tmp_path / "store"
    search(n_jobs=1).fit_shard(X, y, shard=(0, 1), store=store)
    with pytest.raises(ShardError, match="is of another search"):
        search(n_jobs=1).collect(X[:60], y[:60], store=store)


def test_fsspec_url_store(data):
    pytest.importorskip("fsspec")
    X, y = data
    store = f"memory://distsearch-test-{uuid.uuid4().hex}"
    plain = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3, n_jobs=1)
    for i in range(2):
        MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3, n_jobs=1).fit_shard(
            X, y, shard=(i, 2), store=store
        )
    import fsspec

    fs, root = fsspec.core.url_to_fs(store)
    assert len(fs.ls(f"{root}/records")) == 9 and len(fs.ls(f"{root}/shards")) == 2
    collected = plain.collect(X, y, store=store)
    same_results(collected.cv_results_, MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3).fit(X, y).cv_results_)


class _Adaptive(MultiModelSearchCV):
    def _run_search(self, evaluate_candidates):
        evaluate_candidates([{"alpha": 1.0}])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda s, X, y, t: s.fit_shard(X, y, shard=(2, 2), store=t), ValueError, r"shard must be \(i, n\)"),
        (lambda s, X, y, t: s.fit_shard(X, y, shard="1-2", store=t), ValueError, "shard must be"),
        (lambda s, X, y, t: s.fit_shard(X, y, shard=(0, 2), store=None), ValueError, "store must be a folder"),
        (lambda s, X, y, t: _Adaptive(Ridge(), {"alpha": [1.0]}).fit_shard(X, y, shard=(0, 2), store=t),
         ValueError, "sharding serves the exhaustive and random searches"),
        (lambda s, X, y, t: s.collect(X, y, store=t), ShardError, "no shard has finished"),
    ],
)
def test_bad_shard_arguments(data, tmp_path, call, error, message):
    X, y = data
    with pytest.raises(error, match=message):
        call(MultiModelSearchCV(Ridge(), {"alpha": [1.0]}, cv=2), X, y, tmp_path / "store")


FAST = """
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

data = {"kind": "mock_regression", "n_samples": 120, "n_features": 4, "n_categorical_features": 2}
contenders = [
    ("ridge", Ridge(), {"alpha": [0.1, 1.0, 10.0]}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2, 4]}),
]
n_splits = 3
"""


def results_frame(run_dir):
    frame = pd.read_csv(Path(run_dir) / "cv_results.csv")
    return frame[[c for c in frame if not c.endswith("_time")]]


def test_cli_shards_and_collect_equal_one_tournament(tmp_path, capsys):
    config = tmp_path / "config.py"
    config.write_text(textwrap.dedent(FAST))
    store, output = tmp_path / "store", tmp_path / "out"
    common = ["--n-jobs", "1", "--no-progress", "--output", str(output), "--store", str(store)]
    assert main(["tournament", str(config), "--shard", "0/2", *common]) == 0
    assert not output.exists()  # a shard writes no run folder
    assert main(["tournament", str(config), "--collect", *common]) == 1
    error = capsys.readouterr().err
    assert "shard 1/2 (not finished): 7 fits" in error and "tree {'model__max_depth': 2} fold 0, ... (7 fits)" in error
    assert main(["tournament", str(config), "--shard", "1/2", *common]) == 0
    assert main(["tournament", str(config), "--collect", *common]) == 0
    (collected,) = output.iterdir()
    one = run_tournament(config, n_jobs=1, output=tmp_path / "one", progress=False, log=lambda s: None)
    pd.testing.assert_frame_equal(results_frame(collected), results_frame(one.run_dir))
    summary = (collected / "summary.txt").read_text()
    assert summary.split("Held-out test set")[1].split("\n")[1] == (
        (one.run_dir / "summary.txt").read_text().split("Held-out test set")[1].split("\n")[1]
    )


@pytest.mark.parametrize(
    "args, key, expected",
    [
        (["--shard", "0/2"], "store", "--shard needs --store"),
        (["--collect"], "store", "--collect needs --store"),
        (["--shard", "0/2", "--collect", "--store", "s"], "collect", "not both"),
        (["--shard", "3/2", "--store", "s"], "shard", "shard must be (i, n)"),
        (["--store", "s"], "store", "a store is for --shard or --collect"),
        (["--search", "halving", "--shard", "0/2", "--store", "s"], "shard",
         "the halving search chooses each round from the scores so far"),
        (["--search", "optuna", "--collect", "--store", "s"], "collect",
         "the optuna search chooses each round from the scores so far"),
    ],
)
def test_bad_shard_options_fail_before_the_run(tmp_path, capsys, args, key, expected):
    output = tmp_path / "out"
    assert main(["tournament", "--output", str(output), *args]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"distsearch tournament: configuration error: options: {key}: ")
    assert expected in error and not output.exists()


def test_metaflow_flow_runs_and_equals_an_in_process_tournament(tmp_path):
    """examples/metaflow_tournament.py, run by Metaflow with its local datastore."""
    pytest.importorskip("metaflow")
    config = tmp_path / "config.py"
    config.write_text(textwrap.dedent(FAST))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "METAFLOW_HOME": str(tmp_path / "home"),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path),
        "METAFLOW_USER": "distsearch-test",
        "USERNAME": "distsearch-test",
    }
    output = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "metaflow_tournament.py"), "--no-pylint", "run",
         "--config", str(config), "--shards", "2", "--n_jobs", "1", "--store", str(tmp_path / "store"),
         "--output", str(output)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(list((tmp_path / "store" / "shards").iterdir())) == 2
    (flow_run,) = output.iterdir()
    one = run_tournament(config, n_jobs=1, output=tmp_path / "one", progress=False, log=lambda s: None)
    pd.testing.assert_frame_equal(results_frame(flow_run), results_frame(one.run_dir))
    assert f"winner {one.search.best_model_name_} {one.search.best_params_}" in done.stdout + done.stderr
    assert (flow_run / "model.joblib").exists()


@pytest.mark.parametrize("search", ["HalvingMultiModelSearchCV", "OptunaMultiModelSearchCV"])
def test_adaptive_searches_refuse_to_shard_before_any_fit(search, tmp_path):
    """Their next round depends on the scores so far: no shard can run it alone."""
    import distsearch

    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    kwargs = {"n_trials": 4} if search.startswith("Optuna") else {}
    estimator = getattr(distsearch, search)(Ridge(), {"alpha": [0.1, 1.0, 10.0, 100.0]}, cv=2, **kwargs)
    reason = f"{search}: sharding serves the exhaustive and random searches (one round of candidates)"
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        estimator.fit_shard(X, y, shard=(0, 2), store=str(tmp_path / "store"))
    with pytest.raises(ValueError, match="an adaptive search"):
        estimator.collect(X, y, store=str(tmp_path / "store"))
    assert not (tmp_path / "store").exists() and not hasattr(estimator, "cv_results_")
