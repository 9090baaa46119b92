"""distsearch.models: clone-safe LightGBM and Keras helpers, leak-free early stopping."""

import inspect
import math

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_dont_overwrite_parameters,
    check_estimator_sparse_tag,
    check_estimators_unfitted,
    check_fit_check_is_fitted,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_requires_y_none,
    check_set_params,
    parametrize_with_checks,
)

from distsearch import MultiModelSearchCV
from distsearch.models import (
    KerasClassifier,
    KerasRegressor,
    LightGBMClassifier,
    LightGBMRegressor,
    build_mlp,
)

# Keras 3 on NumPy 2 warns from inside its own variables.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

HELPERS = [LightGBMRegressor, LightGBMClassifier, KerasRegressor, KerasClassifier]

# A non-default value for every hyperparameter of every helper.
NON_DEFAULTS = {
    LightGBMRegressor: dict(
        n_estimators=7,
        learning_rate=0.05,
        num_leaves=5,
        max_depth=3,
        min_child_samples=4,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.7,
        reg_alpha=0.1,
        reg_lambda=0.2,
        validation_fraction=0.25,
        early_stopping_rounds=3,
        min_delta=0.01,
        random_state=42,
        n_jobs=2,
        verbose=0,
    ),
    KerasRegressor: dict(
        hidden_layer_sizes=(15, 15),
        activation="tanh",
        dropout=0.2,
        l1=1e-4,
        l2=1e-3,
        optimizer="sgd",
        learning_rate=0.01,
        epochs=7,
        batch_size=16,
        validation_fraction=0.2,
        patience=3,
        min_delta=0.1,
        random_state=42,
        verbose=1,
    ),
}
NON_DEFAULTS[LightGBMClassifier] = NON_DEFAULTS[LightGBMRegressor]
NON_DEFAULTS[KerasClassifier] = NON_DEFAULTS[KerasRegressor]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=160, n_features=5, noise=10.0, random_state=0)
    return X, y / y.std()


@pytest.fixture(scope="module")
def classification():
    return make_classification(
        n_samples=160, n_features=6, n_informative=4, weights=[0.7], random_state=0
    )


# ----------------------------------------------------------------------
# scikit-learn compatibility
# ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", HELPERS, ids=lambda c: c.__name__)
def test_clone_keeps_every_hyperparameter(cls):
    values = NON_DEFAULTS[cls]
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert sorted(names) == sorted(values), "the test must set every parameter"
    defaults = cls().get_params()
    assert all(defaults[name] != value for name, value in values.items())
    cloned = clone(cls(**values))
    assert cloned.get_params() == values
    assert clone(cls()).get_params() == defaults


@pytest.mark.parametrize("cls", HELPERS, ids=lambda c: c.__name__)
def test_estimator_type(cls):
    classifier = cls.__name__.endswith("Classifier")
    assert is_classifier(cls()) is classifier
    assert is_regressor(cls()) is not classifier


LIGHTGBM_WEIGHTS = (
    "LightGBM's min_child_samples counts rows, so integer weights are not "
    "equivalent to repeated rows"
)


@parametrize_with_checks(
    [
        LightGBMRegressor(n_estimators=50, random_state=0),
        LightGBMClassifier(n_estimators=50, random_state=0),
    ],
    expected_failed_checks=lambda estimator: {
        "check_sample_weight_equivalence_on_dense_data": LIGHTGBM_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": LIGHTGBM_WEIGHTS,
    },
)
def test_lightgbm_passes_estimator_checks(estimator, check):
    check(estimator)


# The full suite fits Keras a few hundred times (minutes); these are the checks
# of the parameter, input and fitted-state contracts. Of the rest, the ones
# that fail are scikeras's own design (check_mixin_order,
# check_estimator_tags_renamed: its _more_tags; check_n_features_in_after_fitting:
# its own error message; check_supervised_y_2d: multi-output targets are
# supported), the inner split (check_sample_weight_equivalence_on_dense_data)
# or 2-epoch networks scoring poorly (check_classifiers_train,
# check_regressors_train).
KERAS_CHECKS = [
    check_parameters_default_constructible,
    check_estimator_sparse_tag,
    check_requires_y_none,
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
    check_estimators_unfitted,
    check_dont_overwrite_parameters,
    check_fit_check_is_fitted,
]


