"""Scale: a 10,000-fit search, and the cost-aware order of the fits."""

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from distsearch import MultiModelSearchCV
from distsearch._dispatch import _by_cost, _estimated_cost, _Task


def test_ten_thousand_fits_match_grid_search_on_a_slice():
    X, y = make_regression(n_samples=60, n_features=3, noise=1.0, random_state=0)
    alphas = np.logspace(-3, 3, 2000).tolist()
    search = MultiModelSearchCV(Ridge(), {"alpha": alphas}, cv=5, refit=False, n_jobs=2)
    search.fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 2000
    assert search.n_splits_ * len(results["params"]) == 10_000
    picked = slice(0, 2000, 97)
    grid = GridSearchCV(Ridge(), {"alpha": alphas[picked]}, cv=5, refit=False).fit(X, y)
    for key in ["mean_test_score", "std_test_score"] + [
        f"split{k}_test_score" for k in range(5)
    ]:
        np.testing.assert_array_equal(results[key][picked], grid.cv_results_[key])
    assert results["params"][picked] == grid.cv_results_["params"]
    np.testing.assert_array_equal(
        np.argsort(results["rank_test_score"], kind="stable")[:5],
        np.argsort(-results["mean_test_score"], kind="stable")[:5],
    )


def test_estimated_cost_multiplies_size_parameters():
    assert _estimated_cost({"n_estimators": 100, "num_leaves": np.int64(31)}) == 3100
    assert _estimated_cost({"model__max_iter": 50, "alpha": 10.0}) == 50
    assert _estimated_cost({"max_iter": -1, "epochs": True, "n_estimators": "x"}) == 1
    assert _estimated_cost({}) == 1


def test_by_cost_starts_the_most_expensive_candidates_first():
    model = lgb.LGBMRegressor(n_estimators=10)
    leaves = [8, 63, 20, 63]
    tasks = [
        _Task(cand, fold, 0, {"num_leaves": n})
        for cand, n in enumerate(leaves)
        for fold in range(2)
    ]
    order = _by_cost(tasks, list(range(len(tasks))), [model])
    assert [tasks[i].cand_idx for i in order] == [1, 1, 3, 3, 2, 2, 0, 0]
    # Equal costs (no size parameter) keep the task order.
    ridge = [_Task(c, 0, 0, {"alpha": a}) for c, a in enumerate([3.0, 1.0, 2.0])]
    assert _by_cost(ridge, [0, 1, 2], [Ridge()]) == [0, 1, 2]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cost_order_leaves_results_as_grid_search(n_jobs):
    X, y = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=0)
    model = lgb.LGBMRegressor(n_estimators=5, min_child_samples=3, n_jobs=1, verbose=-1)
    grid = {"num_leaves": [4, 31, 8, 16], "n_estimators": [3, 9]}
    ours = MultiModelSearchCV(model, grid, cv=3, refit=False, n_jobs=n_jobs).fit(X, y)
    theirs = GridSearchCV(model, grid, cv=3, refit=False).fit(X, y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    for key in ["mean_test_score", "rank_test_score"] + [
        f"split{k}_test_score" for k in range(3)
    ]:
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
