"""Tournament configuration: a Python module of plain variables, checked first.

A config file is a Python module (as the seed's ``randomized_config.py``)
whose module-level variables set up the tournament; every one is optional::

    data = {"kind": "mock_regression", "n_samples": 1000, "n_categorical_features": 2}
    contenders = [(name, estimator, param_space), ...]   # or contenders_spec
    n_iter = {"lightgbm": 5}        # per model; models left out: whole grid
    n_splits = 5                    # cross-validation folds (1: one split of test_size)
    test_size = 0.2                 # held-out share, scored once at the end
    scoring = ["r2", "neg_root_mean_squared_error"]
    rank_by = "r2"                  # the metric that picks the winner
    ensemble = {"method": "voting", "top_k": 3}   # or None
    search = "optuna"               # "exhaustive" (default) or "optuna"
    n_trials = 60                   # the Optuna search's trials (default: as many
                                    # as the exhaustive search's candidates)
    fit_timeout = 600               # seconds a fit may take: a fit over it is stopped
                                    # and recorded as failed (default: None, no limit)

``contenders_spec`` is the seed's form (see :func:`distsearch.from_contenders_spec`)
and replaces ``contenders`` and ``n_iter``. A seed config file (metaflow-helper's
``randomized_config.py`` and its siblings) runs as it is: its settings
``make_regression_init_kwargs`` (with ``n_numeric_features``) give the seed's
rows, ``score_path`` the metric, ``n_splits = 1`` one shuffled train/validation
split of ``test_size``; ``n_informative_numeric_features`` and
``n_categorical_features`` only serve the file itself, and ``dependencies`` and
``auto_open_figures`` (Metaflow and plotting) are ignored. Every seed setting
read adds a line to ``notes``, which the run's summary lists. Names starting with ``_`` and
imported modules, classes, functions and distributions are ignored; any other
unknown name is an error, so that a misspelt key does not go unnoticed.
Everything is checked before any model is fitted, and every error names the
file, the key and what was expected (:class:`ConfigError`).
"""

import importlib
import importlib.util
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import loguniform, randint
from sklearn.base import is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.metrics import get_scorer_names

from ._data import DataSpecError, _check_data_spec
from ._extras import available, check_estimator_packages
from ._spaces import _check_models, _check_n_iter

DEFAULT_SOURCE = "built-in default"

_KEYS = (
    "data",
    "contenders",
    "contenders_spec",
    "n_iter",
    "n_splits",
    "n_repeats",
    "test_size",
    "scoring",
    "rank_by",
    "ensemble",
    "search",
    "n_trials",
    "fit_timeout",
    "mlflow",
)

# The searches a tournament can run (config ``search``, ``--search``).
SEARCHES = ("exhaustive", "optuna", "halving")

# The seed's (metaflow-helper) settings: read as the seed read them (see
# _seed_settings), or accepted and reported as ignored.
_SEED_SETTINGS = (
    "n_numeric_features",
    "n_informative_numeric_features",
    "n_categorical_features",
    "make_regression_init_kwargs",
    "score_path",
    "dependencies",
    "auto_open_figures",
)


class ConfigError(ValueError):
    """A tournament config is invalid.

    The message names the config source, the key and what was expected.
    """

    def __init__(self, source, key, message):
        where = f"{source}: {key}" if key else str(source)
        super().__init__(f"{where}: {message}")
        self.source = source
        self.key = key


