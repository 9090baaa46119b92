"""The seed project's (metaflow-helper v0.0.1) model helpers, mapped to distsearch's.

A seed ``contenders_spec`` entry names ``metaflow_helper.models.LightGBMRegressor``
or ``metaflow_helper.models.KerasRegressor`` (metaflow-helper need not be
installed: it is never imported). :func:`_translate_entry` rewrites such an
entry into one for :class:`distsearch.models.LightGBMRegressor` or
:class:`distsearch.models.KerasRegressor`, key by key, with the seed's meaning.

Invariants:

- every key the seed's helpers take is either mapped to a distsearch
  parameter (``_RULES``: its values converted one by one where the seed's
  value means something else here, e.g. ``batch_size=None`` is Keras's 32)
  or dropped as having no effect, with the reason; a key the seed's helpers
  do not take, or a value whose meaning cannot be kept, is a ValueError
  naming the entry and the key;
- each mapping made is reported once, as a line of the returned notes;
- the seed's flaws are not kept (``FLAWS``, said once): early stopping on the
  scored fold, linear networks by default, no seeds.
"""

import numbers
from typing import NamedTuple

from scipy.stats import loguniform, randint

from ._spaces import _is_distribution

SEED_MODELS = {
    "metaflow_helper.models.LightGBMRegressor": "LightGBMRegressor",
    "metaflow_helper.models.lightgbm.LightGBMRegressor": "LightGBMRegressor",
    "metaflow_helper.models.KerasRegressor": "KerasRegressor",
    "metaflow_helper.models.keras.KerasRegressor": "KerasRegressor",
}
_BUILD_MODEL = (
    "metaflow_helper.models.build_keras_regression_model",
    "metaflow_helper.models.keras.build_keras_regression_model",
)
# LightGBM metric names (and aliases) of the mean squared error: what
# distsearch's LightGBM regressor early-stops on (rmse picks the same round).
_L2_METRICS = ("mse", "l2", "mean_squared_error", "regression", "regression_l2",
               "rmse", "l2_root", "root_mean_squared_error")
_MSE_LOSSES = ("mse", "mean_squared_error", "MSE", "MeanSquaredError")

FLAWS = (
    "seed behaviour not kept (flaws): early stopping uses an inner split of each "
    "fold's training rows (the seed's LightGBM stopped on the fold it was scored on, "
    "and on the test set in its final check); hidden layers are ReLU unless the "
    "config sets activation (the seed's networks were linear by default); every "
    "split, sample and model is seeded by --seed (the seed set no seeds)"
)


class _Rule(NamedTuple):
    target: str  # the distsearch parameter; None: the key has no effect
    why: str  # shown in the note
    convert: object = None  # value -> value (may raise ValueError); None: as is


def _linear_if_none(value):
    return "linear" if value is None else value


def _keras_batch_size(value):
    return 32 if value is None else value


def _one_dropout(value):
    if isinstance(value, numbers.Real):
        return float(value)
    values = set(value)
    if len(values) != 1:
        raise ValueError(
            f"dropout_probabilities {value!r}: distsearch's networks take one dropout "
            "rate for every hidden layer; give one value"
        )
    return float(values.pop())


def _checked(allowed, what):
    def check(value):
        if value not in allowed:
            raise ValueError(f"{value!r}: {what}; expected one of {list(allowed)}")
        return value

    return check


