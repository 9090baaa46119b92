"""Shared pipeline prefixes: a common leading part fitted once per fold.

When several tasks (candidates of one model or of different models) run a
:class:`~sklearn.pipeline.Pipeline` whose first steps are identical (same
classes, same parameters after ``set_params``) on the same fold, those steps
are fitted once and their output is reused: the rest of each pipeline is fitted
and scored on the stored output, exactly as ``Pipeline.fit`` / ``predict``
would feed it (``fit_transform`` on the training rows, ``transform`` on the
test rows, and, for training scores, ``transform`` on the training rows).
Results are identical to fitting every pipeline whole; ``fit_time`` and
``score_time`` include the shared steps' recorded time, so they stay
comparable with GridSearchCV's.

Planning (:func:`_shared_prefixes`, in the process that runs the search)
hashes the leading steps of every task's configured pipeline, keeps the
prefix lengths that at least two tasks share on the same fold, and orders the
tasks so that those sharing a (prefix, fold) run together: per wave of as many
groups as there are workers, first one task of each group (which fits the
prefix), then the others. The search runs these tasks before all others
(:class:`distsearch._schedule._TaskQueue`).

Memory is bounded: each worker keeps stored outputs in a least-recently-used
cache of at most ``_MEMORY_BUDGET`` bytes; an output bigger than that is not
kept. Workers on the machine that runs the search also share outputs through
a temporary folder holding at most ``_DISK_BUDGET`` bytes and deleted when the
search ends (or, when the search's process was killed, by the next search:
the folder's name carries its pid), so a prefix fitted by one worker is loaded, not refitted, by
another; workers elsewhere (remote dask or ray nodes) use their memory cache
only. Every key of a search's round starts with a namespace of its own;
when the round ends its outputs are dropped from the memory of the process
running the search and, through the engine
(:meth:`distsearch.engines.Engine.on_every_worker`), of every worker the
engine can reach (dask workers, loky workers, Spark's Python workers, the
workers of a ray on this machine; threads share the search's memory). The
workers of a ray cluster joined at an ``address`` end with the search's ray
job; only the workers on other machines of a ray cluster that the user
joined (``ray.init``) keep their cache (bounded as above) until it shuts
down. Sharing is skipped, and the pipeline fitted whole, for: anything but a
plain ``Pipeline``; pipelines with ``memory`` or ``transform_input``; pairwise
steps; metadata routing; fit parameters addressed to a prefix step (the steps
before the first such step are still shared); a ``scoring`` callable that is
not a scikit-learn scorer (it might look at the whole pipeline); and outputs
that are not numpy arrays, sparse matrices, pandas objects or lists.
"""

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict
from typing import NamedTuple

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags

from ._checkpoint import _token
from ._fit import _fit_and_score
from ._sklearn_compat import (
    _BaseScorer,
    _check_method_params,
    _MultimetricScorer,
    _num_samples,
    _PassthroughScorer,
    _routing_enabled,
    _safe_indexing,
    _score,
)

# Bytes of transformed folds one worker keeps in memory.
_MEMORY_BUDGET = 512 * 2**20
# Bytes of transformed folds the workers of one machine share on disk.
_DISK_BUDGET = 4 * 2**30

# The spill folders: <temp dir>/distsearch-prefix-<pid of the search>-<random>.
_FOLDER = "distsearch-prefix-"

# Prefix of every cache key of one search's round: "distsearch-<uuid hex>".
_NAMESPACE = "ds"

# The worker's cache: key -> (_FoldData, bytes); most recently used last.
# The lock serves the threading backend.
_MEMORY = OrderedDict()
_LOCK = threading.Lock()


class _PrefixPlan(NamedTuple):
    """What a task shares: its levels worth storing and where to share them.

    ``levels`` are ``(n_steps, key)`` pairs, shortest first; the last one is
    the prefix the task reuses. ``folder`` is the search's spill folder.
    """

    levels: tuple
    folder: str


