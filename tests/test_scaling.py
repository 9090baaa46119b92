"""Scale: a 10,000-fit search, and the order the fits run in."""

import threading

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeRegressor

from distsearch import MultiModelSearchCV
from distsearch._tasks import _Task
from distsearch._schedule import _estimated_cost, _Tasks, _TaskQueue


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


def _queue(candidates, n_splits, estimators, finished=None):
    tasks = _Tasks(candidates, n_splits)
    finished = [None] * len(tasks) if finished is None else finished
    return tasks, _TaskQueue(tasks, finished, estimators)


def _result(seconds):
    return {"fit_time": seconds, "score_time": 0.0}


def test_tasks_are_made_on_demand_in_candidate_then_fold_order():
    candidates = [(0, {"a": 1}), (1, {"b": 2})]
    tasks = _Tasks(candidates, 3)
    assert len(tasks) == 6
    assert tasks[4] == _Task(1, 1, 1, {"b": 2})
    assert tasks[4].params is candidates[1][1]  # shared, not copied
    assert [t.cand_idx * 3 + t.split_idx for t in tasks] == list(range(6))
    with pytest.raises(IndexError):
        tasks[6]


def test_queue_starts_the_most_expensive_candidates_first():
    model = lgb.LGBMRegressor(n_estimators=10)
    leaves = [8, 63, 20, 63]
    candidates = [(0, {"num_leaves": n}) for n in leaves]
    tasks, queue = _queue(candidates, 2, [model])
    assert [tasks[i].cand_idx for i in queue.static_order()] == [1, 1, 3, 3, 2, 2, 0, 0]
    # Nothing measured: the first fold of every candidate, most expensive
    # first (equal costs in candidate order), then the second folds.
    order = [(task.cand_idx, task.split_idx) for _, task, _ in iter(queue.pop, None)]
    assert order == [(1, 0), (3, 0), (2, 0), (0, 0), (1, 1), (3, 1), (2, 1), (0, 1)]
    assert len(queue) == 0 and queue.pop() is None


def test_a_candidate_measured_slow_moves_ahead_of_cheaper_estimates():
    # Two models; the tree's cost (50 leaves) is estimated far above ridge's
    # (1), but its measured rate makes it cheap in seconds.
    candidates = [(0, {"max_leaf_nodes": 50}), (0, {"max_leaf_nodes": 40})] + [
        (1, {"alpha": alpha}) for alpha in (1.0, 2.0, 3.0)
    ]
    _, queue = _queue(candidates, 3, [DecisionTreeRegressor(), Ridge()])
    index, task, seconds = queue.pop()
    assert (task.cand_idx, task.split_idx, seconds) == (0, 0, None)
    queue.done(index, _result(0.5))  # 0.01 s per unit for the tree
    # Candidate 1 (tree, 40 units): 0.4 s expected; candidate 0's folds: 0.5 s.
    index, task, seconds = queue.pop()
    assert (task.cand_idx, seconds) == (0, 0.5)
    index, task, seconds = queue.pop()
    assert (task.cand_idx, seconds) == (0, 0.5)
    # Ridge has no fit yet: the rate over all models (0.01 s/unit) x 1 unit.
    index, task, seconds = queue.pop()
    assert (task.cand_idx, seconds) == (1, pytest.approx(0.4))
    index, task, seconds = queue.pop()
    assert (task.cand_idx, seconds) == (2, pytest.approx(0.01))
    queue.done(index, _result(3.0))  # ridge candidate 2 is slow after all
    index, task, seconds = queue.pop()
    assert (task.cand_idx, seconds) == (2, 3.0)  # ahead of candidate 1's 0.4 s
    # Candidate 1's second fold is still unmeasured (started): ridge's fresh
    # candidates (3 s per unit now) come first.
    assert [queue.pop()[1].cand_idx for _ in range(3)] == [2, 3, 4]


def test_checkpointed_times_count_as_measured():
    candidates = [(0, {"alpha": a}) for a in (1.0, 2.0, 3.0)]
    finished = [None] * 6
    finished[4] = _result(2.0)  # candidate 2, fold 0, from a checkpoint
    _, queue = _queue(candidates, 2, [Ridge()], finished)
    assert len(queue) == 5
    index, task, seconds = queue.pop()
    assert (index, seconds) == (5, 2.0)


