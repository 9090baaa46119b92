"""from_contenders_spec: the seed project's configuration format."""

import numpy as np
import pytest
from scipy.stats import loguniform, randint
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso, Ridge

from distsearch import MultiModelSearchCV, from_contenders_spec
from distsearch._contenders import randomized_contenders_spec
from distsearch._spaces import _check_models, _check_n_iter
from distsearch.models import KerasRegressor, LightGBMRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=5, noise=10.0, random_state=0)
    return X, y / y.std()


def _spec(prefix_init="__model__init_kwargs__", prefix_fit="__model__fit_kwargs__"):
    return [
        {
            "__model": ["sklearn.linear_model.Ridge"],
            f"{prefix_init}alpha": [0.1, 1.0, 10.0],
            f"{prefix_fit}max_iter": [100],
        },
        {
            "__model": ["distsearch.models.LightGBMRegressor"],
            "__n_iter": 3,
            f"{prefix_init}learning_rate": loguniform(1e-2, 1e-1),
            f"{prefix_init}max_depth": randint(1, 4),
            f"{prefix_fit}early_stopping_rounds": [5],
        },
    ]


def test_reads_models_spaces_and_n_iter():
    models, n_iter = from_contenders_spec(_spec())
    assert [(name, type(est)) for name, est, _ in models] == [
        ("Ridge", Ridge),
        ("LightGBMRegressor", LightGBMRegressor),
    ]
    assert models[0][2] == {"alpha": [0.1, 1.0, 10.0], "max_iter": [100]}
    space = models[1][2]
    assert sorted(space) == ["early_stopping_rounds", "learning_rate", "max_depth"]
    assert space["early_stopping_rounds"] == [5]
    assert hasattr(space["learning_rate"], "rvs")
    assert n_iter == {"Ridge": None, "LightGBMRegressor": 3}


def test_older_key_form_reads_the_same():
    new_models, new_n_iter = from_contenders_spec(_spec())
    old_models, old_n_iter = from_contenders_spec(
        _spec("__init_kwargs__model__", "__fit_kwargs__model__")
    )
    assert old_n_iter == new_n_iter
    for (new_name, new_est, new_space), (old_name, old_est, old_space) in zip(
        new_models, old_models
    ):
        assert (new_name, type(new_est)) == (old_name, type(old_est))
        assert list(new_space) == list(old_space)


def test_candidates_are_reproducible_by_seed(regression):
    X, y = regression
    models, n_iter = from_contenders_spec(_spec())

    def params(seed):
        search = MultiModelSearchCV(
            models, n_iter=n_iter, cv=2, random_state=seed, refit=False
        ).fit(X, y)
        return search.cv_results_["params"]

    first, second, other = params(0), params(0), params(1)
    assert first == second
    assert len(first) == 3 + 3
    assert first[:3] == [{"alpha": a, "max_iter": 100} for a in (0.1, 1.0, 10.0)]
    assert first[3:] != other[3:]


def test_one_dict_and_repeated_classes():
    models, n_iter = from_contenders_spec(
        [
            {"__model": "sklearn.linear_model.Ridge"},
            {"__model": ["sklearn.linear_model.Ridge"], "__n_iter": 2,
             "__model__init_kwargs__alpha": loguniform(1e-2, 1.0)},
        ]
    )
    assert [name for name, _, _ in models] == ["Ridge", "Ridge_2"]
    assert n_iter == {"Ridge": None, "Ridge_2": 2}
    [(name, estimator, space)], _ = from_contenders_spec(
        {"__model": ["sklearn.linear_model.Lasso"], "__model__init_kwargs__alpha": [1.0]}
    )
    assert (name, type(estimator), space) == ("Lasso", Lasso, {"alpha": [1.0]})


