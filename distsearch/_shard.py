"""Sharded searches: shards that run anywhere, and a collect step.

A search's (candidate, fold) fits are numbered in task order (candidate by
candidate, fold by fold, as ``cv_results_`` lists them). Shard ``i`` of
``n`` runs the fits whose number is ``i`` modulo ``n`` and records them in a
shared result store; :meth:`MultiModelSearchCV.collect
<distsearch.MultiModelSearchCV.collect>` reads every shard's records and
finishes the search exactly as one in-process ``fit`` would.

The result store is a folder, or any fsspec URL (``s3://bucket/run``,
``gs://...``) when fsspec is installed:

- ``records/``: a checkpoint folder (:mod:`distsearch._checkpoint`: one
  signed JSON record per successful fit, keyed by everything that
  determines it);
- ``shards/shard-<i>-of-<n>.json``: shard ``i``'s manifest, written when it
  finishes, signed with the same key: the search's fingerprint (a hash of
  every task's key), the fits it ran and the results of those that failed
  (the checkpoint records only successful fits).

Invariants:

- a shard fits only its own tasks (and none whose record is already in the
  store), refits nothing and sets no ``cv_results_``;
- collect fits nothing unless asked (``run_missing=True``): a shard with no
  manifest, a manifest of another search (other data, candidates, folds or
  library versions) or a missing record is an error that names the shard
  and lists its fits, before any fit;
- the records are read by the checkpoint code (HMAC-checked): shards on other
  machines must share its key (``DISTSEARCH_CHECKPOINT_KEY_FILE``);
- only the exhaustive and random searches shard (one ``evaluate_candidates``
  round); an adaptive search says so.
"""

import contextlib
import hashlib
import hmac
import json
import os
import re
import tempfile
import uuid

_MANIFEST = re.compile(r"shard-(\d+)-of-(\d+)\.json\Z")


class ShardError(RuntimeError):
    """A sharded search cannot be collected: shards or fits are missing.

    Raised by :meth:`MultiModelSearchCV.collect
    <distsearch.MultiModelSearchCV.collect>` before any fit.

    Parameters
    ----------
    message : str
        Names the store, each missing shard and its fits.
    missing : dict
        Each missing shard's name (``"shard 1/4 (not finished)"``) mapped to
        the fits it holds, as ``(model, params, fold)`` triples; empty when
        the store is of another search.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from distsearch import MultiModelSearchCV, ShardError
    >>> X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    >>> store = tempfile.mkdtemp()
    >>> search = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2)
    >>> _ = search.fit_shard(X, y, shard=(0, 2), store=store)
    >>> try:
    ...     search.collect(X, y, store=store)
    ... except ShardError as error:
    ...     print(error.missing)
    {'shard 1/2 (not finished)': [('Ridge', {'alpha': 0.1}, 1), ('Ridge', {'alpha': 1.0}, 1)]}
    """

    def __init__(self, message, missing):
        super().__init__(message)
        self.missing = missing


class _ShardDone(Exception):
    """Raised through ``fit`` when a shard has run its fits (ends the fit)."""


def _check_shard(shard):
    """``(i, n)`` from ``shard`` (a pair or ``"i/n"``); raises ValueError."""
    if isinstance(shard, str) and re.fullmatch(r"\d+/\d+", shard.strip()):
        shard = tuple(int(part) for part in shard.strip().split("/"))
    ok = (
        isinstance(shard, (tuple, list))
        and len(shard) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
        and shard[1] >= 1
        and 0 <= shard[0] < shard[1]
    )
    if not ok:
        raise ValueError(
            f"shard must be (i, n) (or 'i/n') with 0 <= i < n, got {shard!r}."
        )
    return int(shard[0]), int(shard[1])


def _is_url(store):
    return isinstance(store, str) and "://" in store and not store.startswith("file://")


def _check_store(store):
    if not isinstance(store, (str, os.PathLike)) or not os.fspath(store):
        raise ValueError(
            f"store must be a folder or an fsspec URL (a shared result store), got {store!r}."
        )
    if _is_url(store):
        try:
            import fsspec  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"store={store!r} is a URL: install fsspec (and its protocol's "
                "package, e.g. s3fs) or give a folder."
            ) from exc
    return os.fspath(store)


@contextlib.contextmanager
def _local_store(store, mode, shard=None):
    """A local folder holding the store; a URL is downloaded, then uploaded.

    Collect downloads everything; a shard downloads the records (to skip
    fits already recorded) and uploads what it added.
    """
    if not _is_url(store):
        path = store[len("file://"):] if store.startswith("file://") else store
        yield path
        return
    import fsspec

    fs, root = fsspec.core.url_to_fs(store)
    root = root.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="distsearch-store-") as local:
        for sub in ("records", "shards"):
            os.makedirs(os.path.join(local, sub))
            if fs.exists(f"{root}/{sub}"):
                for remote in fs.ls(f"{root}/{sub}", detail=False):
                    name = remote.rstrip("/").rsplit("/", 1)[-1]
                    if name.endswith(".json"):
                        fs.get(remote, os.path.join(local, sub, name))
        before = set(os.listdir(os.path.join(local, "records")))
        yield local
        if mode == "shard":
            for sub in ("records", "shards"):
                for name in sorted(os.listdir(os.path.join(local, sub))):
                    if sub == "records" and name in before:
                        continue
                    if name.endswith(".json"):
                        fs.put(os.path.join(local, sub, name), f"{root}/{sub}/{name}")


