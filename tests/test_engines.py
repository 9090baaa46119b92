"""Engines (distsearch.engines): a third-party engine, any joblib backend, Spark.

Every search here must give the same cv_results_ (times aside) and the same
best_estimator_ as the loky reference of tests/test_dispatch.py. Spark starts
once for the module (local[2]), only for the tests that need it.
"""

import concurrent.futures
import os
import shutil
import subprocess
import sys
from multiprocessing.pool import ThreadPool

import joblib
import numpy as np
import pytest
from joblib.parallel import ParallelBackendBase

from distsearch import MultiModelSearchCV
from distsearch.engines import (
    Engine,
    FuturesEngine,
    WorkerLost,
    engine_names,
    get_engine,
    register_engine,
)

from test_dispatch import _models, _search, assert_same_search  # noqa: E402


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import make_regression

    return make_regression(n_samples=120, n_features=5, noise=10.0, random_state=0)


@pytest.fixture(scope="module")
def reference(data):
    return _search(n_jobs=2, backend="loky").fit(*data)


# ----------------------------------------------------------------------
# An engine written here, not in distsearch
# ----------------------------------------------------------------------
class ThreadPoolEngine(FuturesEngine):
    """Batches on a thread pool; loses each batch of ``lose`` once (as a dead worker)."""

    name = "test-threads"

    def __init__(self, max_workers=2, lose=()):
        self.max_workers = max_workers
        self.lose = set(lose)
        self.opened = self.closed = 0

    def open(self, function, bundle):
        self.opened += 1
        self.n_slots = self.max_workers
        self._function, self._bundle = function, bundle
        self._pool = concurrent.futures.ThreadPoolExecutor(self.max_workers)
        self._lost_once = set()

    def submit(self, batch, extra):
        first = batch[0][0]
        if first in self.lose and first not in self._lost_once:
            self._lost_once.add(first)
            future = concurrent.futures.Future()
            future.set_exception(WorkerLost(f"batch {first} lost"))
            return future
        return self._pool.submit(self._function, self._bundle, batch, extra)

    def wait(self, futures):
        done, _ = concurrent.futures.wait(
            futures, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return next(iter(done))

    def result(self, future):
        return future.result()

    def close(self):
        self.closed += 1
        self._pool.shutdown(wait=True)


def test_registered_engine_from_this_file_identical(data, reference):
    register_engine("test-threads", ThreadPoolEngine)
    assert "test-threads" in engine_names()
    search = _search(backend="test-threads").fit(*data)
    assert_same_search(search, reference, data[0])
    assert search.n_task_retries_ == 0


def test_engine_object_with_its_options_counts_lost_work(data, reference):
    engine = ThreadPoolEngine(max_workers=3, lose={0})
    with pytest.warns(RuntimeWarning, match="run again"):
        search = _search(backend=engine).fit(*data)
    assert_same_search(search, reference, data[0])
    assert search.n_task_retries_ >= 1
    assert (engine.opened, engine.closed) == (1, 1)


def test_model_error_raised_not_retried_on_own_engine(tmp_path, data):
    from dispatch_models import LoggedRegressor

    engine = ThreadPoolEngine()
    models = [("bad", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [True]})]
    with pytest.raises(ValueError, match="this model always fails"):
        MultiModelSearchCV(models, cv=3, error_score="raise", backend=engine).fit(*data)
    assert engine.closed == 1
    assert len(list(tmp_path.iterdir())) <= 3  # at most once per fold, never again


@pytest.mark.parametrize(
    "backend, kwargs, error, match",
    [
        ("nope", {}, ValueError, r"backend='nope' is not one of .*register_engine"),
        (3, {}, TypeError, "registered engine name, an Engine object"),
        (ThreadPoolEngine(), {"address": "tcp://x:1"}, ValueError, "address=.*its own options"),
        (ThreadPoolEngine(), {"n_jobs": 4}, ValueError, "n_jobs=4 cannot be combined"),
        ("test-threads", {"address": "tcp://x:1"}, ValueError, "only used with"),
    ],
)
def test_get_engine_refuses_bad_input(backend, kwargs, error, match):
    register_engine("test-threads", ThreadPoolEngine)
    with pytest.raises(error, match=match):
        get_engine(backend, **kwargs)


