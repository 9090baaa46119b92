"""OptunaMultiModelSearchCV on real engines: loky, threading, dask, ray.

Lean on purpose: tiny data, a few trials, 3 folds. The engines start once
per module (a dask LocalCluster of 2 single-threaded workers, a local ray of
2 CPUs), so every engine has 2 slots and runs the same rounds.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import loguniform, randint
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeRegressor

optuna = pytest.importorskip("optuna")

from distsearch import OptunaMultiModelSearchCV  # noqa: E402

TESTS_DIR = str(Path(__file__).parent)
sys.path.insert(0, TESTS_DIR)
from dispatch_models import SlowRidge  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=90, n_features=5, noise=20.0, random_state=0)


def _models():
    return [
        ("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e5)}),
        (
            "tree",
            DecisionTreeRegressor(random_state=0),
            {"max_depth": randint(1, 6), "min_samples_leaf": [1, 5, 20]},
        ),
    ]


def _search(**kwargs):
    kwargs = {"n_trials": 8, "cv": 3, "random_state": 0, **kwargs}
    return OptunaMultiModelSearchCV(_models(), **kwargs)


def _pruner():
    return optuna.pruners.MedianPruner(n_startup_trials=2)


def assert_same_results(results, expected):
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        if "time" in key:
            continue
        if key == "params":
            assert results[key] == value
        elif isinstance(value, np.ma.MaskedArray):
            np.testing.assert_array_equal(results[key].mask, value.mask, err_msg=key)
            assert list(results[key].compressed()) == list(value.compressed()), key
        else:
            np.testing.assert_array_equal(results[key], value, err_msg=key)


@pytest.fixture(scope="module")
def reference(data):
    """Several families, a pruner, on loky with 2 workers."""
    return _search(backend="loky", n_jobs=2, pruner=_pruner()).fit(*data)


def test_reference_search(reference):
    results = reference.cv_results_
    # GridSearchCV's keys, plus model and trial number.
    expected_keys = set(GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=3).fit(
        np.eye(6), np.arange(6.0)
    ).cv_results_) | {"model", "trial_number", "param_max_depth", "param_min_samples_leaf"}
    assert set(results) == expected_keys
    assert list(results["trial_number"]) == list(range(8))
    assert set(results["model"]) == {"ridge", "tree"}
    for model, params in zip(results["model"], results["params"]):
        assert set(params) == ({"alpha"} if model == "ridge" else {"max_depth", "min_samples_leaf"})
    state = optuna.trial.TrialState
    states = [t.state for t in reference.study_.trials]
    assert len(states) == 8 and state.PRUNED in states
    # A pruned trial keeps its first folds, the others are NaN; it ranks
    # below every completed trial.
    pruned = np.array([s == state.PRUNED for s in states])
    assert np.isnan(results["split2_test_score"][pruned]).all()
    assert not np.isnan(results["split0_test_score"]).any()
    assert results["rank_test_score"][pruned].min() > results["rank_test_score"][~pruned].max()
    # The study's values are the mean test scores of the completed trials.
    complete = [t for t in reference.study_.trials if t.state == state.COMPLETE]
    np.testing.assert_allclose(
        [t.value for t in complete], results["mean_test_score"][~pruned]
    )
    assert reference.best_score_ == max(t.value for t in complete)
    assert reference.best_model_name_ == results["model"][reference.best_index_]


def test_same_seed_same_search_other_seed_other_trials(reference, data):
    again = _search(backend="threading", n_jobs=2, pruner=_pruner()).fit(*data)
    assert_same_results(again.cv_results_, reference.cv_results_)
    other = _search(backend="threading", n_jobs=2, random_state=1).fit(*data)
    assert other.cv_results_["params"] != reference.cv_results_["params"]


def test_drop_in_form_equals_gridsearchcv_on_its_trials(data):
    X, y = data
    search = OptunaMultiModelSearchCV(
        Ridge(), {"alpha": loguniform(1e-2, 1e3)}, n_trials=5, cv=3, random_state=0,
        return_train_score=True, backend="threading",
    ).fit(X, y)
    grid = GridSearchCV(
        Ridge(), [{"alpha": [p["alpha"]]} for p in search.cv_results_["params"]],
        cv=3, return_train_score=True,
    ).fit(X, y)
    results = dict(search.cv_results_)
    assert list(results.pop("trial_number")) == [0, 1, 2, 3, 4]
    assert_same_results(results, grid.cv_results_)
    assert search.best_params_ == grid.best_params_
    assert search.best_score_ == grid.best_score_
    np.testing.assert_array_equal(search.predict(X), grid.predict(X))


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_pruning_never_dispatches_a_pruned_trials_later_folds(tmp_path, data, backend):
    # Fold-gated dispatch: a trial's fold k + 1 is sent only once its fold k
    # was reported and not pruned, so a pruned trial runs exactly the folds
    # it reported, whatever the timing. Every fit started is logged.
    search = OptunaMultiModelSearchCV(
        [("ridge", SlowRidge(log_dir=str(tmp_path)), {"alpha": loguniform(1e-3, 1e6)})],
        n_trials=8, cv=5, random_state=0, backend=backend, n_jobs=2,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    ).fit(*data)
    pruned = [t for t in search.study_.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) >= 2
    reported = sum(len(t.intermediate_values) for t in pruned)
    assert search.n_fits_saved_ == 5 * len(pruned) - reported
    n_fits_run = len(list(tmp_path.iterdir())) - 1  # the winner's refit
    assert n_fits_run == 8 * 5 - search.n_fits_saved_
    # The same on both backends (2 slots each): trials, pruning, fits saved.
    assert [t.number for t in pruned] == [2, 3, 6, 7]
    assert search.n_fits_saved_ == 16  # each pruned at its first fold


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_a_candidate_is_never_fitted_twice(tmp_path, data, backend):
    # A 6-point space and 6 trials: the sampler proposes points already
    # evaluated (its random startup draws collide), which are asked again
    # rather than fitted, so the search evaluates the whole grid once,
    # with GridSearchCV's scores.
    X, y = data
    grid = {"ridge": {"alpha": [0.1, 10.0, 1000.0]}, "tree": {"max_depth": [1, 2, 3]}}
    search = OptunaMultiModelSearchCV(
        [("ridge", SlowRidge(log_dir=str(tmp_path)), grid["ridge"]),
         ("tree", DecisionTreeRegressor(random_state=0), grid["tree"])],
        n_trials=6, cv=3, random_state=0, backend=backend, n_jobs=2, refit=False,
    ).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 6
    for model, estimator in (("ridge", Ridge()), ("tree", DecisionTreeRegressor(random_state=0))):
        rows = [i for i, m in enumerate(results["model"]) if m == model]
        expected = GridSearchCV(estimator, grid[model], cv=3).fit(X, y).cv_results_
        by_params = {repr(p): s for p, s in zip(expected["params"], expected["mean_test_score"])}
        assert sorted(by_params) == sorted(repr(results["params"][i]) for i in rows)
        for i in rows:
            assert results["mean_test_score"][i] == by_params[repr(results["params"][i])]
    assert len(list(tmp_path.iterdir())) == 3 * 3  # each ridge candidate's folds, once
    state = optuna.trial.TrialState
    trials = search.study_.trials
    duplicates = [t for t in trials if t.state == state.FAIL]
    assert duplicates and len(trials) == 6 + len(duplicates)
    numbers = set(results["trial_number"])
    assert all(t.user_attrs["distsearch_duplicate_of"] in numbers for t in duplicates)
    assert [t.number for t in trials if t.number in numbers] == list(results["trial_number"])
    # The same on both backends (2 slots each).
    assert [t.number for t in duplicates] == [5, 6, 7, 8, 9, 10]


def test_study_works_with_optunas_plots(reference):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = plots.plot_optimization_history(reference.study_)
        intermediate = plots.plot_intermediate_values(reference.study_)
    n_complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in reference.study_.trials)
    assert len(history.collections[0].get_offsets()) == n_complete
    assert len(intermediate.get_lines()) == 8  # one curve of fold scores per trial


# ----------------------------------------------------------------------
# dask and ray: the same rounds as loky with 2 workers
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def workers_import_tests():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")])))
        yield


def test_dask_local_cluster_identical(reference, data, workers_import_tests):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        search = _search(backend="dask", pruner=_pruner()).fit(*data)
    assert_same_results(search.cv_results_, reference.cv_results_)
    assert search.n_task_retries_ == 0  # 4 rounds, no worker lost


def test_local_ray_identical(reference, data, workers_import_tests):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        search = _search(backend="ray", pruner=_pruner()).fit(*data)
    finally:
        ray.shutdown()
    assert_same_results(search.cv_results_, reference.cv_results_)


# ----------------------------------------------------------------------
# Resuming a SQLite study after the process was killed
# ----------------------------------------------------------------------
RESUME_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import optuna
    from scipy.stats import loguniform, randint
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor
    from distsearch import OptunaMultiModelSearchCV

    class Fragile(Ridge):
        # Counts its fits in a file; the process dies at fit number DIE_AT.
        def fit(self, X, y):
            with open(os.environ["FIT_LOG"], "a") as log:
                log.write("fit\\n")
            with open(os.environ["FIT_LOG"]) as log:
                if sum(1 for _ in log) == int(os.environ.get("DIE_AT", "0")):
                    os._exit(3)
            return super().fit(X, y)

    storage, checkpoint, out = sys.argv[1:4]
    X, y = make_regression(n_samples=90, n_features=5, noise=20.0, random_state=0)
    search = OptunaMultiModelSearchCV(
        [("ridge", Fragile(), {"alpha": loguniform(1e-3, 1e5)}),
         ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": randint(1, 6)})],
        n_trials=10, cv=3, random_state=0, backend="threading", n_jobs=2,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        storage=storage, study_name="resume", checkpoint=checkpoint,
    ).fit(X, y)
    r = search.cv_results_
    json.dump({
        "params": [{k: float(v) for k, v in p.items()} for p in r["params"]],
        "model": list(r["model"]),
        "split2": [None if np.isnan(v) else float(v) for v in r["split2_test_score"]],
        "rank": [int(v) for v in r["rank_test_score"]],
        "trial_number": [int(v) for v in r["trial_number"]],
        "states": [t.state.name for t in search.study_.trials],
        "best": search.best_params_,
    }, open(out, "w"))
    """
)


