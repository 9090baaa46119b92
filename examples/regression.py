"""A regression tournament: ``distsearch tournament examples/regression.py``.

A config file is a plain Python module; its module-level variables are the
settings (all optional: anything left out takes the built-in default).
Names starting with ``_`` and imports are ignored; any other unknown name is
an error, so a misspelt setting cannot go unnoticed. Everything here is
checked before the first fit, and an error names this file and the setting.
"""

from scipy.stats import loguniform, randint
from sklearn.linear_model import Ridge

from distsearch.models import KerasRegressor, LightGBMRegressor

# The data. Mock regression data as the seed's flow makes it: one
# make_regression set per category (each with its own coefficients),
# concatenated, with a categorical column "cat" naming the set. The other
# keys are make_regression arguments; n_samples is per category.
data = {
    "kind": "mock_regression",
    "n_categorical_features": 2,
    "n_samples": 1000,
    "n_features": 10,
    "n_informative": 5,
    "noise": 100.0,
}
# Your own data instead: a CSV or Parquet file (a path relative to this file)
# and the target column; "task" is inferred when left out (a float target is
# regression). Non-numeric columns are one-hot encoded inside every pipeline.
# data = {"kind": "file", "path": "houses.csv", "target": "price", "task": "regression"}

# The contenders: (name, estimator, param_space) triples, as
# MultiModelSearchCV takes them. A space maps parameter names to lists (a
# grid) or scipy.stats distributions (sampled: set that model's n_iter).
# Every estimator is put behind a preprocessing step (numeric columns
# standardised, categorical ones one-hot encoded); the space refers to the
# estimator's own parameters. The helpers early-stop on an inner split of
# the rows they are fitted on, never on the fold they are scored on.
contenders = [
    (
        "lightgbm",
        LightGBMRegressor(n_estimators=3000, early_stopping_rounds=10, random_state=0),
        {"learning_rate": loguniform(1e-2, 1e-1), "max_depth": randint(1, 4)},
    ),
    (
        "keras",
        KerasRegressor(learning_rate=0.01, epochs=200, patience=10, random_state=0),
        {
            "hidden_layer_sizes": [(), (15,), (15, 15), (225,)],
            "l1": loguniform(1e-8, 1e-2),
            "l2": loguniform(1e-8, 1e-2),
        },
    ),
    ("ridge", Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]}),
]

# Candidates drawn per model; a model left out has its whole grid searched.
n_iter = {"lightgbm": 5, "keras": 5}

# Cross-validation folds (shuffled, seeded by --seed).
n_splits = 5

# Share of the rows held out before the search; the winner (and the
# ensemble) are scored on it once, at the end.
test_size = 0.2

# Metrics: a scikit-learn scorer name, a list of them, or a dict
# {name: scorer}. Higher is better for all (hence "neg_" error metrics).
scoring = ["r2", "neg_root_mean_squared_error"]

# The metric that ranks the candidates and picks the winner (default: the
# first of scoring).
rank_by = "r2"

# An ensemble of the top_k candidates, fitted on the search rows and scored
# on the held-out set beside the winner: "voting" (mean of predictions) or
# "stacking" (a linear model over their cross-validated predictions).
# None: no ensemble.
ensemble = {"method": "stacking", "top_k": 3}
