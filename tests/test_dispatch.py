"""Backends of MultiModelSearchCV on real engines: loky, threading, dask, ray.

Each engine starts once per module: a dask LocalCluster (2 single-threaded
worker processes), a dask scheduler and two workers started as separate
processes on 127.0.0.1 (as a user starts a cluster), and a local ray.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from distsearch import MultiModelSearchCV

distributed = pytest.importorskip("distributed")
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from dask_cluster import cluster as dask_cluster  # noqa: E402
from dispatch_models import LoggedRegressor, SlowRidge  # noqa: E402

TESTS_DIR = str(Path(__file__).parent)


@pytest.fixture(scope="module", autouse=True)
def workers_import_test_models():
    # Worker processes (dask, ray, subprocesses) import dispatch_models by name.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")]))
        )
        yield


@pytest.fixture(scope="module")
def data():
    return make_regression(n_samples=120, n_features=5, noise=10.0, random_state=0)


def _models():
    return [
        ("ridge", Ridge(), {"alpha": [0.01, 1.0, 100.0, 1e4]}),
        ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 2, 4]}),
        # Shares its scaler with other candidates: fitted once per fold.
        ("scaled", make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [0.1, 10.0]}),
    ]


def _search(**kwargs):
    return MultiModelSearchCV(_models(), cv=3, **kwargs)


@pytest.fixture(scope="module")
def reference(data):
    return _search(n_jobs=2, backend="loky").fit(*data)


def assert_same_search(search, reference, X):
    """Same cv_results_ (times aside) and same best_estimator_."""
    results, expected = search.cv_results_, reference.cv_results_
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        if "time" in key:
            continue
        if key == "params":
            assert results[key] == value
        elif isinstance(value, np.ma.MaskedArray):
            np.testing.assert_array_equal(results[key].mask, value.mask)
            assert list(results[key].compressed()) == list(value.compressed())
        else:
            np.testing.assert_array_equal(results[key], value, err_msg=key)
    assert getattr(search, "best_model_name_", None) == getattr(
        reference, "best_model_name_", None
    )
    assert search.best_params_ == reference.best_params_
    assert type(search.best_estimator_) is type(reference.best_estimator_)
    np.testing.assert_array_equal(
        search.best_estimator_.predict(X), reference.best_estimator_.predict(X)
    )


def _children(pid=None):
    """The processes descended from ``pid`` (by default this one)."""
    return {p.pid for p in psutil.Process(pid).children(recursive=True)}


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # gone between the listing and the look
        return False


def _command(pid):
    """The command line of ``pid`` (for a failure's message)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())[:200]
    except psutil.NoSuchProcess:
        return f"{pid} (gone)"


def _wait_gone(pids, timeout=30):
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if _alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    return alive


# ----------------------------------------------------------------------
# Validation before any fit
# ----------------------------------------------------------------------
def _logged(tmp_path):
    return [("m", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [False]})]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"backend": "sparkle"}, ValueError, "'backend' parameter.*'sparkle'"),
        ({"address": "tcp://127.0.0.1:1"}, ValueError, "address=.*only used with"),
        (
            {"backend": "loky", "address": "tcp://127.0.0.1:1"},
            ValueError,
            "backend='loky'",
        ),
    ],
)
def test_bad_backend_raises_before_any_fit(tmp_path, data, kwargs, error, match):
    with pytest.raises(error, match=match):
        MultiModelSearchCV(_logged(tmp_path), cv=3, **kwargs).fit(*data)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, module, extra",
    [
        ({"backend": "dask"}, "distributed", "dask"),
        ({"backend": "ray"}, "ray", "ray"),
        ({"progress": True}, "tqdm", "progress"),
    ],
)
def test_missing_extra_names_it(tmp_path, data, monkeypatch, kwargs, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ImportError, match=rf'pip install "distsearch\[{extra}\]"'):
        MultiModelSearchCV(_logged(tmp_path), cv=3, **kwargs).fit(*data)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------