def test_register_engine_refuses_a_non_engine():
    with pytest.raises(TypeError, match="Engine subclass"):
        register_engine("bad", object)


def test_importing_distsearch_imports_no_engine():
    code = (
        "import sys, distsearch, distsearch.engines;"
        "print([m for m in ('distributed', 'ray', 'pyspark') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_backend_choices_are_the_registry():
    from distsearch._cli import _parser

    actions = {a.dest: a for a in _parser()._subparsers._group_actions[0].choices["tournament"]._actions}
    assert tuple(actions["backend"].choices) == engine_names()


# ----------------------------------------------------------------------
# A joblib backend without retrieve-callback support (as joblib-spark's)
# ----------------------------------------------------------------------
class NoCallbackBackend(ParallelBackendBase):
    """A thread-pool joblib backend that cannot return results unordered."""

    supports_retrieve_callback = False  # as joblib-spark's backend
    uses_threads = True
    supports_sharedmem = True

    def effective_n_jobs(self, n_jobs):
        return 2 if n_jobs in (None, -1) else n_jobs

    def configure(self, n_jobs=1, parallel=None, **backend_kwargs):
        self.parallel = parallel
        self._n_jobs = self.effective_n_jobs(n_jobs)
        self._pool = ThreadPool(self._n_jobs)
        return self._n_jobs

    def submit(self, func, callback=None):
        return self._pool.apply_async(func, callback=callback)

    def terminate(self):
        self._pool.close()
        self._pool.join()


joblib.register_parallel_backend("distsearch-test-no-callback", NoCallbackBackend)


def test_joblib_backend_without_retrieve_callback_identical(data, reference):
    with pytest.raises(ValueError, match="does not support return_as"):
        joblib.Parallel(backend="distsearch-test-no-callback", return_as="generator_unordered")
    with joblib.parallel_config(backend="distsearch-test-no-callback", n_jobs=2):
        search = _search().fit(*data)
    assert_same_search(search, reference, data[0])


# ----------------------------------------------------------------------
# Spark (a real local Spark: pyspark and a Java runtime)
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime: apt-get install default-jre-headless")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("distsearch-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", os.pathsep.join(sys.path))
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_identical_and_data_broadcast_once(spark, data):
    from distsearch.engines import SparkEngine

    # A small multi-model search (Spark runs a job per batch): two models,
    # one a pipeline whose scaler is shared, 6 fits.
    models = _models()[::2]
    models[0] = (models[0][0], models[0][1], {"alpha": [0.01, 100.0]})
    models[1] = (models[1][0], models[1][1], {"ridge__alpha": [0.1]})
    reference = MultiModelSearchCV(models, cv=2, backend="loky", n_jobs=2).fit(*data)
    engine = SparkEngine(spark=spark)
    search = MultiModelSearchCV(models, cv=2, backend=engine).fit(*data)
    assert_same_search(search, reference, data[0])
    assert engine.n_slots == 2
    assert search.n_task_retries_ == 0
    # The session given is left running.
    assert spark.sparkContext._jsc is not None


def test_spark_by_name_uses_the_active_session_and_raises_model_errors(spark, tmp_path, data):
    from dispatch_models import LoggedRegressor

    models = [("bad", LoggedRegressor(log_dir=str(tmp_path)), {"fail": [True]})]
    with pytest.raises(ValueError, match="this model always fails"):
        MultiModelSearchCV(models, cv=3, error_score="raise", backend="spark").fit(*data)
    assert spark.sparkContext._jsc is not None


def test_spark_worker_lost_is_retried_and_counted(spark, tmp_path, data):
    from dispatch_models import ExitOnceRidge

    from distsearch.engines import SparkEngine

    # The first fit ends its Python worker: Spark fails that job, the
    # engine runs the batch again (counted) and the results are unchanged.
    marker = tmp_path / "exited"
    models = [("ridge", ExitOnceRidge(marker=str(marker)), {"alpha": [0.1, 10.0]})]
    search = MultiModelSearchCV(models, cv=2, backend=SparkEngine(spark=spark))
    with pytest.warns(RuntimeWarning, match="run again"):
        search.fit(*data)
    assert marker.exists()
    assert search.n_task_retries_ >= 1
    reference = MultiModelSearchCV(models, cv=2, n_jobs=1).fit(*data)  # marker there: no exit
    assert_same_search(search, reference, data[0])
    assert not search.fit_errors_


def test_spark_executors_free_shared_prefixes_when_the_search_ends(spark):
    from distsearch._prefix import _cached_bytes
    from distsearch.engines import SparkEngine
    from distsearch.engines._spark import _on_every_slot

    def cached(context):  # {Python worker pid: bytes it caches}, every slot
        rdd = context.parallelize(range(2), 2).barrier()
        return dict(rdd.mapPartitions(_on_every_slot(_cached_bytes, ())).collect())

    class Probe(SparkEngine):
        def on_every_worker(self, function, *args):
            self.held = cached(self._context)
            self.reached = super().on_every_worker(function, *args)
            return self.reached

    probe = Probe(spark=spark)
    X, y = _prefix_data()
    MultiModelSearchCV(_prefix_models(), cv=3, backend=probe).fit(X, y)
    assert probe.reached and len(probe.held) == 2
    assert sum(probe.held.values()) >= X.nbytes  # the scaled folds were kept...
    after = cached(spark.sparkContext)
    assert after.keys() == probe.held.keys()  # the same Python workers...
    assert sum(after.values()) == 0  # ...dropped them when the search ended


# ----------------------------------------------------------------------
# Long-lived workers give back the memory of a search's shared prefixes
# ----------------------------------------------------------------------
def _prefix_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    return X, X[:, 0] + rng.normal(size=len(X))


def _prefix_models():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [("scaled", make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [0.1, 1.0, 10.0]})]


