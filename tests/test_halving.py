"""HalvingMultiModelSearchCV against scikit-learn's HalvingGridSearchCV and
HalvingRandomSearchCV (one estimator), and across model families."""

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from distsearch import HalvingMultiModelSearchCV

ATTRIBUTES = (
    "n_candidates_", "n_resources_", "n_iterations_", "n_possible_iterations_",
    "n_required_iterations_", "n_remaining_candidates_", "max_resources_",
    "min_resources_", "best_index_", "best_params_", "best_score_", "n_splits_",
)


def assert_same_results(expected, actual):
    """Same keys in the same order and the same values (timings aside)."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if key.endswith("_time"):
            continue
        if key == "params":
            assert actual[key] == value
        elif isinstance(value, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(value)
            np.testing.assert_array_equal(np.ma.getmaskarray(actual[key]), mask)
            assert list(np.asarray(actual[key])[~mask]) == list(np.asarray(value)[~mask])
        else:
            np.testing.assert_array_equal(actual[key], value, err_msg=key)


@pytest.fixture(scope="module")
def regression():
    return make_regression(n_samples=150, n_features=5, noise=3.0, random_state=0)


@pytest.mark.parametrize("case", ["grid_n_samples", "grid_n_estimators", "random_exhaust"])
def test_one_estimator_equals_scikit_learn(case, regression):
    if case == "grid_n_samples":
        X, y = make_classification(n_samples=200, n_features=6, random_state=0)
        grid = {"max_depth": [1, 2, 3, 4, 5], "min_samples_split": [2, 5, 10]}
        args = (DecisionTreeClassifier(random_state=0), grid)
        theirs = HalvingGridSearchCV(*args, random_state=0)
        ours = HalvingMultiModelSearchCV(*args, random_state=0)
    elif case == "grid_n_estimators":
        X, y = regression
        grid = {"max_depth": [2, 4, 8], "max_features": [0.5, 1.0]}
        args = (RandomForestRegressor(random_state=0), grid)
        kwargs = dict(resource="n_estimators", max_resources=30, cv=3, random_state=0)
        theirs = HalvingGridSearchCV(*args, **kwargs)
        ours = HalvingMultiModelSearchCV(*args, **kwargs)
    else:
        X, y = regression
        space = {"alpha": loguniform(1e-3, 1e3)}
        theirs = HalvingRandomSearchCV(Ridge(), space, random_state=0, cv=3)
        ours = HalvingMultiModelSearchCV(
            Ridge(), space, n_candidates="exhaust", min_resources="smallest",
            random_state=0, cv=3,
        )
    theirs.fit(X, y)
    ours.fit(X, y)
    assert_same_results(theirs.cv_results_, ours.cv_results_)
    for attribute in ATTRIBUTES:
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def _models():
    return [
        ("ridge", Ridge(), {"alpha": [0.01, 1.0, 100.0]}),
        ("hgb", HistGradientBoostingRegressor(max_iter=30, random_state=0),
         {"learning_rate": [0.05, 0.3]}),
        ("knn", KNeighborsRegressor(), {"n_neighbors": [3, 9]}),
    ]


def _halving(**kwargs):
    return HalvingMultiModelSearchCV(
        _models(), resource={"hgb": "max_iter"}, cv=KFold(3), factor=2,
        random_state=0, **kwargs
    )


@pytest.fixture(scope="module")
def multi(regression):
    return _halving(n_jobs=1).fit(*regression)


def test_multi_model_rounds(multi):
    results = multi.cv_results_
    assert multi.n_candidates_ == [7, 4, 2]
    assert multi.n_resources_ == [37, 74, 148]  # exhaust: 150 // 2 ** 2 = 37
    # Every model gets the same fraction of its own maximum: rows, or
    # max_iter of 30 for hgb.
    fraction = {0: 37 / 150, 1: 74 / 150, 2: 148 / 150}
    for model, itr, n_resources in zip(results["model"], results["iter"], results["n_resources"]):
        if model == "hgb":
            assert n_resources == int(fraction[itr] * 30)
        else:
            assert n_resources == multi.n_resources_[itr]
    # The best ceil(n / factor) of all the models go on.
    def key(i):  # a candidate, without its resource
        params = {k: v for k, v in results["params"][i].items() if k != "max_iter"}
        return results["model"][i], str(params)

    first = np.flatnonzero(results["iter"] == 0)
    best = first[np.argsort(results["mean_test_score"][first])[-4:]]
    assert sorted(map(key, best)) == sorted(map(key, np.flatnonzero(results["iter"] == 1)))
    last = np.flatnonzero(results["iter"] == 2)
    assert multi.best_index_ == last[np.argmax(results["mean_test_score"][last])]


def test_multi_model_identical_across_joblib_backends(multi, regression):
    for kwargs in ({"n_jobs": 2}, {"n_jobs": 2, "backend": "threading"}):
        assert_same_results(multi.cv_results_, _halving(**kwargs).fit(*regression).cv_results_)


def test_one_dispatch_per_round_with_rows_and_iterations(multi, regression):
    calls = []

    class Counting(HalvingMultiModelSearchCV):
        def _run_search(self, evaluate_candidates, callback_ctx=None):
            def counted(candidates, cv=None, **kwargs):
                calls.append(sorted({name for name, _ in candidates}))
                return evaluate_candidates(candidates, cv, **kwargs)

            super()._run_search(counted, callback_ctx)

    search = Counting(
        _models(), resource={"hgb": "max_iter"}, cv=KFold(3), factor=2, random_state=0, n_jobs=1
    ).fit(*regression)
    # Round 0 mixes the row models (ridge, knn) and the iteration model (hgb)
    # in one call; the results are those of the search.
    assert len(calls) == len(search.n_candidates_) == 3
    assert calls[0] == ["hgb", "knn", "ridge"]
    assert_same_results(multi.cv_results_, search.cv_results_)
    # The row models' fits in that call are those of a search of the row
    # models alone on the same subsampled folds.
    rows_only = HalvingMultiModelSearchCV(
        [m for m in _models() if m[0] != "hgb"], cv=KFold(3), factor=2, min_resources=37,
        random_state=0,
    ).fit(*regression)
    theirs, ours = rows_only.cv_results_, search.cv_results_
    for i in np.flatnonzero(theirs["iter"] == 0):
        [j] = [
            j for j in np.flatnonzero(ours["iter"] == 0)
            if (ours["model"][j], ours["params"][j]) == (theirs["model"][i], theirs["params"][i])
        ]
        assert ours["n_resources"][j] == theirs["n_resources"][i] == 37
        for k in range(3):
            assert ours[f"split{k}_test_score"][j] == theirs[f"split{k}_test_score"][i]


class DeclaredHGB(HistGradientBoostingRegressor):
    """A model that declares its iteration parameter, as distsearch's helpers do."""

    _iteration_param = "max_iter"


