"""A search on a dask cluster that speaks TLS only, set up as docs/clusters.md shows.

The certificates are made with the ``openssl`` commands of the docs; the
scheduler and the worker are started with the docs' TLS options (on
127.0.0.1, any free port); the search joins with ``address="tls://..."``
and the docs' client settings (dask config). A client whose certificate
another authority signed is refused.
"""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

from distsearch import MultiModelSearchCV

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

DOCS = Path(__file__).parents[1] / "docs" / "clusters.md"


def make_certificates(folder):
    """Run the docs' openssl commands (their first bash block on TLS) in ``folder``."""
    section = DOCS.read_text().split("### dask with TLS", 1)[1]
    script = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    subprocess.run(["bash", "-euc", script], cwd=folder, check=True, capture_output=True)
    return [str(folder / name) for name in ("ca.pem", "cluster.pem", "cluster.key")]


def test_search_on_a_tls_only_dask_cluster(tmp_path):
    from dask import config
    from distributed import Client
    from distributed.security import Security

    ca, cert, key = make_certificates(tmp_path)
    tls = ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]
    scheduler_file = tmp_path / "scheduler.json"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls",
             "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file), *tls],
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(scheduler_file), "--no-nanny", "--nthreads", "1",
             "--no-dashboard", *tls],
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        deadline = time.time() + 120
        address = None
        while address is None:
            assert time.time() < deadline and all(p.poll() is None for p in processes)
            try:  # the file may be there but not written yet
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError):
                time.sleep(0.1)
        assert address.startswith("tls://127.0.0.1:")

        X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
        grid = {"alpha": [0.1, 1.0, 10.0]}
        with config.set(
            {
                "distributed.comm.require-encryption": True,
                "distributed.comm.tls.ca-file": ca,
                "distributed.comm.tls.client.cert": cert,
                "distributed.comm.tls.client.key": key,
            }
        ):
            search = MultiModelSearchCV(
                Ridge(), grid, cv=3, backend="dask", address=address
            ).fit(X, y)
        local = MultiModelSearchCV(Ridge(), grid, cv=3).fit(X, y)
        np.testing.assert_array_equal(
            search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
        )

        # A client whose certificate the cluster's authority did not sign is
        # refused, though it trusts the cluster's.
        stranger_cert, stranger_key = str(tmp_path / "stranger.pem"), str(tmp_path / "stranger.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=stranger",
             "-keyout", stranger_key, "-out", stranger_cert],
            check=True, capture_output=True,
        )
        stranger = Security(
            tls_ca_file=ca,
            tls_client_cert=stranger_cert,
            tls_client_key=stranger_key,
            require_encryption=True,
        )
        with pytest.raises(OSError):
            Client(address, security=stranger, timeout=3)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