class _Sharding:
    """What a shard or a collect adds to a fit (see ``MultiModelSearchCV``).

    Parameters
    ----------
    mode : {"shard", "collect"}
    folder : str
        The local store folder (``records/`` is the search's checkpoint).
    shard : (int, int) or None
        ``(i, n)`` for a shard.
    run_missing : bool
        Collect: fit what no shard recorded instead of raising.
    """

    ADAPTIVE = (
        "sharding serves the exhaustive and random searches (one round of "
        "candidates); this search chooses its candidates round by round (an "
        "adaptive search): fit it in one process, on loky, dask or ray."
    )

    def __init__(self, mode, folder, shard=None, run_missing=False):
        self.mode = mode
        self.folder = folder
        self.shard = shard
        self.run_missing = run_missing
        self.ran = self.skipped = 0

    @property
    def records(self):
        return os.path.join(self.folder, "records")

    def _manifest_path(self, i, n):
        return os.path.join(self.folder, "shards", f"shard-{i}-of-{n}.json")

    @staticmethod
    def _fingerprint(store):
        return hashlib.sha256(" ".join(store._keys).encode()).hexdigest()

    # Hook 1: after the checkpoint is loaded into ``out``.
    def before_run(self, store, tasks, out, describe):
        """The ``finished`` list the task queue gets (None: to run).

        Shard: the other shards' tasks are marked finished (they are not
        run); collect: failed fits come from the manifests, and what is
        still missing raises ShardError unless ``run_missing``.
        """
        if self.mode == "shard":
            i, n = self.shard
            view = list(out)
            for index, result in enumerate(out):
                if index % n != i:
                    view[index] = _NOT_MINE
                elif result is not None:
                    self.skipped += 1
            self.ran = sum(r is None for r in view)
            return view
        manifests = self._read_manifests(store)
        n = next(iter(manifests.values()))["n"] if manifests else None
        for manifest in manifests.values():
            for index, result in manifest["failed"].items():
                if out[int(index)] is None:
                    out[int(index)] = result
        unfinished = set() if n is None else set(range(n)) - set(manifests)
        missing = [
            index
            for index, result in enumerate(out)
            if result is None or (n is not None and index % n in unfinished)
        ]
        if missing and not self.run_missing:
            raise self._missing_error(missing, manifests, n, describe)
        missing = [index for index, result in enumerate(out) if result is None]
        self.ran = len(missing)
        return out

    # Hook 2: after the fits ran; ends a shard's fit.
    def after_run(self, store, out):
        if self.mode != "shard":
            return
        i, n = self.shard
        failed = {
            str(index): result
            for index, result in enumerate(out)
            if index % n == i and result is not None and result.get("fit_error") is not None
        }
        payload = json.dumps(
            {
                "i": i,
                "n": n,
                "search": self._fingerprint(store),
                "fits": sum(1 for index in range(len(out)) if index % n == i),
                "failed": _json_safe(failed),
            },
            sort_keys=True,
        ).encode()
        path = self._manifest_path(i, n)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as file:
            file.write(store._mac(payload) + b"\n" + payload)
        os.replace(temporary, path)
        raise _ShardDone()

    def _read_manifests(self, store):
        """{i: manifest} of this search's shards; a foreign or forged one raises."""
        folder = os.path.join(self.folder, "shards")
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        manifests, counts = {}, set()
        fingerprint = self._fingerprint(store)
        for name in names:
            match = _MANIFEST.match(name)
            if not match:
                continue
            with open(os.path.join(folder, name), "rb") as file:
                mac, _, payload = file.read().partition(b"\n")
            if not hmac.compare_digest(mac, store._mac(payload)):
                raise ShardError(
                    f"shard manifest {name} in {self.folder} fails its authentication "
                    "check (edited, or written under another checkpoint key: shards on "
                    "other machines need the same DISTSEARCH_CHECKPOINT_KEY_FILE).",
                    {},
                )
            manifest = json.loads(payload)
            if manifest["search"] != fingerprint:
                raise ShardError(
                    f"shard manifest {name} in {self.folder} is of another search (other "
                    "data, candidates, folds, scoring or library versions): collect with "
                    "the config and options the shards ran with.",
                    {},
                )
            counts.add(manifest["n"])
            manifests[manifest["i"]] = manifest
        if len(counts) > 1:
            raise ShardError(
                f"{self.folder} holds shards of different splits ({sorted(counts)} shards); "
                "use one store per sharded search.",
                {},
            )
        return manifests

    def _missing_error(self, missing, manifests, n, describe):
        if n is None:
            message = f"no shard has finished in {self.folder}: {len(missing)} fits are missing"
            names = {"all shards": missing}
        else:
            names = {}
            for index in missing:
                i = index % n
                shard = f"shard {i}/{n}" + (
                    " (not finished)" if i not in manifests else " (finished, but records are gone)"
                )
                names.setdefault(shard, []).append(index)
            message = (
                f"{len(missing)} of the search's fits are missing from {self.folder}: "
                + "; ".join(f"{name}: {len(fits)} fits" for name, fits in names.items())
            )
        detail = {name: [describe(index) for index in fits] for name, fits in names.items()}
        lines = [message + ". Run the missing shards (or collect with run_missing=True to fit them here)."]
        for name, fits in detail.items():
            shown = ", ".join(f"{m} {p} fold {f}" for m, p, f in fits[:5])
            lines.append(f"  {name}: {shown}" + (f", ... ({len(fits)} fits)" if len(fits) > 5 else ""))
        return ShardError("\n".join(lines), detail)


# A finished-looking slot for another shard's task: no time, no scores (the
# queue only reads its times; it is never formatted into results).
_NOT_MINE = {"fit_time": 0.0, "score_time": 0.0}


def _json_safe(value):
    from ._checkpoint import _plain

    return _plain(value, "a failed fit's result")
