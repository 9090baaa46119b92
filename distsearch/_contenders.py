"""The seed project's ``contenders_spec`` format, read into a search's models.

A ``contenders_spec`` is a list of dicts, one per model::

    {
        "__model": ["distsearch.models.LightGBMRegressor"],  # dotted class path
        "__n_iter": 5,                                  # optional: sample 5
        "__model__init_kwargs__learning_rate": loguniform(1e-2, 1e-1),
        "__model__init_kwargs__max_depth": [1, 2, 3],
        "__model__fit_kwargs__early_stopping_rounds": [10],
    }

:func:`from_contenders_spec` turns it into the ``(name, estimator,
param_space)`` triples and the ``n_iter`` dict of
:class:`~distsearch.MultiModelSearchCV`.
"""

import importlib
from collections.abc import Mapping, Sequence

from ._seed import FLAWS, SEED_MODELS, _translate_entry
from ._spaces import _ITERATION_PARAMS, _is_distribution, _n_iter_problem, _values_problem

_MODEL_KEY = "__model"
_N_ITER_KEY = "__n_iter"
# (prefix, kind): the current key form first, then the older one.
_PREFIXES = (
    ("__model__init_kwargs__", "init"),
    ("__model__fit_kwargs__", "fit"),
    ("__init_kwargs__model__", "init"),
    ("__fit_kwargs__model__", "fit"),
)


def from_contenders_spec(contenders_spec):
    """Read a ``contenders_spec`` into the models of a MultiModelSearchCV.

    Parameters
    ----------
    contenders_spec : list of dict (or one dict)
        One dict per model, with these keys:

        - ``'__model'``: the model's class as a dotted path, in a one-element
          list (as in the seed project) or as a string. The class must be a
          scikit-learn estimator whose constructor needs no argument. Its
          module is imported (running its top-level code, as any import
          does); what the path names is called only once it is checked to be
          a class with ``fit`` and ``get_params``.
        - ``'__n_iter'`` (optional): an int; the model's candidates are then
          that many random draws from its space (as RandomizedSearchCV)
          instead of its whole grid.
        - ``'__model__init_kwargs__<name>'``: the values of constructor
          parameter ``<name>``, a non-empty list or a distribution with an
          ``rvs`` method (e.g. ``scipy.stats.loguniform(1e-2, 1e-1)``).
        - ``'__model__fit_kwargs__<name>'``: the same for a fit argument.
          The searches call ``fit(X, y)`` only, so a fit argument is honoured
          when the model has a constructor parameter of that name (the
          :mod:`distsearch.models` helpers take ``epochs``, ``batch_size``,
          ``patience``, ``early_stopping_rounds``, ``min_delta``,
          ``validation_fraction`` and ``verbose`` there) and is searched over
          like the constructor parameters; any other fit argument is an
          error.

        The older key forms ``'__init_kwargs__model__<name>'`` and
        ``'__fit_kwargs__model__<name>'`` are accepted too.

        The seed's own helpers, ``'metaflow_helper.models.LightGBMRegressor'``
        and ``'metaflow_helper.models.KerasRegressor'``, are read as
        :class:`distsearch.models.LightGBMRegressor` and
        :class:`distsearch.models.KerasRegressor` (metaflow-helper is never
        imported), their keys mapped with the seed's meaning or dropped when
        they have no effect here (``distsearch tournament`` lists each mapping
        in its summary; the table is in the migration guide).

    Returns
    -------
    models : list of (str, estimator, dict)
        The ``(name, estimator, param_space)`` triples, in spec order. A name
        is the class name, with ``_2``, ``_3``, ... appended when a class
        appears more than once.

    n_iter : dict
        ``{name: int or None}``: each model's ``'__n_iter'`` (None: its whole
        grid). Pass both to MultiModelSearchCV; its ``random_state`` makes
        the sampled candidates reproducible.

    Raises
    ------
    ValueError
        Naming the entry (its index and model) and the key at fault: an
        unknown key, a dotted path that does not import, a parameter the
        model does not take, a key with no values, a bad ``'__n_iter'``.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from distsearch import MultiModelSearchCV, from_contenders_spec
    >>> models, n_iter = from_contenders_spec([
    ...     {"__model": ["sklearn.linear_model.Ridge"],
    ...      "__model__init_kwargs__alpha": [0.1, 1.0]},
    ...     {"__model": ["sklearn.linear_model.Lasso"], "__n_iter": 3,
    ...      "__model__init_kwargs__alpha": loguniform(1e-3, 1.0)},
    ... ])
    >>> [(name, space) for name, _, space in models][0]
    ('Ridge', {'alpha': [0.1, 1.0]})
    >>> n_iter
    {'Ridge': None, 'Lasso': 3}
    >>> search = MultiModelSearchCV(models, n_iter=n_iter, random_state=0)
    """
    return _read_spec(contenders_spec)[:2]


