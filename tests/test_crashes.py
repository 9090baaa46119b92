"""A fit that kills its worker, or never returns, costs that fit, not the search.

On real engines (loky, a dask LocalCluster, a local ray): a candidate whose
fit calls ``os._exit(3)`` (or hangs, with ``fit_timeout``) is recorded as a
failed fit whose error says how its process ended, and every other
candidate's results are those of a search without it.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge

from distsearch import HalvingMultiModelSearchCV, MultiModelSearchCV, OptunaMultiModelSearchCV

TESTS_DIR = str(Path(__file__).parent)


@pytest.fixture(scope="module", autouse=True)
def workers_import_test_models():
    # Worker processes (loky, dask, ray) import dispatch_models by name.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "PYTHONPATH",
            os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")])),
        )
        mp.syspath_prepend(TESTS_DIR)
        yield


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=60, n_features=3, noise=5.0, random_state=0)


def _search(bad, **kwargs):
    """Ridge and CrashingRegressor candidates; candidate 3 is ``crash=bad``."""
    from dispatch_models import CrashingRegressor

    models = [
        ("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
        ("mean", CrashingRegressor(), {"scale": [0.5], "crash": [False, bad]}),
    ]
    return MultiModelSearchCV(models, cv=2, **kwargs)


@pytest.fixture(scope="module")
def reference(data):
    # The same search where candidate 3 fits normally ("none" is no crash).
    return _search("none", n_jobs=2).fit(*data)


BAD = 3  # the index of the crashing candidate in cv_results_


def _check(search, reference, reason):
    results, expected = search.cv_results_, reference.cv_results_
    for key in [f"split{k}_test_score" for k in range(2)] + ["mean_test_score"]:
        assert np.isnan(results[key][BAD]), key
        others = np.arange(len(expected[key])) != BAD
        np.testing.assert_array_equal(results[key][others], expected[key][others], key)
    assert sorted(search.fit_errors_) == [(BAD, 0), (BAD, 1)]
    for error in search.fit_errors_.values():
        assert "CrashingRegressor" in error and "'crash'" in error
        assert reason in error, error
    assert search.best_params_ == reference.best_params_
    assert search.best_model_name_ == reference.best_model_name_


def _fit(search, data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(*data)
    messages = [str(w.message) for w in caught]
    assert any(
        issubclass(w.category, FitFailedWarning) and "exit code" in str(w.message)
        or "fit_timeout" in str(w.message)
        for w in caught
    ), messages
    assert search.n_task_retries_ >= 1
    return search


def test_os_exit_on_loky(data, reference):
    search = _fit(_search("exit", n_jobs=2, backend="loky"), data)
    _check(search, reference, "died (exit code 3)")


def test_os_exit_on_dask(data, reference):
    pytest.importorskip("distributed")
    import dask

    # The LocalCluster the engine starts leaves a dead worker's batch to the
    # engine at its first loss (allowed-failures=0), with dask's defaults.
    assert dask.config.get("distributed.scheduler.allowed-failures") == 3
    search = _fit(_search("exit", n_jobs=2, backend="dask"), data)
    _check(search, reference, "died (exit code 3)")


def test_os_exit_on_ray(data, reference):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    search = _fit(_search("exit", n_jobs=2, backend="ray"), data)
    _check(search, reference, "died (exit code 3)")


def test_hanging_fit_stopped_by_fit_timeout(data, reference):
    search = _fit(_search("hang", n_jobs=2, backend="loky", fit_timeout=2), data)
    _check(search, reference, "fit_timeout=2 seconds")


@pytest.mark.parametrize("bad", [0, -1.0, "10", float("nan")])
@pytest.mark.parametrize("cls", [MultiModelSearchCV, HalvingMultiModelSearchCV])
def test_bad_fit_timeout_raises_before_any_fit(data, bad, cls):
    search = cls([("ridge", Ridge(), {"alpha": [1.0]})], cv=2, fit_timeout=bad)
    with pytest.raises(ValueError, match=r"'fit_timeout' parameter .*" + repr(bad)[:3]):
        search.fit(*data)


def test_fit_timeout_refused_where_fits_run_in_this_process(data):
    for kwargs in [{"backend": "threading", "n_jobs": 2}, {"n_jobs": 1}]:
        with pytest.raises(ValueError, match="fit_timeout=5 needs the fits in worker"):
            _search(False, fit_timeout=5, **kwargs).fit(*data)


def test_optuna_search_takes_fit_timeout():
    pytest.importorskip("optuna")
    search = OptunaMultiModelSearchCV(Ridge(), {}, n_trials=1, fit_timeout=3.5)
    assert search.get_params()["fit_timeout"] == 3.5
