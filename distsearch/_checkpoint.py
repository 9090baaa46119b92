"""Checkpoints: every finished (candidate, fold) result of a search, on disk.

A search given ``checkpoint=<folder>`` writes each task's result to that
folder as soon as it arrives, one small file per task, atomically (a
temporary file renamed over the final name with :func:`os.replace`), so a
search killed at any moment loses at most the fits still running. The file's
name is a content hash of everything that determines the result (see
:func:`_task_keys`), so a rerun with the same folder reuses exactly the
results whose inputs did not change and fits only the rest; a changed
parameter, data set, fold or library version changes the key and nothing
stale is ever reused.

Each record holds a magic line, the SHA-256 of its payload and the pickled
payload. A truncated or otherwise corrupt record fails that check (or
unpickling), is reported with a warning that names the file, is deleted and
its fit runs again. Failed fits (``fit_error``) are not recorded, so a rerun
retries them.
"""

import hashlib
import os
import pickle
import sys
import types
import uuid
import warnings

import joblib
import numpy as np

_MAGIC = b"distsearch-checkpoint-1\n"
_SUFFIX = ".pkl"


def _token(obj):
    """A picklable description of ``obj`` equal for equal configurations.

    Estimators are described by their class and parameters (recursively),
    functions by their code, so lambdas and closures can be keyed and an
    edited function changes the key. Other objects are left to
    :func:`joblib.hash`, or to their ``repr`` when they cannot be pickled.
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, np.generic)):
        return obj
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        params = obj.get_params(deep=False)
        return (
            "estimator",
            type(obj).__module__,
            type(obj).__qualname__,
            {name: _token(value) for name, value in params.items()},
        )
    if isinstance(obj, (list, tuple)):
        return type(obj).__name__, [_token(value) for value in obj]
    if isinstance(obj, dict):
        return "dict", {key: _token(value) for key, value in obj.items()}
    if isinstance(obj, types.FunctionType):
        cells = [cell.cell_contents for cell in obj.__closure__ or ()]
        return (
            "function",
            obj.__module__,
            obj.__qualname__,
            _code_token(obj.__code__),
            _token(obj.__defaults__),
            _token(cells),
        )
    try:
        return "hash", joblib.hash(obj)
    except Exception:  # unpicklable: its repr is the best description left
        return "repr", type(obj).__qualname__, repr(obj)


def _code_token(code):
    consts = [
        _code_token(c) if isinstance(c, types.CodeType) else c for c in code.co_consts
    ]
    return code.co_code, repr(consts), code.co_names


def _hash(obj):
    """Content hash of ``obj`` (a hex string), via :func:`_token`."""
    return joblib.hash(_token(obj))


def _versions(estimators):
    """Versions of the libraries that can change a fit's result.

    scikit-learn, numpy, scipy, joblib and distsearch, plus the top-level
    package of every estimator class inside ``estimators`` (e.g. lightgbm,
    scikeras, keras), when that package reports a ``__version__``.
    """
    packages = {"sklearn", "numpy", "scipy", "joblib", "distsearch"}
    for estimator in estimators:
        nested = [estimator, *estimator.get_params(deep=True).values()]
        packages.update(
            type(value).__module__.split(".")[0]
            for value in nested
            if hasattr(value, "get_params") and not isinstance(value, type)
        )
    return {
        name: getattr(sys.modules.get(name), "__version__", None)
        for name in sorted(packages)
    }


def _task_keys(tasks, shared, scoring):
    """The checkpoint key of every task: a hash of what determines its result.

    That is: the model's estimator (class and parameters, recursively) and
    the candidate's parameters, the fold's train and test indices, a
    fingerprint of X, y, the model's fit parameters and the score
    parameters, the ``scoring`` the user gave, ``error_score``,
    ``return_train_score``, and the versions of the libraries involved. The
    model's name does not enter: identical candidates share their records.
    """
    common = joblib.hash(
        (
            joblib.hash(shared.X),
            joblib.hash(shared.y),
            _hash(shared.score_params),
            _hash(scoring),
            repr(shared.error_score),
            bool(shared.return_train_score),
            _versions(shared.estimators),
        )
    )
    folds = [joblib.hash((train, test)) for train, test in shared.splits]
    fit_params = [_hash(params) for params in shared.fit_params]
    models = [_hash(estimator) for estimator in shared.estimators]
    candidates = {}
    keys = []
    for task in tasks:
        if task.cand_idx not in candidates:
            candidates[task.cand_idx] = joblib.hash(
                (models[task.model_idx], _token(task.params))
            )
        parts = (
            common,
            candidates[task.cand_idx],
            folds[task.split_idx],
            fit_params[task.model_idx],
        )
        keys.append(hashlib.sha256(" ".join(parts).encode()).hexdigest())
    return keys


class _Checkpoint:
    """The records of one search's tasks in ``folder`` (None: no checkpoint).

    Parameters
    ----------
    folder : str, path-like or None
        The checkpoint folder; created if missing.
    tasks : _Tasks
    shared : _Shared
    scoring : the search's ``scoring`` parameter, as the user gave it.
    """

    def __init__(self, folder, tasks, shared, scoring):
        self.folder = None if folder is None else os.fspath(folder)
        self._keys = []
        if self.folder is not None:
            os.makedirs(self.folder, exist_ok=True)
            self._keys = _task_keys(tasks, shared, scoring)

    def _path(self, index):
        return os.path.join(self.folder, self._keys[index] + _SUFFIX)

    def load(self, out):
        """Fill ``out`` with the recorded results; return the indices left to run.

        Parameters
        ----------
        out : list
            One slot per task; recorded results are put in their slots.

        Returns
        -------
        todo : list of int
            The positions of the tasks without a valid record, in order.
        """
        if self.folder is None:
            return list(range(len(out)))
        todo = []
        for index in range(len(out)):
            out[index] = self._read(index)
            if out[index] is None:
                todo.append(index)
        return todo

    def _read(self, index):
        path = self._path(index)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        header = len(_MAGIC) + 64
        digest = hashlib.sha256(data[header:]).hexdigest().encode()
        problem = None
        if data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : header] != digest:
            problem = "bad header or checksum (truncated or overwritten)"
        else:
            try:
                record = pickle.loads(data[header:])
                if record["key"] != self._keys[index]:
                    problem = "its key does not match its file name"
            except Exception as exc:
                problem = f"unpickling failed: {exc!r}"
        if problem is None:
            return record["result"]
        warnings.warn(
            f"Checkpoint record {path} is corrupt ({problem}); it is deleted "
            "and its fit is run again.",
            UserWarning,
            stacklevel=3,
        )
        try:
            os.remove(path)
        except OSError:
            pass
        return None

    def save(self, index, result):
        """Record task ``index``'s result atomically (failed fits are skipped)."""
        if self.folder is None or result.get("fit_error") is not None:
            return
        payload = pickle.dumps(
            {"key": self._keys[index], "result": result},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        path = self._path(index)
        temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as file:
            file.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
        os.replace(temporary, path)