# joblib backends
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs", [{"n_jobs": 1}, {"n_jobs": 2, "backend": "threading"}, {"n_jobs": 2}]
)
def test_joblib_backends_identical(data, reference, kwargs):
    assert_same_search(_search(**kwargs).fit(*data), reference, data[0])


def test_active_joblib_backend_is_used(data, reference):
    import joblib

    with joblib.parallel_config(backend="threading", n_jobs=2):
        search = _search().fit(*data)
    assert_same_search(search, reference, data[0])


def test_progress_bar_counts_fits_and_shows_best_mean(data, capsys):
    search = _search(n_jobs=2, progress=True).fit(*data)
    err = capsys.readouterr().err
    assert "27/27" in err
    assert f"best={search.best_score_:.4g}" in err


# ----------------------------------------------------------------------
# dask
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_cluster(workers_import_test_models):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture
def client(local_cluster):
    with distributed.Client(local_cluster) as client:
        yield client


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory, workers_import_test_models):
    """A scheduler and two workers started as separate processes, always killed."""
    with dask_cluster(tmp_path_factory.mktemp("dask"), 2) as (address, _, _):
        yield address


def test_dask_current_client_identical(client, data, reference):
    assert_same_search(_search(backend="dask").fit(*data), reference, data[0])


def test_dask_scheduler_address_identical(scheduler_address, data, reference):
    search = _search(backend="dask", address=scheduler_address).fit(*data)
    assert_same_search(search, reference, data[0])
    assert search.n_task_retries_ == 0


def test_dask_local_cluster_started_and_closed(data, reference):
    before = _children()
    search = _search(backend="dask", n_jobs=2).fit(*data)
    assert_same_search(search, reference, data[0])
    with pytest.raises(ValueError):
        distributed.Client.current()  # no client left behind
    assert _wait_gone(_children() - before) == []


def test_dask_progress_from_remote_workers(client, data, capsys):
    search = _search(backend="dask", progress=True).fit(*data)
    err = capsys.readouterr().err
    assert "27/27" in err
    assert f"best={search.best_score_:.4g}" in err


def test_model_error_not_retried_dask(client, tmp_path, data):
    _check_model_error_not_retried(tmp_path, data, backend="dask")


def test_error_score_raise_propagates_dask(client, tmp_path, data):
    _check_error_score_raise(tmp_path, data, backend="dask")


def test_killed_dask_worker_tasks_are_rerun(client, tmp_path, data):
    space = {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5]}
    slow = SlowRidge(delay=0.15, log_dir=str(tmp_path))
    undisturbed = MultiModelSearchCV(SlowRidge(), space, cv=3, n_jobs=2).fit(*data)
    pids = list(client.run(os.getpid).values())

    def kill_one_worker():
        deadline = time.monotonic() + 60
        while len(list(tmp_path.iterdir())) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    with pytest.warns(RuntimeWarning, match="run again because the worker"):
        search = MultiModelSearchCV(slow, space, cv=3, backend="dask").fit(*data)
    killer.join()
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"
    assert 1 <= search.n_task_retries_ <= 24
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert_same_search(search, undisturbed, data[0])


# ----------------------------------------------------------------------
# Model errors: never retried, whatever the backend
# ----------------------------------------------------------------------
def _check_model_error_not_retried(tmp_path, data, **kwargs):
    models = [
        ("good", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [False]}),
        ("bad", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [True]}),
    ]
    with pytest.warns(FitFailedWarning, match="3 fits failed"):
        search = MultiModelSearchCV(models, cv=3, error_score=-1.0, **kwargs).fit(*data)
    logs = [p.name for p in tmp_path.iterdir()]
    assert sum(name.startswith("fail-") for name in logs) == 3  # once per fold
    assert sum(name.startswith("ok-") for name in logs) == 3 + 1  # folds + refit
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"][1], -1.0)
    assert search.best_model_name_ == "good"
    assert search.n_task_retries_ == 0


