"""MultiModelSearchCV against GridSearchCV and RandomizedSearchCV.

The drop-in form must give exactly scikit-learn's results; the multi-model
form must give, per model, exactly what a separate GridSearchCV gives.
"""

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy.stats import loguniform, randint, rankdata
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.metrics import make_scorer, mean_squared_error, r2_score
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from distsearch import MultiModelSearchCV


# ----------------------------------------------------------------------
# Data and helpers
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def regression():
    return make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)


@pytest.fixture(scope="module")
def classification():
    return make_classification(
        n_samples=90, n_features=5, n_informative=3, n_classes=3, random_state=0
    )


def without_locations(message):
    """A fit failure's message without its traceback's file locations.

    They differ only by scikit-learn's line numbers and by the file of the
    first frame: the same line of a function of the same name, distsearch's
    ``_fit_and_score`` instead of scikit-learn's.
    """
    message = re.sub(r'"[^"]+"(, line \d+, in _fit_and_score\n)', r"F\1", message)
    return re.sub(r"line \d+", "line N", message)


def assert_same_results(expected, actual):
    """Same keys in the same order, same dtypes and values except the timings."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if key.endswith("_time"):
            assert np.shape(actual[key]) == np.shape(value), key
            continue
        if key == "params":
            assert actual[key] == value
            continue
        assert actual[key].dtype == value.dtype, key
        if isinstance(value, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(value)
            np.testing.assert_array_equal(np.ma.getmaskarray(actual[key]), mask)
            np.testing.assert_array_equal(
                np.asarray(actual[key])[~mask], np.asarray(value)[~mask], err_msg=key
            )
        else:
            np.testing.assert_array_equal(actual[key], value, err_msg=key)


def assert_same_search(expected, actual, X=None):
    """cv_results_, best_* attributes and the refit model agree."""
    assert_same_results(expected.cv_results_, actual.cv_results_)
    for attr in ("best_index_", "best_score_", "best_params_", "n_splits_", "multimetric_"):
        assert hasattr(actual, attr) == hasattr(expected, attr), attr
        if hasattr(expected, attr):
            assert getattr(actual, attr) == getattr(expected, attr), attr
    assert hasattr(actual, "best_estimator_") == hasattr(expected, "best_estimator_")
    assert hasattr(actual, "refit_time_") == hasattr(expected, "refit_time_")
    if isinstance(expected.scorer_, dict):
        assert list(actual.scorer_) == list(expected.scorer_)
    if hasattr(expected, "best_estimator_") and X is not None:
        np.testing.assert_array_equal(actual.predict(X), expected.predict(X))


def both(estimator, grid, X, y, fit_params=None, **kwargs):
    """GridSearchCV and MultiModelSearchCV fitted with the same arguments."""
    fit_params = fit_params or {}
    expected = GridSearchCV(estimator, grid, **kwargs).fit(X, y, **fit_params)
    actual = MultiModelSearchCV(estimator, grid, **kwargs).fit(X, y, **fit_params)
    return expected, actual


def second_best(cv_results):
    """A callable refit: the candidate ranked second (ties broken by index)."""
    return int(np.argsort(cv_results["rank_test_score"], kind="stable")[1])


# ----------------------------------------------------------------------
# Drop-in form: GridSearchCV's results
# ----------------------------------------------------------------------
SWAP_GRID = [
    {"model": [Ridge()], "model__alpha": [0.1, 10.0]},
    {"model": [Lasso()], "model__alpha": [0.1, 1.0]},
]

REGRESSION_CASES = {
    "ridge": (Ridge(), {"alpha": [0.01, 1.0, 100.0]}, dict(cv=4)),
    "tree_list_of_grids": (
        DecisionTreeRegressor(random_state=0),
        [{"max_depth": [1, 3]}, {"min_samples_leaf": [5, 20], "max_depth": [None]}],
        dict(cv=3),
    ),
    "pipeline_step_params": (
        Pipeline([("scale", StandardScaler()), ("model", Ridge())]),
        {"scale": [StandardScaler(), MinMaxScaler()], "model__alpha": [0.1, 10.0]},
        dict(cv=3),
    ),
    "pipeline_swap_step": (
        Pipeline([("scale", StandardScaler()), ("model", Ridge())]),
        SWAP_GRID,
        dict(cv=3),
    ),
    "multi_metric_refit_str": (
        Ridge(),
        {"alpha": [0.1, 10.0, 1000.0]},
        dict(cv=3, scoring=["r2", "neg_mean_absolute_error"], refit="neg_mean_absolute_error"),
    ),
    "multi_metric_dict_callable_scorer": (
        Ridge(),
        {"alpha": [0.1, 1000.0]},
        dict(
            cv=3,
            scoring={"r2": "r2", "mse": make_scorer(mean_squared_error, greater_is_better=False)},
            refit="mse",
        ),
    ),
    "callable_scoring_returning_dict": (
        Ridge(),
        {"alpha": [0.1, 1000.0]},
        dict(
            cv=3,
            scoring=lambda est, X, y: {"r2": r2_score(y, est.predict(X)), "one": 1.0},
            refit="r2",
        ),
    ),
    "callable_refit": (Ridge(), {"alpha": [0.1, 1.0, 10.0]}, dict(cv=3, refit=second_best)),
    "refit_false": (Ridge(), {"alpha": [0.1, 1.0]}, dict(cv=3, refit=False)),
    "refit_false_multi_metric": (
        Ridge(),
        {"alpha": [0.1, 1.0]},
        dict(cv=3, refit=False, scoring=("r2", "explained_variance")),
    ),
    "return_train_score": (
        Ridge(),
        {"alpha": [0.1, 100.0]},
        dict(cv=3, return_train_score=True, scoring=["r2", "neg_max_error"], refit="r2"),
    ),
    "n_jobs_2": (Ridge(), {"alpha": [0.1, 1.0, 10.0]}, dict(cv=3, n_jobs=2)),
}


@pytest.mark.parametrize("case", list(REGRESSION_CASES))
def test_drop_in_regression_equals_gridsearchcv(case, regression):
    X, y = regression
    estimator, grid, kwargs = REGRESSION_CASES[case]
    expected, actual = both(estimator, grid, X, y, **kwargs)
    assert_same_search(expected, actual, X)


CLASSIFICATION_CASES = {
    "logistic": (LogisticRegression(max_iter=500), {"C": [0.01, 1.0, 100.0]}, {}),
    "tree": (
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [1, 2, 4], "criterion": ["gini", "entropy"]},
        dict(scoring="balanced_accuracy"),
    ),
    "pipeline_multi_metric": (
        Pipeline([("pca", PCA(n_components=3)), ("model", LogisticRegression())]),
        {"pca__n_components": [2, 4], "model__C": [0.1, 1.0]},
        dict(scoring=["accuracy", "f1_macro"], refit="f1_macro", return_train_score=True),
    ),
}


@pytest.mark.parametrize("case", list(CLASSIFICATION_CASES))
def test_drop_in_classification_equals_gridsearchcv(case, classification):
    X, y = classification
    estimator, grid, kwargs = CLASSIFICATION_CASES[case]
    expected, actual = both(estimator, grid, X, y, cv=3, **kwargs)
    assert_same_search(expected, actual, X)
    np.testing.assert_array_equal(actual.predict_proba(X), expected.predict_proba(X))


@pytest.mark.parametrize("error_score", [np.nan, -1.0])
def test_failing_fits_same_warning_and_scores(regression, error_score):
    X, y = regression
    grid = {"alpha": [-1.0, 1.0, 10.0]}  # a negative alpha fails every fit
    with pytest.warns(FitFailedWarning) as expected_warnings:
        expected = GridSearchCV(Ridge(), grid, cv=3, error_score=error_score).fit(X, y)
    with pytest.warns(FitFailedWarning) as actual_warnings:
        actual = MultiModelSearchCV(Ridge(), grid, cv=3, error_score=error_score).fit(X, y)
    assert_same_search(expected, actual, X)

    def messages(record):
        return [
            without_locations(str(w.message))
            for w in record
            if w.category is FitFailedWarning
        ]

    assert messages(actual_warnings) == messages(expected_warnings)
    assert "3 fits failed out of a total of 9" in messages(actual_warnings)[0]
    scores = actual.cv_results_["split0_test_score"]
    np.testing.assert_array_equal(np.isnan(scores), [np.isnan(error_score), False, False])
    assert actual.cv_results_["rank_test_score"][0] == 3


def test_error_score_raise_raises_the_same_exception(regression):
    X, y = regression
    grid = {"alpha": [1.0, -1.0]}
    with pytest.raises(Exception) as expected:
        GridSearchCV(Ridge(), grid, cv=3, error_score="raise").fit(X, y)
    with pytest.raises(Exception) as actual:
        MultiModelSearchCV(Ridge(), grid, cv=3, error_score="raise").fit(X, y)
    assert type(actual.value) is type(expected.value)
    assert str(actual.value) == str(expected.value)


def test_all_fits_failing_raises_the_same_error(regression):
    X, y = regression
    grid = {"alpha": [-1.0, -2.0]}
    with pytest.raises(ValueError, match="All the 6 fits failed") as expected:
        GridSearchCV(Ridge(), grid, cv=3).fit(X, y)
    with pytest.raises(ValueError, match="All the 6 fits failed") as actual:
        MultiModelSearchCV(Ridge(), grid, cv=3).fit(X, y)
    assert without_locations(str(actual.value)) == without_locations(str(expected.value))


def test_sample_weight_fit_param(regression):
    X, y = regression
    weights = np.random.RandomState(0).uniform(0.1, 2.0, size=len(y))
    expected, actual = both(
        Ridge(), {"alpha": [0.1, 10.0]}, X, y, fit_params={"sample_weight": weights}, cv=3
    )
    assert_same_search(expected, actual, X)
    unweighted = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3).fit(X, y)
    assert not np.array_equal(
        unweighted.cv_results_["mean_test_score"], actual.cv_results_["mean_test_score"]
    )


def test_metadata_routing_drop_in(regression):
    X, y = regression
    weights = np.random.RandomState(1).uniform(0.1, 2.0, size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = Ridge().set_fit_request(sample_weight=True)
        scorer = make_scorer(r2_score).set_score_request(sample_weight=True)
        expected, actual = both(
            estimator,
            {"alpha": [0.1, 10.0]},
            X,
            y,
            fit_params={"sample_weight": weights},
            cv=3,
            scoring=scorer,
        )
    assert_same_search(expected, actual, X)


def test_groups_with_group_kfold(regression):
    X, y = regression
    groups = np.arange(len(y)) % 7
    expected, actual = both(
        Ridge(), {"alpha": [0.1, 10.0]}, X, y, fit_params={"groups": groups}, cv=GroupKFold(3)
    )
    assert_same_search(expected, actual, X)


# ----------------------------------------------------------------------
# Drop-in form with n_iter: RandomizedSearchCV's candidates
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "space",
    [
        {"alpha": loguniform(1e-3, 1e3), "fit_intercept": [True, False]},
        {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0], "fit_intercept": [True, False]},
        [{"alpha": [0.1, 1.0, 10.0]}, {"alpha": loguniform(1e-3, 1e3), "tol": [1e-3]}],
    ],
    ids=["distributions", "all_lists", "list_of_spaces"],
)
@pytest.mark.parametrize("seed", ["int", "RandomState"])
def test_drop_in_n_iter_samples_as_randomizedsearchcv(regression, space, seed):
    X, y = regression

    def random_state():
        return 3 if seed == "int" else np.random.RandomState(3)

    expected = RandomizedSearchCV(
        Ridge(), space, n_iter=6, random_state=random_state(), cv=3
    ).fit(X, y)
    actual = MultiModelSearchCV(
        Ridge(), space, n_iter=6, random_state=random_state(), cv=3
    ).fit(X, y)
    assert len(actual.cv_results_["params"]) == 6
    assert_same_search(expected, actual, X)


# ----------------------------------------------------------------------
# Delegation, pickling, parameters
# ----------------------------------------------------------------------
def test_classifier_delegation_equals_gridsearchcv(classification):
    X, y = classification
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    expected, actual = both(LogisticRegression(), {"C": [0.1, 1.0]}, frame, y, cv=3)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_array_equal(
            getattr(actual, method)(frame), getattr(expected, method)(frame), err_msg=method
        )
    assert actual.score(frame, y) == expected.score(frame, y)
    np.testing.assert_array_equal(actual.classes_, expected.classes_)
    assert actual.n_features_in_ == expected.n_features_in_ == 5
    np.testing.assert_array_equal(actual.feature_names_in_, expected.feature_names_in_)
    assert not hasattr(actual, "transform")


def test_transformer_delegation_equals_gridsearchcv(regression):
    X, _ = regression
    expected, actual = both(PCA(), {"n_components": [1, 3]}, X, None, cv=3)
    assert_same_search(expected, actual)
    np.testing.assert_array_equal(actual.transform(X), expected.transform(X))
    np.testing.assert_array_equal(
        actual.inverse_transform(actual.transform(X)),
        expected.inverse_transform(expected.transform(X)),
    )
    np.testing.assert_array_equal(actual.score_samples(X), expected.score_samples(X))
    assert actual.score(X) == expected.score(X)
    assert not hasattr(actual, "predict")


def test_unfitted_delegation_raises_like_gridsearchcv():
    for search in (
        GridSearchCV(Ridge(), {"alpha": [1.0]}),
        MultiModelSearchCV(Ridge(), {"alpha": [1.0]}),
    ):
        with pytest.raises(sklearn.exceptions.NotFittedError):
            search.predict(np.zeros((2, 5)))


def test_pickle_round_trip(regression):
    X, y = regression
    for search in (
        MultiModelSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3),
        MultiModelSearchCV(
            [
                ("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
                ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2]}),
            ],
            cv=3,
        ),
    ):
        search.fit(X, y)
        restored = pickle.loads(pickle.dumps(search))
        assert_same_results(search.cv_results_, restored.cv_results_)
        np.testing.assert_array_equal(restored.predict(X), search.predict(X))
        assert restored.best_params_ == search.best_params_
        assert restored.get_params().keys() == search.get_params().keys()


def test_get_params_set_params_clone_drop_in():
    grid = {"alpha": [0.1, 1.0]}
    search = MultiModelSearchCV(Ridge(), grid, cv=3, scoring="r2")
    reference = GridSearchCV(Ridge(), grid, cv=3, scoring="r2")
    ours, theirs = search.get_params(deep=True), reference.get_params(deep=True)
    assert set(theirs) <= set(ours)
    assert {"n_iter", "random_state"} <= set(ours)
    for key in theirs:
        if key != "estimator":
            np.testing.assert_equal(ours[key], theirs[key], err_msg=key)
    search.set_params(estimator__fit_intercept=False, cv=5, n_iter=2)
    assert search.estimator.fit_intercept is False
    assert (search.cv, search.n_iter) == (5, 2)
    copy = clone(search)
    assert copy.estimator is not search.estimator
    assert copy.estimator.get_params() == search.estimator.get_params()
    assert copy.param_grid == grid and copy.cv == 5 and copy.n_iter == 2


def test_get_params_set_params_clone_multi_model():
    models = [
        ("ridge", Ridge(alpha=3.0), {"alpha": [0.1, 1.0]}),
        ("tree", DecisionTreeRegressor(max_depth=2), [{"max_depth": [1, 2]}]),
    ]
    search = MultiModelSearchCV(models, cv=3, n_iter={"ridge": 1}, random_state=0)
    params = search.get_params(deep=True)
    assert params["estimator"] is models and params["param_grid"] is None
    copy = clone(search)
    assert [(n, type(e), s) for n, e, s in copy.estimator] == [
        (n, type(e), s) for n, e, s in models
    ]
    for (_, cloned, _), (_, original, _) in zip(copy.estimator, models):
        assert cloned is not original
        assert cloned.get_params() == original.get_params()
    assert copy.n_iter == {"ridge": 1} and copy.random_state == 0
    copy.set_params(n_iter=None, estimator=models[:1])
    assert copy.n_iter is None and len(copy.estimator) == 1


def test_estimator_type_of_both_forms():
    grid = {"C": [1.0]}
    assert is_classifier(MultiModelSearchCV(LogisticRegression(), grid))
    assert is_regressor(MultiModelSearchCV(Ridge(), {"alpha": [1.0]}))
    classifiers = MultiModelSearchCV(
        [
            ("logistic", LogisticRegression(), grid),
            ("tree", DecisionTreeClassifier(), {"max_depth": [1]}),
        ]
    )
    regressors = MultiModelSearchCV(
        [("ridge", Ridge(), {"alpha": [1.0]}), ("tree", DecisionTreeRegressor(), {})]
    )
    assert is_classifier(classifiers) and not is_regressor(classifiers)
    assert is_regressor(regressors) and not is_classifier(regressors)


def test_stratified_folds_for_a_list_of_classifiers():
    # Sorted labels: plain KFold puts mostly one class in each test fold.
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    models = {
        "logistic": (LogisticRegression(), {"C": [0.1, 1.0]}),
        "tree": (DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3]}),
    }
    search = MultiModelSearchCV(
        [(name, est, space) for name, (est, space) in models.items()], cv=3
    ).fit(X, y)
    results = search.cv_results_
    for name, (est, space) in models.items():
        rows = results["model"] == name
        stratified = GridSearchCV(est, space, cv=StratifiedKFold(3)).fit(X, y)
        plain = GridSearchCV(est, space, cv=KFold(3)).fit(X, y)
        np.testing.assert_array_equal(
            results["split0_test_score"][rows], stratified.cv_results_["split0_test_score"]
        )
        assert not np.array_equal(
            results["split0_test_score"][rows], plain.cv_results_["split0_test_score"]
        )


# ----------------------------------------------------------------------
# Multi-model form
# ----------------------------------------------------------------------
MODELS = {
    "ridge": (Ridge(), {"alpha": [0.1, 10.0, 1000.0]}),
    "tree": (DecisionTreeRegressor(random_state=0), {"max_depth": [1, 3, 5]}),
    "lasso": (
        Pipeline([("scale", StandardScaler()), ("model", Lasso())]),
        [{"model__alpha": [0.01, 1.0]}, {"model__alpha": [5.0], "scale__with_mean": [False]}],
    ),
}


@pytest.fixture(scope="module")
def multi(regression):
    X, y = regression
    search = MultiModelSearchCV(
        [(name, est, space) for name, (est, space) in MODELS.items()],
        cv=3,
        n_jobs=2,
        return_train_score=True,
    )
    return search.fit(X, y)


@pytest.fixture(scope="module")
def separate(regression):
    X, y = regression
    return {
        name: GridSearchCV(est, space, cv=3, return_train_score=True).fit(X, y)
        for name, (est, space) in MODELS.items()
    }


def test_multi_model_scores_equal_separate_searches(multi, separate):
    results = multi.cv_results_
    assert results["model"].tolist() == [
        name for name, search in separate.items() for _ in search.cv_results_["params"]
    ]
    for name, alone in separate.items():
        rows = results["model"] == name
        for key, value in alone.cv_results_.items():
            if key.startswith(("split", "mean_test", "std_test", "mean_train", "std_train")):
                np.testing.assert_array_equal(results[key][rows], value, err_msg=key)
        assert [p for p, r in zip(results["params"], rows) if r] == alone.cv_results_["params"]


def test_multi_model_keys_and_plain_values(multi, separate):
    results = multi.cv_results_
    keys = list(results)
    assert keys[0] == "model"
    expected_keys = set().union(*(s.cv_results_ for s in separate.values()))
    assert set(keys) == {"model"} | expected_keys
    assert results["model"].dtype.kind == "U"
    for params in results["params"]:
        assert all(not hasattr(value, "get_params") for value in params.values()), params
    alpha = results["param_alpha"]
    ridge_rows = results["model"] == "ridge"
    np.testing.assert_array_equal(np.ma.getmaskarray(alpha), ~ridge_rows)
    assert alpha[ridge_rows].tolist() == [0.1, 10.0, 1000.0]
    for key in keys:
        if key.startswith("param_"):
            assert all(
                not hasattr(value, "get_params") for value in np.ma.compressed(results[key])
            ), key


def test_multi_model_ranks_are_global(multi):
    results = multi.cv_results_
    expected = rankdata(-results["mean_test_score"], method="min").astype(np.int32)
    np.testing.assert_array_equal(results["rank_test_score"], expected)
    assert results["rank_test_score"].max() > 3  # not ranked within each model


def test_multi_model_best_attributes(multi, separate, regression):
    X, _ = regression
    results = multi.cv_results_
    best = int(np.argmax(results["mean_test_score"]))
    assert multi.best_index_ == best
    assert multi.best_score_ == results["mean_test_score"][best]
    winner = multi.best_model_name_
    assert winner == results["model"][best]
    alone = separate[winner]
    assert multi.best_score_ == alone.best_score_
    assert multi.best_params_ == results["params"][best]
    assert type(multi.best_estimator_) is type(alone.best_estimator_)
    np.testing.assert_array_equal(multi.predict(X), alone.predict(X))


def test_leaderboard_per_candidate(multi):
    results = multi.cv_results_
    board = multi.leaderboard()
    order = np.argsort(results["rank_test_score"], kind="stable")
    params = ["param_alpha", "param_max_depth", "param_model__alpha", "param_scale__with_mean"]
    assert list(board.columns) == [
        "rank", "model", "params", "mean_test_score", "std_test_score", "sem_test_score",
        "mean_fit_time", *params,
    ]
    assert sorted(params) == sorted(k for k in results if k.startswith("param_"))
    assert len(board) == len(results["params"])
    assert board["rank"].tolist() == results["rank_test_score"][order].tolist()
    assert board["model"].tolist() == results["model"][order].tolist()
    assert board["params"].tolist() == [results["params"][i] for i in order]
    np.testing.assert_array_equal(board["mean_test_score"], results["mean_test_score"][order])
    np.testing.assert_array_equal(board["std_test_score"], results["std_test_score"][order])
    np.testing.assert_array_equal(board["mean_fit_time"], results["mean_fit_time"][order])
    # The standard error of the mean over the 3 folds (ddof=1).
    splits = pd.DataFrame({k: results[f"split{k}_test_score"][order] for k in range(3)})
    np.testing.assert_allclose(board["sem_test_score"], splits.std(axis=1, ddof=1) / np.sqrt(3))
    # One column per parameter: the candidate's value, None where its model has none.
    for column in params:
        name = column[len("param_"):]
        for value, i in zip(board[column], order):
            if name in results["params"][i]:
                assert value == results["params"][i][name]
            else:
                assert pd.isna(value)
    assert board.loc[board["model"] == "ridge", "param_max_depth"].isna().all()


def test_leaderboard_per_model(multi):
    results = multi.cv_results_
    board = multi.leaderboard(per_model=True)
    ranks = results["rank_test_score"]
    expected_order = sorted(MODELS, key=lambda n: ranks[results["model"] == n].min())
    assert board["model"].tolist() == expected_order
    for _, row in board.iterrows():
        rows = np.flatnonzero(results["model"] == row["model"])
        best = rows[np.argmin(ranks[rows])]
        assert row["best_rank"] == ranks[best]
        assert row["best_params"] == results["params"][best]
        assert row["mean_test_score"] == results["mean_test_score"][best]
        assert row["std_test_score"] == results["std_test_score"][best]
        splits = [results[f"split{k}_test_score"][best] for k in range(3)]
        assert row["sem_test_score"] == pytest.approx(np.std(splits, ddof=1) / np.sqrt(3))
        assert row["n_candidates"] == len(rows)
        assert row["total_fit_time"] == pytest.approx(
            results["mean_fit_time"][rows].sum() * multi.n_splits_
        )
    assert board.loc[0, "model"] == multi.best_model_name_


def test_leaderboard_drop_in_names_the_estimator_class(regression):
    X, y = regression
    search = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 10.0, 1000.0]}, cv=3).fit(X, y)
    board = search.leaderboard()
    assert board["model"].tolist() == ["Ridge"] * 3
    assert board.loc[0, "params"] == search.best_params_
    per_model = search.leaderboard(per_model=True)
    assert per_model["model"].tolist() == ["Ridge"]
    assert per_model.loc[0, "n_candidates"] == 3
    assert per_model.loc[0, "mean_test_score"] == search.best_score_


def test_leaderboard_multi_metric_uses_refit_metric(regression):
    X, y = regression
    search = MultiModelSearchCV(
        [("ridge", Ridge(), {"alpha": [0.1, 100.0]}), ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 4]})],
        scoring=["r2", "neg_mean_absolute_error"],
        refit="neg_mean_absolute_error",
        cv=3,
    ).fit(X, y)
    board = search.leaderboard()
    # Every metric, the ranking one first.
    assert [c for c in board.columns if c.startswith(("mean_test", "sem_test"))] == [
        "mean_test_neg_mean_absolute_error", "sem_test_neg_mean_absolute_error",
        "mean_test_r2", "sem_test_r2",
    ]
    assert board["rank"].tolist() == sorted(
        search.cv_results_["rank_test_neg_mean_absolute_error"].tolist()
    )
    assert board.loc[0, "params"] == search.best_params_


def test_multi_model_fit_params_and_routing(regression):
    X, y = regression
    weights = np.random.RandomState(2).uniform(0.1, 2.0, size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        weighted = Ridge().set_fit_request(sample_weight=True)
        unweighted = DecisionTreeRegressor(random_state=0).set_fit_request(
            sample_weight=False
        )
        scorer = make_scorer(r2_score).set_score_request(sample_weight=False)
        search = MultiModelSearchCV(
            [
                ("weighted", weighted, {"alpha": [0.1, 10.0]}),
                ("unweighted", unweighted, {"max_depth": [2, 4]}),
            ],
            cv=3,
            scoring=scorer,
        ).fit(X, y, sample_weight=weights)
        alone_weighted = GridSearchCV(
            weighted, {"alpha": [0.1, 10.0]}, cv=3, scoring=scorer
        ).fit(X, y, sample_weight=weights)
    alone_unweighted = GridSearchCV(
        DecisionTreeRegressor(random_state=0), {"max_depth": [2, 4]}, cv=3
    ).fit(X, y)
    unweighted_ridge = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3).fit(X, y)
    assert not np.array_equal(
        unweighted_ridge.cv_results_["mean_test_score"],
        alone_weighted.cv_results_["mean_test_score"],
    )
    results = search.cv_results_
    for name, alone in (("weighted", alone_weighted), ("unweighted", alone_unweighted)):
        np.testing.assert_array_equal(
            results["mean_test_score"][results["model"] == name],
            alone.cv_results_["mean_test_score"],
        )


def test_multi_model_routing_to_each_models_own_score(regression):
    X, y = regression
    weights = np.random.RandomState(3).uniform(0.1, 2.0, size=len(y))
    grids = {"ridge": {"alpha": [0.1, 10.0]}, "tree": {"max_depth": [2, 4]}}

    def models(tree_score_request):
        return {
            "ridge": Ridge().set_fit_request(sample_weight=True).set_score_request(
                sample_weight=True
            ),
            "tree": DecisionTreeRegressor(random_state=0)
            .set_fit_request(sample_weight=False)
            .set_score_request(sample_weight=tree_score_request),
        }

    with sklearn.config_context(enable_metadata_routing=True):
        agreeing = models(True)
        search = MultiModelSearchCV(
            [(name, est, grids[name]) for name, est in agreeing.items()], cv=3
        ).fit(X, y, sample_weight=weights)
        for name, est in agreeing.items():
            alone = GridSearchCV(est, grids[name], cv=3).fit(X, y, sample_weight=weights)
            np.testing.assert_array_equal(
                search.cv_results_["mean_test_score"][search.cv_results_["model"] == name],
                alone.cv_results_["mean_test_score"],
            )
        # One set of score metadata goes to every model's score method: a
        # model requesting other metadata is an error, not silently weighted.
        conflicting = MultiModelSearchCV(
            [(name, est, grids[name]) for name, est in models(False).items()], cv=3
        )
        with pytest.raises(
            ValueError,
            match=r"model 'ridge' requests \['sample_weight'\], model 'tree' requests \[\]",
        ):
            conflicting.fit(X, y, sample_weight=weights)
        assert not hasattr(conflicting, "cv_results_")


def test_multi_model_refit_false_and_callable(regression):
    X, y = regression
    models = [
        ("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
        ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 4]}),
    ]
    no_refit = MultiModelSearchCV(models, cv=3, refit=False).fit(X, y)
    assert not hasattr(no_refit, "best_estimator_")
    assert no_refit.best_model_name_ == no_refit.cv_results_["model"][no_refit.best_index_]
    chosen = MultiModelSearchCV(models, cv=3, refit=second_best).fit(X, y)
    assert chosen.best_index_ == second_best(chosen.cv_results_)
    assert not hasattr(chosen, "best_score_")
    assert chosen.best_model_name_ == chosen.cv_results_["model"][chosen.best_index_]
    assert chosen.best_params_ == chosen.cv_results_["params"][chosen.best_index_]


def test_multi_model_failing_model_warns_and_ranks_last(regression):
    X, y = regression
    with pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 12") as caught:
        search = MultiModelSearchCV(
            [
                ("broken", Lasso(), {"alpha": [-1.0]}),
                ("ridge", Ridge(), {"alpha": [0.1, 10.0, 100.0]}),
            ],
            cv=3,
        ).fit(X, y)
    # The model's own warning, one candidate in the singular.
    assert any(
        str(w.message).startswith("Every fit of model 'broken' failed (3 fits of 1 candidate); its first error: ")
        for w in caught
    )
    results = search.cv_results_
    assert np.isnan(results["mean_test_score"][0])
    assert results["rank_test_score"][0] == 4
    assert search.best_model_name_ == "ridge"


# ----------------------------------------------------------------------
# Per-model sampling
# ----------------------------------------------------------------------
SAMPLED = [
    ("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e3)}),
    ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": randint(1, 8), "min_samples_leaf": [1, 5, 10]}),
]
EXTRA = ("lasso", Lasso(), {"alpha": loguniform(1e-3, 1.0)})


def sampled(models, **kwargs):
    search = MultiModelSearchCV(models, cv=2, **kwargs)
    return search


def candidates(search, X, y):
    search.fit(X, y)
    results = search.cv_results_
    return [(m, p) for m, p in zip(results["model"].tolist(), results["params"])]


def test_n_iter_int_samples_that_many_per_model(regression):
    X, y = regression
    found = candidates(sampled(SAMPLED, n_iter=4, random_state=0), X, y)
    assert [m for m, _ in found] == ["ridge"] * 4 + ["tree"] * 4
    assert len({p["alpha"] for m, p in found if m == "ridge"}) == 4


def test_n_iter_dict_per_model(regression):
    X, y = regression
    models = [SAMPLED[0], ("grid", Ridge(), {"alpha": [1.0, 2.0, 3.0]})]
    found = candidates(sampled(models, n_iter={"ridge": 2}, random_state=0), X, y)
    assert [m for m, _ in found] == ["ridge", "ridge", "grid", "grid", "grid"]
    assert [p for m, p in found if m == "grid"] == [{"alpha": a} for a in (1.0, 2.0, 3.0)]
    found = candidates(sampled(models, n_iter={"ridge": 1, "grid": 2}, random_state=0), X, y)
    assert [m for m, _ in found] == ["ridge", "grid", "grid"]
    found = candidates(sampled(models, n_iter={"ridge": 3, "grid": None}, random_state=0), X, y)
    assert [m for m, _ in found] == ["ridge"] * 3 + ["grid"] * 3


def test_sampling_reproducible_by_seed_and_independent_of_n_jobs(regression):
    X, y = regression
    first = sampled(SAMPLED, n_iter=3, random_state=7, n_jobs=1).fit(X, y)
    again = sampled(SAMPLED, n_iter=3, random_state=7, n_jobs=2).fit(X, y)
    assert_same_results(first.cv_results_, again.cv_results_)
    other = sampled(SAMPLED, n_iter=3, random_state=8).fit(X, y)
    assert other.cv_results_["params"] != first.cv_results_["params"]
    from_instance = [
        candidates(sampled(SAMPLED, n_iter=3, random_state=np.random.RandomState(5)), X, y)
        for _ in range(2)
    ]
    assert from_instance[0] == from_instance[1]


def test_adding_a_model_keeps_the_other_models_candidates(regression):
    X, y = regression
    alone = candidates(sampled(SAMPLED, n_iter=3, random_state=11), X, y)
    more = candidates(sampled([EXTRA, *SAMPLED], n_iter=3, random_state=11), X, y)
    assert [c for c in more if c[0] != "lasso"] == alone
    assert len([c for c in more if c[0] == "lasso"]) == 3


def test_multi_model_sampling_scores_equal_randomized_search(regression):
    X, y = regression
    search = sampled(SAMPLED, n_iter=3, random_state=4).fit(X, y)
    results = search.cv_results_
    for name, estimator, _ in SAMPLED:
        rows = results["model"] == name
        params = [p for p, r in zip(results["params"], rows) if r]
        alone = GridSearchCV(estimator, [{k: [v] for k, v in p.items()} for p in params], cv=2)
        alone.fit(X, y)
        np.testing.assert_array_equal(
            results["mean_test_score"][rows], alone.cv_results_["mean_test_score"]
        )


def test_verbose_output_equals_gridsearchcv(regression, capsys):
    X, y = regression
    outputs = []
    for search in (GridSearchCV, MultiModelSearchCV):
        search(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, verbose=2, refit=False).fit(X, y)
        outputs.append(re.sub(r"\d+\.\d+s", "T", capsys.readouterr().out))
    assert "Fitting 2 folds for each of 2 candidates, totalling 4 fits" in outputs[0]
    assert outputs[1] == outputs[0]


def test_multi_metric_refit_true_raises_like_gridsearchcv(regression):
    X, y = regression
    messages = []
    for search in (GridSearchCV, MultiModelSearchCV):
        with pytest.raises(ValueError, match="refit must be set to a scorer key") as info:
            search(Ridge(), {"alpha": [1.0]}, scoring=["r2", "neg_max_error"], refit=True).fit(X, y)
        messages.append(str(info.value))
    assert messages[1] == messages[0]


# ----------------------------------------------------------------------
# The search seam: _run_search(evaluate_candidates)
# ----------------------------------------------------------------------
class TwoRounds(MultiModelSearchCV):
    """Two evaluate_candidates calls, each mixing the models."""

    def _run_search(self, evaluate_candidates):
        first = evaluate_candidates(
            [("ridge", {"alpha": 0.1}), ("tree", {"max_depth": 2})]
        )
        assert len(first["params"]) == 2
        second = evaluate_candidates(
            [("tree", {"max_depth": 4}), ("ridge", {"alpha": 10.0}), ("lasso", {"alpha": 1.0})],
            more_results=None,
        )
        assert len(second["params"]) == 5
        self.rounds_seen_ = [list(first["model"]), list(second["model"])]


def _seam_models(ridge_alphas, tree_depths, lasso_alphas):
    return [
        ("ridge", Ridge(), {"alpha": ridge_alphas}),
        ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": tree_depths}),
        ("lasso", Lasso(), {"alpha": lasso_alphas}),
    ]


def test_subclass_two_calls_equals_one_search_over_the_union(regression):
    X, y = regression
    rounds = TwoRounds(_seam_models([0.1], [2], [1.0]), cv=3).fit(X, y)
    union = MultiModelSearchCV(_seam_models([0.1, 10.0], [2, 4], [1.0]), cv=3).fit(X, y)
    assert rounds.rounds_seen_ == [["ridge", "tree"], ["ridge", "tree", "tree", "ridge", "lasso"]]
    # The same candidates in another order: compare each one with itself.
    key = lambda r, i: (r["model"][i], tuple(sorted(r["params"][i].items())))  # noqa: E731
    a, b = union.cv_results_, rounds.cv_results_
    position = {key(b, i): i for i in range(len(b["params"]))}
    order = [position[key(a, i)] for i in range(len(a["params"]))]
    assert list(b) == list(a)
    for name, values in a.items():
        if name.endswith("_time") or name.startswith("param_"):
            continue
        reordered = [b[name][i] for i in order]
        assert reordered == list(values), name
    assert rounds.best_model_name_ == union.best_model_name_
    assert rounds.best_params_ == union.best_params_
    assert rounds.best_score_ == union.best_score_
    np.testing.assert_array_equal(rounds.predict(X), union.predict(X))


def test_custom_run_search_drop_in_equals_gridsearchcv(classification):
    # scikit-learn's test_custom_run_search, on MultiModelSearchCV.
    class CustomSearchCV(MultiModelSearchCV):
        def __init__(self, estimator, **kwargs):
            super().__init__(estimator, **kwargs)

        def _run_search(self, evaluate):
            evaluate([{"max_depth": 1}, {"max_depth": 2}], more_results={"round": [1, 1]})
            evaluate(
                [{"min_samples_split": 5}, {"min_samples_split": 10}],
                more_results={"round": [2, 2]},
            )

    X, y = classification
    tree = DecisionTreeClassifier(random_state=0)
    grid = [{"max_depth": [1, 2]}, {"min_samples_split": [5, 10]}]
    expected = GridSearchCV(tree, grid, cv=3).fit(X, y)
    actual = CustomSearchCV(tree, cv=3).fit(X, y)
    results = dict(actual.cv_results_)
    assert list(results.pop("round")) == [1, 1, 2, 2]
    actual.cv_results_ = results
    assert_same_search(expected, actual, X)
    # Without an own _run_search, a grid stays required.
    with pytest.raises(ValueError, match="param_grid is required"):
        MultiModelSearchCV(tree, cv=3).fit(X, y)


def test_evaluate_candidates_rejects_a_bad_candidate_before_any_fit(regression):
    class Bad(MultiModelSearchCV):
        def _run_search(self, evaluate_candidates):
            evaluate_candidates([("ridge", {"alpha": 1.0}), ("svm", {"C": 1.0})])

    with pytest.raises(ValueError, match=r"\('svm', \{'C': 1.0\}\).*\['ridge'\]"):
        Bad([("ridge", Ridge(), {})], cv=3).fit(*regression)


# ----------------------------------------------------------------------
# scikit-learn callbacks (1.9+): as GridSearchCV honours them
# ----------------------------------------------------------------------
def hook_calls(search_class, estimator, X, y, **kwargs):
    """Each hook call of a plain and an auto-propagated callback, counted."""
    from collections import Counter

    from sklearn.callback.tests._utils import (
        RecordingAutoPropagatedCallback,
        RecordingCallback,
    )

    callbacks = [RecordingCallback(), RecordingAutoPropagatedCallback()]
    search = search_class(
        estimator, {"max_iter": [1, 2, 3]}, cv=2, scoring="accuracy", **kwargs
    ).set_callbacks(*callbacks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "does not support callbacks"
        search.fit(X, y)
    assert all(r["estimator"] is search for r in callbacks[0].record)
    return [
        Counter((r["name"], r["context"].task_name, r["context"].task_id) for r in c.record)
        for c in callbacks
    ]


@pytest.mark.skipif(not hasattr(MultiModelSearchCV, "set_callbacks"), reason="sklearn<1.9")
@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("model", ["MaxIterEstimator", "NoCallbackEstimator"])
def test_callbacks_called_as_gridsearchcv_calls_them(classification, refit, model):
    from sklearn.callback.tests import _utils

    X, y = classification
    estimator = getattr(_utils, model)()
    expected = hook_calls(GridSearchCV, estimator, X, y, refit=refit)
    assert hook_calls(MultiModelSearchCV, estimator, X, y, refit=refit) == expected