def _read_spec(contenders_spec):
    """``from_contenders_spec``, plus the notes on the seed entries it mapped.

    Returns
    -------
    models, n_iter
        As :func:`from_contenders_spec`.
    notes : list of str
        Each seed-key mapping made, once, then (when a seed model was mapped)
        what distsearch does instead of the seed's flaws; empty otherwise.
    """
    if isinstance(contenders_spec, Mapping):
        contenders_spec = [contenders_spec]
    if isinstance(contenders_spec, (str, bytes)) or not isinstance(
        contenders_spec, Sequence
    ):
        raise TypeError(
            "contenders_spec must be a list of dicts; got "
            f"{type(contenders_spec).__name__}."
        )
    if len(contenders_spec) == 0:
        raise ValueError("contenders_spec is empty: give at least one model.")
    models, n_iter, seen, notes = [], {}, {}, []
    for index, entry in enumerate(contenders_spec):
        estimator, space, entry_n_iter, entry_notes = _read_entry(index, entry)
        notes += [note for note in entry_notes if note not in notes]
        name = type(estimator).__name__
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        models.append((name, estimator, space))
        n_iter[name] = entry_n_iter
    return models, n_iter, (notes + [FLAWS] if notes else [])


def _read_entry(index, entry):
    """(estimator, param_space, n_iter) of ``contenders_spec[index]``."""
    if not isinstance(entry, Mapping):
        raise TypeError(
            f"contenders_spec[{index}] must be a dict; got {type(entry).__name__}."
        )
    where = f"contenders_spec[{index}] ({_model_path(entry)})"
    notes = []
    if _model_path(entry) in SEED_MODELS:
        entry, notes = _translate_entry(where, _model_path(entry), entry)
    if _MODEL_KEY not in entry:
        raise ValueError(f"{where}: missing the key {_MODEL_KEY!r} (dotted class path).")
    estimator = _import_estimator(where, entry[_MODEL_KEY])
    valid = estimator.get_params(deep=False)
    space, origin = {}, {}
    for key, values in entry.items():
        if key in (_MODEL_KEY, _N_ITER_KEY):
            continue
        name, kind = _split_key(where, key)
        if name not in valid:
            raise ValueError(
                f"{where}: key {key!r}: {type(estimator).__name__} has no "
                f"constructor parameter {name!r}"
                + (
                    ", so this fit argument cannot be honoured (models are "
                    "fitted with fit(X, y) only)"
                    if kind == "fit"
                    else ""
                )
                + f". Its parameters are {sorted(valid)}."
            )
        if name in space:
            raise ValueError(
                f"{where}: keys {origin[name]!r} and {key!r} both set {name!r}."
            )
        space[name] = _check_values(where, key, values)
        origin[name] = key
    return estimator, space, _entry_n_iter(where, entry.get(_N_ITER_KEY)), notes


def _model_path(entry):
    path = entry.get(_MODEL_KEY, "no model") if isinstance(entry, Mapping) else None
    if isinstance(path, (list, tuple)) and len(path) == 1:
        path = path[0]
    return str(path)


def _import_estimator(where, path):
    if isinstance(path, (list, tuple)) and len(path) == 1:
        path = path[0]
    if not isinstance(path, str) or "." not in path:
        raise ValueError(
            f"{where}: key {_MODEL_KEY!r} must be a dotted class path such as "
            f"'distsearch.models.LightGBMRegressor' (alone in a list); got {path!r}."
        )
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"{where}: key {_MODEL_KEY!r}: cannot import {path!r}: {exc}"
        ) from exc
    # Checked before the call: any other callable (os.abort, ...) is never run.
    if not (
        isinstance(cls, type)
        and callable(getattr(cls, "fit", None))
        and callable(getattr(cls, "get_params", None))
    ):
        raise ValueError(
            f"{where}: key {_MODEL_KEY!r}: {path!r} is not a scikit-learn "
            f"estimator class (a class with fit and get_params); it is a "
            f"{type(cls).__name__}."
        )
    try:
        return cls()
    except TypeError as exc:
        raise ValueError(
            f"{where}: key {_MODEL_KEY!r}: {path!r} cannot be built without "
            f"arguments: {exc}"
        ) from exc


