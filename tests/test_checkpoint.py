"""Checkpoints: a killed search resumes with only the missing fits.

Every fit of :class:`LoggedRidge` writes a file in ``log_dir``, so the fits
are counted whichever process runs them.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from distsearch import MultiModelSearchCV


class LoggedRidge(Ridge):
    """Ridge that logs each fit in ``log_dir`` and first sleeps ``delay`` s."""

    def __init__(self, alpha=1.0, *, fit_intercept=True, delay=0.0, log_dir=None):
        super().__init__(alpha=alpha, fit_intercept=fit_intercept)
        self.delay = delay
        self.log_dir = log_dir

    def fit(self, X, y, sample_weight=None):
        time.sleep(self.delay)
        Path(self.log_dir, uuid.uuid4().hex).touch()
        return super().fit(X, y, sample_weight=sample_weight)


GRID = {"alpha": [0.1, 1.0, 10.0, 100.0]}


def data(seed=0):
    return make_regression(n_samples=60, n_features=4, noise=1.0, random_state=seed)


def search(log_dir, checkpoint, *, grid=GRID, delay=0.0, cv=3, **params):
    return MultiModelSearchCV(
        LoggedRidge(delay=delay, log_dir=str(log_dir), **params),
        grid,
        cv=cv,
        refit=False,
        checkpoint=checkpoint,
    )


def n_fits(log_dir):
    return len(os.listdir(log_dir))


def records(checkpoint):
    return sorted(Path(checkpoint).glob("*.json"))


def assert_same_results(expected, actual, *, times=False):
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if key.endswith("_time") and not times:
            continue
        if key == "params":
            assert actual[key] == value
        else:
            np.testing.assert_array_equal(actual[key], value, err_msg=key)


def run_search(log_dir, checkpoint):
    """What the killed subprocess runs: a slow search (12 fits of 0.2 s)."""
    X, y = data()
    search(log_dir, checkpoint, delay=0.2).fit(X, y)


@pytest.fixture
def dirs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs, tmp_path / "checkpoint"


def test_killed_search_resumes_with_only_the_missing_fits(dirs, tmp_path):
    logs, checkpoint = dirs
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from test_checkpoint import run_search; run_search(sys.argv[2], sys.argv[3])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(Path(__file__).parent), logs, checkpoint]
    )
    try:
        deadline = time.time() + 120
        while len(records(checkpoint)) < 4 and process.poll() is None:
            assert time.time() < deadline, "the search wrote no records"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the search ended before the kill"
    n_done = len(records(checkpoint))
    assert 4 <= n_done < 12
    n_killed_fits = n_fits(logs)  # the recorded ones and perhaps one more

    X, y = data()
    # The same search (log folder and delay are parameters: they enter the key).
    resumed = search(logs, checkpoint, delay=0.2).fit(X, y)
    fits_before = n_fits(logs)
    assert fits_before - n_killed_fits == 12 - n_done  # only the missing fits
    assert len(records(checkpoint)) == 12
    rerun_logs = tmp_path / "rerun"
    rerun_logs.mkdir()
    uninterrupted = search(rerun_logs, None).fit(X, y)
    assert n_fits(rerun_logs) == 12
    assert_same_results(uninterrupted.cv_results_, resumed.cv_results_)

    # Resuming a finished search fits nothing and reproduces cv_results_
    # exactly, recorded times included.
    again = search(logs, checkpoint, delay=0.2).fit(X, y)
    assert n_fits(logs) == fits_before
    assert_same_results(resumed.cv_results_, again.cv_results_, times=True)


def test_changes_reuse_nothing_they_affect(dirs):
    logs, checkpoint = dirs
    X, y = data()
    search(logs, checkpoint).fit(X, y)
    assert n_fits(logs) == 12

    # One grid value changed: only its 3 fits run.
    changed = search(logs, checkpoint, grid={"alpha": [0.1, 1.0, 10.0, 7.0]}).fit(X, y)
    assert n_fits(logs) == 12 + 3
    reference = search(logs, None, grid={"alpha": [0.1, 1.0, 10.0, 7.0]}).fit(X, y)
    assert_same_results(reference.cv_results_, changed.cv_results_)
    total = n_fits(logs)

    # A parameter outside the grid, the data, the folds: everything runs.
    search(logs, checkpoint, fit_intercept=False).fit(X, y)
    assert n_fits(logs) == total + 12
    X2, y2 = data(seed=1)
    search(logs, checkpoint).fit(X2, y2)
    assert n_fits(logs) == total + 24
    search(logs, checkpoint, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert n_fits(logs) == total + 36
    # The first search's records are still all valid.
    search(logs, checkpoint).fit(X, y)
    assert n_fits(logs) == total + 36


def test_corrupt_record_is_recomputed_with_a_warning(dirs):
    logs, checkpoint = dirs
    X, y = data()
    first = search(logs, checkpoint).fit(X, y)
    truncated, garbled = records(checkpoint)[:2]
    truncated.write_bytes(truncated.read_bytes()[:-10])
    content = bytearray(garbled.read_bytes())
    content[-5] ^= 0xFF
    garbled.write_bytes(bytes(content))

    with pytest.warns(UserWarning, match="corrupt") as caught:
        second = search(logs, checkpoint).fit(X, y)
    messages = " ".join(str(w.message) for w in caught)
    assert str(truncated) in messages and str(garbled) in messages
    assert n_fits(logs) == 12 + 2
    assert_same_results(first.cv_results_, second.cv_results_)
    assert len(records(checkpoint)) == 12


def test_bad_checkpoint_is_rejected_before_any_fit(dirs):
    logs, _ = dirs
    X, y = data()
    with pytest.raises(ValueError, match="checkpoint"):
        search(logs, 3).fit(X, y)
    assert n_fits(logs) == 0


def test_progress_bar_counts_the_reused_fits(dirs, capsys):
    logs, checkpoint = dirs
    X, y = data()
    search(logs, checkpoint).fit(X, y)
    capsys.readouterr()
    search(logs, checkpoint).set_params(progress=True).fit(X, y)
    assert "12/12" in capsys.readouterr().err
    assert n_fits(logs) == 12


TOURNAMENT_CONFIG = """
data = {"kind": "mock_regression", "n_samples": 120, "n_features": 5}
contenders_spec = [
    {"__model": ["sklearn.linear_model.Ridge"],
     "__model__init_kwargs__alpha": [0.1, 1.0, 10.0]},
    {"__model": ["sklearn.tree.DecisionTreeRegressor"],
     "__model__init_kwargs__max_depth": [2, 3],
     "__model__init_kwargs__random_state": [0]},
]
n_splits = 3
scoring = "r2"
"""


def test_tournament_resume_runs_only_what_its_checkpoint_lacks(tmp_path, capsys):
    from distsearch._cli import main

    config = tmp_path / "config.py"
    config.write_text(TOURNAMENT_CONFIG)
    output = tmp_path / "out"
    options = [str(config), "--output", str(output), "--n-jobs", "1", "--no-progress"]
    assert main(["tournament", *options]) == 0
    [run_dir] = output.iterdir()
    first = pd.read_csv(run_dir / "cv_results.csv")
    kept = records(run_dir / "checkpoint")
    assert len(kept) == 5 * 3
    for record in kept[:4]:  # as if the search had died before these fits
        record.unlink()
    kept = {path: path.stat().st_mtime_ns for path in kept[4:]}

    assert main(["tournament", *options, "--resume", run_dir.name]) == 0
    assert list(output.iterdir()) == [run_dir]
    assert len(records(run_dir / "checkpoint")) == 15
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in kept.items())
    again = pd.read_csv(run_dir / "cv_results.csv")
    scores = [c for c in first.columns if "test_" in c]
    pd.testing.assert_frame_equal(first[scores], again[scores])

    capsys.readouterr()
    assert main(["tournament", *options, "--resume", "no-such-run"]) == 2
    assert "resume: no run folder" in capsys.readouterr().err
    # A path, even to an existing folder, is not a run id: nothing is written.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in ["../elsewhere", str(elsewhere), ".."]:
        assert main(["tournament", *options, "--resume", path]) == 2
        assert f"resume: {path!r} is not a run id" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


# ----------------------------------------------------------------------
# Trust: records are data, authenticated with a key outside the folder
# ----------------------------------------------------------------------
class _Payload:
    """Unpickling it creates the file ``marker`` (as a planted pickle would)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_planted_pickle_is_never_loaded_and_is_reported(dirs, tmp_path):
    import hashlib
    import pickle

    logs, checkpoint = dirs
    X, y = data()
    first = search(logs, checkpoint).fit(X, y)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"key": "x", "result": _Payload(marker)})
    # The format of the records of earlier versions (a pickle after a
    # SHA-256), under a record's name with the old suffix and with the new.
    planted = b"distsearch-checkpoint-1\n" + hashlib.sha256(payload).hexdigest().encode()
    target = records(checkpoint)[0]
    target.with_suffix(".pkl").write_bytes(planted + payload)
    target.write_bytes(planted + payload)

    with pytest.warns(UserWarning) as caught:
        second = search(logs, checkpoint).fit(X, y)
    messages = " ".join(str(w.message) for w in caught)
    assert not marker.exists()
    assert f"{target} is corrupt" in messages
    assert target.with_suffix(".pkl").name in messages and "not distsearch records" in messages
    assert n_fits(logs) == 12 + 1  # only the overwritten record's fit
    assert_same_results(first.cv_results_, second.cv_results_)


