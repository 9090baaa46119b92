"""The seed's ``randomized_config.py``, in distsearch's own keys: ``distsearch tournament examples/seed_contenders_spec.py``.

The seed flow's (metaflow-helper v0.0.1) ``randomized_config.py`` runs as it is
(``distsearch tournament randomized_config.py``); this file is what it becomes,
written out: the same rows (2 categories x 5,000 rows from ``make_regression``
with ``random_state`` 0 and 1), the same 5 + 5 random candidates, 5 folds, a
20% held-out test set and r2. A ``contenders_spec`` is a list of dicts, one per
model:

- ``'__model'``: the estimator class as a dotted path, in a one-element list;
- ``'__model__init_kwargs__<name>'``: a constructor argument: a list of values
  or a scipy.stats distribution;
- ``'__model__fit_kwargs__<name>'``: a ``fit`` argument, honoured when the
  model has a constructor parameter of that name (distsearch's helpers take
  their training settings there);
- ``'__n_iter'``: sample that many candidates at random (seeded by --seed);
  without it the model's whole grid is searched.

What was translated (the migration guide's table has every key): LightGBM's
``eval_metric='mse'`` is what the helper stops on (l2) and its fit ``verbose=0``
meant no evaluation log: both dropped; Keras's ``dense_layer_widths``,
``l1_factor``, ``l2_factor``, ``validation_split`` are ``hidden_layer_sizes``,
``l1``, ``l2``, ``validation_fraction``; ``batch_size=None`` is Keras's 32;
``build_model``, ``metric`` and ``monitor`` are replaced by the helper's own
network and its validation loss. The learning rate is Adam's default, 0.001, as
in the seed. Not kept from the seed, because they were flaws: early stopping
uses an inner split of each fold's training rows (the seed's LightGBM stopped
on the fold it was scored on), the hidden layers are ReLU (the seed's were
linear; set ``activation`` to ``["linear"]`` to keep that), and everything is
seeded.
"""

from scipy.stats import loguniform, randint

data = {
    "kind": "seed_regression",
    "make_regression_init_kwargs": {
        f"type_{i}": {
            "n_samples": 5_000,
            "noise": 100,
            "n_features": 10,
            "n_informative": 5,
            "random_state": i,
        }
        for i in range(2)
    },
}

contenders_spec = [
    {
        "__model": ["distsearch.models.LightGBMRegressor"],
        "__model__init_kwargs__learning_rate": loguniform(1e-2, 1e-1),
        "__model__init_kwargs__max_depth": randint(1, 4),
        "__model__init_kwargs__n_estimators": [10_000],
        "__model__fit_kwargs__early_stopping_rounds": [10],
        "__n_iter": 5,
    },
    {
        "__model": ["distsearch.models.KerasRegressor"],
        "__model__init_kwargs__hidden_layer_sizes": [(), (15,), (15, 15), (15 * 15,)],
        "__model__init_kwargs__l1": loguniform(1e-8, 1e-2),
        "__model__init_kwargs__l2": loguniform(1e-8, 1e-2),
        "__model__fit_kwargs__batch_size": [32],
        "__model__fit_kwargs__epochs": [10_000],
        "__model__fit_kwargs__validation_fraction": [0.2],
        "__model__fit_kwargs__verbose": [0],
        "__model__fit_kwargs__patience": [10],
        "__model__fit_kwargs__min_delta": [0.1],
        "__n_iter": 5,
    },
]

n_splits = 5
test_size = 0.2
scoring = "r2"
