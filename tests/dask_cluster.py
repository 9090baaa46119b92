"""A dask scheduler and workers started as separate processes, for the tests.

Used by tests/test_dispatch.py (a cluster at an address) and
tests/test_dask_faults.py (a cluster whose scheduler or workers are killed).
Import it after ``pytest.importorskip("distributed")``. The workers inherit
the environment, so set ``PYTHONPATH`` first when they must import test models.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed


@contextlib.contextmanager
def cluster(folder, n_workers, timeout=120):
    """A scheduler and ``n_workers`` workers (with nannies); all killed at the end.

    Each in a session of its own, so that killing one kills its children too.
    Yields ``(address, scheduler process, worker pids)``.
    """
    scheduler_file = Path(folder) / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler",
                 "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(scheduler_file)],
                start_new_session=True, **quiet,
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
                address = json.loads(scheduler_file.read_text())["address"]
                break
            time.sleep(0.1)
        for _ in range(n_workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address,
                     "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                    start_new_session=True, **quiet,
                )
            )
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=timeout)
            pids = list(client.run(os.getpid).values())
        yield address, procs[0], pids
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