class _FoldData(NamedTuple):
    """A fold's data after a prefix.

    ``X`` stacks the transformed training rows (``fit_transform``) on top of
    the transformed test rows (``transform``); ``X_train`` is ``transform``
    of the training rows (only kept for training scores). The times are
    those of the prefix's fit and of transforming the test rows.
    """

    X: object
    n_train: int
    X_train: object
    fit_time: float
    test_time: float


def _scorer_sees_prefix(scorer):
    """Whether the scorer might inspect the pipeline (a plain callable)."""
    if isinstance(scorer, _MultimetricScorer):
        return any(_scorer_sees_prefix(s) for s in scorer._scorers.values())
    return not isinstance(scorer, (_BaseScorer, _PassthroughScorer))


def _step_params(name, params):
    """The candidate's parameters of step ``name``, without ``name__``.

    A value that replaces the whole step is under the key ``""``.
    """
    return {
        key[len(name) + 2 :] if key != name else "": value
        for key, value in params.items()
        if key == name or key.startswith(name + "__")
    }


def _n_shareable(pipeline, params, fit_params):
    """How many leading steps of a candidate may be shared (0: none).

    ``pipeline`` is the model's estimator, ``params`` the candidate's
    parameters, ``fit_params`` the model's fit parameters.
    """
    if type(pipeline) is not Pipeline:
        return 0
    names = [name for name, _ in pipeline.steps]
    steps = [step for _, step in pipeline.steps]
    steps += [value for key, value in params.items() if key in names]
    if (
        len(names) < 2
        or pipeline.memory is not None
        or getattr(pipeline, "transform_input", None) is not None
        # memory, steps, ...: not a step's parameter
        or any(key.split("__", 1)[0] not in names for key in params)
        or any(
            get_tags(step).input_tags.pairwise
            for step in steps
            if step is not None and step != "passthrough"
        )
    ):
        return 0
    n_steps = len(names) - 1
    for key in fit_params:
        name = key.split("__", 1)[0]
        n_steps = min(n_steps, names.index(name) if name in names else 0)
    return n_steps


@contextlib.contextmanager
def _shared_prefixes(tasks, todo, shared, n_slots, release=None):
    """Plan the sharing of ``tasks[todo]``; yield the plans in their run order.

    Yields a dict ``{task index: _PrefixPlan}`` of the tasks that share a
    prefix with another, ordered so that tasks sharing a (prefix, fold) run
    together (in waves of ``n_slots`` groups, the engine's slot count, see
    the module docstring; groups in the order of their first task in
    ``todo``). The other tasks are left to the caller's order. On exit the
    spill folder and this process's cached outputs are removed, and
    ``release(_forget, namespace)`` (the engine's
    :meth:`~distsearch.engines.Engine.on_every_worker`) removes the workers'.
    """
    plans = {}
    namespace = f"{_NAMESPACE}{uuid.uuid4().hex}"
    if (
        any(type(estimator) is Pipeline for estimator in shared.estimators)
        and not _routing_enabled()
        and not _scorer_sees_prefix(shared.scorer)
    ):
        plans = _plan(tasks, todo, shared, namespace)
    groups = OrderedDict()
    for index in todo:
        if index in plans:
            groups.setdefault(plans[index][-1][1], []).append(index)
    groups = list(groups.values())
    wave = max(1, n_slots)
    order = []
    for start in range(0, len(groups), wave):
        chunk = groups[start : start + wave]
        order += [group[0] for group in chunk]
        order += [index for group in chunk for index in group[1:]]
    _remove_dead_folders()
    folder = tempfile.mkdtemp(prefix=f"{_FOLDER}{os.getpid()}-") if plans else None
    try:
        yield {index: _PrefixPlan(plans[index], folder) for index in order}
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            _forget(namespace)
            if release is not None:
                release(_forget, namespace)


def _forget(namespace):
    """Drop the cached outputs of one search's round (in any process)."""
    with _LOCK:
        for key in [key for key in _MEMORY if key.startswith(namespace)]:
            del _MEMORY[key]


def _cached_bytes():
    """Bytes of outputs this process keeps (for tests and benchmarks)."""
    with _LOCK:
        return sum(size for _, size in _MEMORY.values())


