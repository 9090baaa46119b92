"""The tournament: one run from a config to a winning model and its run folder.

The steps, in order (everything that can be checked is checked before the
first fit):

1. check the options (``n_jobs``, ``seed``, the backend and its address, the
   output folder), load the config and the data, check the data (missing
   values, the target, the task, enough rows for the held-out split and the
   folds: :mod:`distsearch._datacheck`), resolve the contenders and the
   metrics, and create the run folder; every problem found here is a
   :class:`~distsearch._config.ConfigError` (exit status 2 on the command
   line);
2. wrap every contender in a pipeline that one-hot encodes the categorical
   columns (a missing value is a category of its own) and standardises the
   numeric ones (after imputing their median, when some are missing);
3. split off a seeded, held-out test set;
4. cross-validate every candidate of every model on the rest with
   :class:`~distsearch.MultiModelSearchCV` (failing candidates get NaN scores
   and are reported, they do not stop the run);
5. refit the winner on the rest and score it once on the held-out set, and
   the optional ensemble of the top candidates the same way;
6. refit the winner on all the data and save it with its metadata;
7. write the run folder (see :mod:`distsearch._reports`).
"""

import datetime
import numbers
import platform
import shutil
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import FitFailedWarning
from sklearn.ensemble import (
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.model_selection import (
    KFold,
    ParameterGrid,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    train_test_split,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ._config import (
    ConfigError,
    _check_search,
    _Config,
    _default_config,
    _load_config,
    _resolve,
)
from ._data import DataSpecError, _load_data
from ._datacheck import check_sizes, held_out_split
from ._extras import available
from ._progress import _check_progress
from ._shard import ShardError
from ._halving import HalvingMultiModelSearchCV
from ._optuna import OptunaMultiModelSearchCV
from ._outcome import _exception_text
from ._mlflow import check_mlflow, log_tournament, resolve_target
from ._runs import options_record, record_finish, record_start
from ._saved import MODEL_JSON, input_schema, required_packages, write_model_json
from ._search import MultiModelSearchCV
from ._spaces import (
    _LENGTH_PARAMS,
    _check_models,
    _check_n_iter,
    _is_distribution,
    _iteration_resource,
    _subspaces,
)
from ._versions import versions
from .engines import ClusterLost, check_reachable, get_engine

# --quick: a smoke-test size for any config.
QUICK_ROWS = 300
QUICK_SPLITS = 3
QUICK_CANDIDATES = 2
QUICK_LENGTH = 20  # cap on n_estimators / epochs

_VERSIONED = (
    "distsearch",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "joblib",
    "lightgbm",
    "keras",
    "scikeras",
    "jax",
    "tensorflow",
)


@dataclass
class _Run:
    """Everything a finished tournament reports (see ``_reports``)."""

    run_id: str
    run_dir: Path
    source: str
    seed: int
    backend: str
    n_jobs: int
    quick: bool
    dataset: object
    n_train: int
    n_test: int
    cv: object
    scoring: dict
    rank_by: str
    search: MultiModelSearchCV
    failures: list
    winner_test: dict
    predictions: dict
    ensemble: dict
    final_path: Path
    versions: dict
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # the config's seed mappings
    skipped: list = field(default_factory=list)  # reports not written, with why
    options: dict = field(default_factory=dict)


def _run_versions():
    """Python's version and that of each installed distribution of ``_VERSIONED``."""
    installed = versions(_VERSIONED, of="distribution")
    return {"python": platform.python_version()} | {
        name: version for name, version in installed.items() if version is not None
    }


def _pipeline(estimator, dataset):
    """``estimator`` behind the preprocessing of ``dataset``'s columns."""
    numeric = [c for c in dataset.X.columns if c not in dataset.categorical]
    scale = StandardScaler()
    if dataset.X[numeric].isna().any().any():
        scale = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    steps = [("num", scale, numeric)]
    if dataset.categorical:
        steps.append(
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                dataset.categorical,
            )
        )
    return Pipeline([("prep", ColumnTransformer(steps)), ("model", estimator)])


def _prefixed(space):
    """A model's space with its keys routed to the pipeline's ``model`` step."""
    if isinstance(space, dict):
        return {f"model__{k}": v for k, v in space.items()}
    return [_prefixed(sub) for sub in space]


def _halving_resources(pipelines):
    """``{model: 'model__<param>'}``: the iteration parameter each model halves.

    HalvingMultiModelSearchCV's ``resource='auto'`` choice
    (:func:`distsearch._spaces._iteration_resource`: the parameter the model
    declares, else its n_estimators / num_iterations / epochs, when it does
    not search it), made here so that the log names it before the search.
    """
    resources = {}
    for name, pipeline, space in pipelines:
        searched = {key for sub in ([space] if isinstance(space, dict) else space) for key in sub}
        param = _iteration_resource(pipeline, searched)
        if param is not None:
            resources[name] = param
    return resources


def _capped(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return min(value, QUICK_LENGTH)
    return value


def _quick_models(models, n_iter, enumerated=True):
    """The models and n_iter of a --quick run.

    Each model gets at most ``QUICK_CANDIDATES`` candidates (when they are
    ``enumerated``; else n_iter is left as it is), and the training
    length parameters (``n_estimators``, ``epochs``) of its estimator and of
    its space are capped at ``QUICK_LENGTH``.
    """
    checked = _check_models(models, None)
    per_model = _check_n_iter(n_iter, checked) if enumerated else [0] * len(checked)
    quick_models, quick_n_iter = [], {}
    for model, count in zip(checked, per_model):
        estimator = clone(model.estimator)
        params = estimator.get_params(deep=False)
        estimator.set_params(**{k: _capped(params[k]) for k in _LENGTH_PARAMS if k in params})
        space = [
            {
                k: [_capped(v) for v in values] if k in _LENGTH_PARAMS and not _is_distribution(values) else values
                for k, values in sub.items()
            }
            for sub in _subspaces(model)
        ]
        if count is None:
            count = len(ParameterGrid(space))
        quick_models.append((model.name, estimator, space))
        quick_n_iter[model.name] = min(count, QUICK_CANDIDATES)
    return quick_models, (quick_n_iter if enumerated else n_iter)


def _quick_rows(dataset, seed):
    """``dataset`` subsampled to ``QUICK_ROWS`` rows (stratified for classes)."""
    if len(dataset.X) <= QUICK_ROWS:
        return dataset
    stratify = dataset.y if dataset.task == "classification" else None
    X, _, y, _ = train_test_split(
        dataset.X, dataset.y, train_size=QUICK_ROWS, random_state=seed, stratify=stratify
    )
    description = dataset.description + f"\n--quick: a seeded subsample of {QUICK_ROWS} rows is used"
    return dataset._replace(X=X.reset_index(drop=True), y=y.reset_index(drop=True), description=description)


def _prepare(config, seed, quick, search=None):
    """Load and check the data, resolve the contenders; everything before any fit.

    ``search`` (the ``--search`` option) over the config's decides whether
    the models' candidates are counted (not for the Optuna search).
    """
    if config is None:
        config = _default_config()
    elif not isinstance(config, _Config):
        config = _load_config(config)
    enumerated = (search or config.search) != "optuna"
    try:
        dataset = _load_data(config.data, seed, config.base_dir)
    except DataSpecError as exc:
        raise ConfigError(config.source, f"data['{exc.key}']", str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(config.source, "data", f"{type(exc).__name__}: {exc}") from None
    n_splits = min(config.n_splits, QUICK_SPLITS) if quick else config.n_splits
    _check_sizes(config, dataset, n_splits, seed, quick)
    models, n_iter, scoring, rank_by = _resolve(config, dataset, seed, enumerated)
    if quick:
        if len(dataset.X) > QUICK_ROWS:
            dataset = _quick_rows(dataset, seed)
            _check_sizes(config, dataset, n_splits, seed, quick)
        models, n_iter = _quick_models(models, n_iter, enumerated)
    return config, dataset, models, n_iter, scoring, rank_by, n_splits


def _check_sizes(config, dataset, n_splits, seed, quick):
    try:
        check_sizes(dataset, n_splits=n_splits, test_size=config.test_size, seed=seed, csv=dataset.csv)
    except DataSpecError as exc:
        where = " (the --quick subsample)" if quick and len(dataset.X) <= QUICK_ROWS else ""
        key = "data" if exc.key is None else f"data['{exc.key}']"
        raise ConfigError(config.source, key, f"{exc}{where}") from None


def _check_options(n_jobs, seed, backend, scheduler_address, progress, output, resume):
    """The run's options, checked before the config and the data; raises ConfigError."""
    fail = lambda key, message: ConfigError("options", key, message)  # noqa: E731
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise fail("n_jobs", f"expected a positive int, or a negative one (-1: all cores), got {n_jobs!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise fail("seed", f"expected an int between 0 and 2**32 - 1, got {seed!r}")
    try:
        get_engine(backend, address=scheduler_address)  # unknown backend, address, missing extra
    except (ValueError, ImportError) as exc:
        raise fail("backend", str(exc)) from None
    try:
        _check_progress(progress)
    except ImportError as exc:
        raise fail("progress", str(exc)) from None
    if scheduler_address is not None:
        _check_reachable(backend, scheduler_address)
    output = Path(output)
    existing = next(p for p in (output, *output.parents) if p.exists())
    if not existing.is_dir():
        raise fail("output", f"{existing} is a file, not a folder; give a folder for the run folders")
    if resume is not None and (
        resume in ("", ".", "..") or Path(resume).name != resume or "\\" in resume
    ):
        raise fail("resume", f"{resume!r} is not a run id: give the name of a run folder in {output}, not a path")
    if resume is not None and not (output / resume).is_dir():
        raise fail("resume", f"no run folder {output / resume} to resume")


def _check_reachable(backend, address, timeout=5.0):
    """Fail fast when nothing listens at a dask or ray address (engines.check_reachable)."""
    if ":" not in address.rpartition("://")[2]:
        return  # ray's "auto" and the like: left to the engine
    what = "dask scheduler" if backend == "dask" else "ray cluster"
    try:
        check_reachable(address, timeout, what)
    except (ValueError, ClusterLost) as exc:
        raise ConfigError(
            "options", "scheduler_address", f"{exc} Or leave --scheduler-address out for a local cluster."
        ) from None


def _make_run_dir(output, resume):
    """The run folder (new, or the one to resume): ``(run_id, path)``; raises ConfigError."""
    output = Path(output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            return resume, output / resume
        run_id = _new_run_id(output)
    except OSError as exc:
        raise ConfigError(
            "options",
            "output",
            f"cannot create a run folder in {output}: {exc.strerror or exc}; give a writable folder",
        ) from None
    return run_id, output / run_id


def run_tournament(
    config=None,
    *,
    seed=0,
    backend=None,
    scheduler_address=None,
    n_jobs=-1,
    output="results",
    quick=False,
    progress=None,
    resume=None,
    shard=None,
    collect=False,
    store=None,
    search=None,
    n_trials=None,
    mlflow=None,
    log=print,
):
    """Run a model-selection tournament and write its run folder.

    Parameters
    ----------
    config : str, Path or None
        A config file (see :mod:`distsearch._config`); None runs the built-in
        default.
    seed : int
        Seeds the mock data, the held-out split, the folds, the candidate
        sampling and the default contenders.
    backend : str or None
        The search's dispatch backend ("loky", "dask", "ray", ...); None uses
        the active joblib backend.
    scheduler_address : str or None
        A dask scheduler (or ray cluster) address for ``backend``.
    n_jobs : int
        Parallel fits (-1: all cores).
    output : str or Path
        The folder under which the run folder ``<run-id>/`` is created.
    quick : bool
        Smoke-test size: at most 300 rows, 3 folds, 2 candidates per model,
        ``n_estimators`` / ``epochs`` capped at 20.
    progress : bool or None
        Show the search's progress: a bar in a terminal or a notebook, a
        line per tenth of the fits in a log. True needs the ``progress``
        extra; None (the default) shows it when tqdm is installed.
    resume : str or None
        The id of a run in ``output`` to continue (after a crash, a Ctrl-C),
        the name of its folder there (a path is refused):
        its run folder is reused, and the fits recorded in its
        ``checkpoint/`` folder (every run keeps one) are not run again. Give
        the same config and options; whatever changed is fitted anew.
    shard : (int, int), str or None
        Run only shard ``(i, n)`` (or ``"i/n"``) of the search's fits into
        ``store`` and return (no run folder; see
        :meth:`~distsearch.MultiModelSearchCV.fit_shard`).
    collect : bool
        Finish a sharded search from ``store`` instead of fitting, then
        score, refit and report as usual (nothing is fit that a shard did
        not record: a missing shard raises ``ShardError``).
    store : str or None
        The sharded search's result store: a folder or an fsspec URL.
    search : {"exhaustive", "optuna"} or None
        The search (None: the config's ``search``, else ``"exhaustive"``):
        every candidate of every model (:class:`~distsearch.MultiModelSearchCV`),
        or Optuna's model-based search
        (:class:`~distsearch.OptunaMultiModelSearchCV`), whose study is kept
        in the run folder (``optuna.db``) so that ``resume`` resumes it.
    n_trials : int or None
        The Optuna search's trials (None: the config's ``n_trials``, else as
        many as the exhaustive search's candidates).
    mlflow : bool, str or None
        Log the run to MLflow (the ``mlflow`` extra): True for MLflow's
        default tracking URI, a str for that tracking URI, False not to;
        None follows the config's ``mlflow`` setting. See
        :mod:`distsearch._mlflow` for what is logged.
    log : callable
        Where the console lines go.

    Returns
    -------
    _Run
        The run's results; ``run_dir`` holds its files.

    Raises
    ------
    ConfigError
        Before any fit, when the config or the data is invalid.
    """
    from ._reports import console_text, fit_width, halving_rounds, write_reports

    started = time.perf_counter()
    timings = {}
    if progress is None:  # asked for by nobody: shown when tqdm is there to show it
        progress = available("tqdm")
    _check_options(n_jobs, seed, backend, scheduler_address, progress, output, resume)
    shard = _check_sharding(shard, collect, store, resume)
    given = {"search": search, "n_trials": n_trials}  # options win over the config
    if search is not None:
        _check_search(search, None, lambda key, message: ConfigError("options", key, message))
    config, dataset, models, n_iter, scoring, rank_by, n_splits = _prepare(
        config, seed, quick, search
    )
    search_kind = search if search is not None else (config.search or "exhaustive")
    n_trials = n_trials if n_trials is not None else config.n_trials
    fail = lambda key, message: ConfigError(  # noqa: E731
        "options" if given[key] is not None else config.source, key, message
    )
    _check_search(search_kind, n_trials, fail)
    if search_kind in ("optuna", "halving") and (shard is not None or collect):
        raise ConfigError(
            "options", "shard" if shard is not None else "collect",
            f"shards split the exhaustive search's fits; the {search_kind} search chooses "
            "each round from the scores so far: run it without --shard / --collect",
        )
    checked = _check_models(models, None)
    try:
        n_candidates = sum(
            n if n is not None else len(ParameterGrid(m.space))
            for m, n in zip(checked, _check_n_iter(n_iter, checked))
        )
    except (TypeError, ValueError):  # distributions without n_iter (Optuna search)
        n_candidates = None
    if search_kind == "optuna" and n_trials is None:
        if n_candidates is None:
            raise fail("n_trials", "set n_trials: a model's distributions have no n_iter "
                       "to count the exhaustive search's candidates from")
        n_trials = n_candidates
    try:
        mlflow_target = resolve_target(mlflow, config.mlflow)
        if mlflow_target is not None:
            check_mlflow()
    except (ValueError, ImportError) as exc:
        raise ConfigError("options", "mlflow", str(exc)) from None
    timings["data and config"] = time.perf_counter() - started

    if shard is not None:
        run_id, run_dir = f"shard {shard[0]}/{shard[1]}", None
    else:
        run_id, run_dir = _make_run_dir(output, resume)
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    options = options_record(
        config.source, seed=seed, quick=quick, backend=backend, scheduler_address=scheduler_address,
        n_jobs=n_jobs, output=str(output), progress=progress, search=search, n_trials=n_trials,
        mlflow=None if mlflow_target is None else list(mlflow_target),
    )
    if run_dir is not None:
        differences = record_start(run_dir, config.source, options, resume is not None)
        if differences:
            raise ConfigError(
                "options", "resume",
                f"run {run_id} was started with other settings; start a new run, or resume with its "
                "own config and options. Differences:\n  - " + "\n  - ".join(differences),
            )
    log(f"distsearch tournament {run_id}: {config.source}" + (" (--quick)" if quick else ""))
    for line in dataset.description.splitlines():
        log(textwrap.fill(line, 100, subsequent_indent="    "))
    for note in config.notes:
        log(fit_width(f"seed config: {note}"))
    if not available("matplotlib"):
        log(
            'plots: skipped, matplotlib is not installed (pip install "distsearch[plot]"); '
            "the summary, cv_results.csv and the model are written"
        )

    X_train, X_test, y_train, y_test = held_out_split(
        dataset.X, dataset.y, dataset.task, config.test_size, seed
    )
    cv = _cv(n_splits, config.test_size, dataset.task, seed, config.n_repeats)

    pipelines = [(name, _pipeline(est, dataset), _prefixed(space)) for name, est, space in models]
    common = dict(
        scoring=scoring,
        refit=rank_by,
        cv=cv,
        n_jobs=n_jobs,
        random_state=seed,
        error_score=np.nan,
        backend=backend,
        address=scheduler_address,
        progress=progress,
        checkpoint=None if run_dir is None else run_dir / "checkpoint",
        fit_timeout=config.fit_timeout,
    )
    backend_name = backend or "loky"
    where = f"on {len(X_train)} rows ({backend_name}, n_jobs={n_jobs})"
    if search_kind == "optuna":
        search = OptunaMultiModelSearchCV(
            pipelines,
            n_trials=n_trials,
            storage=f"sqlite:///{(run_dir / 'optuna.db').resolve()}",
            study_name="tournament",
            **common,
        )
        log(
            f"search: optuna, {n_trials} trials over {len(models)} models x {n_splits} folds = "
            f"at most {n_trials * n_splits} fits {where}"
        )
    elif search_kind == "halving":
        resources = _halving_resources(pipelines)
        search = HalvingMultiModelSearchCV(
            pipelines, n_candidates=n_iter, resource=resources, **common
        )
        log(
            f"search: halving over {n_candidates} candidates of {len(models)} models x "
            f"{n_splits} folds {where}; resource: "
            + ", ".join(f"{name} {resources.get(name, 'rows')}" for name, _, _ in pipelines)
        )
    else:
        search = MultiModelSearchCV(pipelines, n_iter=n_iter, **common)
        log(
            f"search: {n_candidates} candidates of {len(models)} models x {n_splits} folds = "
            f"{n_candidates * n_splits} fits {where}"
        )
    tick = time.perf_counter()
    with warnings.catch_warnings():
        # Failed fits are recorded with their errors and reported (below and
        # in the summary) instead of sklearn's warnings.
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "One or more of the test scores are non-finite")
        if shard is not None:
            search.fit_shard(X_train, y_train, shard=shard, store=store)
            log(f"shard {shard[0]}/{shard[1]}: {search.n_shard_fits_} fits run, recorded in {store}")
            return search
        if collect:
            try:
                search.collect(X_train, y_train, store=store)
            except ShardError:
                shutil.rmtree(run_dir)  # nothing was fitted: no run folder is left
                raise
        else:
            search.fit(X_train, y_train)
    timings["search (cross-validation and winner refit)"] = time.perf_counter() - tick
    if search_kind == "halving":
        for line in halving_rounds(search):
            log(line)
    if search_kind == "optuna":
        states = [trial.state.name for trial in search.study_.trials]
        log(
            f"optuna: {len(search.cv_results_['params'])} trials, {states.count('PRUNED')} pruned, "
            f"{search.n_fits_saved_} fits saved by pruning"
        )
    failures = _failures(search)
    for failure in failures:
        log(fit_width(f"candidate of rank {failure['rank']} ({failure['model']}) failed: {failure['error']}"))
    for name, first in _failed_models(search, failures).items():
        log(fit_width(f"every candidate of model {name!r} failed; its first error: {first}"))

    tick = time.perf_counter()
    winner_test = _scores(search.scorer_, search.best_estimator_, X_test, y_test)
    predictions = _predictions(search.best_estimator_, X_test, y_test)
    timings["held-out scoring"] = time.perf_counter() - tick

    ensemble = None
    if config.ensemble is not None:
        tick = time.perf_counter()
        ensemble = _ensemble(search, config.ensemble, rank_by, dataset.task, cv)
        if ensemble is not None:
            ensemble["estimator"].fit(X_train, y_train)
            ensemble["test"] = _scores(search.scorer_, ensemble["estimator"], X_test, y_test)
        timings["ensemble fit and held-out scoring"] = time.perf_counter() - tick

    tick = time.perf_counter()
    run_versions = _run_versions()
    final_path = run_dir / "model.joblib"
    _save_final_model(final_path, search, dataset, scoring, winner_test, seed, run_id, run_versions)
    timings["final refit on all data and save"] = time.perf_counter() - tick

    run = _Run(
        run_id=run_id,
        run_dir=run_dir,
        source=config.source,
        seed=seed,
        backend=backend_name,
        n_jobs=n_jobs,
        quick=quick,
        dataset=dataset,
        n_train=len(X_train),
        n_test=len(X_test),
        cv=cv,
        scoring=scoring,
        rank_by=rank_by,
        search=search,
        failures=failures,
        winner_test=winner_test,
        predictions=predictions,
        ensemble=ensemble,
        final_path=final_path,
        versions=run_versions,
        timings=timings,
        notes=config.notes,
        options=options,
    )
    tick = time.perf_counter()
    timings = write_reports(run, total_seconds=lambda: time.perf_counter() - started, reports_started=tick)
    record_finish(run, timings, started_at)
    if mlflow_target is not None:
        parent = log_tournament(run, *mlflow_target)
        log(fit_width(f"MLflow: run {parent} in experiment {mlflow_target[1]!r}"))
    log(console_text(run, run_dir / "report.html"))
    return run


def _check_sharding(shard, collect, store, resume):
    """The checked ``(i, n)`` of a shard (or None); raises ConfigError."""
    from ._shard import _check_shard, _check_store

    if shard is None and not collect:
        if store is not None:
            raise ConfigError("options", "store", "a store is for --shard or --collect")
        return None
    option = "shard" if shard is not None else "collect"
    if shard is not None and collect:
        raise ConfigError("options", "collect", "give --shard (run one shard) or --collect, not both")
    if resume is not None:
        raise ConfigError("options", option, f"--{option} does not take --resume (the store is its checkpoint)")
    try:
        if store is None:
            raise ValueError(f"--{option} needs --store, the folder or URL the shards share")
        _check_store(store)
        return None if shard is None else _check_shard(shard)
    except (ValueError, ImportError) as exc:
        raise ConfigError("options", option if store is not None else "store", str(exc)) from None


def _cv(n_splits, test_size, task, seed, n_repeats=1):
    """Shuffled, seeded folds; ``n_splits=1``: one split, ``test_size`` for validation (the seed's).

    ``n_repeats > 1``: repeated k-fold, ``n_splits * n_repeats`` folds.
    """
    classification = task == "classification"
    if n_repeats > 1:
        splitter = RepeatedStratifiedKFold if classification else RepeatedKFold
        return splitter(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    if n_splits == 1:
        splitter = StratifiedShuffleSplit if classification else ShuffleSplit
        return splitter(1, test_size=test_size, random_state=seed)
    return (StratifiedKFold if classification else KFold)(n_splits, shuffle=True, random_state=seed)


def _new_run_id(output):
    """A run id from the UTC time, unique within ``output``; its folder is created.

    The folder is claimed with an exclusive ``mkdir`` (not a check, then a
    create), so runs started at the same second get distinct ids.
    """
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        run_id = stamp if n == 1 else f"{stamp}-{n}"
        try:
            (output / run_id).mkdir()
        except FileExistsError:
            n += 1
            continue
        return run_id


def _save_final_model(path, search, dataset, scoring, winner_test, seed, run_id, versions):
    """Refit the winner on all the data and save it with its metadata (joblib)."""
    final = clone(search.best_estimator_).fit(dataset.X, dataset.y)
    multilabel = dataset.task == "multilabel"
    saved = {
        "estimator": final,
        "model_name": search.best_model_name_,
        "params": search.best_params_,
        "feature_names": list(dataset.X.columns),
        "target": list(dataset.y.columns) if multilabel else dataset.y.name,
        "task": dataset.task,
        "classes": list(final.classes_) if dataset.task == "classification" else None,
        "cv_score": {
            m: float(search.cv_results_[f"mean_test_{m}"][search.best_index_]) for m in scoring
        },
        "test_score": winner_test,
        "n_rows": len(dataset.X),
        "seed": seed,
        "run_id": run_id,
        "versions": versions,
        "schema": input_schema(dataset.X, dataset.categorical),
        "packages": required_packages(final),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    joblib.dump(saved, path)
    write_model_json(path.with_name(MODEL_JSON), saved)


def _scores(scorers, estimator, X, y):
    """Every metric of ``estimator`` on (X, y); a metric that fails gives NaN."""
    scores = {}
    for name, scorer in scorers.items():
        try:
            scores[name] = float(scorer(estimator, X, y))
        except Exception:  # noqa: BLE001 - reported as NaN, the run goes on
            scores[name] = float("nan")
    return scores


def _class_scores(estimator, X):
    """Per-class scores for ROC curves: (n_samples, n_classes) or None."""
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(X)
        if isinstance(proba, list):  # multilabel: one (n, 2) array per label
            return np.column_stack([p[:, -1] for p in proba])
        return np.asarray(proba)
    if hasattr(estimator, "decision_function"):
        scores = np.asarray(estimator.decision_function(X))
        return scores if scores.ndim == 2 else np.column_stack([-scores, scores])
    return None


def _predictions(estimator, X_test, y_test):
    """The winner's held-out predictions, for the plots."""
    predictions = {"y_true": np.asarray(y_test), "y_pred": np.asarray(estimator.predict(X_test))}
    if hasattr(estimator, "classes_") or np.asarray(y_test).ndim == 2:
        predictions["scores"] = _class_scores(estimator, X_test)
        predictions["classes"] = (
            list(y_test.columns) if np.asarray(y_test).ndim == 2 else list(estimator.classes_)
        )
    return predictions


def _failures(search):
    """The candidates with a NaN score on some fold, each with its error.

    The error is the search's record of the first failed fit of the candidate
    (``fit_errors_``); a fold whose fit succeeded but whose score is NaN
    says so.
    """
    results = search.cv_results_
    n_splits = search.n_splits_
    split_scores = np.column_stack(
        [results[f"split{k}_test_{search.refit}"] for k in range(n_splits)]
    )
    failures = []
    for index in np.flatnonzero(np.isnan(split_scores).any(axis=1)):
        folds = np.flatnonzero(np.isnan(split_scores[index]))
        errors = [search.fit_errors_[index, k] for k in folds if (index, k) in search.fit_errors_]
        if errors:
            error = _exception_text(errors[0])
        else:
            error = f"{search.refit} is NaN although the fit succeeded (the scorer failed or returned NaN)"
        failures.append(
            {
                "rank": int(results[f"rank_test_{search.refit}"][index]),
                "model": results["model"][index],
                "params": results["params"][index],
                "failed_folds": [int(k) for k in folds],
                "error": error,
            }
        )
    return sorted(failures, key=lambda f: f["rank"])


def _failed_models(search, failures):
    """``{model: its first error}`` for the models whose every fit failed."""
    names, counts = np.unique(search.cv_results_["model"], return_counts=True)
    n_candidates = dict(zip(names, counts))
    whole = {}
    for failure in failures:
        if len(failure["failed_folds"]) == search.n_splits_:
            whole.setdefault(str(failure["model"]), []).append(failure["error"])
    return {name: errors[0] for name, errors in whole.items() if len(errors) == n_candidates[name]}


def _ensemble(search, spec, rank_by, task, cv):
    """The unfitted ensemble of the top candidates, or None with fewer than 2."""
    results = search.cv_results_
    order = np.argsort(results[f"rank_test_{rank_by}"], kind="stable")
    # A candidate evaluated twice (a model-based search may propose it
    # again) is one member; tied ranks get a suffix.
    top, seen = [], set()
    for i in order:
        key = (results["model"][i], repr(results["params"][i]))
        if np.isfinite(results[f"mean_test_{rank_by}"][i]) and key not in seen:
            seen.add(key)
            top.append(i)
    top = top[: spec.get("top_k", 3)]
    if len(top) < 2:
        return None
    estimators = {name: est for name, est, _ in search.estimator}
    members, names = [], set()
    for i in top:
        name = f"{results['model'][i]}_{results[f'rank_test_{rank_by}'][i]}"
        while name in names:
            name += "b"
        names.add(name)
        members.append(
            (name, clone(estimators[results["model"][i]]).set_params(**results["params"][i]))
        )
    method = spec.get("method", "voting")
    if task == "regression":
        estimator = VotingRegressor(members) if method == "voting" else StackingRegressor(members, cv=cv)
    elif method == "voting":
        soft = all(hasattr(est, "predict_proba") for _, est in members)
        estimator = VotingClassifier(members, voting="soft" if soft else "hard")
    else:
        estimator = StackingClassifier(members, cv=cv)
    description = (
        f"{method} of the top {len(members)}: "
        + ", ".join(name for name, _ in members)
        + (f" (voting={estimator.voting})" if isinstance(estimator, VotingClassifier) else "")
    )
    return {"estimator": estimator, "description": description}