def test_queue_hands_out_every_task_once_across_threads():
    candidates = [(i % 3, {"max_iter": 1 + i % 7}) for i in range(400)]
    tasks, queue = _queue(candidates, 5, [Ridge(), Ridge(), Ridge()])
    taken = []

    def work():
        while (popped := queue.pop()) is not None:
            taken.append(popped[0])
            queue.done(popped[0], _result(popped[0] % 13 * 1e-3))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(len(tasks)))


def test_remote_batches_aim_at_the_expected_seconds():
    candidates = [(0, {"alpha": float(a)}) for a in range(100)]
    _, queue = _queue(candidates, 2, [Ridge()])
    assert len(queue.take(0.2, n_slots=2)) == 1  # nothing measured yet
    [(index, _)] = queue.take(0.2, n_slots=2)
    queue.done(index, _result(0.01))
    assert len(queue.take(0.2, n_slots=2)) == 20  # 0.01 s each
    # Never more than the tasks left / (2 x slots), so the last ones spread.
    left = len(queue)
    assert len(queue.take(100.0, n_slots=2)) == -(-left // 4)
    assert len(queue) == left - -(-left // 4)


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


@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_refined_order_leaves_multi_model_results_as_grid_search(backend):
    # Costs driven by parameters outside the size list (max_depth,
    # max_features) and two models with different seconds per cost unit:
    # the measured times reorder the fits, the results stay GridSearchCV's.
    X, y = make_regression(n_samples=150, n_features=6, noise=1.0, random_state=0)
    spaces = {
        "booster": (
            lgb.LGBMRegressor(n_estimators=8, min_child_samples=3, n_jobs=1, verbose=-1),
            {"num_leaves": [4, 31], "max_depth": [2, -1]},
        ),
        "forest": (
            RandomForestRegressor(random_state=0),
            {"n_estimators": [2, 15], "max_features": [0.3, 1.0]},
        ),
    }
    search = MultiModelSearchCV(
        [(name, model, space) for name, (model, space) in spaces.items()],
        cv=3,
        refit=False,
        n_jobs=2,
        backend=backend,
    ).fit(X, y)
    results = search.cv_results_
    for name, (model, space) in spaces.items():
        rows = np.flatnonzero(results["model"] == name)
        theirs = GridSearchCV(model, space, cv=3, refit=False).fit(X, y).cv_results_
        assert [results["params"][i] for i in rows] == theirs["params"]
        for key in [f"split{k}_test_score" for k in range(3)]:
            np.testing.assert_array_equal(results[key][rows], theirs[key])


def test_fold_limits_hold_back_folds_until_raised():
    # fold_limit=1: only first folds are handed out until limit() raises a
    # candidate's limit; folds at or above a lowered limit never are.
    candidates = [(0, {"alpha": a}) for a in (1.0, 2.0, 3.0)]
    tasks = _Tasks(candidates, 3)
    queue = _TaskQueue(tasks, [None] * 9, [Ridge()], fold_limit=1)
    assert len(queue) == 3
    first = [queue.pop() for _ in range(3)]
    assert sorted((t.cand_idx, t.split_idx) for _, t, _ in first) == [(0, 0), (1, 0), (2, 0)]
    assert queue.pop() is None
    for index, _, _ in first:
        queue.done(index, _result(1.0))
    queue.limit(1, 3)  # candidate 1 goes on; 0 and 2 stay at their first fold
    assert [(t.cand_idx, t.split_idx) for _, t, _ in iter(queue.pop, None)] == [(1, 1), (1, 2)]
    queue.limit(2, 2)
    assert queue.pop()[1][:2] == (2, 1)
    assert queue.pop() is None and len(queue) == 0
    # Candidate 0 ran 1 fold (2 held back), candidate 2 ran 2 (1 held back).
    assert queue.limits() == {0: (1, 2), 2: (2, 1)}
    with pytest.raises(ValueError, match="between 1 and 3.*got 0 for candidate 2"):
        queue.limit(2, 0)