def _remove_dead_folders():
    """Remove the spill folders of searches whose process is gone.

    A search killed with ``kill -9`` cannot delete its folder; the next
    search of the same user on this machine does, recognising it by the
    pid in its name. Not on Windows (no signal 0 to test a process with).
    """
    if os.name == "nt":
        return
    entries = []
    with contextlib.suppress(OSError):
        entries = list(os.scandir(tempfile.gettempdir()))
    for entry in entries:
        pid = entry.name[len(_FOLDER) :].split("-", 1)[0]
        with contextlib.suppress(OSError):  # e.g. removed meanwhile
            if (
                entry.name.startswith(_FOLDER)
                and pid.isdigit()
                and entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_uid == os.getuid()
                and not _pid_alive(int(pid))
            ):
                shutil.rmtree(entry.path, ignore_errors=True)


def _plan(tasks, todo, shared, namespace):
    """``{task index: levels}`` for the tasks that share a prefix with another.

    A level (prefix length) is kept when at least two tasks share it on the
    same fold and, for the deeper levels, when it is shared more widely than
    the next level of the same task (otherwise storing it saves nothing).
    Every key starts with ``namespace`` (unique to the call), so that a
    worker's outputs of one search are found and freed together.
    """
    steps = {}  # model index -> [token of each step of its pipeline]
    prefixes = {}  # cand_idx -> [hash of steps[:1], hash of steps[:2], ...]
    task_keys = {}
    for index in todo:
        task = tasks[index]
        if task.cand_idx not in prefixes:
            pipeline = shared.estimators[task.model_idx]
            n_steps = _n_shareable(
                pipeline, task.params, shared.fit_params[task.model_idx]
            )
            configured = []
            if n_steps:
                if task.model_idx not in steps:
                    steps[task.model_idx] = [_token(s) for _, s in pipeline.steps]
                configured = [
                    (token, _token(_step_params(name, task.params)))
                    for token, (name, _) in zip(
                        steps[task.model_idx][:n_steps], pipeline.steps
                    )
                ]
            prefixes[task.cand_idx] = [
                namespace + joblib.hash(configured[:level])
                for level in range(1, n_steps + 1)
            ]
        task_keys[index] = [
            f"{prefix}-{task.split_idx}" for prefix in prefixes[task.cand_idx]
        ]
    counts = Counter(key for keys in task_keys.values() for key in keys)
    plans = {}
    for index, keys in task_keys.items():
        levels = tuple(
            (level + 1, key)
            for level, key in enumerate(keys)
            if counts[key] >= 2
            and (level + 1 == len(keys) or counts[key] > counts[keys[level + 1]])
        )
        if levels:
            plans[index] = levels
    return plans


# ----------------------------------------------------------------------
# On the worker
# ----------------------------------------------------------------------
def _nbytes(data):
    total = 0
    for array in (data.X, data.X_train):
        if isinstance(array, np.ndarray):
            total += array.nbytes
        elif sp.issparse(array):
            total += array.data.nbytes + array.indices.nbytes + array.indptr.nbytes
        elif array is not None:
            total += sys.getsizeof(array)
    return total


def _lookup(key, folder):
    """The stored fold data of ``key``: from memory, else from the folder."""
    with _LOCK:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key][0]
    path = os.path.join(folder, key + ".joblib")
    if not os.path.exists(path):
        return None
    data = joblib.load(path)
    _remember(key, data)
    return data


def _remember(key, data):
    size = _nbytes(data)
    if size > _MEMORY_BUDGET:
        return
    with _LOCK:
        _MEMORY[key] = (data, size)
        while sum(size for _, size in _MEMORY.values()) > _MEMORY_BUDGET:
            _MEMORY.popitem(last=False)


def _store(key, data, folder):
    """Keep ``data`` in memory and, if the folder is here and has room, on disk."""
    _remember(key, data)
    if not os.path.isdir(folder):  # a worker on another machine
        return
    used = sum(entry.stat().st_size for entry in os.scandir(folder))
    if used + _nbytes(data) > _DISK_BUDGET:
        return
    path = os.path.join(folder, key + ".joblib")
    temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    joblib.dump(data, temporary)
    os.replace(temporary, path)


