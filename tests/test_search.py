"""MultiModelSearchCV against GridSearchCV and RandomizedSearchCV."""

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.tree import DecisionTreeRegressor

from distsearch import MultiModelSearchCV


@pytest.fixture
def regression():
    return make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)


def assert_same_results(expected, actual):
    """Same keys in the same order, same values except the timings."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if key.endswith("_time"):
            continue
        if key == "params":
            assert actual[key] == value
        else:
            np.testing.assert_array_equal(actual[key], value, err_msg=key)


def test_drop_in_grid_equals_gridsearchcv(regression):
    X, y = regression
    grid = {"alpha": [0.01, 1.0, 100.0]}
    expected = GridSearchCV(Ridge(), grid, cv=4).fit(X, y)
    actual = MultiModelSearchCV(Ridge(), grid, cv=4).fit(X, y)
    assert_same_results(expected.cv_results_, actual.cv_results_)
    assert actual.best_params_ == expected.best_params_
    assert actual.best_score_ == expected.best_score_
    np.testing.assert_array_equal(actual.predict(X), expected.predict(X))


def test_drop_in_n_iter_samples_as_randomizedsearchcv(regression):
    X, y = regression
    space = {"alpha": loguniform(1e-3, 1e3)}
    expected = RandomizedSearchCV(Ridge(), space, n_iter=6, random_state=3, cv=3)
    actual = MultiModelSearchCV(Ridge(), space, n_iter=6, random_state=3, cv=3)
    assert_same_results(expected.fit(X, y).cv_results_, actual.fit(X, y).cv_results_)


def test_multi_model_scores_equal_separate_searches(regression):
    X, y = regression
    spaces = {
        "ridge": (Ridge(), {"alpha": [0.1, 10.0]}),
        "tree": (DecisionTreeRegressor(random_state=0), {"max_depth": [1, 3, 5]}),
    }
    search = MultiModelSearchCV(
        [(name, est, space) for name, (est, space) in spaces.items()], cv=3, n_jobs=2
    ).fit(X, y)
    results = search.cv_results_
    for name, (est, space) in spaces.items():
        alone = GridSearchCV(est, space, cv=3).fit(X, y).cv_results_
        rows = results["model"] == name
        np.testing.assert_array_equal(results["mean_test_score"][rows], alone["mean_test_score"])
        assert [p for p, r in zip(results["params"], rows) if r] == alone["params"]
    best = np.argmax(results["mean_test_score"])
    assert search.best_index_ == best
    assert search.best_model_name_ == results["model"][best]
