"""Candidate spaces: the models of a search and the candidates drawn from each.

A search holds one or several *models*. Each model is a named estimator with a
parameter *space*: a grid (a dict of lists, or a list of such dicts, as
``GridSearchCV`` takes) or distributions (values with an ``rvs`` method, as
``RandomizedSearchCV`` takes). This module validates the models and expands
each space into its list of candidate parameter dicts. Everything here runs
before any fit, so bad input fails fast and names the model at fault.
"""

import numbers
import zlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, ParameterSampler

from ._seeding import derived_seed, int_seed


# The parameters that count a fit's iterations (trees, boosting rounds,
# epochs, solver iterations), by their name within the estimator: the one
# mapping distsearch keeps of them. The task queue's cost estimate
# (distsearch._schedule) multiplies them, successive halving
# (distsearch._halving) gives models a share of them as their resource, and
# the tournament's --quick mode caps them.
_ITERATION_PARAMS = ("n_estimators", "num_iterations", "max_iter", "epochs")

# Those that size the model (trees, rounds, epochs): what halving grows and
# --quick caps. Not max_iter, which for most models bounds a solver's
# convergence rather than sizing the model.
_LENGTH_PARAMS = tuple(p for p in _ITERATION_PARAMS if p != "max_iter")

# Parameters that size each iteration (tree leaves); they enter the cost too.
_SIZE_PARAMS = frozenset(_ITERATION_PARAMS + ("num_leaves", "max_leaf_nodes"))


def _iteration_resource(estimator, searched=()):
    """The iteration parameter that halving grows for ``estimator``, or None.

    The parameter the model declares (its class attribute
    ``_iteration_param``, one of ``_ITERATION_PARAMS``: ``n_estimators`` for
    the LightGBM helpers, ``epochs`` for the Keras helpers), else the first of
    ``n_estimators``, ``num_iterations`` and ``epochs`` it has; never
    ``max_iter``, which bounds a solver's convergence in most models. For a
    Pipeline, its final step's, prefixed (``"model__n_estimators"``). None
    when that parameter is not an int >= 1 on the estimator or is among the
    ``searched`` parameter names.
    """
    prefix, final = "", estimator
    while hasattr(final, "steps") and final.steps:
        name, final = final.steps[-1]
        prefix += f"{name}__"
    declared = getattr(type(final), "_iteration_param", None)
    if declared is not None and declared not in _ITERATION_PARAMS:
        raise ValueError(
            f"{type(final).__name__} declares _iteration_param={declared!r}; "
            f"it must be one of {_ITERATION_PARAMS}."
        )
    params = estimator.get_params()
    names = (declared,) if declared else _LENGTH_PARAMS
    for name in names:
        key = prefix + name
        value = params.get(key)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
            return None if key in searched else key
    return None


class _Model(NamedTuple):
    """One model of a search: a name, an unfitted estimator and its space."""

    name: str
    estimator: object
    space: object


def _is_estimator(obj):
    # An estimator instance: a class has ``fit`` and ``get_params`` too.
    return (
        not isinstance(obj, type) and hasattr(obj, "fit") and hasattr(obj, "get_params")
    )


def _is_model_list(estimator):
    """Whether ``estimator`` is the multi-model form (a list of triples)."""
    return isinstance(estimator, (list, tuple)) and not _is_estimator(estimator)


def _check_models(estimator, param_grid):
    """Validate the ``estimator`` / ``param_grid`` pair and return the models.

    Parameters
    ----------
    estimator : estimator or list of (str, estimator, space) tuples
        The drop-in form (one estimator, its space in ``param_grid``) or the
        multi-model form (``param_grid`` must then be None).
    param_grid : dict, list of dicts or None
        The space of the single estimator in the drop-in form.

    Returns
    -------
    models : list of _Model
    """
    if not _is_model_list(estimator):
        if param_grid is None:
            raise ValueError(
                "param_grid is required when estimator is a single estimator; "
                "to search several models, pass estimator as a list of "
                "(name, estimator, param_space) triples."
            )
        model = _Model(type(estimator).__name__, estimator, param_grid)
        _check_grid_as_sklearn(param_grid)
        _check_space(model)
        return [model]

    if param_grid is not None:
        raise ValueError(
            "param_grid must be None when estimator is a list of models: give "
            "each model's space as the third item of its (name, estimator, "
            "param_space) triple."
        )
    if len(estimator) == 0:
        raise ValueError(
            "estimator is an empty list: give at least one "
            "(name, estimator, param_space) triple."
        )
    models = []
    for position, triple in enumerate(estimator):
        if not (
            isinstance(triple, (tuple, list))
            and len(triple) == 3
            and isinstance(triple[0], str)
            and _is_estimator(triple[1])
        ):
            raise TypeError(
                f"estimator[{position}] must be a (name, estimator, param_space) "
                f"triple with a str name and an estimator that has fit and "
                f"get_params; got {triple!r}."
            )
        models.append(_Model(*triple))
    _check_names([m.name for m in models])
    for model in models:
        _check_space(model)
    return models


