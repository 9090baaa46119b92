"""The seed's configuration format: ``distsearch tournament examples/seed_contenders_spec.py``.

The contenders of the seed flow's ``randomized_config.py`` (metaflow-helper
v0.0.1), translated to distsearch's model helpers. A ``contenders_spec`` is a
list of dicts, one per model:

- ``'__model'``: the estimator class as a dotted path, in a one-element list;
- ``'__model__init_kwargs__<name>'``: a constructor argument: a list of values
  or a scipy.stats distribution;
- ``'__model__fit_kwargs__<name>'``: a ``fit`` argument;
- ``'__n_iter'``: sample that many candidates at random (seeded by --seed);
  without it the model's whole grid is searched.

It replaces ``contenders`` and ``n_iter``; every other setting is as in
``regression.py``. Differences from the seed: early stopping uses an inner
split of each fold's training rows (the seed stopped LightGBM on the scored
fold, and on the test set in its final check), the networks have a ReLU
activation (the seed's were linear), and everything is seeded.
"""

from scipy.stats import loguniform, randint

data = {
    "kind": "mock_regression",
    "n_categorical_features": 2,
    "n_samples": 1000,
    "n_features": 10,
    "n_informative": 5,
    "noise": 100.0,
}

contenders_spec = [
    {
        "__model": ["distsearch.models.LightGBMRegressor"],
        "__model__init_kwargs__learning_rate": loguniform(1e-2, 1e-1),
        "__model__init_kwargs__max_depth": randint(1, 4),
        "__model__init_kwargs__n_estimators": [10_000],
        "__model__init_kwargs__early_stopping_rounds": [10],
        "__n_iter": 5,
    },
    {
        "__model": ["distsearch.models.KerasRegressor"],
        "__model__init_kwargs__hidden_layer_sizes": [(), (15,), (15, 15), (225,)],
        "__model__init_kwargs__l1": loguniform(1e-8, 1e-2),
        "__model__init_kwargs__l2": loguniform(1e-8, 1e-2),
        "__model__init_kwargs__learning_rate": [0.01],
        "__model__init_kwargs__epochs": [10_000],
        "__model__init_kwargs__patience": [10],
        "__n_iter": 5,
    },
]

n_splits = 5
test_size = 0.2
scoring = "r2"