@dataclass
class _Config:
    """A tournament's settings, as given (task-dependent defaults unresolved)."""

    source: str = DEFAULT_SOURCE
    base_dir: Path = None
    data: dict = field(
        default_factory=lambda: {
            "kind": "mock_regression",
            "n_categorical_features": 2,
            "n_samples": 1000,
            "n_features": 10,
            "n_informative": 5,
            "noise": 100.0,
        }
    )
    contenders: list = None
    contenders_spec: list = None
    n_iter: object = None
    n_splits: int = 5
    n_repeats: int = 1  # repeated cross-validation (compare_models counts every fold)
    test_size: float = 0.2
    scoring: object = None
    rank_by: str = None
    ensemble: dict = None
    search: str = None
    n_trials: int = None
    fit_timeout: float = None  # MultiModelSearchCV(fit_timeout=)
    mlflow: object = None  # see distsearch._mlflow.resolve_target
    notes: list = field(default_factory=list)  # the seed settings and keys mapped


def _default_config():
    """The built-in tournament: the default data and contenders, a voting ensemble."""
    return _Config(ensemble={"method": "voting", "top_k": 3})


def _is_setting(value):
    """Whether a module-level value can be a setting (not an import or helper).

    Every setting is plain data; modules, classes, functions, estimators and
    distributions defined or imported at module level are not settings.
    """
    return isinstance(value, (bool, int, float, str, list, tuple, dict, type(None)))