def _check_names(names):
    seen = set()
    for name in names:
        if not name or "__" in name or not name.isidentifier():
            raise ValueError(
                f"Invalid model name {name!r}: a name must be a non-empty "
                "Python identifier without a double underscore '__'."
            )
        if name in seen:
            raise ValueError(
                f"Model names must be unique; {name!r} is given "
                f"{names.count(name)} times."
            )
        seen.add(name)


def _is_distribution(value):
    """A distribution to sample from (an ``rvs`` method, as RandomizedSearchCV takes)."""
    return hasattr(value, "rvs")


def _values_problem(values):
    """What keeps ``values`` from being one parameter's values to search.

    None when they are a distribution (:func:`_is_distribution`) or a
    non-empty list or array, as GridSearchCV and RandomizedSearchCV take
    them; else ``"not a list"`` (a scalar, a string, a set, a dict) or
    ``"empty"``. The one rule for the search's spaces and the contenders_spec.
    """
    if _is_distribution(values):
        return None
    if isinstance(values, str) or not isinstance(values, (Sequence, np.ndarray)):
        return "not a list"
    if len(values) == 0:
        return "empty"
    return None


def _n_iter_problem(value):
    """What keeps ``value`` from being one model's ``n_iter``.

    None for an int >= 1 or None (the whole grid); else ``"not an int"``
    (a bool counts as not an int) or ``"below 1"``. The one rule for the
    search's ``n_iter`` and the contenders_spec's ``'__n_iter'``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return "not an int"
    if value < 1:
        return "below 1"
    return None


def _is_optuna_distribution(value):
    """An ``optuna.distributions`` object (only the Optuna search samples them)."""
    return type(value).__module__.startswith("optuna.distributions")


def _subspaces(model):
    """The list of dicts that make up a model's space, checked for type."""
    space = model.space
    if isinstance(space, Mapping):
        return [space]
    if isinstance(space, Sequence) and not isinstance(space, str):
        if len(space) == 0:
            raise ValueError(
                f"Model {model.name!r}: its space is an empty list and yields "
                "no candidates."
            )
        for sub in space:
            if not isinstance(sub, Mapping):
                raise TypeError(
                    f"Model {model.name!r}: a space given as a list must hold "
                    f"dicts; got {sub!r}."
                )
        return list(space)
    raise TypeError(
        f"Model {model.name!r}: its space must be a dict or a list of dicts "
        f"(parameter name -> list of values or distribution); got {space!r}."
    )


def _check_grid_as_sklearn(param_grid):
    """The drop-in form's grid checked by scikit-learn, with GridSearchCV's errors.

    ``ParameterGrid`` checks a grid of lists and ``ParameterSampler`` one with
    distributions, raising exactly what GridSearchCV / RandomizedSearchCV
    raise for the same grid.
    """
    subspaces = [param_grid] if isinstance(param_grid, Mapping) else param_grid
    if isinstance(subspaces, Sequence) and any(
        isinstance(sub, Mapping) and any(_is_distribution(v) for v in sub.values())
        for sub in subspaces
    ):
        ParameterSampler(param_grid, 1)
    else:
        ParameterGrid(param_grid)


def _accepts(estimator, key, values):
    """Whether ``estimator.set_params`` takes ``key`` (tried on a clone)."""
    if _is_distribution(values):
        return True  # no value to try before sampling
    try:
        clone(estimator).set_params(**{key: clone(values[0], safe=False)})
    except (ValueError, TypeError, AttributeError, KeyError):
        return False
    return True


def _check_space(model):
    """Check a model's space: value types and parameter names."""
    valid = set(model.estimator.get_params(deep=True))
    for sub in _subspaces(model):
        for key, values in sub.items():
            problem = None if _is_optuna_distribution(values) else _values_problem(values)
            if problem == "not a list":
                raise TypeError(
                    f"Model {model.name!r}: the values of {key!r} must be a "
                    f"list (or array) of values or a distribution with an rvs "
                    f"method; got {values!r}. Wrap a single value in a list."
                )
            if problem == "empty":
                raise ValueError(
                    f"Model {model.name!r}: {key!r} has an empty list of values, "
                    "so the space yields no candidates."
                )
            # A nested name is fine when its parent is itself searched over
            # (e.g. swapping a pipeline step and tuning the new step).
            # And so is a name that get_params does not list but set_params
            # takes (as GridSearchCV takes it).
            parent = key.rpartition("__")[0]
            if (
                key not in valid
                and parent not in sub
                and not _accepts(model.estimator, key, values)
            ):
                raise ValueError(
                    f"Model {model.name!r}: {type(model.estimator).__name__} has "
                    f"no parameter {key!r}. Valid parameters are: "
                    f"{sorted(valid)}."
                )