def test_edited_score_is_detected(dirs):
    import hashlib
    import hmac
    import json

    logs, checkpoint = dirs
    X, y = data()
    first = search(logs, checkpoint).fit(X, y)
    target = records(checkpoint)[0]
    magic, mac, payload = target.read_bytes().split(b"\n", 2)
    record = json.loads(payload)
    assert isinstance(record["result"]["test_scores"], float)
    record["result"]["test_scores"] = 0.9999
    edited = json.dumps(record, sort_keys=True).encode()
    # Whoever edits it knows the format but not the key in the user's
    # config folder: a code under any other key does not pass.
    forged = hmac.new(b"k" * 32, edited, hashlib.sha256).hexdigest().encode()
    target.write_bytes(b"\n".join([magic, forged, edited]))

    with pytest.warns(UserWarning, match="authentication code does not match"):
        second = search(logs, checkpoint).fit(X, y)
    assert n_fits(logs) == 12 + 1
    assert_same_results(first.cv_results_, second.cv_results_)


def test_key_file_outside_the_folder_created_private(dirs, tmp_path, monkeypatch):
    logs, checkpoint = dirs
    key = tmp_path / "config" / "distsearch" / "checkpoint.key"
    monkeypatch.setenv("DISTSEARCH_CHECKPOINT_KEY_FILE", str(key))
    X, y = data()
    first = search(logs, checkpoint).fit(X, y)
    assert len(bytes.fromhex(key.read_text())) == 32
    if os.name != "nt":
        assert key.stat().st_mode & 0o777 == 0o600
        key.chmod(0o644)
        with pytest.warns(UserWarning, match="can be read or written by other users"):
            search(logs, checkpoint).fit(X, y)
    # Under another key every record fails its check and is refitted.
    monkeypatch.setenv("DISTSEARCH_CHECKPOINT_KEY_FILE", str(tmp_path / "other.key"))
    with pytest.warns(UserWarning, match="written under another key"):
        second = search(logs, checkpoint).fit(X, y)
    assert n_fits(logs) == 24
    assert_same_results(first.cv_results_, second.cv_results_)