@pytest.mark.parametrize("cls", [KerasRegressor, KerasClassifier], ids=lambda c: c.__name__)
@pytest.mark.parametrize("check", KERAS_CHECKS, ids=lambda c: c.__name__)
def test_keras_passes_estimator_checks(cls, check):
    check(cls.__name__, cls(epochs=2, random_state=0))


# ----------------------------------------------------------------------
# The model builder
# ----------------------------------------------------------------------
@pytest.mark.parametrize("widths", [(), (15,), (15, 15), (225,)])
def test_build_mlp_layers(widths):
    import keras

    model = build_mlp(4, 2, hidden_layer_sizes=widths, dropout=0.1, l1=1e-2, l2=1e-3)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    dropout = [layer for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert [layer.units for layer in dense] == [*widths, 2]
    assert len(dropout) == len(widths)
    # Hidden layers are non-linear by default; the output layer is linear.
    assert [layer.get_config()["activation"] for layer in dense] == ["relu"] * len(
        widths
    ) + ["linear"]
    # Every kernel carries Keras' L1L2 penalty, the coefficients as weights.
    kernels = [np.asarray(layer.kernel, dtype=np.float64) for layer in dense]
    np.testing.assert_allclose(
        [float(loss) for loss in model.losses],
        [1e-2 * np.abs(w).sum() + 1e-3 * np.square(w).sum() for w in kernels],
        rtol=1e-6,
    )
    assert model.output_shape == (None, 2)
    # Without a penalty: plain Dense layers, no loss term.
    plain = build_mlp(4, 2, hidden_layer_sizes=widths)
    assert {type(layer) for layer in plain.layers[1:]} == {keras.layers.Dense}
    assert plain.losses == []


def test_build_mlp_penalty_trains_as_keras_l1l2(regression):
    """The penalty with its coefficients as weights gives the numbers of
    Keras' own L1L2 regularizer, and survives pickling with the estimator."""
    import pickle

    import keras

    X, y = regression
    X = X.astype("float32")

    def fitted(model):
        keras.utils.set_random_seed(0)
        model.fit(X, y, epochs=3, batch_size=32, verbose=0, shuffle=False)
        return model.predict(X, verbose=0)

    keras.utils.set_random_seed(0)
    ours = build_mlp(X.shape[1], hidden_layer_sizes=(6,), l1=1e-2, l2=1e-3)
    keras.utils.set_random_seed(0)
    penalty = keras.regularizers.L1L2(l1=1e-2, l2=1e-3)
    inputs = keras.Input(shape=(X.shape[1],))
    hidden = keras.layers.Dense(6, activation="relu", kernel_regularizer=penalty)(inputs)
    outputs = keras.layers.Dense(1, kernel_regularizer=penalty)(hidden)
    theirs = keras.Model(inputs, outputs)
    theirs.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    np.testing.assert_array_equal(fitted(ours), fitted(theirs))

    model = KerasRegressor(hidden_layer_sizes=(6,), l1=1e-2, epochs=2, random_state=0)
    model.fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


# ----------------------------------------------------------------------
# Early stopping on an inner split
# ----------------------------------------------------------------------
def test_lightgbm_early_stopping(regression):
    X, y = regression
    model = LightGBMRegressor(n_estimators=500, random_state=0).fit(X, y)
    # The inner split: 10 % of the rows, rounded up, seeded.
    assert len(model.validation_indices_) == math.ceil(0.1 * len(X))
    again = LightGBMRegressor(n_estimators=500, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.validation_indices_, again.validation_indices_)
    assert 0 < model.best_iteration_ < 500
    assert model.model_.best_iteration_ == model.best_iteration_
    # predict uses the rounds kept.
    np.testing.assert_allclose(
        model.predict(X),
        model.model_.booster_.predict(X, num_iteration=model.best_iteration_),
    )


def test_classifier_inner_split_is_stratified(classification):
    X, y = classification
    model = LightGBMClassifier(
        n_estimators=5, validation_fraction=0.25, random_state=3
    ).fit(X, y)
    validation = y[model.validation_indices_]
    assert len(validation) == 40
    assert np.sum(validation == 1) == round(40 * np.mean(y == 1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LightGBMRegressor(n_estimators=60, random_state=0),
        lambda: KerasRegressor(epochs=4, patience=2, random_state=0),
    ],
    ids=["lightgbm", "keras"],
)
def test_fixed_iteration_params_run_exactly_that_many(make, regression):
    X, y = regression
    model = make()
    model.set_params(**model.fixed_iteration_params(3)).fit(X, y)
    assert model.best_iteration_ == 3
    assert len(model.validation_indices_) == 0
    if isinstance(model, LightGBMRegressor):
        assert model.model_.booster_.current_iteration() == 3
    else:
        assert len(model.history_["loss"]) == 3


@pytest.mark.parametrize(
    "params", [{"validation_fraction": 0.0}, {"validation_fraction": 1.5}]
)
def test_bad_validation_fraction(params, regression):
    X, y = regression
    with pytest.raises(ValueError, match="validation_fraction must be a float in"):
        LightGBMRegressor(n_estimators=5, **params).fit(X, y)


def _overlap_scorers(n_rows):
    """Scorers that inspect the fold's fitted model and its test rows.

    Column 0 of X is the row's position in the search data, so a scorer sees
    the fold's test rows; the training rows are the others, in order, and
    ``validation_indices_`` are positions among them.
    """

    def rows(estimator, X):
        test = X[:, 0].astype(int)
        train = np.setdiff1d(np.arange(n_rows), test)
        validation = train[estimator[-1].validation_indices_]
        return test, validation

    def overlap(estimator, X, y):
        test, validation = rows(estimator, X)
        return float(len(np.intersect1d(test, validation)))

    def n_validation(estimator, X, y):
        return float(len(rows(estimator, X)[1]))

    return {"overlap": overlap, "n_validation": n_validation, "r2": "r2"}


@pytest.mark.parametrize(
    "model",
    [
        LightGBMRegressor(n_estimators=50, random_state=0),
        KerasRegressor(hidden_layer_sizes=(4,), epochs=3, random_state=0),
    ],
    ids=["lightgbm", "keras"],
)
def test_no_leakage(model, regression):
    """Stopping rows never include the fold's test rows or the held-out rows."""
    X, y = regression
    X = np.column_stack([np.arange(len(X)), X])  # column 0: the row id
    X_search, X_held, y_search, y_held = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    X_search[:, 0] = np.arange(len(X_search))  # ids = positions in the search data
    X_held[:, 0] = -1 - np.arange(len(X_held))  # and negative for held-out rows
    pipe = Pipeline([("scale", StandardScaler()), ("model", model)])
    search = MultiModelSearchCV(
        pipe,
        {"model__random_state": [0]},
        cv=KFold(3, shuffle=True, random_state=0),
        scoring=_overlap_scorers(len(X_search)),
        refit="r2",
        refit_iterations=None,
        error_score="raise",
    ).fit(X_search, y_search)
    results = search.cv_results_
    n_train = len(X_search) - len(X_search) // 3
    for k in range(3):
        assert results[f"split{k}_test_overlap"][0] == 0
        assert results[f"split{k}_test_n_validation"][0] >= math.ceil(0.1 * n_train)
    # The refit early-stopped on an inner split of the search data only.
    refit_rows = search.best_estimator_[-1].validation_indices_
    assert len(refit_rows) == math.ceil(0.1 * len(X_search))
    assert refit_rows.max() < len(X_search)


# ----------------------------------------------------------------------
# Keras specifics
# ----------------------------------------------------------------------
def test_keras_seeding_is_reproducible(regression):
    X, y = regression
    model = KerasRegressor(hidden_layer_sizes=(8,), epochs=3, patience=None)
    first = clone(model).set_params(random_state=1).fit(X, y).predict(X)
    second = clone(model).set_params(random_state=1).fit(X, y).predict(X)
    other = clone(model).set_params(random_state=2).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)
    # An unseeded fit after seeded ones works (no op determinism left on).
    assert clone(model).fit(X, y).predict(X).shape == (len(X),)