def _load_config(path):
    """Load and check a config file; returns a ``_Config``.

    Raises
    ------
    ConfigError
        If the file cannot be run, or a setting is unknown or invalid.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, None, "config file not found")
    spec = importlib.util.spec_from_file_location(f"_distsearch_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(source, None, f"could not run the file: {type(exc).__name__}: {exc}") from exc
    settings, seed = {}, {}
    for name, value in vars(module).items():
        if name.startswith("_") or not _is_setting(value):
            continue
        if name in _SEED_SETTINGS:
            seed[name] = value
            continue
        if name not in _KEYS:
            raise ConfigError(
                source, name, f"unknown key; expected keys among {list(_KEYS) + list(_SEED_SETTINGS)}"
            )
        settings[name] = value
    notes = _seed_settings(seed, settings, lambda key, message: ConfigError(source, key, message))
    config = _Config(source=source, base_dir=path.parent, notes=notes, **settings)
    _check_config(config)
    return config


def _seed_settings(seed, settings, fail):
    """Read the seed's settings into ``settings``; returns the notes on them.

    ``make_regression_init_kwargs`` (and ``n_numeric_features``) become a
    ``seed_regression`` data spec, ``score_path`` the scoring; the others
    change nothing and are reported.
    """
    notes = []
    if "make_regression_init_kwargs" in seed:
        if "data" in settings:
            raise fail("make_regression_init_kwargs", "give either data or make_regression_init_kwargs, not both")
        settings["data"] = {"kind": "seed_regression", "make_regression_init_kwargs": seed["make_regression_init_kwargs"]}
        notes.append(
            "make_regression_init_kwargs -> data = {'kind': 'seed_regression', ...}: the seed's rows "
            "(one make_regression per category, columns num_*, cat, concatenated in order)"
        )
        if "n_numeric_features" in seed:
            settings["data"]["n_numeric_features"] = seed["n_numeric_features"]
            notes.append("n_numeric_features -> the num_* columns (checked against each category's n_features)")
    elif "n_numeric_features" in seed:
        raise fail("n_numeric_features", "a seed setting that needs make_regression_init_kwargs (the seed's data)")
    for name in ("n_informative_numeric_features", "n_categorical_features"):
        if name in seed:
            notes.append(f"{name}: no effect here (the seed's config file uses it to build make_regression_init_kwargs)")
    if "score_path" in seed:
        if "scoring" in settings:
            raise fail("score_path", "give either scoring or score_path, not both")
        name, scorer, note = _scorer_from_path(seed["score_path"], fail)
        settings["scoring"] = {name: scorer}
        notes.append(f"score_path {seed['score_path']!r} -> scoring = {name!r} ({note})")
    if "dependencies" in seed:
        notes.append("dependencies: ignored (the seed's flow pip-installed them; install packages before the run)")
    if "auto_open_figures" in seed:
        notes.append("auto_open_figures: ignored (the plots are written to the run folder, never opened)")
    return notes


def _scorer_from_path(path, fail):
    """(name, scorer, note) for the seed's ``score_path``, a dotted metric function.

    A scikit-learn metric becomes its scorer name (a loss its ``neg_`` scorer:
    the seed maximised every metric); any other function ``f(y_true, y_pred)``
    a scorer that maximises it, as the seed did.
    """
    from sklearn.metrics import get_scorer, make_scorer

    if not (isinstance(path, str) and "." in path):
        raise fail("score_path", f"expected a dotted metric function such as 'sklearn.metrics.r2_score', got {path!r}")
    module_name, _, attribute = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise fail("score_path", f"cannot import {path!r}: {exc}") from None
    if not callable(function):
        raise fail("score_path", f"{path!r} is not a function")
    matches = {}
    for name in get_scorer_names():
        scorer = get_scorer(name)
        if getattr(scorer, "_score_func", None) is function and not getattr(scorer, "_kwargs", True):
            matches[getattr(scorer, "_sign", 1)] = name
    if 1 in matches:
        return matches[1], matches[1], "the same metric, higher is better"
    if -1 in matches:
        return matches[-1], matches[-1], "a loss: minimised (the seed maximised every metric)"
    return attribute, make_scorer(function), "maximised, as in the seed"


def _check_config(config):
    """Check the settings that do not depend on the data; raises ConfigError."""
    fail = lambda key, message: ConfigError(config.source, key, message)  # noqa: E731
    try:
        _check_data_spec(config.data)
    except DataSpecError as exc:
        if exc.key and any(note.startswith("make_regression_init_kwargs") for note in config.notes):
            raise fail(exc.key, str(exc)) from None  # the seed's own setting
        raise fail("data" + (f"['{exc.key}']" if exc.key else ""), str(exc)) from None
    if config.contenders is not None and config.contenders_spec is not None:
        raise fail("contenders_spec", "give either contenders or contenders_spec, not both")
    if config.contenders_spec is not None and config.n_iter is not None:
        raise fail("n_iter", "with contenders_spec, set '__n_iter' in each spec entry instead")
    if config.contenders is not None and not isinstance(config.contenders, (list, tuple)):
        raise fail("contenders", f"expected a list of (name, estimator, param_space), got {config.contenders!r}")
    if not _is_int(config.n_splits) or config.n_splits < 1:
        raise fail("n_splits", f"expected an int >= 1 (1: one train/validation split), got {config.n_splits!r}")
    if not _is_int(config.n_repeats) or config.n_repeats < 1:
        raise fail("n_repeats", f"expected an int >= 1, got {config.n_repeats!r}")
    if config.n_repeats > 1 and config.n_splits == 1:
        raise fail("n_repeats", "repeats are of k-fold cross-validation: set n_splits >= 2")
    if not (isinstance(config.test_size, float) and 0 < config.test_size < 1):
        raise fail("test_size", f"expected a float between 0 and 1, got {config.test_size!r}")
    if config.scoring is not None:
        _scoring_dict(config.scoring, fail)
    if config.rank_by is not None and config.scoring is None:
        raise fail("rank_by", "set scoring too: rank_by names one of its metrics")
    _check_search(config.search, config.n_trials, fail, combined=False)
    if config.fit_timeout is not None and not (
        isinstance(config.fit_timeout, numbers.Real)
        and not isinstance(config.fit_timeout, bool)
        and config.fit_timeout > 0
    ):
        raise fail(
            "fit_timeout", f"expected None or a number of seconds > 0, got {config.fit_timeout!r}"
        )
    if config.ensemble is not None:
        ensemble = config.ensemble
        if not (
            isinstance(ensemble, dict)
            and set(ensemble) <= {"method", "top_k"}
            and ensemble.get("method", "voting") in ("voting", "stacking")
            and _is_int(ensemble.get("top_k", 3))
            and ensemble.get("top_k", 3) >= 2
        ):
            raise fail(
                "ensemble",
                "expected None or {'method': 'voting' or 'stacking', 'top_k': int >= 2}, "
                f"got {ensemble!r}",
            )
    if config.mlflow is not None:
        from ._mlflow import resolve_target

        try:
            resolve_target(None, config.mlflow)
        except ValueError as exc:
            raise fail("mlflow", str(exc)) from None


def _check_search(search, n_trials, fail, combined=True):
    """Check the search settings; raises ``fail(key, message)``.

    ``combined``: ``search`` and ``n_trials`` are the run's (options over
    config), so ``n_trials`` needs the Optuna search.
    """
    if search is not None and search not in SEARCHES:
        raise fail("search", f"expected one of {list(SEARCHES)}, got {search!r}")
    if n_trials is not None:
        if not _is_int(n_trials) or n_trials < 1:
            raise fail("n_trials", f"expected an int >= 1, got {n_trials!r}")
        if combined and search != "optuna":
            raise fail("n_trials", "only the Optuna search has trials: use search 'optuna'")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _scoring_dict(scoring, fail):
    """Normalise ``scoring`` to an ordered ``{name: scorer}`` dict."""
    if isinstance(scoring, str):
        scoring = {scoring: scoring}
    elif isinstance(scoring, (list, tuple)) and all(isinstance(s, str) for s in scoring):
        scoring = {s: s for s in scoring}
    elif not isinstance(scoring, dict):
        raise fail("scoring", f"expected a scorer name, a list of them or a dict, got {scoring!r}")
    if not scoring:
        raise fail("scoring", "expected at least one metric")
    names = set(get_scorer_names())
    for name, scorer in scoring.items():
        if isinstance(scorer, str) and scorer not in names:
            raise fail(
                "scoring", f"{scorer!r} is not a scikit-learn scorer name (see sklearn.metrics.get_scorer_names())"
            )
        if not (isinstance(scorer, str) or callable(scorer)):
            raise fail("scoring", f"metric {name!r}: expected a scorer name or a callable, got {scorer!r}")
    return dict(scoring)


def _default_scoring(dataset):
    if dataset.task == "regression":
        return ["r2", "neg_root_mean_squared_error"]
    if dataset.task == "multilabel":
        return ["f1_micro", "jaccard_samples"]
    return ["roc_auc" if dataset.y.nunique() == 2 else "roc_auc_ovr", "accuracy"]


def _default_contenders(task, seed):
    """The built-in contenders for a task: ((name, estimator, space) list, n_iter).

    Gradient boosting and a neural network, each with early stopping on an
    inner split of the fit data and 5 random candidates (the seed's
    randomized config), against a linear baseline with a 5-point grid.
    """
    if task == "multilabel":
        # Neither LightGBM nor the seed's networks take several labels; these do.
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.neighbors import KNeighborsClassifier

        return [
            ("forest", RandomForestClassifier(n_estimators=100, random_state=seed),
             {"max_depth": [4, 8, None], "min_samples_leaf": [1, 5]}),
            ("knn", KNeighborsClassifier(), {"n_neighbors": [5, 15, 45]}),
            ("ridge", RidgeClassifier(), {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]}),
        ], {"forest": 5}
    from . import models

    boosting = (models.LightGBMRegressor if task == "regression" else models.LightGBMClassifier)(
        n_estimators=3000, early_stopping_rounds=10, random_state=seed
    )
    network = (models.KerasRegressor if task == "regression" else models.KerasClassifier)(
        learning_rate=0.01, epochs=200, patience=10, random_state=seed
    )
    if task == "regression":
        linear = ("ridge", Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]})
    else:
        linear = ("logistic", LogisticRegression(max_iter=1000), {"C": [0.01, 0.1, 1.0, 10.0, 100.0]})
    return [
        ("lightgbm", boosting, {"learning_rate": loguniform(1e-2, 1e-1), "max_depth": randint(1, 4)}),
        (
            "keras",
            network,
            {
                "hidden_layer_sizes": [(), (15,), (15, 15), (225,)],
                "l1": loguniform(1e-8, 1e-2),
                "l2": loguniform(1e-8, 1e-2),
            },
        ),
        linear,
    ], {"lightgbm": 5, "keras": 5}


def _seeded(estimator, space, seed):
    """``estimator`` with ``random_state=seed`` if it has one left at None."""
    params = estimator.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None and "random_state" not in space:
        estimator = estimator.set_params(random_state=seed)
    return estimator


def _resolve(config, dataset, seed, enumerated=True):
    """The contenders, n_iter, scoring and rank_by for this config and data.

    Fills the task-dependent defaults and checks the contenders against the
    task; raises ConfigError. The notes on a seed ``contenders_spec``'s
    mappings are added to ``config.notes``. ``enumerated``: the search draws
    or enumerates each model's candidates (not so the Optuna search), so a
    model with distributions needs its ``n_iter``.

    Returns
    -------
    models : list of (name, estimator, space)
    n_iter : dict, int or None
    scoring : dict of name -> scorer
    rank_by : str
    """
    fail = lambda key, message: ConfigError(config.source, key, message)  # noqa: E731
    if config.contenders_spec is not None:
        from ._contenders import _read_spec

        key = "contenders_spec"
        try:
            models, n_iter, notes = _read_spec(config.contenders_spec)
        except (TypeError, ValueError, ImportError, AttributeError) as exc:
            raise fail(key, str(exc)) from None
        config.notes += [note for note in notes if note not in config.notes]
        # Seeded by --seed: a model the spec leaves unseeded gets the run's seed.
        models = [
            (name, _seeded(estimator, space, seed), space) for name, estimator, space in models
        ]
    elif config.contenders is not None:
        key, models, n_iter = "contenders", list(config.contenders), config.n_iter
    else:
        key = "contenders"
        if dataset.task != "multilabel":
            missing = [m for m in ("lightgbm", "keras", "scikeras") if not available(m)]
            if missing:
                raise fail(
                    key,
                    f"the built-in contenders (LightGBM, a Keras network, a linear baseline) "
                    f"need {missing}, not installed: pip install \"distsearch[lightgbm,keras]\"; "
                    "or give a config with contenders of your own (see examples/)",
                )
        models, n_iter = _default_contenders(dataset.task, seed)
    try:
        checked = _check_models(models, None)
    except (TypeError, ValueError) as exc:
        raise fail(key, str(exc)) from None
    try:
        if enumerated:
            _check_n_iter(n_iter, checked)
    except (TypeError, ValueError) as exc:
        # With contenders_spec, n_iter comes from its '__n_iter' entries.
        raise fail("n_iter" if config.contenders_spec is None else key, str(exc)) from None
    wanted = is_regressor if dataset.task == "regression" else is_classifier
    for model in checked:
        if not wanted(model.estimator):
            raise fail(
                key,
                f"model {model.name!r} ({type(model.estimator).__name__}) is not a "
                f"{'regressor' if dataset.task == 'regression' else 'classifier'}, "
                f"but the data is a {dataset.task} task",
            )
        try:
            check_estimator_packages(model.name, model.estimator)
        except ImportError as exc:
            raise fail(key, str(exc)) from None
    scoring = _scoring_dict(config.scoring or _default_scoring(dataset), fail)
    rank_by = config.rank_by or next(iter(scoring))
    if rank_by not in scoring:
        raise fail("rank_by", f"expected one of the scoring metrics {list(scoring)}, got {rank_by!r}")
    if config.ensemble is not None and dataset.task == "multilabel":
        raise fail("ensemble", "ensembles of multilabel classifiers are not supported; set ensemble = None")
    return models, n_iter, scoring, rank_by