def test_auto_resource_declared_or_detected(regression):
    from distsearch.models import LightGBMRegressor

    from distsearch._spaces import _iteration_resource

    assert _iteration_resource(Pipeline([("model", LightGBMRegressor())])) == "model__n_estimators"
    models = [
        ("ridge", Ridge(), {"alpha": [0.01, 1.0, 100.0]}),
        ("hgb", DeclaredHGB(max_iter=8, random_state=0), {"learning_rate": [0.05, 0.3]}),
        ("forest", RandomForestRegressor(n_estimators=4, random_state=0), {"max_depth": [2, 4]}),
        # Declared but searched: rows.
        ("hgb2", DeclaredHGB(random_state=0), {"max_iter": [3, 5]}),
    ]
    common = dict(cv=KFold(3), factor=2, random_state=0, n_jobs=1)
    auto = HalvingMultiModelSearchCV(models, resource="auto", **common).fit(*regression)
    assert auto.resources_ == {"hgb": "max_iter", "forest": "n_estimators"}
    explicit = HalvingMultiModelSearchCV(models, resource=auto.resources_, **common)
    assert_same_results(explicit.fit(*regression).cv_results_, auto.cv_results_)
    with pytest.raises(ValueError, match="resource='auto' is for a list of models"):
        HalvingMultiModelSearchCV(Ridge(), {"alpha": [1.0, 2.0]}, resource="auto").fit(*regression)


def test_keep_model_best_keeps_every_model_to_that_round(regression):
    search = _halving(keep_model_best=1).fit(*regression)
    assert all(counts[1] >= 1 for counts in search.n_candidates_per_model_.values())


def test_resume_mid_round_from_checkpoint(multi, regression, tmp_path):
    _halving(checkpoint=tmp_path).fit(*regression)
    records = sorted(tmp_path.glob("*.rec*")) or sorted(
        p for p in tmp_path.iterdir() if p.is_file() and not p.name.startswith(".")
    )
    assert len(records) >= sum(multi.n_candidates_) * 3
    # A crash mid-round: some records of the last rounds are missing.
    for record in records[::3]:
        record.unlink()
    resumed = _halving(checkpoint=tmp_path).fit(*regression)
    assert_same_results(
        {k: v for k, v in multi.cv_results_.items()},
        resumed.cv_results_,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"resource": {"hgb": "n_layers"}}, r"resource=n_layers .*\(model 'hgb'\)"),
        ({"resource": {"svm": "max_iter"}}, r"unknown model\(s\) \['svm'\]"),
        ({"resource": {"ridge": "alpha"}}, "alpha as the resource .* model 'ridge'"),
        ({"factor": 1.5}, "factor=1.5"),
        ({"min_resources": 200, "max_resources": 100}, "min_resources_=200 is greater"),
    ],
)
def test_bad_input_raises_before_any_fit(regression, kwargs, match):
    models = _models()
    search = HalvingMultiModelSearchCV(models, cv=3, **kwargs)
    with pytest.raises(ValueError, match=match):
        search.fit(*regression)
    assert not hasattr(search, "cv_results_")


def test_too_few_candidates_for_a_round(regression):
    models = [("ridge", Ridge(), {"alpha": [1.0]}), ("knn", KNeighborsRegressor(), {})]
    with pytest.raises(ValueError, match="2 candidates for factor=3"):
        HalvingMultiModelSearchCV(models, cv=3).fit(*regression)


@pytest.mark.skipif(not hasattr(HalvingMultiModelSearchCV, "set_callbacks"), reason="sklearn<1.9")
def test_callbacks_called_as_halvinggridsearchcv_calls_them():
    from sklearn.callback.tests._utils import MaxIterEstimator
    from test_search import hook_calls

    X, y = make_classification(n_samples=60, random_state=0)
    kwargs = dict(aggressive_elimination=True, random_state=0)
    expected = hook_calls(HalvingGridSearchCV, MaxIterEstimator(), X, y, **kwargs)
    assert hook_calls(HalvingMultiModelSearchCV, MaxIterEstimator(), X, y, **kwargs) == expected