def _check_n_iter(n_iter, models):
    """Resolve ``n_iter`` to one value per model (None: the whole grid)."""
    names = [m.name for m in models]
    if isinstance(n_iter, Mapping):
        unknown = sorted(set(n_iter) - set(names))
        if unknown:
            raise ValueError(
                f"n_iter names unknown model(s) {unknown}; the models are {names}."
            )
        per_model = [n_iter.get(name) for name in names]
    else:
        per_model = [n_iter] * len(models)
    for model, value in zip(models, per_model):
        problem = _n_iter_problem(value)
        if problem == "not an int":
            raise TypeError(
                f"n_iter for model {model.name!r} must be an int >= 1 or None; "
                f"got {value!r}."
            )
        if problem == "below 1":
            raise ValueError(
                f"n_iter for model {model.name!r} must be >= 1; got {value!r}."
            )
    for model, value in zip(models, per_model):
        if value is None:
            for sub in _subspaces(model):
                dists = [k for k, v in sub.items() if _is_distribution(v)]
                if dists:
                    raise ValueError(
                        f"Model {model.name!r} has distributions for {dists}, "
                        "which cannot be enumerated: set n_iter for this model."
                    )
    return per_model


def _model_random_state(random_state, name, multi_model):
    """The random state a model's sampler gets.

    In the drop-in form the search's own ``random_state`` is passed through,
    so the candidates are exactly RandomizedSearchCV's. With several models
    and an int seed, each model's seed is derived from the seed and the
    model's name, so a model's candidates do not depend on the other models
    or on their order.
    """
    if not multi_model or random_state is None:
        return random_state
    if isinstance(random_state, numbers.Integral):
        return derived_seed(random_state, zlib.crc32(name.encode()))
    # A RandomState instance: draw the models' seeds from it, in model order.
    return int_seed(random_state)


def _generate_candidates(models, n_iter, random_state, multi_model):
    """Expand every model's space into its candidates.

    Returns
    -------
    candidates : list of (model_index, params) tuples
        In model order, then in the order of the model's grid or sampler.
    """
    candidates = []
    for index, (model, model_n_iter) in enumerate(zip(models, n_iter)):
        for sub in _subspaces(model):
            optuna_keys = [k for k, v in sub.items() if _is_optuna_distribution(v)]
            if optuna_keys:
                raise TypeError(
                    f"Model {model.name!r}: {optuna_keys} are Optuna "
                    "distributions, which only OptunaMultiModelSearchCV samples; "
                    "use lists or scipy.stats distributions here."
                )
        try:
            if model_n_iter is None:
                params = list(ParameterGrid(model.space))
            else:
                rs = _model_random_state(random_state, model.name, multi_model)
                params = list(ParameterSampler(model.space, model_n_iter, random_state=rs))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Model {model.name!r}: {exc}") from exc
        if not params:
            raise ValueError(f"Model {model.name!r}: its space yields no candidates.")
        candidates.extend((index, p) for p in params)
    return candidates


def _describe_value(values):
    """A short readable form of a space's values (a list or a distribution)."""
    dist = getattr(values, "dist", None)
    if _is_distribution(values) and hasattr(dist, "name"):  # a frozen scipy.stats
        args = [repr(a) for a in getattr(values, "args", ())]
        args += [f"{k}={v!r}" for k, v in getattr(values, "kwds", {}).items()]
        return f"{dist.name}({', '.join(args)})"
    return repr(values)


def _describe_space(space, n_iter=None):
    """A model's space, one parameter a line, for the HTML diagram.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> print(_describe_space({"alpha": loguniform(0.01, 10)}, n_iter=5))
    alpha: loguniform(0.01, 10)
    (n_iter=5)
    """
    subspaces = [space] if isinstance(space, Mapping) else list(space)
    lines = []
    for index, sub in enumerate(subspaces):
        if index:
            lines.append("or")
        lines += [f"{key}: {_describe_value(values)}" for key, values in sub.items()]
        if not sub:
            lines.append("(default parameters)")
    if n_iter is None:
        lines.append("(whole grid)")
    else:
        lines.append(f"(n_iter={n_iter})")
    return "\n".join(lines)
