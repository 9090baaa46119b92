"""Bad input: a clear error, naming the model and the value, before any fit."""

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import make_regression
from sklearn.pipeline import Pipeline

from distsearch import MultiModelSearchCV


class Recorder(RegressorMixin, BaseEstimator):
    """A regressor that counts its fits (in the class: n_jobs=1 runs in-process)."""

    fits = 0

    def __init__(self, alpha=1.0, depth=1):
        self.alpha = alpha
        self.depth = depth

    def fit(self, X, y):
        type(self).fits += 1
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class RecordingClassifier(ClassifierMixin, Recorder):
    pass


@pytest.fixture
def data():
    Recorder.fits = 0
    return make_regression(n_samples=30, n_features=3, random_state=0)


def fails_before_fit(data, error, match, estimator, param_grid=None, **kwargs):
    """Fit a search that must raise ``error`` matching ``match``, with no fit run.

    Returns the error's message.
    """
    X, y = data
    search = MultiModelSearchCV(estimator, param_grid, cv=2, n_jobs=1, **kwargs)
    with pytest.raises(error, match=match) as info:
        search.fit(X, y)
    assert Recorder.fits == 0
    return str(info.value)


def test_recorder_counts_fits(data):
    X, y = data
    MultiModelSearchCV(
        [("a", Recorder(), {"alpha": [1.0, 2.0]})], cv=2, n_jobs=1, refit=False
    ).fit(X, y)
    assert Recorder.fits == 4


def test_empty_model_list(data):
    fails_before_fit(data, ValueError, r"estimator is an empty list", [])


def test_duplicate_names(data):
    fails_before_fit(
        data,
        ValueError,
        r"unique; 'a' is given 2 times",
        [("a", Recorder(), {"alpha": [1.0]}), ("a", Recorder(), {"depth": [1]})],
    )


@pytest.mark.parametrize("name", ["", "two words", "a__b", "1st"])
def test_invalid_names(data, name):
    fails_before_fit(
        data,
        ValueError,
        rf"Invalid model name {name!r}",
        [(name, Recorder(), {"alpha": [1.0]}), ("ok", Recorder(), {"alpha": [1.0]})],
    )


@pytest.mark.parametrize("name", ["scorer", "splitter"])
def test_reserved_names(data, name):
    fails_before_fit(
        data, ValueError, rf"\['{name}'\] are reserved", [(name, Recorder(), {"alpha": [1.0]})]
    )


@pytest.mark.parametrize(
    "triple, shown",
    [
        (("a", Recorder()), "('a', Recorder())"),
        (("a", Recorder(), {"alpha": [1.0]}, "extra"), "'extra'"),
        ((1, Recorder(), {"alpha": [1.0]}), "(1, Recorder()"),
        (("a", "not an estimator", {"alpha": [1.0]}), "'not an estimator'"),
        (("a", Recorder, {"alpha": [1.0]}), "Recorder'>"),
        ("a", "'a'"),
    ],
    ids=["pair", "four_items", "int_name", "str_estimator", "class_not_instance", "str"],
)
def test_malformed_triple(data, triple, shown):
    models = [("ok", Recorder(), {"alpha": [1.0]}), triple]
    message = fails_before_fit(
        data, TypeError, r"estimator\[1\] must be a \(name, estimator", models
    )
    assert shown in message


def test_unknown_parameter(data):
    message = fails_before_fit(
        data,
        ValueError,
        r"Model 'b': Recorder has no parameter 'alpah'",
        [("a", Recorder(), {"alpha": [1.0]}), ("b", Recorder(), [{"alpah": [1.0]}])],
    )
    assert "Valid parameters are: ['alpha', 'depth']" in message


def test_unknown_parameter_drop_in(data):
    fails_before_fit(
        data, ValueError, r"Model 'Recorder': Recorder has no parameter 'beta'", Recorder(), {"beta": [1]}
    )