def _check_error_score_raise(tmp_path, data, **kwargs):
    models = [("bad", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [True]})]
    with pytest.raises(ValueError, match="this model always fails"):
        MultiModelSearchCV(models, cv=3, error_score="raise", **kwargs).fit(*data)


def test_model_error_not_retried_loky(tmp_path, data):
    _check_model_error_not_retried(tmp_path, data, n_jobs=2)


class _ThreeRounds(MultiModelSearchCV):
    """Three rounds; the last on folds of its own (sent as the round's part)."""

    def _run_search(self, evaluate_candidates):
        evaluate_candidates([("slow", {"alpha": 0.1}), ("tree", {"max_depth": 2})])
        evaluate_candidates([("slow", {"alpha": 10.0})])
        evaluate_candidates(
            [("tree", {"max_depth": 4}), ("slow", {"alpha": 1.0})],
            cv=KFold(3, shuffle=True, random_state=1),
        )


def test_one_local_cluster_for_a_multi_round_fit(tmp_path, data):
    def search(**kwargs):
        models = [
            ("slow", SlowRidge(log_dir=str(tmp_path)), {}),
            ("tree", DecisionTreeRegressor(random_state=0), {}),
        ]
        return _ThreeRounds(models, cv=3, **kwargs)

    reference = search(n_jobs=1).fit(*data)
    for log in tmp_path.iterdir():
        log.unlink()
    before = _children()
    rounds = search(backend="dask", n_jobs=2).fit(*data)
    assert_same_search(rounds, reference, data[0])
    assert len(rounds.cv_results_["params"]) == 5
    # Every SlowRidge fit of the three rounds ran in the two worker processes
    # of the one LocalCluster (a cluster per round would use six).
    pids = [log.name.split("-")[0] for log in tmp_path.iterdir()]
    pids = [pid for pid in pids if pid != str(os.getpid())]  # not the refit
    assert len(pids) == 3 * 3  # 3 SlowRidge candidates x 3 folds
    assert len(set(pids)) <= 2
    assert _wait_gone(_children() - before) == []


# ----------------------------------------------------------------------
# ray
# ----------------------------------------------------------------------
def test_ray_started_and_shut_down(data, reference):
    assert not ray.is_initialized()
    search = _search(backend="ray", n_jobs=2).fit(*data)
    assert_same_search(search, reference, data[0])
    assert not ray.is_initialized()


