"""The Spark engine: each batch one Spark job; the bundle broadcast once.

The session uses the given :class:`pyspark.sql.SparkSession`, else the
active one, else starts a local one (``master``, with the search's Python as
the workers' Python) and stops it on close. The bundle is sent with
``SparkContext.broadcast`` once per session; a batch is a one-partition job
run from a driver thread (``n_slots`` threads: Spark's default parallelism),
all in one job group cancelled on an error or Ctrl-C.

A model's own exception travels back as a value and is re-raised as it was
raised; a job that Spark fails (an executor or its Python worker lost, the
task failed ``spark.task.maxFailures`` times) is lost work, run again and
counted by :class:`~distsearch.engines.FuturesEngine`; a Python error outside
the model (a module a worker cannot import) is raised at once.

:meth:`SparkEngine.on_every_worker` reaches every Python worker of the
session's executors: a barrier job (Spark's barrier execution mode) of one
task per slot of the cluster runs them all at once, so each runs in a
different Python worker, and Python workers (reused between tasks) never
outnumber the slots that ran the search's batches.
"""

import concurrent.futures
import sys
import uuid

from ._base import FuturesEngine, WorkerLost


# Seconds on_every_worker waits for its barrier job (the slots may be busy).
_BARRIER_SECONDS = 60


def _on_every_slot(function, args):
    """The task of :meth:`SparkEngine.on_every_worker`'s barrier job."""

    def task(_):
        import os

        from pyspark import BarrierTaskContext

        result = function(*args)
        BarrierTaskContext.get().barrier()  # every slot busy until all ran it
        yield os.getpid(), result

    return task


def _guarded(function, bundle, batch, extra):
    """Run a batch on a Spark worker; its own exception returned, not raised."""
    try:
        return True, function(bundle, batch, extra)
    except Exception as exc:
        return False, exc


class SparkEngine(FuturesEngine):
    """Run the fits on Apache Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession or None, default=None
        The session to run on; None uses the active session, else starts a
        local one for the search (stopped when it ends).
    master : str, default='local[*]'
        The master of a session started here.
    n_slots : int or None, default=None
        Batches run at once; None: the context's ``defaultParallelism``.

    Examples
    --------
    >>> from distsearch.engines import SparkEngine
    >>> SparkEngine(master="local[2]")
    SparkEngine(master='local[2]', n_slots=None)
    """

    name = "spark"
    requires = ("pyspark",)
    extra = "spark"

    def __init__(self, spark=None, master="local[*]", n_slots=None):
        self.spark = spark
        self.master = master
        self.slots = n_slots
        self._session = None
        self._started = False

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        if address is not None:
            options.setdefault("master", address)
        elif n_jobs is not None:
            from joblib import effective_n_jobs

            options.setdefault("master", f"local[{effective_n_jobs(n_jobs)}]")
        return cls(**options)

    def __repr__(self):
        return f"SparkEngine(master={self.master!r}, n_slots={self.slots!r})"

    def open(self, function, bundle):
        from pyspark.sql import SparkSession

        session = self.spark or SparkSession.getActiveSession()
        if session is None:
            session = (
                SparkSession.builder.master(self.master)
                .appName("distsearch")
                .config("spark.ui.enabled", "false")
                .config("spark.pyspark.python", sys.executable)
                .getOrCreate()
            )
            self._started = True
        self._session = session
        context = session.sparkContext
        self._context = context
        self._function = function
        self.n_slots = max(1, self.slots or context.defaultParallelism)
        self._bundle = context.broadcast(bundle)
        self._group = f"distsearch-{uuid.uuid4().hex}"
        self._pool = concurrent.futures.ThreadPoolExecutor(self.n_slots)

    def _job(self, batch, extra):
        """One Spark job running ``batch`` (in a driver thread)."""
        context = self._context
        context.setJobGroup(self._group, "distsearch batch", interruptOnCancel=True)
        function, bundle = self._function, self._bundle
        rdd = context.parallelize([batch], 1)
        [(ok, value)] = rdd.map(
            lambda b: _guarded(function, bundle.value, b, extra)
        ).collect()
        if not ok:
            raise value
        return value

    def submit(self, batch, extra):
        return self._pool.submit(self._job, batch, extra)

    def wait(self, futures):
        done, _ = concurrent.futures.wait(
            futures, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return next(iter(done))

    def result(self, future):
        from py4j.protocol import Py4JError

        try:
            return future.result()
        except Py4JError as exc:  # the job failed in Spark, not in the model
            text = str(exc)
            if "PythonException" in text and "exited unexpectedly" not in text:
                # Python failed outside the model (e.g. a module the worker
                # cannot import): running it again would fail again.
                lines = [line for line in text.splitlines() if line.strip()]
                raise RuntimeError(
                    "A batch failed in a Spark worker's Python (not a lost "
                    "worker): " + " | ".join(lines[:1] + lines[-3:])
                ) from None
            raise WorkerLost(text) from exc

    def on_every_worker(self, function, *args):
        context = self._context
        n = context.defaultParallelism  # every slot of the cluster
        group = f"distsearch-{uuid.uuid4().hex}"

        def job():
            context.setJobGroup(group, "distsearch: on every worker", interruptOnCancel=True)
            rdd = context.parallelize(range(n), n).barrier()
            return rdd.mapPartitions(_on_every_slot(function, args)).collect()

        future = self._pool.submit(job)
        try:
            pids = {pid for pid, _ in future.result(timeout=_BARRIER_SECONDS)}
        except concurrent.futures.TimeoutError:
            context.cancelJobGroup(group)
            return False
        return len(pids) == n

    def cancel(self, futures):
        for future in futures:
            future.cancel()
        self._context.cancelJobGroup(self._group)

    def close(self):
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bundle, self._bundle = getattr(self, "_bundle", None), None
        if bundle is not None:
            bundle.destroy()
        if self._started:
            self._started = False
            self._session.stop()
        self._session = None