LOCAL_MODEL = '''
from sklearn.linear_model import Ridge

class LocalRidge(Ridge):
    def predict(self, X):
        return {sign}super().predict(X)
'''


def test_editing_a_local_estimator_class_refits_it(tmp_path, monkeypatch):
    import importlib

    module_name = f"mymodel_{uuid.uuid4().hex}"
    source = tmp_path / f"{module_name}.py"
    source.write_text(LOCAL_MODEL.format(sign=""))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(module_name)
    checkpoint = tmp_path / "checkpoint"
    X, y = data()

    def run(checkpoint):
        return MultiModelSearchCV(
            module.LocalRidge(), GRID, cv=3, refit=False, checkpoint=checkpoint
        ).fit(X, y)

    first = run(checkpoint)
    assert len(records(checkpoint)) == 12
    source.write_text(LOCAL_MODEL.format(sign="-"))  # predictions negated
    module = importlib.reload(module)
    edited = run(checkpoint)
    assert len(records(checkpoint)) == 24  # none of the first 12 reused
    assert_same_results(run(None).cv_results_, edited.cv_results_)
    assert (edited.cv_results_["mean_test_score"] < first.cv_results_["mean_test_score"]).all()
    run(checkpoint)
    assert len(records(checkpoint)) == 24


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs; yields a function ``mount(options) -> folder``."""
    mounted = []

    def mount(options):
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_folder_is_an_error_before_any_fit(dirs, tmpfs):
    logs, _ = dirs
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing
        checkpoint = tmpfs("ro,size=64k")
    else:
        checkpoint = logs.parent / "read-only"
        checkpoint.mkdir(mode=0o500)
    X, y = data()
    with pytest.raises(OSError, match=f"checkpoint={str(checkpoint)!r}.*cannot be written"):
        search(logs, checkpoint).fit(X, y)
    assert n_fits(logs) == 0


def test_full_disk_names_the_folder_and_leaves_no_partial_file(dirs, tmpfs):
    import errno

    logs, _ = dirs
    checkpoint = tmpfs("size=64k")
    filler = checkpoint / "filler"
    # tmpfs allocates whole 4 KiB pages: room for 3 records of 1 page each.
    filler.write_bytes(b"\0" * (64 - 3 * 4) * 1024)
    X, y = data()
    with pytest.raises(OSError, match=f"checkpoint folder {checkpoint}") as raised:
        with pytest.warns(UserWarning, match=r"not distsearch records \(filler\)"):
            search(logs, checkpoint).fit(X, y)
    assert raised.value.errno == errno.ENOSPC
    assert sorted(p.name for p in checkpoint.iterdir() if p.suffix != ".json") == ["filler"]
    assert len(records(checkpoint)) == 3

    filler.unlink()
    with pytest.warns(UserWarning, match="not distsearch records") as caught:
        filler.write_text("a file of the user's")
        resumed = search(logs, checkpoint).fit(X, y)
    assert not any("corrupt" in str(w.message) for w in caught)
    assert len(records(checkpoint)) == 12
    assert_same_results(search(logs, None).fit(X, y).cv_results_, resumed.cv_results_)