RIDGE = ["sklearn.linear_model.Ridge"]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"__model": ["no_such_module.Model"]},
         r"contenders_spec\[1\] \(no_such_module.Model\): key '__model': cannot import"),
        ({"__model": ["sklearn.linear_model.NoSuchModel"]},
         r"contenders_spec\[1\] \(sklearn.linear_model.NoSuchModel\): key '__model': "
         "cannot import"),
        ({"__model": ["Ridge"]}, r"contenders_spec\[1\] \(Ridge\): key '__model' must be "
         "a dotted class path"),
        ({"__model": ["sklearn.pipeline.Pipeline"]}, r"contenders_spec\[1\] "
         r"\(sklearn.pipeline.Pipeline\): key '__model': 'sklearn.pipeline.Pipeline' "
         "cannot be built without arguments"),
        # Never called: a callable that is not an estimator class is refused
        # before anything calls it (os.abort would end the test run).
        ({"__model": ["os.abort"]}, r"contenders_spec\[1\] \(os.abort\): key "
         "'__model': 'os.abort' is not a scikit-learn estimator class .* it is a "
         "builtin_function_or_method"),
        ({"__model": ["numpy.ndarray"]}, r"'numpy.ndarray' is not a scikit-learn "
         "estimator class"),
        ({"__model__init_kwargs__alpha": [1.0]},
         r"contenders_spec\[1\] \(no model\): missing the key '__model'"),
        ({"__model": RIDGE, "__models": RIDGE},
         r"contenders_spec\[1\] \(sklearn.linear_model.Ridge\): unknown key '__models'"),
        ({"__model": RIDGE, "alpha": [1.0]},
         r"contenders_spec\[1\] \(sklearn.linear_model.Ridge\): unknown key 'alpha'"),
        ({"__model": RIDGE, "__model__init_kwargs__alpha": []},
         r"contenders_spec\[1\] \(sklearn.linear_model.Ridge\): key "
         "'__model__init_kwargs__alpha' has no values"),
        ({"__model": RIDGE, "__model__init_kwargs__alpha": 1.0},
         r"key '__model__init_kwargs__alpha' must hold a list of values"),
        ({"__model": RIDGE, "__model__init_kwargs__alpah": [1.0]},
         r"\(sklearn.linear_model.Ridge\): key '__model__init_kwargs__alpah': Ridge "
         "has no constructor parameter 'alpah'"),
        ({"__model": RIDGE, "__model__fit_kwargs__eval_metric": ["mse"]},
         r"key '__model__fit_kwargs__eval_metric': Ridge has no constructor parameter "
         r"'eval_metric', so this fit argument cannot be honoured"),
        ({"__model": RIDGE, "__model__init_kwargs__alpha": [1.0],
          "__init_kwargs__model__alpha": [2.0]},
         r"keys '__model__init_kwargs__alpha' and '__init_kwargs__model__alpha' both "
         "set 'alpha'"),
        ({"__model": RIDGE, "__n_iter": 0}, r"key '__n_iter' must be an int >= 1; got 0"),
    ],
)
def test_bad_specs_name_the_entry_and_the_key(entry, message):
    spec = [{"__model": RIDGE}, entry]
    with pytest.raises(ValueError, match=message):
        from_contenders_spec(spec)


def _accepted(call):
    try:
        call()
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize(
    "values, valid",
    [([0.1, 1.0], True), (np.array([0.1, 1.0]), True), ((1.0,), True), (loguniform(1e-2, 1.0), True),
     (1.0, False), ("abc", False), ({1.0}, False), ([], False), ((), False)],
)
def test_a_spec_entry_takes_the_values_a_search_takes(values, valid):
    # One rule (distsearch._spaces._values_problem) for both.
    spec = [{"__model": RIDGE, "__model__init_kwargs__alpha": values}]
    assert _accepted(lambda: _check_models([("ridge", Ridge(), {"alpha": values})], None)) == valid
    assert _accepted(lambda: from_contenders_spec(spec)) == valid


@pytest.mark.parametrize(
    "n_iter, valid",
    [(None, True), (1, True), (np.int64(3), True), (0, False), (-1, False), (2.5, False), (True, False), ("2", False)],
)
def test_a_spec_entry_takes_the_n_iter_a_search_takes(n_iter, valid):
    # One rule (distsearch._spaces._n_iter_problem) for both.
    spec = [{"__model": RIDGE, "__model__init_kwargs__alpha": [1.0], "__n_iter": n_iter}]
    models = _check_models([("ridge", Ridge(), {"alpha": [1.0]})], None)
    assert _accepted(lambda: _check_n_iter({"ridge": n_iter}, models)) == valid
    assert _accepted(lambda: from_contenders_spec(spec)) == valid


@pytest.mark.parametrize("spec", [[], "sklearn.linear_model.Ridge", [["a"]]])
def test_bad_spec_containers(spec):
    with pytest.raises((TypeError, ValueError), match="contenders_spec"):
        from_contenders_spec(spec)


def test_seed_randomized_contenders_run_at_reduced_size(regression):
    X, y = regression
    models, n_iter = from_contenders_spec(
        randomized_contenders_spec(n_iter=1, max_iterations=30)
    )
    assert [(name, type(est)) for name, est, _ in models] == [
        ("LightGBMRegressor", LightGBMRegressor),
        ("KerasRegressor", KerasRegressor),
    ]
    assert n_iter == {"LightGBMRegressor": 1, "KerasRegressor": 1}
    search = MultiModelSearchCV(models, n_iter=n_iter, cv=2, random_state=0).fit(X, y)
    results = search.cv_results_
    assert list(results["model"]) == ["LightGBMRegressor", "KerasRegressor"]
    lgbm, keras = results["params"]
    assert 1e-2 <= lgbm["learning_rate"] <= 1e-1 and lgbm["max_depth"] in (1, 2, 3)
    assert keras["hidden_layer_sizes"] in [(), (15,), (15, 15), (225,)]
    assert keras["validation_fraction"] == 0.2 and keras["patience"] == 10
    assert np.all(results["mean_best_iteration"] >= 1)
    assert np.all(results["mean_best_iteration"] <= 30)
    assert np.all(np.isfinite(results["mean_test_score"]))