def _stack_rows(top, bottom):
    """``top`` above ``bottom`` (same type and dtypes), or None if unsupported."""
    if isinstance(top, np.ndarray) and isinstance(bottom, np.ndarray):
        if top.dtype == bottom.dtype and top.shape[1:] == bottom.shape[1:]:
            return np.concatenate([top, bottom])
    elif sp.issparse(top) and sp.issparse(bottom):
        if top.format == bottom.format and top.dtype == bottom.dtype:
            return sp.vstack([top, bottom], format=top.format)
    elif isinstance(top, pd.DataFrame) and isinstance(bottom, pd.DataFrame):
        if top.dtypes.equals(bottom.dtypes):
            return pd.concat([top, bottom])
    elif isinstance(top, pd.Series) and isinstance(bottom, pd.Series):
        if top.dtype == bottom.dtype:
            return pd.concat([top, bottom])
    elif isinstance(top, list) and isinstance(bottom, list):  # e.g. texts
        return top + bottom
    return None


def _rows(X, start, stop):
    """A copy of rows ``start:stop`` (user code may change its input)."""
    return _safe_indexing(X, np.arange(start, stop))


def _extend(data, step, y_train, with_train):
    """The fold data after one more (unfitted) step; None if it can't stack."""
    n_train = data.n_train
    X_fit = _rows(data.X, 0, n_train)
    X_test = _rows(data.X, n_train, _num_samples(data.X))
    start = time.time()
    if hasattr(step, "fit_transform"):
        X_fit = step.fit_transform(X_fit, y_train)
    else:
        X_fit = step.fit(X_fit, y_train).transform(X_fit)
    fit_time = time.time() - start
    X_test = step.transform(X_test)
    test_time = time.time() - start - fit_time
    X_train = step.transform(_rows(data.X_train, 0, n_train)) if with_train else None
    stacked = _stack_rows(X_fit, X_test)
    if stacked is None:
        return None
    return _FoldData(
        stacked,
        n_train,
        X_train,
        data.fit_time + fit_time,
        data.test_time + test_time,
    )


def _prefix_output(shared, task, train, test, y_train):
    """The fold data after the plan's deepest level: stored, or fitted now.

    Starts from the deepest level already stored, then fits the steps up to
    each further level under that level's claim (see :func:`_claim`).
    """
    plan = task.prefix
    data, done = None, 0
    for level, key in reversed(plan.levels):
        data = _lookup(key, plan.folder)
        if data is not None:
            done = level
            break
    estimator = None
    for level, key in plan.levels:
        if level <= done:
            continue
        with _claim(key, plan.folder) as stored:
            if stored is not None:
                data, done = stored, level
                continue
            if data is None:
                data = _raw_fold(shared, train, test)
                if data is None:
                    return None
            if estimator is None:
                estimator = clone(shared.estimators[task.model_idx]).set_params(
                    **clone(task.params, safe=False)
                )
            for step_level in range(done + 1, level + 1):
                step = estimator.steps[step_level - 1][1]
                if step is not None and step != "passthrough":
                    data = _extend(data, step, y_train, shared.return_train_score)
                    if data is None:
                        return None
            _store(key, data, plan.folder)
            done = level
    return data


def _raw_fold(shared, train, test):
    """The fold's rows of X as :class:`_FoldData` (None if they can't stack)."""
    X = _stack_rows(_safe_indexing(shared.X, train), _safe_indexing(shared.X, test))
    if X is None:
        return None
    X_train = _safe_indexing(shared.X, train) if shared.return_train_score else None
    return _FoldData(X, len(train), X_train, 0.0, 0.0)


