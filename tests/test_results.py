"""compare_models() and the hyperparameter plots of a fitted search, checked on numbers."""

import numpy as np
import pytest
from scipy import stats
from scipy.stats import loguniform
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import KFold, RepeatedKFold, ShuffleSplit
from sklearn.tree import DecisionTreeRegressor

from distsearch import MultiModelSearchCV

MODELS = [
    ("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e3)}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 3], "splitter": ["best", "random"]}),
    ("lasso", Lasso(), {"alpha": [30.0, -1.0]}),  # alpha=-1 fails on every fold
]


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=100, n_features=5, noise=20.0, random_state=0)


@pytest.fixture(scope="module")
def search(data):
    X, y = data
    with pytest.warns(UserWarning):  # the failing lasso
        return MultiModelSearchCV(
            MODELS, n_iter={"ridge": 3, "tree": None, "lasso": None}, cv=KFold(5, shuffle=True, random_state=0),
            random_state=0, error_score=np.nan,
        ).fit(X, y)


def corrected_test(differences, n_train, n_test):
    """scikit-learn's "Statistical comparison of models using grid search" example, as written there."""
    kr = len(differences)
    corrected_std = np.sqrt(np.var(differences, ddof=1) * (1 / kr + n_test / n_train))
    t_post = stats.t(kr - 1, loc=np.mean(differences), scale=corrected_std)
    return np.mean(differences), corrected_std, 1 - t_post.cdf(0)


def best_of(results, model):
    rows = np.flatnonzero(results["model"] == model)
    return rows[np.argmin(results["rank_test_score"][rows])]


def test_compare_models_is_the_corrected_t_test(search, data):
    X, y = data
    results = search.cv_results_
    table = search.compare_models()
    winner = search.best_index_
    # Every other model that has a score, in rank order; the winner's own model is not compared.
    assert search.best_model_name_ == "ridge"
    assert sorted(table["model"]) == ["lasso", "tree"]
    assert table["rank"].tolist() == sorted(table["rank"])
    train, test = next(search.cv.split(X))
    for row in table.itertuples(index=False):
        other = best_of(results, row.model)
        assert row.rank == results["rank_test_score"][other]
        assert row.params == results["params"][other]
        winner_folds = np.array([results[f"split{k}_test_score"][winner] for k in range(5)])
        other_folds = np.array([results[f"split{k}_test_score"][other] for k in range(5)])
        mean, se, probability = corrected_test(winner_folds - other_folds, len(train), len(test))
        assert row.n_folds == 5
        assert row.mean_difference == pytest.approx(mean)
        assert row.std_error == pytest.approx(se)
        assert row.probability_winner_better == pytest.approx(probability)
        # The correction makes the error larger than the naive one.
        assert row.std_error > np.std(winner_folds - other_folds, ddof=1) / np.sqrt(5)
    # The tree is far behind: the winner is better with high probability.
    assert table.set_index("model").loc["tree", "probability_winner_better"] > 0.9


def test_compare_models_over_the_shared_folds_only(data):
    X, y = data
    # alpha=-1 fails: a tree whose max_depth makes it fail on some folds is not needed;
    # a scorer that returns NaN on one fold is simpler: fold 0 of the tree.
    search = MultiModelSearchCV(
        [("ridge", Ridge(), {"alpha": [1.0]}), ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2]})],
        cv=4,
    ).fit(X, y)
    search.cv_results_["split0_test_score"][1] = np.nan
    (row,) = search.compare_models().itertuples(index=False)
    d = np.array([search.cv_results_[f"split{k}_test_score"][0] - search.cv_results_[f"split{k}_test_score"][1]
                  for k in (1, 2, 3)])
    assert row.n_folds == 3
    assert row.mean_difference == pytest.approx(d.mean())
    assert row.std_error == pytest.approx(np.sqrt(np.var(d, ddof=1) * (1 / 3 + 1 / 3)))


def test_compare_models_repeated_cv_and_shuffle_split(data):
    X, y = data
    models = [("ridge", Ridge(), {"alpha": [1.0]}), ("lasso", Lasso(), {"alpha": [10.0]})]
    repeated = MultiModelSearchCV(models, cv=RepeatedKFold(n_splits=4, n_repeats=3, random_state=0)).fit(X, y)
    (row,) = repeated.compare_models().itertuples(index=False)
    d = repeated.cv_results_
    diffs = np.array([d[f"split{k}_test_score"][0] - d[f"split{k}_test_score"][1] for k in range(12)])
    if repeated.best_model_name_ != "ridge":
        diffs = -diffs
    assert row.n_folds == 12  # every fold of every repeat
    # n_test / n_train of a 4-fold split is 1/3, whatever the repeat.
    assert row.std_error == pytest.approx(corrected_test(diffs, 75, 25)[1])

    shuffled = MultiModelSearchCV(models, cv=ShuffleSplit(6, test_size=0.2, random_state=0)).fit(X, y)
    (row,) = shuffled.compare_models().itertuples(index=False)
    (explicit,) = shuffled.compare_models(test_train_ratio=0.25).itertuples(index=False)
    assert row.std_error == pytest.approx(explicit.std_error)
    with pytest.raises(ValueError, match="metric='rmse' is not a metric"):
        shuffled.compare_models("rmse")


