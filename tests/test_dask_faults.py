"""Faults of a dask cluster during a search, on real clusters (no mocks).

Each test starts its own scheduler and workers as subprocesses (``dask
scheduler`` and ``dask worker``, with their nannies, on 127.0.0.1), as a user
starts a cluster, and kills them itself:

- the scheduler killed mid-search: one ``ClusterLost`` naming the address and
  the fits saved in the checkpoint, raised as soon as the client notices;
  rerun against a fresh cluster with the checkpoint, the search completes
  with the results of an uninterrupted run, reusing the saved fits;
- every worker killed at once (the scattered data bundle lost with them): the
  nannies restart them, the bundle is scattered again, the search completes
  with the results of loky and counts its retries;
- a dead or malformed address: an error at once, and the process exits
  without a stray traceback.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression

from distsearch import MultiModelSearchCV

distributed = pytest.importorskip("distributed")

from dask_cluster import cluster  # noqa: E402
from dispatch_models import SlowRidge  # noqa: E402
from distsearch.engines import ClusterLost, DaskEngine  # noqa: E402

TESTS_DIR = str(Path(__file__).parent)
SPACE = {"alpha": [float(alpha) for alpha in range(1, 13)]}  # 36 fits on 3 folds


@pytest.fixture(autouse=True)
def workers_import_test_models(monkeypatch):
    # The workers (subprocesses) import dispatch_models by name.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")]))
    )


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=60, n_features=3, noise=5.0, random_state=0)


@pytest.fixture(scope="module")
def reference(data):
    """The uninterrupted search, on loky."""
    return MultiModelSearchCV(SlowRidge(), SPACE, cv=3, n_jobs=2, backend="loky").fit(*data)


def when(condition, action):
    """Run ``action()`` in a thread as soon as ``condition()`` holds."""

    def watch():
        deadline = time.monotonic() + 120
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def assert_same_results(search, reference):
    for key, value in reference.cv_results_.items():
        if "time" not in key and key != "params":
            np.testing.assert_array_equal(search.cv_results_[key], value, err_msg=key)
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    assert search.best_params_ == reference.best_params_


def test_scheduler_killed_mid_search_stops_with_one_error_then_resumes(
    tmp_path, data, reference
):
    checkpoint = tmp_path / "checkpoint"
    fits = tmp_path / "fits"
    fits.mkdir()
    model = SlowRidge(delay=0.1, log_dir=str(fits))
    with cluster(tmp_path, 2) as (address, scheduler, _):
        killer = when(
            lambda: checkpoint.is_dir() and len(list(checkpoint.iterdir())) >= 6,
            lambda: os.killpg(scheduler.pid, signal.SIGKILL),
        )
        search = MultiModelSearchCV(
            model, SPACE, cv=3, backend="dask", address=address, checkpoint=checkpoint
        )
        with pytest.raises(ClusterLost) as caught:
            search.fit(*data)
        killer.join()
    message = str(caught.value)
    assert caught.value.address == address
    assert f"The dask scheduler at {address} went away" in message
    saved = len(list(checkpoint.iterdir()))
    assert 6 <= saved < 36
    assert f"{saved} of the 36 fits of this round are saved in checkpoint=" in message
    assert "rerun the same search with the same checkpoint" in message
    # One error: distributed's own (the closed comm) is not chained to it.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__

    # Rerun against a fresh cluster with the same checkpoint: the saved
    # fits are reused, the others run, the results are the uninterrupted ones.
    n_fits = len(list(fits.iterdir()))
    resumed = MultiModelSearchCV(
        model, SPACE, cv=3, backend="dask", n_jobs=2, checkpoint=checkpoint
    ).fit(*data)
    assert_same_results(resumed, reference)
    assert len(list(fits.iterdir())) - n_fits == 36 - saved + 1  # + the refit


@pytest.mark.parametrize("n_workers", [1, 2])
def test_every_worker_killed_at_once_search_completes(tmp_path, data, reference, n_workers):
    fits = tmp_path / "fits"
    fits.mkdir()
    with cluster(tmp_path, n_workers) as (address, _, pids):
        killer = when(
            lambda: len(list(fits.iterdir())) >= 6,
            lambda: [os.kill(pid, signal.SIGKILL) for pid in pids],
        )
        with pytest.warns(RuntimeWarning, match="run again because the worker"):
            search = MultiModelSearchCV(
                SlowRidge(delay=0.1, log_dir=str(fits)), SPACE, cv=3,
                backend="dask", address=address,
            ).fit(*data)
        killer.join()
    assert_same_results(search, reference)
    # The fits running (or done, their results not yet fetched) on the
    # killed workers, each counted once: at most the 2 * n_workers batches
    # in flight, of at most a few fits each; never a retry per cancellation.
    assert 1 <= search.n_task_retries_ < 36


def test_dead_address_fails_at_once_naming_it():
    with socket.socket() as listener:  # a free port, then nothing behind it
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    engine = DaskEngine(address, timeout=5)
    with pytest.raises(ClusterLost, match=f"No dask scheduler answers at {address}"):
        engine.open(len, None)
    with pytest.raises(ValueError, match="timeout=0"):
        DaskEngine(address, timeout=0)


MALFORMED = textwrap.dedent(
    """
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from distsearch import MultiModelSearchCV

    X, y = make_regression(n_samples=20, n_features=2, random_state=0)
    MultiModelSearchCV(Ridge(), {"alpha": [1.0]}, cv=2, backend="dask",
                       address="localhost:notaport").fit(X, y)
    """
)


def test_malformed_address_one_error_and_a_prompt_exit():
    proc = subprocess.run(
        [sys.executable, "-c", MALFORMED], capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 1
    assert "ValueError: address='localhost:notaport' is not a dask scheduler address" in proc.stderr
    assert proc.stderr.count("Traceback") == 1  # no stray TimeoutError at exit
    assert "TimeoutError" not in proc.stderr
