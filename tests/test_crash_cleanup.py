"""After ``kill -9`` of a search: no loky worker left running, no spill folder left.

The killed search runs in a subprocess: a pipeline whose scaler is shared
between candidates (so the search makes its spill folder in the temporary
folder) and whose fits take a minute, on 2 loky workers.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from distsearch import MultiModelSearchCV

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc"
)


class SlowRidge(Ridge):
    """Ridge whose fit logs itself in ``log_dir`` then sleeps a minute."""

    def __init__(self, alpha=1.0, *, log_dir=None):
        super().__init__(alpha=alpha)
        self.log_dir = log_dir

    def fit(self, X, y, sample_weight=None):
        Path(self.log_dir, str(os.getpid())).touch()
        time.sleep(60)
        return super().fit(X, y)


def run_search(log_dir):
    """What the killed subprocess runs."""
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    pipeline = make_pipeline(StandardScaler(), SlowRidge(log_dir=log_dir))
    MultiModelSearchCV(
        pipeline, {"slowridge__alpha": [1.0, 2.0]}, cv=2, n_jobs=2, backend="loky"
    ).fit(X, y)


SCRIPT = "import sys, test_crash_cleanup as t; t.run_search(sys.argv[1])"


def _children(pid):
    """{pid: command line} of the processes whose parent is ``pid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and _field(entry, "PPid") == str(pid):
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            pass
    return found


def _field(proc, name):
    for line in (proc / "status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    return None


def _running(pid):
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return _field(Path(f"/proc/{pid}"), "State") not in ("Z", "X", None)
    except OSError:
        return False


def test_killed_search_leaves_no_worker_and_no_spill_folder(tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    logs = tmp_path / "logs"
    temp.mkdir()
    logs.mkdir()
    here = str(Path(__file__).parent)
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
    }
    driver = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(logs)],
        env=env,
    )
    try:
        deadline = time.time() + 120
        while len(os.listdir(logs)) < 2:  # both workers are fitting
            assert driver.poll() is None and time.time() < deadline
            time.sleep(0.05)
        workers = [
            pid for pid, command in _children(driver.pid).items() if b"LokyProcess" in command
        ]
        [folder] = temp.glob(f"distsearch-prefix-{driver.pid}-*")
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    assert len(workers) == 2
    assert sorted(int(name) for name in os.listdir(logs)) == sorted(workers)
    # Before: the workers finished their minute-long fits, then waited for
    # loky's idle timeout (300 s). Now they exit within about a second.
    deadline = time.time() + 30
    while any(_running(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if _running(pid)]
    for pid in alive:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "loky workers outlived their killed search"

    # The killed search's spill folder is still there; the next search
    # (of this user, on this machine) removes it.
    assert folder.is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    X, y = make_regression(n_samples=30, n_features=3, random_state=0)
    MultiModelSearchCV(Ridge(), {"alpha": [1.0]}, cv=2).fit(X, y)
    assert not folder.exists()