@contextlib.contextmanager
def _claim(key, folder):
    """Make the workers of this machine fit ``key`` one at a time.

    The first to ask creates ``<key>.lock`` in the folder and fits (yields
    None, or the data if it was stored meanwhile); the others wait until its
    output is stored, and get it (yields the data), so that a prefix is not
    fitted twice. When the holder
    ends without storing it (disk budget, error) or its process died, the
    next one claims it. Workers on other machines fit without waiting.
    """
    if os.name == "nt":  # no signal 0 to test a holder's process with
        yield None
        return
    lock = os.path.join(folder, key + ".lock")
    while True:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileNotFoundError:  # no such folder here
            yield None
            return
        except FileExistsError:
            data = _lookup(key, folder)
            if data is not None:
                yield data
                return
            if not _holder_alive(lock):
                with contextlib.suppress(OSError):
                    os.remove(lock)
            time.sleep(0.01)
            continue
        os.write(handle, str(os.getpid()).encode())
        os.close(handle)
        try:
            # Stored between this worker's first look and its claim?
            yield _lookup(key, folder)
        finally:
            with contextlib.suppress(OSError):
                os.remove(lock)
        return


def _holder_alive(lock):
    """Whether the process that wrote ``lock`` still runs (True if unknown)."""
    try:
        with open(lock) as file:
            pid = int(file.read())
    except (OSError, ValueError):  # gone already, or its pid not written yet
        return True
    return _pid_alive(pid)


def _pid_alive(pid):
    """Whether process ``pid`` exists (POSIX only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal, but it exists
        pass
    return True


def _remaining(shared, task, n_steps):
    """The task's steps after the first ``n_steps``, configured, and fit params.

    A single remaining step is returned bare (with its fit parameters'
    ``<step>__`` stripped): fitting and scoring it is what the one-step
    pipeline would do, without the pipeline's overhead.
    """
    base = shared.estimators[task.model_idx]
    names = [name for name, _ in base.steps[n_steps:]]
    params = {k: v for k, v in task.params.items() if k.split("__", 1)[0] in names}
    rest = clone(Pipeline(base.steps[n_steps:])).set_params(
        **clone(params, safe=False)
    )
    fit_params = shared.fit_params[task.model_idx]
    final = rest.steps[-1][1]
    if len(names) == 1 and hasattr(final, "fit"):
        return final, {k.split("__", 1)[1]: v for k, v in fit_params.items()}
    return rest, fit_params


def _fit_and_score_shared(shared, task):
    """``_fit_and_score`` of a task whose pipeline prefix is shared.

    Returns the same dict as ``_evaluate_task``'s ``_fit_and_score`` call
    (with the fitted remaining steps as ``estimator``), or None when the
    prefix cannot be reused (its fit failed, or its output cannot be
    stacked); the caller then fits the pipeline whole, which also reports
    any error exactly as without sharing.
    """
    train, test = shared.splits[task.split_idx]
    y_train = None if shared.y is None else _safe_indexing(shared.y, train)
    try:
        data = _prefix_output(shared, task, train, test, y_train)
    except Exception:
        return None
    if data is None:
        return None
    rest, fit_params = _remaining(shared, task, task.prefix.levels[-1][0])
    # The search's X, y and parameters, rows in the stacked order.
    order = np.concatenate([train, test])
    n_train = len(train)
    result = _fit_and_score(
        rest,
        data.X,
        None if shared.y is None else _safe_indexing(shared.y, order),
        scorer=shared.scorer,
        train=np.arange(n_train),
        test=np.arange(n_train, len(order)),
        verbose=shared.verbose,
        parameters=None,
        fit_params=_check_method_params(shared.X, params=fit_params, indices=order),
        score_params=_check_method_params(
            shared.X, params=shared.score_params, indices=order
        ),
        return_train_score=False,
        error_score=shared.error_score,
        split_progress=(task.split_idx, len(shared.splits)),
        candidate_progress=(task.cand_idx, shared.n_candidates),
    )
    result["fit_time"] += data.fit_time
    result["score_time"] += data.test_time
    if shared.return_train_score:
        scores = result["test_scores"]
        if result["fit_error"] is not None:  # the error score, as for the test
            scores = scores.copy() if isinstance(scores, dict) else scores
        else:
            scores = _score(
                result["estimator"],
                _rows(data.X_train, 0, n_train),
                y_train,
                shared.scorer,
                _check_method_params(shared.X, shared.score_params, indices=train),
                shared.error_score,
            )
        result["train_scores"] = scores
    return result