@pytest.mark.parametrize(
    "space, error, match",
    [
        ({"alpha": 1.0}, TypeError, r"the values of 'alpha' must be a list .* got 1\.0"),
        ({"alpha": "abc"}, TypeError, r"the values of 'alpha' must be a list .* got 'abc'"),
        ({"alpha": {1, 2}}, TypeError, r"the values of 'alpha' must be a list .* got \{1, 2\}"),
        ({"alpha": []}, ValueError, r"'alpha' has an empty list of values"),
        ([], ValueError, r"its space is an empty list and yields no candidates"),
        ("alpha", TypeError, r"its space must be a dict or a list of dicts .* got 'alpha'"),
        (
            [{"alpha": [1.0]}, ["depth"]],
            TypeError,
            r"a space given as a list must hold dicts; got \['depth'\]",
        ),
        (None, TypeError, r"its space must be a dict or a list of dicts .* got None"),
    ],
    ids=[
        "scalar_value", "str_value", "set_value", "empty_values",
        "empty_list", "str", "list_with_non_dict", "none",
    ],
)
def test_bad_spaces(data, space, error, match):
    fails_before_fit(
        data,
        error,
        r"Model 'b': " + match,
        [("a", Recorder(), {"alpha": [1.0]}), ("b", Recorder(), space)],
    )


@pytest.mark.parametrize(
    "n_iter, error, match",
    [
        ({"c": 2}, ValueError, r"n_iter names unknown model\(s\) \['c'\]; the models are \['a', 'b'\]"),
        ({"b": 0}, ValueError, r"n_iter for model 'b' must be >= 1; got 0"),
        ({"b": -3}, ValueError, r"n_iter for model 'b' must be >= 1; got -3"),
        ({"b": 2.5}, TypeError, r"n_iter for model 'b' must be an int >= 1 or None; got 2\.5"),
        ({"b": True}, TypeError, r"n_iter for model 'b' must be an int >= 1 or None; got True"),
        (0, ValueError, r"'n_iter' parameter of MultiModelSearchCV must be .* Got 0"),
    ],
    ids=["unknown_model", "zero", "negative", "float", "bool", "int_zero"],
)
def test_bad_n_iter(data, n_iter, error, match):
    fails_before_fit(
        data,
        error,
        match,
        [("a", Recorder(), {"alpha": [1.0]}), ("b", Recorder(), {"alpha": [1.0, 2.0]})],
        n_iter=n_iter,
    )


def test_distribution_without_n_iter(data):
    fails_before_fit(
        data,
        ValueError,
        r"Model 'b' has distributions for \['alpha'\], which cannot be enumerated",
        [("a", Recorder(), {"alpha": [1.0]}), ("b", Recorder(), {"alpha": loguniform(1, 2)})],
        n_iter={"a": 1},
    )


def test_param_grid_with_a_model_list(data):
    fails_before_fit(
        data,
        ValueError,
        r"param_grid must be None when estimator is a list of models",
        [("a", Recorder(), {"alpha": [1.0]})],
        {"alpha": [1.0]},
    )


def test_drop_in_without_param_grid(data):
    fails_before_fit(data, ValueError, r"param_grid is required", Recorder())


def test_mixed_classifiers_and_regressors(data):
    fails_before_fit(
        data,
        ValueError,
        r"mix classifiers and regressors: reg=regressor, clf=classifier",
        [("reg", Recorder(), {"alpha": [1.0]}), ("clf", RecordingClassifier(), {"alpha": [1.0]})],
    )


def test_bad_input_is_checked_before_the_data(data):
    """A bad space is reported even when the data are bad too."""
    search = MultiModelSearchCV([("a", Recorder(), {"alpha": 3})], cv=2)
    with pytest.raises(TypeError, match=r"Model 'a': the values of 'alpha'"):
        search.fit(np.zeros((3, 2)), np.zeros(5))
    assert Recorder.fits == 0


def test_nested_parameter_of_a_searched_step_is_accepted(data):
    """``step__param`` is valid when the step itself is searched over."""
    X, y = data
    pipe = Pipeline([("model", Recorder())])
    search = MultiModelSearchCV(
        [("p", pipe, {"model": [Recorder(alpha=5.0)], "model__depth": [2, 3]})],
        cv=2,
        n_jobs=1,
        refit=False,
    ).fit(X, y)
    assert [p["model__depth"] for p in search.cv_results_["params"]] == [2, 3]
    assert Recorder.fits == 4