def _split_key(where, key):
    """(parameter name, 'init' or 'fit') of a parameter key."""
    for prefix, kind in _PREFIXES:
        if isinstance(key, str) and key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :], kind
    raise ValueError(
        f"{where}: unknown key {key!r}. Keys are {_MODEL_KEY!r}, {_N_ITER_KEY!r}, "
        "'__model__init_kwargs__<name>', '__model__fit_kwargs__<name>' (or the "
        "older '__init_kwargs__model__<name>', '__fit_kwargs__model__<name>')."
    )


def _check_values(where, key, values):
    """The values of a parameter key (see ``_spaces._values_problem``), as a list."""
    problem = _values_problem(values)
    if problem == "not a list":
        raise ValueError(
            f"{where}: key {key!r} must hold a list of values or a distribution "
            f"with an rvs method; got {values!r}. Wrap a single value in a list."
        )
    if problem == "empty":
        raise ValueError(f"{where}: key {key!r} has no values.")
    return values if _is_distribution(values) else list(values)


def _entry_n_iter(where, value):
    """The entry's ``'__n_iter'`` (see ``_spaces._n_iter_problem``), as an int or None."""
    if _n_iter_problem(value) is not None:
        raise ValueError(
            f"{where}: key {_N_ITER_KEY!r} must be an int >= 1; got {value!r}."
        )
    return None if value is None else int(value)


def randomized_contenders_spec(n_iter=5, max_iterations=10_000):
    """The seed's ``randomized_config.py`` contenders, on the distsearch helpers.

    The seed's ``contenders_spec`` (metaflow-helper v0.0.1,
    ``examples/model-selection/randomized_config.py``, kept verbatim in
    ``distsearch._seed.SEED_RANDOMIZED_CONTENDERS_SPEC``) read key by key as
    :func:`from_contenders_spec` reads it: LightGBM with ``learning_rate ~
    loguniform(1e-2, 1e-1)``, ``max_depth ~ randint(1, 4)`` and early stopping
    after 10 rounds; Keras with ``hidden_layer_sizes`` in ``(), (15,), (15, 15),
    (225,)`` (the seed's ``dense_layer_widths``), ``l1`` and ``l2 ~
    loguniform(1e-8, 1e-2)``, ``batch_size=32`` (the seed's None),
    ``validation_fraction=0.2`` (``validation_split``), ``patience=10``,
    ``min_delta=0.1``. Keys with no effect here (LightGBM's ``eval_metric='mse'``
    and fit ``verbose``, Keras's ``build_model``, ``metric`` and ``monitor``)
    are dropped; the seed's flaws are not kept (see ``distsearch._seed.FLAWS``).

    Parameters
    ----------
    n_iter : int, default=5
        Candidates drawn per model (the seed's ``'__n_iter'``).
    max_iterations : int, default=10_000
        Boosting rounds / epochs before early stopping (the seed's 10_000).

    Returns
    -------
    contenders_spec : list of dict
        A new list in distsearch's keys, for :func:`from_contenders_spec`.

    Examples
    --------
    >>> from distsearch._contenders import randomized_contenders_spec
    >>> lightgbm, keras = randomized_contenders_spec(n_iter=2, max_iterations=50)
    >>> lightgbm["__model"], lightgbm["__n_iter"], lightgbm["__model__init_kwargs__n_estimators"]
    (['distsearch.models.LightGBMRegressor'], 2, [50])
    >>> keras["__model__init_kwargs__batch_size"], keras["__model__init_kwargs__validation_fraction"]
    ([32], [0.2])
    """
    from ._seed import SEED_RANDOMIZED_CONTENDERS_SPEC

    spec = []
    for index, entry in enumerate(SEED_RANDOMIZED_CONTENDERS_SPEC):
        path = _model_path(entry)
        entry, _ = _translate_entry(f"contenders_spec[{index}] ({path})", path, entry)
        entry["__n_iter"] = n_iter
        for name in _ITERATION_PARAMS:
            if f"__model__init_kwargs__{name}" in entry:
                entry[f"__model__init_kwargs__{name}"] = [max_iterations]
        spec.append(entry)
    return spec