@contextlib.contextmanager
def _ray_head():
    """A head node started with ``ray start --head``, as a user starts one.

    Yields its address, the pid of ``ray start`` and its temp dir (which
    holds the node's logs). ``ray start`` runs with ``--block`` in a session
    of its own: every process of the node descends from it, and stopping it
    (SIGTERM, then SIGKILL to its process group) ends exactly those, never
    another ray on this machine (as ``ray stop`` would). Its own temp dir
    keeps ``ray.init()`` elsewhere on the machine from joining it.
    ``RAY_AUTH_MODE=disabled``: ``ray start`` turns token authentication on
    when ``~/.ray/auth_token`` exists, so the test would otherwise depend on
    that file.
    """
    cli = Path(sys.executable).with_name("ray")
    if not cli.exists():
        pytest.skip(f"the ray command-line tool is not installed ({cli})")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: ray's socket paths are limited
    log = Path(temp_dir, "start.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats",
             "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
    try:
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", proc.pid, temp_dir
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_cluster_address_identical(data, reference):
    assert not ray.is_initialized()
    with _ray_head() as (address, head, temp_dir):
        search = _search(backend="ray", address=address).fit(*data)
        assert not ray.is_initialized()  # the connection fit made is closed
        node = _children(head) | {head}
        # The node's workers ran the batches (ray marks each task in its log,
        # worker-<id>-<job>-<pid>.out).
        logs = Path(temp_dir).glob("session_*/logs/worker-*.out")
        ran = {int(log.stem.rsplit("-", 1)[1]) for log in logs if ":task_name:_run_batch" in log.read_text()}
        assert ran
        # They ended with the search's job (and its cached prefixes with
        # them) while the cluster runs on.
        assert _wait_gone(ran) == []
        assert _alive(head)
    assert_same_search(search, reference, data[0])
    assert _wait_gone(node) == []


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_ray_address_with_nothing_behind_it_errors_within_the_timeout(scheme, data):
    from distsearch.engines import ClusterLost, RayEngine

    address = f"{scheme}127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(ClusterLost, match=f"No ray cluster answers at {address} .*timeout=1"):
        _search(backend=RayEngine(address, timeout=1)).fit(*data)
    assert not ray.is_initialized()


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan"), "10", None, True])
def test_ray_timeout_must_be_positive_seconds(timeout):
    from distsearch.engines import RayEngine

    with pytest.raises(ValueError, match=f"timeout={timeout!r} must be a positive"):
        RayEngine("127.0.0.1:6379", timeout=timeout)


def test_ray_head_lost_mid_search_stops_with_an_error_then_resumes(tmp_path, data):
    """The head of a joined cluster killed mid-search: ClusterLost naming its
    address within seconds (ray alone ends the process after 60 s); the fits
    finished before are in the checkpoint and a rerun reuses them."""
    from distsearch.engines import ClusterLost, RayEngine

    fits, checkpoint = tmp_path / "fits", tmp_path / "checkpoint"
    fits.mkdir()
    search = MultiModelSearchCV(
        SlowRidge(delay=0.2, log_dir=str(fits)),
        {"alpha": [float(a) for a in range(1, 9)]},
        cv=3,
        checkpoint=checkpoint,
    )
    with _ray_head() as (address, head, temp_dir):

        def kill_head_after_some_fits():
            while len(list(fits.iterdir())) < 4:
                time.sleep(0.05)
            os.killpg(head, signal.SIGKILL)  # the node's session: gcs, raylet, workers

        killer = threading.Thread(target=kill_head_after_some_fits, daemon=True)
        killer.start()
        with pytest.raises(ClusterLost, match=f"ray cluster at {address} stopped answering") as info:
            search.set_params(backend=RayEngine(address, timeout=2)).fit(*data)
        killer.join()
    assert info.value.address == address
    assert not ray.is_initialized()
    saved = len(list(checkpoint.glob("*.json")))
    assert 1 <= saved < 24
    assert f"{saved} of the 24 fits of this round are saved" in str(info.value)
    before = len(list(fits.iterdir()))
    resumed = search.set_params(backend=None, n_jobs=None).fit(*data)
    # Only the fits not in the checkpoint ran again (and the best's refit).
    assert len(list(fits.iterdir())) - before == 24 - saved + 1
    reference = MultiModelSearchCV(SlowRidge(), {"alpha": [float(a) for a in range(1, 9)]}, cv=3).fit(*data)
    assert_same_search(resumed, reference, data[0])


@pytest.fixture(scope="module")
def ray_running(workers_import_test_models):
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_ray_running_identical(ray_running, data, reference):
    search = _search(backend="ray").fit(*data)
    assert_same_search(search, reference, data[0])
    assert ray.is_initialized()  # a ray the user started stays up


def test_ray_workers_free_shared_prefixes_when_the_search_ends(ray_running, tmp_path):
    from distsearch._prefix import _cached_bytes
    from distsearch.engines import RayEngine
    from distsearch.engines._joblib import _on_this_worker

    call = ray.remote(max_retries=0, num_cpus=1)(_on_this_worker)

    def cached(folder):  # {worker pid: bytes it caches}, one call per CPU
        os.makedirs(folder)
        return dict(ray.get([call.remote(str(folder), 2, _cached_bytes, ()) for _ in range(2)]))

    class Probe(RayEngine):
        def on_every_worker(self, function, *args):
            self.held = cached(tmp_path / "before")
            self.reached = super().on_every_worker(function, *args)
            return self.reached

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = X[:, 0] + rng.normal(size=len(X))
    models = [("scaled", make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [0.1, 1.0, 10.0]})]
    probe = Probe()
    MultiModelSearchCV(models, cv=3, backend=probe).fit(X, y)
    assert probe.reached and len(probe.held) == 2
    assert sum(probe.held.values()) >= X.nbytes  # the scaled folds were kept...
    after = cached(tmp_path / "after")
    assert after.keys() == probe.held.keys()  # the same workers...
    assert sum(after.values()) == 0  # ...dropped them when the search ended