def test_loky_workers_free_shared_prefixes_when_the_search_ends(tmp_path):
    from sklearn.utils.parallel import Parallel, delayed

    from distsearch._prefix import _cached_bytes
    from distsearch.engines import JoblibEngine
    from distsearch.engines._joblib import _on_this_worker

    def cached(parallel, folder):  # {worker pid: bytes it caches}, every worker
        os.makedirs(folder)
        calls = (delayed(_on_this_worker)(folder, 2, _cached_bytes, ()) for _ in range(2))
        return dict(parallel(calls))

    class Probe(JoblibEngine):
        def on_every_worker(self, function, *args):
            self.held = cached(self._parallel, tmp_path / "before")
            self.reached = super().on_every_worker(function, *args)
            return self.reached

    probe = Probe("loky", n_jobs=2)
    X, y = _prefix_data()
    MultiModelSearchCV(_prefix_models(), cv=3, backend=probe).fit(X, y)
    assert probe.reached and len(probe.held) == 2
    assert sum(probe.held.values()) >= X.nbytes  # the scaled folds were kept...
    # joblib reuses the same two loky workers for the next Parallel.
    after = cached(Parallel(n_jobs=2, backend="loky"), tmp_path / "after")
    assert after.keys() == probe.held.keys()
    assert sum(after.values()) == 0  # ...and dropped when the search ended


# ----------------------------------------------------------------------
# A long-lived dask worker gives back the memory of a search's shared prefixes
# ----------------------------------------------------------------------
def test_dask_worker_memory_back_to_its_level_after_a_search():
    distributed = pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from distsearch._prefix import _cached_bytes
    from distsearch.engines import DaskEngine

    class Probe(DaskEngine):
        """Records the bytes the workers cache when the search releases them."""

        def on_every_worker(self, function, *args):
            self.held = sum(self._client_.run(_cached_bytes).values())
            return super().on_every_worker(function, *args)

    def rss():
        return psutil.Process().memory_info().rss

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 50))  # 16 MB; each fold's scaled rows as much
    y = X[:, 0] + rng.normal(size=len(X))
    models = [("scaled", make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [0.1, 1.0, 10.0]})]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        # A first search warms the worker up (imports, allocator).
        MultiModelSearchCV(models, cv=3, backend=Probe()).fit(X, y)
        [before] = client.run(rss).values()
        probe = Probe()
        MultiModelSearchCV(models, cv=3, backend=probe).fit(X, y)
        [after] = client.run(rss).values()
        [cached] = client.run(_cached_bytes).values()
    assert probe.held >= 3 * X.nbytes  # three folds' scaled data were kept...
    assert cached == 0  # ...and dropped when the search ended
    assert after - before < X.nbytes, (before, after)