_INJECTED = {
    "mode": _Rule(None, "the seed's TEST/TRAIN mode: cross-validation is TEST, the final refits TRAIN"),
    "input_dim": _Rule(None, "the input width comes from the data"),
}
_SAME = "the same parameter"
_RULES = {
    "LightGBMRegressor": {
        "init": {
            **_INJECTED,
            "iterations": _Rule("n_estimators", "the seed set n_estimators from it"),
            # Any other init key is an lgb.LGBMRegressor argument: passed as
            # is when distsearch's helper has it (see _translate_entry).
        },
        "fit": {
            "early_stopping_rounds": _Rule("early_stopping_rounds", _SAME),
            "eval_metric": _Rule(
                None,
                "early stopping watches l2, the mean squared error, which is what 'mse' names",
                _checked(_L2_METRICS, "distsearch's LightGBM regressor early-stops on l2 only"),
            ),
            "verbose": _Rule(
                None,
                "a fit argument that logged the evaluation every `verbose` rounds; "
                "distsearch never logs them and LightGBM's own verbosity stays -1 (silent)",
            ),
            "validation_data": _Rule(None, "early stopping uses an inner split of the fit rows"),
            "eval_set": _Rule(None, "early stopping uses an inner split of the fit rows"),
        },
    },
    "KerasRegressor": {
        "init": {
            **_INJECTED,
            "iterations": _Rule("epochs", "the seed set epochs from it"),
            "build_model": _Rule(
                None,
                "distsearch.models.build_mlp builds the network from the keys below",
                _checked(_BUILD_MODEL, "only the seed's build_keras_regression_model can be mapped"),
            ),
            "eval_metric": _Rule(None, "the seed's fit replaced it with monitor"),
            # The seed's build_keras_regression_model arguments.
            "dense_layer_widths": _Rule("hidden_layer_sizes", "hidden layer widths; () is no hidden layer"),
            "dropout_probabilities": _Rule("dropout", "one rate for every hidden layer", _one_dropout),
            "activation": _Rule(
                "activation",
                "of the hidden layers (None: 'linear'); the output layer stays linear",
                _linear_if_none,
            ),
            "l1_factor": _Rule("l1", "L1 penalty on the kernels"),
            "l2_factor": _Rule(
                "l2", "L2 penalty on the kernels (the seed also put it on biases and activations)"
            ),
            "optimizer": _Rule("optimizer", _SAME),
            "loss": _Rule(
                None,
                "the regressor's loss is the mean squared error",
                _checked(_MSE_LOSSES, "distsearch's Keras regressor trains on the mean squared error"),
            ),
            "metric": _Rule(
                None,
                "a metric Keras only reported (monitor watched it); early stopping "
                "watches the validation loss",
            ),
            "kernel_initializer": _Rule(None, "Keras's default initializers are used"),
            "bias_initializer": _Rule(None, "Keras's default initializers are used"),
        },
        "fit": {
            "epochs": _Rule("epochs", _SAME),
            "batch_size": _Rule("batch_size", "None is Keras's default, 32", _keras_batch_size),
            "validation_split": _Rule(
                "validation_fraction",
                "share of the fit rows early stopping watches (a seeded random split "
                "where Keras took the last rows)",
            ),
            "patience": _Rule("patience", _SAME),
            "min_delta": _Rule("min_delta", _SAME),
            "verbose": _Rule("verbose", "Keras verbosity, the same"),
            "monitor": _Rule(
                None,
                "early stopping watches the inner validation loss ('val_loss': the "
                "mean squared error plus the penalties)",
            ),
            "validation_data": _Rule(None, "early stopping uses an inner split of the fit rows"),
        },
    },
}
# The seed's randomized_config.py contenders_spec, verbatim (v0.0.1).
SEED_RANDOMIZED_CONTENDERS_SPEC = [
    {
        "__model": ["metaflow_helper.models.LightGBMRegressor"],
        "__model__init_kwargs__learning_rate": loguniform(1e-2, 1e-1),
        "__model__init_kwargs__max_depth": randint(1, 4),
        "__model__init_kwargs__n_estimators": [10_000],
        "__model__fit_kwargs__eval_metric": ["mse"],
        "__model__fit_kwargs__early_stopping_rounds": [10],
        "__model__fit_kwargs__verbose": [0],
        "__n_iter": 5,
    },
    {
        "__model": ["metaflow_helper.models.KerasRegressor"],
        "__model__init_kwargs__build_model": ["metaflow_helper.models.build_keras_regression_model"],
        "__model__init_kwargs__metric": ["mse"],
        "__model__init_kwargs__dense_layer_widths": [(), (15,), (15, 15), (15 * 15,)],
        "__model__init_kwargs__l1_factor": loguniform(1e-8, 1e-2),
        "__model__init_kwargs__l2_factor": loguniform(1e-8, 1e-2),
        "__model__fit_kwargs__batch_size": [None],
        "__model__fit_kwargs__epochs": [10_000],
        "__model__fit_kwargs__validation_split": [0.2],
        "__model__fit_kwargs__monitor": ["val_mse"],
        "__model__fit_kwargs__verbose": [0],
        "__model__fit_kwargs__patience": [10],
        "__model__fit_kwargs__min_delta": [0.1],
        "__n_iter": 5,
    },
]

_PREFIXES = (("__model__init_kwargs__", "init"), ("__model__fit_kwargs__", "fit"),
             ("__init_kwargs__model__", "init"), ("__fit_kwargs__model__", "fit"))


def _lightgbm_params():
    from .models import LightGBMRegressor

    return set(LightGBMRegressor().get_params()) - {"validation_fraction", "min_delta"}


def _translate_entry(where, path, entry):
    """A seed entry for ``path``, rewritten for distsearch's helper.

    Parameters
    ----------
    where : str
        Names the entry in errors (``contenders_spec[i] (path)``).
    path : str
        One of ``SEED_MODELS``.
    entry : dict
        The seed's entry (keys ``__model``, ``__n_iter``,
        ``__model__init_kwargs__*``, ``__model__fit_kwargs__*``).

    Returns
    -------
    entry : dict
        ``__model`` is distsearch's helper; parameter keys are
        ``__model__init_kwargs__<distsearch name>``.
    notes : list of str
        One line per key: its mapping, or why it has no effect.
    """
    model = SEED_MODELS[path]
    rules = _RULES[model]
    lightgbm_params = _lightgbm_params() if model == "LightGBMRegressor" else set()
    out = {"__model": [f"distsearch.models.{model}"]}
    if "__n_iter" in entry:
        out["__n_iter"] = entry["__n_iter"]
    notes, origin = [], {}
    for key, values in entry.items():
        if key in ("__model", "__n_iter"):
            continue
        name, kind = next(
            ((key[len(p):], k) for p, k in _PREFIXES if isinstance(key, str) and key.startswith(p)),
            (None, None),
        )
        if name is None:
            out[key] = values  # from_contenders_spec names the unknown key
            continue
        rule = rules[kind].get(name)
        if rule is None and kind == "init" and name in lightgbm_params:
            rule = _Rule(name, _SAME)
        if rule is None:
            known = sorted(rules[kind]) + (sorted(lightgbm_params) if kind == "init" else [])
            raise ValueError(
                f"{where}: key {key!r}: the seed's {model} {kind} argument {name!r} has no "
                f"counterpart in distsearch.models.{model}. The {kind} keys it maps are {known}."
            )
        if rule.convert is not None:
            if _is_distribution(values) or isinstance(values, (str, bytes)):
                raise ValueError(f"{where}: key {key!r} must hold a list of values; got {values!r}.")
            try:
                converted = [rule.convert(v) for v in values]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: key {key!r}: {exc}") from None
        else:
            converted = values
        if rule.target is None:
            notes.append(f"{model} {key}: no effect ({rule.why})")
            continue
        if rule.target in origin:
            raise ValueError(f"{where}: keys {origin[rule.target]!r} and {key!r} both set {rule.target!r}.")
        origin[rule.target] = key
        out[f"__model__init_kwargs__{rule.target}"] = converted
        notes.append(f"{model} {key} -> {rule.target} ({rule.why})")
    return out, notes