def test_hyperparameter_plot_points_are_the_candidates(search):
    results = search.cv_results_
    tree = np.flatnonzero(results["model"] == "tree")
    figure = search.plot_hyperparameters("tree")
    depth, splitter = figure.axes
    assert depth.get_xlabel() == "max_depth" and splitter.get_xlabel() == "splitter"
    # Categorical axes: one tick per listed value, in the order listed.
    assert [t.get_text() for t in splitter.get_xticklabels()] == ["best", "random"]
    points = next(c for c in depth.collections if c.get_gid() == "max_depth")
    expected = sorted((float([1, 3].index(results["params"][i]["max_depth"])), results["mean_test_score"][i])
                      for i in tree)
    np.testing.assert_allclose(sorted(map(tuple, points.get_offsets().tolist())), expected)
    # The model's best candidate is ringed.
    best = tree[np.argmax(results["mean_test_score"][tree])]
    ring = next(c for c in splitter.collections if c.get_gid() == "splitter best")
    assert ring.get_offsets().tolist() == [
        [["best", "random"].index(results["params"][best]["splitter"]), results["mean_test_score"][best]]
    ]

    # A log-scaled distribution gets a log axis with the sampled values.
    (alpha,) = search.plot_hyperparameters("ridge").axes
    assert alpha.get_xscale() == "log" and alpha.get_xlabel() == "alpha (log scale)"
    ridge = np.flatnonzero(results["model"] == "ridge")
    points = next(c for c in alpha.collections if c.get_gid() == "alpha")
    assert sorted(points.get_offsets()[:, 0]) == pytest.approx(sorted(results["params"][i]["alpha"] for i in ridge))
    # A failed candidate is left out, not drawn.
    (lasso,) = search.plot_hyperparameters("lasso").axes
    points = next(c for c in lasso.collections if c.get_gid() == "alpha")
    assert len(points.get_offsets()) == 1
    with pytest.raises(ValueError, match="model='svm' is not a model of this search"):
        search.plot_hyperparameters("svm")


def test_parallel_coordinates_one_line_per_candidate(search):
    results = search.cv_results_
    figure = search.plot_parallel_coordinates("tree")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["max_depth", "splitter", "mean score"]
    lines = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    tree = np.flatnonzero(results["model"] == "tree")
    assert sorted(lines) == sorted(f"candidate {i}" for i in tree)
    scores = results["mean_test_score"][tree]
    for i in tree:
        y = lines[f"candidate {i}"].get_ydata()
        params = results["params"][i]
        assert y[0] == [1, 3].index(params["max_depth"]) and y[1] == ["best", "random"].index(params["splitter"])
        assert y[2] == pytest.approx((results["mean_test_score"][i] - scores.min()) / np.ptp(scores))
    best = tree[np.argmax(scores)]
    assert lines[f"candidate {best}"].get_linewidth() == max(line.get_linewidth() for line in lines.values())
    # The winner's model by default.
    default = search.plot_parallel_coordinates()
    assert default.axes[0].get_title().startswith(f"{search.best_model_name_}:")


def test_report_trials_and_rounds_tables():
    from distsearch._html import _rounds, _trials

    nan = np.nan
    results = {
        "trial_number": np.array([1, 0, 2]),
        "model": np.array(["tree", "ridge", "tree"]),
        "mean_test_score": np.array([0.5, 0.7, nan]),
        "split0_test_score": np.array([0.4, 0.6, 0.1]),
        "split1_test_score": np.array([0.6, 0.8, nan]),
    }
    trials = _trials(results, "score", 2)
    assert trials["trial"].tolist() == [0, 1, 2]  # in the order they were asked
    assert trials["model"].tolist() == ["ridge", "tree", "tree"]
    assert trials["pruned"].tolist() == ["no", "no", "yes"]
    assert trials["folds scored"].tolist() == [2, 2, 1]
    assert trials["best so far"].tolist() == [0.7, 0.7, 0.7]
    assert _rounds(results, "score") is None and _trials({"mean_test_score": []}, "score", 2) is None
    rounds = _rounds({"iter": np.array([0, 0, 1]), "n_resources": np.array([10, 10, 30]),
                      "mean_test_score": np.array([0.2, 0.4, 0.5])}, "score")
    assert rounds.to_dict("list") == {
        "round": [0, 1], "candidates": [2, 1], "resources per fit": [10, 30], "best score": [0.4, 0.5],
    }
