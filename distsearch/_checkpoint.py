"""Checkpoints: every finished (candidate, fold) result of a search, on disk.

A search given ``checkpoint=<folder>`` writes each task's result to that
folder as soon as it arrives, one small file per task, atomically (a
temporary file renamed over the final name with :func:`os.replace`), so a
search killed at any moment loses at most the fits still running. The file's
name is a content hash of everything that determines the result (see
:func:`_task_keys`), so a rerun with the same folder reuses exactly the
results whose inputs did not change and fits only the rest; a changed
parameter, data set, fold, library version or the code of one's own
estimator class (see :func:`_class_code`) changes the key and nothing stale
is ever reused.

Invariants:

- **Records are data, never code.** A record is a magic line, an
  HMAC-SHA256 of its payload and the payload: JSON of the task's key and
  result (scores, as a number or a dict of numbers, times, the number of
  test rows, the best iteration). Reading one parses JSON; nothing in a
  checkpoint folder is ever unpickled or imported. Floats round-trip
  exactly (``repr``), NaN included, so a resumed ``cv_results_`` is
  identical to an uninterrupted one.
- **Edited records are detected.** The HMAC key lives outside the folder
  (:func:`_key_path`: ``$DISTSEARCH_CHECKPOINT_KEY_FILE``, else
  ``$XDG_CONFIG_HOME/distsearch/checkpoint.key``, created 0600 with 32
  random bytes), so whoever can write the folder but not read the key
  cannot forge a record. A record that fails its check (truncated, edited,
  written under another key, its key not its file name) is reported with a
  warning naming the file, deleted, and its fit runs again.
- **Foreign files are reported, never read**: a file in the folder that is
  not a record of this format (a planted pickle, a record of an older
  distsearch) is named in a warning and left alone.
- The folder is checked writable before any fit; a record that cannot be
  written (full disk) stops the search with an error naming the folder,
  and leaves no temporary file. Failed fits (``fit_error``) are not
  recorded, so a rerun retries them.
"""

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import site
import sys
import sysconfig
import time
import types
import uuid
import warnings

import joblib
import numpy as np

from ._versions import versions

_MAGIC = b"distsearch-checkpoint-2\n"
_SUFFIX = ".json"
_RECORD_NAME = re.compile(r"[0-9a-f]{64}\.json\Z")
_KEY_ENV = "DISTSEARCH_CHECKPOINT_KEY_FILE"


def _token(obj):
    """A picklable description of ``obj`` equal for equal configurations.

    Estimators are described by their class, the code of the class when it
    is not part of an installed package (:func:`_class_code`) and their
    parameters (recursively), functions by their code, so lambdas and
    closures can be keyed and an edited function changes the key. Other
    objects are left to :func:`joblib.hash`, or to their ``repr`` when they
    cannot be pickled.
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, np.generic)):
        return obj
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        params = obj.get_params(deep=False)
        return (
            "estimator",
            type(obj).__module__,
            type(obj).__qualname__,
            _class_code(type(obj)),
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


def _installed_roots():
    """The folders of installed packages and of the standard library."""
    paths = sysconfig.get_paths()
    roots = [paths.get(name) for name in ("purelib", "platlib", "stdlib", "platstdlib")]
    roots += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    roots.append(site.getusersitepackages())
    return tuple({os.path.realpath(root) + os.sep for root in roots if root})


def _is_installed(module):
    """Whether ``module`` comes from an installed package (or is built in).

    A module whose file lies outside site-packages and the standard library
    (a local ``mymodel.py``, an editable install, a notebook's or script's
    ``__main__``) can change without any version number changing.
    """
    path = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__":
        return False
    if path is None:  # built in, or a namespace without code of its own
        return True
    return os.path.realpath(path).startswith(_installed_roots())


@functools.lru_cache(maxsize=None)
def _class_code(cls):
    """A hash of the code of ``cls`` and its bases that are not installed.

    For each class of the MRO defined in a module outside installed packages
    (see :func:`_is_installed`): the content of its module's file, or, for
    a class defined in ``__main__`` (a script, a notebook), the code of its
    own methods (so that editing the rest of the script keeps its records).
    None when every class comes from installed packages, whose versions are
    in the key. Cached per class object: a class edited and re-imported is
    a new object, and the code that runs is the code that was hashed.
    """
    parts = []
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if _is_installed(module):
            continue
        source = None
        path = getattr(module, "__file__", None)
        if path is not None and klass.__module__ != "__main__":
            try:
                with open(path, "rb") as file:
                    source = hashlib.sha256(file.read()).hexdigest()
            except OSError:
                source = None
        methods = []
        for name, value in sorted(vars(klass).items()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                methods.append((name, _code_token(value.__code__)))
        parts.append((klass.__module__, klass.__qualname__, source, methods))
    return joblib.hash(parts) if parts else None


def _hash(obj):
    """Content hash of ``obj`` (a hex string), via :func:`_token`."""
    return joblib.hash(_token(obj))


def _fit_versions(estimators):
    """Versions of the libraries that can change a fit's result.

    scikit-learn, numpy, scipy, joblib and distsearch, plus the top-level
    package of every estimator class inside ``estimators`` (e.g. lightgbm,
    scikeras, keras): the imported modules' ``__version__`` (None for a
    package that reports none).
    """
    packages = {"sklearn", "numpy", "scipy", "joblib", "distsearch"}
    for estimator in estimators:
        nested = [estimator, *estimator.get_params(deep=True).values()]
        packages.update(
            type(value).__module__.split(".")[0]
            for value in nested
            if hasattr(value, "get_params") and not isinstance(value, type)
        )
    return versions(sorted(packages), of="module")


def _task_keys(tasks, shared, scoring):
    """The checkpoint key of every task: a hash of what determines its result.

    That is: the model's estimator (class, code of a class that is not part
    of an installed package, and parameters, recursively) and the
    candidate's parameters, the fold's train and test indices, a
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
            _fit_versions(shared.estimators),
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