def test_keras_classifier_stratified_roc_auc(classification):
    X, y = classification
    model = KerasClassifier(
        hidden_layer_sizes=(8,), epochs=5, learning_rate=0.05, random_state=0
    )
    assert isinstance(check_cv(3, y, classifier=is_classifier(model)), StratifiedKFold)
    search = MultiModelSearchCV(
        model, {"dropout": [0.0]}, cv=3, scoring="roc_auc", refit=False
    ).fit(X, y)
    train, test = next(StratifiedKFold(3).split(X, y))
    fold0 = clone(model).fit(X[train], y[train])
    expected = roc_auc_score(y[test], fold0.predict_proba(X[test])[:, 1])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(expected)
    assert 0.5 < expected <= 1.0


# ----------------------------------------------------------------------
# In a search
# ----------------------------------------------------------------------
def _mixed_search(**params):
    return MultiModelSearchCV(
        [
            (
                "lgbm",
                LightGBMRegressor(n_estimators=100, random_state=0),
                {"num_leaves": [4, 16], "learning_rate": [0.05, 0.2]},
            ),
            (
                "mlp",
                KerasRegressor(epochs=4, learning_rate=0.01, random_state=0),
                {"hidden_layer_sizes": [(), (8,)]},
            ),
        ],
        n_iter={"lgbm": 2, "mlp": 1},
        cv=3,
        random_state=0,
        n_jobs=2,
        **params,
    )