def test_ray_address_with_running_ray_raises(ray_running, data):
    with pytest.raises(ValueError, match="ray is already initialized"):
        _search(backend="ray", address="auto").fit(*data)


def test_model_error_not_retried_ray(ray_running, tmp_path, data):
    _check_model_error_not_retried(tmp_path, data, backend="ray")


def test_error_score_raise_propagates_ray(ray_running, tmp_path, data):
    _check_error_score_raise(tmp_path, data, backend="ray")


# ----------------------------------------------------------------------
# scikit-learn callbacks: events from the workers through the result stream
# ----------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(MultiModelSearchCV, "set_callbacks"), reason="sklearn<1.9")
@pytest.mark.parametrize("backend", ["loky", "threading", "dask", "ray"])
def test_callbacks_on_every_backend(request, backend):
    from sklearn.callback.tests._utils import MaxIterEstimator
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from test_search import hook_calls

    if backend == "dask":
        request.getfixturevalue("client")
    elif backend == "ray":
        request.getfixturevalue("ray_running")
    X, y = make_classification(n_samples=40, random_state=0)
    expected = hook_calls(GridSearchCV, MaxIterEstimator(), X, y)
    calls = hook_calls(MultiModelSearchCV, MaxIterEstimator(), X, y, backend=backend, n_jobs=2)
    # The model's own tasks ran on the workers: each fit's first iteration.
    assert calls[1][("on_fit_task_end", "iteration 0", 0)] == 3 * 2 + 1  # + refit
    assert calls == expected


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_halving_identical_on_remote_backends(request, backend, data):
    from distsearch import HalvingMultiModelSearchCV

    request.getfixturevalue("client" if backend == "dask" else "ray_running")
    models = [
        ("ridge", Ridge(), {"alpha": [0.01, 1.0, 100.0]}),
        ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 2, 4]}),
    ]

    def search(**kwargs):
        return HalvingMultiModelSearchCV(models, cv=3, factor=2, random_state=0, **kwargs)

    reference = search(n_jobs=1).fit(*data)
    halving = search(backend=backend, n_jobs=2).fit(*data)
    assert halving.n_candidates_ == reference.n_candidates_ == [6, 3, 2]
    assert_same_search(halving, reference, data[0])


# ----------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------
CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys
    from sklearn.datasets import make_regression
    from distsearch import MultiModelSearchCV
    from dispatch_models import SlowRidge

    if __name__ == "__main__":
        X, y = make_regression(n_samples=60, n_features=3, random_state=0)
        model = SlowRidge(delay=0.5, log_dir=sys.argv[2])
        MultiModelSearchCV(
            model, {"alpha": list(range(1, 41))}, cv=3, backend=sys.argv[1], n_jobs=2
        ).fit(X, y)
    """
)


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_ctrl_c_stops_promptly_without_orphans(tmp_path, backend):
    script = tmp_path / "search.py"
    script.write_text(CTRL_C_SCRIPT)
    log_dir = tmp_path / "fits"
    log_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), backend, str(log_dir)],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(log_dir.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        descendants = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert descendants  # the cluster's processes
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    # Python's own interrupt, not an abort: ray aborted the driver when its
    # tasks were cancelled as they finished, leaving its agents behind (see
    # RayEngine.cancel).
    assert "KeyboardInterrupt" in err, err[-3000:]
    left = _wait_gone(descendants)
    assert left == [], [_command(pid) for pid in left]
    assert len(list(log_dir.iterdir())) < 120  # stopped before the end