# ----------------------------------------------------------------------
# The authentication key
# ----------------------------------------------------------------------
def _key_path():
    """Where the records' HMAC key is kept: outside any checkpoint folder.

    ``$DISTSEARCH_CHECKPOINT_KEY_FILE`` if set, else ``checkpoint.key`` in
    the user's distsearch config folder (``$XDG_CONFIG_HOME/distsearch``,
    by default ``~/.config/distsearch``; ``%APPDATA%\\distsearch`` on
    Windows).
    """
    path = os.environ.get(_KEY_ENV)
    if path:
        return os.path.abspath(os.path.expanduser(path))
    if os.name == "nt" and os.environ.get("APPDATA"):
        base = os.environ["APPDATA"]
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
            os.path.expanduser("~"), ".config"
        )
    return os.path.join(base, "distsearch", "checkpoint.key")


def _secret():
    """The HMAC key: read from :func:`_key_path`, created (0600) if missing.

    Raises
    ------
    OSError
        When the key file can neither be read nor created; the message
        names it and the variable that moves it.
    """
    path = _key_path()
    for _ in range(100):  # another process may be writing it right now
        try:
            with open(path, "rb") as file:
                text = file.read().strip()
                mode = os.fstat(file.fileno()).st_mode
        except FileNotFoundError:
            text = None
        except OSError as exc:
            raise _key_error(path, exc) from exc
        if text:
            try:
                key = bytes.fromhex(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                key = b""
            if len(key) < 16:
                raise ValueError(
                    f"The checkpoint key file {path} is not a key distsearch "
                    "wrote (64 hexadecimal digits); delete it (records written "
                    f"under it are then refitted) or point ${_KEY_ENV} elsewhere."
                )
            if os.name != "nt" and mode & 0o077:
                warnings.warn(
                    f"The checkpoint key file {path} can be read or written by "
                    f"other users (mode {mode & 0o777:o}), who could then forge "
                    f"checkpoint records: chmod 600 {path}",
                    UserWarning,
                    stacklevel=4,
                )
            return key
        if text is None:
            try:
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _key_error(path, exc) from exc
            with os.fdopen(handle, "wb") as file:
                file.write(secrets.token_hex(32).encode() + b"\n")
            continue
        time.sleep(0.01)  # created, not written yet
    raise _key_error(path, OSError("it stays empty"))


def _key_error(path, exc):
    reason = getattr(exc, "strerror", None) or str(exc)
    return OSError(
        getattr(exc, "errno", None),
        f"Cannot read or create the checkpoint key file {path} ({reason}). "
        f"Set {_KEY_ENV} to a file path you can write (it must stay outside "
        "the checkpoint folder).",
    )


# ----------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------
def _plain(value, where):
    """``value`` as JSON data (numpy scalars unwrapped), or TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where) for k, v in value.items()}
    raise TypeError(f"{where} holds a {type(value).__name__}, not plain data")


class _Checkpoint:
    """The records of one search's tasks in ``folder`` (None: no checkpoint).

    Parameters
    ----------
    folder : str, path-like or None
        The checkpoint folder; created if missing, and checked writable.
    tasks : _Tasks
    shared : _Shared
    scoring : the search's ``scoring`` parameter, as the user gave it.

    Raises
    ------
    OSError
        When the folder cannot be created or written (naming it), or the key
        file cannot be read or created.
    """

    def __init__(self, folder, tasks, shared, scoring):
        self.folder = None if folder is None else os.fspath(folder)
        self._keys = []
        self._unrecordable = None
        if self.folder is not None:
            self._check_writable()
            self._secret = _secret()
            self._keys = _task_keys(tasks, shared, scoring)

    def _check_writable(self):
        probe = os.path.join(
            self.folder, f".distsearch-probe.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        )
        try:
            os.makedirs(self.folder, exist_ok=True)
            with open(probe, "wb"):
                pass
            os.remove(probe)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"checkpoint={self.folder!r}: the folder cannot be "
                f"{'written' if os.path.isdir(self.folder) else 'created'} "
                f"({exc.strerror or exc}). Give a folder you can write, or "
                "checkpoint=None.",
            ) from exc

    def _path(self, index):
        return os.path.join(self.folder, self._keys[index] + _SUFFIX)

    def _mac(self, payload):
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest().encode()

    def load(self, out):
        """Fill ``out`` with the recorded results; return the indices left to run.

        Warns (once) about files in the folder that are not records of this
        format; they are never read.

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
        self._report_foreign_files()
        todo = []
        for index in range(len(out)):
            out[index] = self._read(index)
            if out[index] is None:
                todo.append(index)
        return todo

    def _report_foreign_files(self):
        foreign = sorted(
            entry.name
            for entry in os.scandir(self.folder)
            if not _RECORD_NAME.match(entry.name) and not entry.name.endswith(".tmp")
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            warnings.warn(
                f"Checkpoint folder {self.folder} holds {len(foreign)} file(s) "
                f"that are not distsearch records ({shown}): they are ignored, "
                "never loaded (the .pkl records of earlier distsearch versions "
                "were pickles and are not read: their fits run again). Delete "
                "them unless you know what they are.",
                UserWarning,
                stacklevel=4,
            )

    def _read(self, index):
        path = self._path(index)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        header = len(_MAGIC) + 65
        payload = data[header:]
        problem = None
        if data[: len(_MAGIC)] != _MAGIC or data[header - 1 : header] != b"\n":
            problem = "not a distsearch record, or truncated"
        elif not hmac.compare_digest(data[len(_MAGIC) : header - 1], self._mac(payload)):
            problem = (
                "its authentication code does not match: truncated, edited, "
                "or written under another key"
            )
        else:
            try:
                record = json.loads(payload)
                if record["key"] != self._keys[index]:
                    problem = "its key does not match its file name"
            except (ValueError, KeyError, TypeError) as exc:
                problem = f"unreadable: {exc!r}"
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

    def n_saved(self):
        """How many of the tasks have a record in the folder (0 without one)."""
        if self.folder is None:
            return 0
        return sum(os.path.exists(self._path(index)) for index in range(len(self._keys)))

    def save(self, index, result):
        """Record task ``index``'s result atomically (failed fits are skipped).

        A result holding more than plain data is not recorded (with one
        warning per search). A record that cannot be written (a full disk)
        raises OSError naming the folder; no temporary file is left.
        """
        if self.folder is None or result.get("fit_error") is not None:
            return
        try:
            result = _plain(result, "the result")
        except TypeError as exc:
            if self._unrecordable is None:
                self._unrecordable = str(exc)
                warnings.warn(
                    f"Checkpoint {self.folder}: a fit's result is not recorded "
                    f"({exc}); such fits run again on a rerun.",
                    UserWarning,
                    stacklevel=3,
                )
            return
        # Keys keep their order (not sorted): a multimetric result's scores
        # come back in the scorers' order, so cv_results_ keeps its columns'.
        payload = json.dumps({"key": self._keys[index], "result": result}).encode()
        path = self._path(index)
        temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(_MAGIC + self._mac(payload) + b"\n" + payload)
            os.replace(temporary, path)
        except OSError as exc:
            try:
                os.remove(temporary)
            except OSError:
                pass
            raise OSError(
                exc.errno,
                f"Cannot write to the checkpoint folder {self.folder} "
                f"({exc.strerror or exc}); the search stops. The fits recorded "
                "there so far are kept: make room (or give another folder) and "
                "fit again to resume.",
            ) from exc