def test_search_records_best_iterations_reproducibly(regression):
    X, y = regression
    first = _mixed_search(refit=False).fit(X, y).cv_results_
    second = _mixed_search(refit=False).fit(X, y).cv_results_
    assert list(first) == list(second)
    for key, value in first.items():
        if key.endswith("_time"):
            continue
        if key == "params":
            assert value == second[key]
        else:
            np.testing.assert_array_equal(value, second[key], err_msg=key)
    splits = np.column_stack([first[f"split{k}_best_iteration"] for k in range(3)])
    assert np.all(splits >= 1)
    np.testing.assert_allclose(first["mean_best_iteration"], splits.mean(axis=1))
    lgbm = first["model"] == "lgbm"
    assert np.all(splits[lgbm] <= 100) and np.any(splits[lgbm] < 100)
    assert np.all(splits[~lgbm] <= 4)


@pytest.mark.parametrize("refit_iterations", ["mean", None])
def test_refit_iterations(refit_iterations, regression):
    X, y = regression
    pipe = Pipeline(
        [("scale", StandardScaler()), ("model", LightGBMRegressor(n_estimators=300))]
    )
    search = MultiModelSearchCV(
        pipe,
        {"model__learning_rate": [0.1, 0.3]},
        cv=3,
        refit_iterations=refit_iterations,
    ).fit(X, y)
    best = search.best_estimator_[-1]
    mean_iteration = search.cv_results_["mean_best_iteration"][search.best_index_]
    if refit_iterations == "mean":
        assert best.n_estimators == round(mean_iteration)
        assert best.early_stopping_rounds is None
        assert best.best_iteration_ == round(mean_iteration)
        assert len(best.validation_indices_) == 0
    else:
        assert best.get_params() == pipe[-1].set_params(
            **{"learning_rate": search.best_params_["model__learning_rate"]}
        ).get_params()
        assert len(best.validation_indices_) == math.ceil(0.1 * len(X))


def test_refit_iterations_is_validated(regression):
    X, y = regression
    with pytest.raises(ValueError, match="refit_iterations"):
        MultiModelSearchCV(
            LightGBMRegressor(), {"num_leaves": [4]}, refit_iterations="median"
        ).fit(X, y)