def _run(tmp_path, name, storage, checkpoint, die_at=None):
    env = dict(os.environ, FIT_LOG=str(tmp_path / f"{name}.log"))
    if die_at is not None:
        env["DIE_AT"] = str(die_at)
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "resume.py"), storage, str(checkpoint), str(out)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    n_fits = len((tmp_path / f"{name}.log").read_text().splitlines())
    return proc, (json.loads(out.read_text()) if out.exists() else None), n_fits


def test_resume_sqlite_study_after_kill(tmp_path):
    (tmp_path / "resume.py").write_text(RESUME_SCRIPT)
    db = f"sqlite:///{tmp_path / 'study.db'}"
    # Killed at its 7th ridge fit (of 8 with the refit): in the last round,
    # earlier trials told, the round's trials running.
    proc, _, _ = _run(tmp_path, "first", db, tmp_path / "ckpt", die_at=7)
    assert proc.returncode == 3, proc.stderr[-2000:]
    stored = optuna.load_study(study_name="resume", storage=db).trials
    # Evaluated: finished, but for the duplicates asked again (failed).
    finished = [
        t for t in stored
        if t.state.is_finished() and "distsearch_duplicate_of" not in t.user_attrs
    ]
    running = [t for t in stored if t.state == optuna.trial.TrialState.RUNNING]
    assert finished and running
    proc, resumed, n_fits_resumed = _run(tmp_path, "resumed", db, tmp_path / "ckpt")
    assert proc.returncode == 0, proc.stderr[-2000:]
    uninterrupted_db = f"sqlite:///{tmp_path / 'whole.db'}"
    proc, whole, n_fits_whole = _run(tmp_path, "whole", uninterrupted_db, tmp_path / "ckpt2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The same trials, scores and ranks as a search that was never killed;
    # the killed process's running trials were failed and asked again.
    for key in ("params", "model", "split2", "rank", "best"):
        assert resumed[key] == whole[key], key
    assert resumed["states"][: len(stored)] == [
        "FAIL" if t.state == optuna.trial.TrialState.RUNNING else t.state.name for t in stored
    ]
    assert len(resumed["trial_number"]) == 10
    assert resumed["trial_number"][: len(finished)] == [t.number for t in finished]
    # The checkpoint kept the fits of the killed run: the resumed run fits
    # fewer ridges than a whole run (how many fewer depends on which fits
    # were in flight at the kill and which folds pruning saved).
    assert n_fits_resumed < n_fits_whole


# ----------------------------------------------------------------------
# Bad input, before any fit
# ----------------------------------------------------------------------
def test_unmappable_distribution_fails_before_any_fit(tmp_path, data):
    from scipy.stats import norm

    search = OptunaMultiModelSearchCV(
        [("ridge", SlowRidge(log_dir=str(tmp_path)), {"alpha": norm(1, 0.1)})], n_trials=2
    )
    with pytest.raises(TypeError, match=r"'alpha': scipy.stats.norm\(1, 0.1\) has no Optuna"):
        search.fit(*data)
    assert list(tmp_path.iterdir()) == []


def test_several_metrics_need_refit_to_name_one(data):
    search = _search(n_trials=2, scoring=["r2", "neg_mean_squared_error"], refit=False)
    with pytest.raises(ValueError, match="refit must name the one to optimise"):
        search.fit(*data)
    search = _search(n_trials=2, scoring=["r2", "neg_mean_squared_error"],
                     refit="neg_mean_squared_error").fit(*data)
    values = [t.value for t in search.study_.trials]
    np.testing.assert_allclose(values, search.cv_results_["mean_test_neg_mean_squared_error"])


def test_missing_optuna_import_error_names_the_extra(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"distsearch\[optuna\]"):
        _search(n_trials=2).fit(*data)


def test_single_estimator_needs_param_distributions(data):
    with pytest.raises(ValueError, match="param_distributions is required"):
        OptunaMultiModelSearchCV(Ridge(), n_trials=2).fit(*data)


# ----------------------------------------------------------------------
# The tournament: search = "optuna" / --search optuna
# ----------------------------------------------------------------------
TOURNAMENT_CONFIG = """
from scipy.stats import loguniform
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

contenders = [
    ("ridge", Ridge(), {"alpha": loguniform(1e-2, 1e2)}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2, 4, 6]}),
]
data = {"kind": "mock_regression", "n_samples": 80, "n_features": 5, "noise": 5.0}
n_splits = 3
search = "optuna"
n_trials = 4
"""


def test_tournament_optuna_search_resumes_its_study(tmp_path):
    from distsearch._tournament import run_tournament

    config = tmp_path / "config.py"
    config.write_text(TOURNAMENT_CONFIG)
    lines = []
    run = run_tournament(config, seed=1, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append)
    assert isinstance(run.search, OptunaMultiModelSearchCV)
    assert "search: optuna, 4 trials over 2 models x 3 folds = at most 12 fits" in "\n".join(lines)
    assert "optuna: 4 trials, 0 pruned, 0 fits saved by pruning" in lines
    assert (run.run_dir / "optuna.db").exists()
    first = run.search.cv_results_
    assert len(first["params"]) == 4
    # --resume with more trials: the stored trials are kept (read from the
    # run's checkpoint), two more are asked.
    more = run_tournament(
        config, seed=1, n_jobs=1, output=tmp_path / "out", progress=False, log=lines.append,
        resume=run.run_dir.name, n_trials=6,
    )
    results = more.search.cv_results_
    # (trial numbers skip the duplicates asked again: tree has 3 points)
    assert len(results["trial_number"]) == 6
    assert list(results["trial_number"][:4]) == list(first["trial_number"])
    assert results["params"][:4] == first["params"]
    np.testing.assert_array_equal(results["split2_test_r2"][:4], first["split2_test_r2"])


@pytest.mark.parametrize(
    "text, args, key, expected",
    [
        ("n_trials = 5\n", [], "n_trials", "only the Optuna search has trials"),
        ("search = 'random'\n", [], "search", "expected one of ['exhaustive', 'optuna', 'halving'], got 'random'"),
        ("", ["--n-trials", "3"], "n_trials", "only the Optuna search has trials"),
        ("search = 'optuna'\n", ["--n-trials", "0"], "n_trials", "expected an int >= 1, got 0"),
    ],
)
def test_tournament_bad_search_settings_fail_before_the_run(tmp_path, capsys, text, args, key, expected):
    from distsearch._cli import main

    config = tmp_path / "bad.py"
    config.write_text(text)
    output = tmp_path / "out"
    assert main(["tournament", str(config), "--output", str(output), *args]) == 2
    error = capsys.readouterr().err
    source = "options" if args else str(config)
    assert f"configuration error: {source}: {key}: " in error
    assert expected in error
    assert not output.exists()


@pytest.mark.skipif(not hasattr(OptunaMultiModelSearchCV, "set_callbacks"), reason="sklearn<1.9")
def test_callbacks_see_every_round_and_evaluation():
    from collections import Counter

    from sklearn.callback.tests._utils import MaxIterEstimator, RecordingCallback
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=40, random_state=0)
    callback = RecordingCallback()
    search = OptunaMultiModelSearchCV(
        MaxIterEstimator(), {"max_iter": randint(1, 50)}, n_trials=5, cv=2,
        scoring="accuracy", random_state=0, n_jobs=2, backend="threading",
    ).set_callbacks(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(X, y)
    ends = Counter(r["context"].task_name for r in callback.record if r["name"] == "on_fit_task_end")
    # 5 trials in rounds of 2 slots: 3 rounds, 10 evaluations, one search.
    assert ends["search"] == 1
    assert ends["optuna-round"] == 3
    assert ends["candidate-split-evaluation"] == 10
