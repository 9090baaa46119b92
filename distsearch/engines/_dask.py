"""The dask engine: batches as dask futures; the bundle scattered once.

The client is the one to ``address`` if given, else the current
:class:`distributed.Client`, else one to a ``LocalCluster`` started for the
session (single-threaded worker processes) and closed with it; the current
client and a cluster at ``address`` are left as they were.

dask's scheduler itself re-runs the batches of a lost worker; those re-runs
are counted from the start events each batch logs on a topic of the
session's own (a topic no one else publishes to; the scheduler keeps its few
small events). A batch the scheduler gives up on (``KilledWorker``) or
cancels is resubmitted by :class:`~distsearch.engines.FuturesEngine`.

Faults:

- The scheduler gone (the client's connection to it closed) is
  :class:`~distsearch.engines.ClusterLost` at once, naming the address:
  distributed cancels every future then, and would otherwise retry the
  connection for its timeout and leave the search waiting. Nothing more is
  sent to the lost scheduler (no cancel, no unsubscribe), so the session
  closes at once.
- An address is checked (``host:port``, something listening) before the
  client is made, within the engine's ``timeout``.
- The scattered bundle (and a run's ``extra``) lost with every worker that
  held it is scattered again from the driver, which keeps it. The batches
  that dask cancelled with it are resubmitted: one that had started counts
  as lost with its worker (``WorkerLost``, a retry of its tasks); one that
  had not is resubmitted here without counting (it was cancelled, not lost).
  Should the bundle be lost again and again with no batch finishing in
  between (workers that cannot hold it), the search stops with an error.
"""

import contextlib
import uuid
from concurrent.futures import CancelledError  # what distributed raises
from collections import Counter

from ._base import ClusterLost, FuturesEngine, WorkerLost, check_reachable


def _announced(function, bundle, batch, extra, topic):
    """``function(bundle, batch, extra)`` on a dask worker, first logging its start.

    The event (the batch's first task index) reaches the client before the
    batch's result does, so a batch seen starting twice was run again after
    its worker was lost.
    """
    from distributed import get_worker

    get_worker().log_event(topic, batch[0][0])
    return function(bundle, batch, extra)


class DaskEngine(FuturesEngine):
    """Run the fits on a dask.distributed cluster.

    Parameters
    ----------
    address : str or None, default=None
        A scheduler address such as ``'tcp://10.0.0.1:8786'``. None uses the
        current client, else starts a ``LocalCluster`` for the session.
    n_workers : int or None, default=None
        Worker processes of a ``LocalCluster`` started here (None: one per
        core); ignored on an existing cluster, where every worker thread is
        a slot.
    resources : dict or None, default=None
        dask worker resources each batch needs, e.g. ``{"GPU": 1}``.
    priority : int, default=0
        dask priority of the batches.
    timeout : float, default=10
        Seconds to wait for the scheduler at ``address`` to answer. Nothing
        listening at the address fails at once.

    Examples
    --------
    >>> from distsearch.engines import DaskEngine
    >>> DaskEngine(address="tcp://10.0.0.1:8786", resources={"GPU": 1})
    DaskEngine(address='tcp://10.0.0.1:8786', n_workers=None, resources={'GPU': 1}, timeout=10)
    """

    name = "dask"
    requires = ("distributed",)
    extra = "dask"
    #: A batch costs the scheduler and the client (in the driver's process
    #: for a LocalCluster) about 5-10 ms of CPU: with 0.2 s batches, 1000
    #: cheap fits (2 ms each) on 2 cores took 1.15x the loky time (driver
    #: 0.63 s of CPU), with 1 s batches 1.09x (0.46 s; loky 0.30 s).
    batch_seconds = 1.0

    #: How many times in a row the bundle may be lost with no batch
    #: finishing in between before the search stops.
    max_data_losses = 8
    #: Seconds to wait for a worker after every worker was lost (a nanny
    #: restarts its worker in a few seconds; a loaded machine takes longer).
    worker_timeout = 120

    def __init__(self, address=None, n_workers=None, resources=None, priority=0,
                 timeout=10):
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address={address!r}: expected a string such as 'tcp://host:8786'")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout={timeout!r}: expected a positive number of seconds")
        self.address = address
        self.n_workers = n_workers
        self.resources = resources
        self.priority = priority
        self.timeout = timeout
        self._stack = None
        self._client_ = None

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        from joblib import effective_n_jobs

        return cls(address=address, n_workers=effective_n_jobs(n_jobs), **options)

    def __repr__(self):
        return (
            f"DaskEngine(address={self.address!r}, n_workers={self.n_workers!r}, "
            f"resources={self.resources!r}, timeout={self.timeout!r})"
        )

    def _client(self, stack):
        from distributed import Client, LocalCluster

        if self.address is not None:
            check_reachable(self.address, self.timeout, "dask scheduler")
            try:
                client = Client(self.address, set_as_default=False, timeout=self.timeout)
            except (OSError, TimeoutError) as exc:
                raise ClusterLost(
                    f"The dask scheduler at {self.address} did not answer within "
                    f"timeout={self.timeout} s ({exc}).",
                    address=self.address,
                ) from None
            return stack.enter_context(client)
        try:
            return Client.current()
        except ValueError:
            import dask

            # allowed-failures=0: a batch whose worker died reaches the engine
            # at its first loss, which runs it again in a child process (one
            # fit after the other) and records a fit that kills it as failed;
            # dask's own default (3) would rerun the same batch as it is, on
            # three more workers, before the engine sees anything.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=self.n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
            return stack.enter_context(Client(cluster, set_as_default=False))

    def open(self, function, bundle):
        from distributed import as_completed

        self._stack = contextlib.ExitStack()
        try:
            client = self._client(self._stack)
            self._client_ = client
            self._address = self.address or client.scheduler.address
            self._function = function
            self.n_slots = max(1, sum(client.nthreads().values()))
            # The driver keeps what it scatters, to scatter it again if every
            # worker holding it is lost.
            self._data = {"bundle": bundle, "extra": None}
            self._scattered = {"bundle": self._scatter(bundle), "extra": None}
            self._losses = 0  # bundle losses since a batch last finished
            self._batches = {}  # dask key -> _Batch
            # Results fetched in the client's event loop as batches finish,
            # all at once, not one round trip at a time by the driver.
            self._done = as_completed(loop=client.loop, with_results=True, raise_errors=False)
            self._fetched = {}  # dask key -> a finished batch's result
            self._topic = f"distsearch-{uuid.uuid4().hex}"
            self._starts = Counter()
            client.subscribe_topic(self._topic, self._on_start)
            self._stack.callback(self._unsubscribe)
        except BaseException:
            self._stack.close()
            raise

    def _scatter(self, value):
        # A list of one, so that a tuple is scattered whole.
        [future] = self._client_.scatter([value], broadcast=True, hash=False)
        return future

    def _unsubscribe(self):
        if self._alive():
            self._client_.unsubscribe_topic(self._topic)

    def _alive(self):
        """Whether the client is still connected to the scheduler."""
        return self._client_.status == "running"

    def _lost(self):
        return ClusterLost(
            f"The dask scheduler at {self._address} went away during the search "
            "(the connection to it closed); the fits in flight are lost.",
            address=self._address,
        )

    def _on_start(self, event):
        _, first_index = event
        self._starts[first_index] += 1

    def share(self, extra):
        # Called once per round (run): task indices start at 0 again each
        # round, so do the start counts (else every batch of a later round
        # looks run again).
        self._starts = Counter()
        self._data["extra"] = extra
        self._scattered["extra"] = None if extra is None else self._scatter(extra)
        return None  # submit sends the current scatter of extra

    def submit(self, batch, extra):
        handle = _Batch(batch)
        self._send(handle)
        return handle

    def _send(self, handle):
        if not self._alive():
            raise self._lost()
        handle.starts = self._starts[handle.batch[0][0]]
        handle.future = self._client_.submit(
            _announced,
            self._function,
            self._scattered["bundle"],
            handle.batch,
            self._scattered["extra"],
            self._topic,
            pure=False,
            resources=self.resources,
            priority=self.priority,
        )
        self._batches[handle.future.key] = handle
        self._done.add(handle.future)

    def wait(self, futures):
        while True:
            future, result = next(self._done)
            handle = self._batches.pop(future.key)
            if future.status == "finished":
                self._fetched[future.key] = result
            if future.status != "cancelled":
                return handle
            if not self._alive():
                raise self._lost()
            self._recover_data()
            if (
                self._starts[handle.batch[0][0]] > handle.starts
                or handle.requeued >= self.max_data_losses
            ):
                return handle  # it ran: lost with its worker (a counted retry)
            # Cancelled before it started (with the data it needed): not a
            # loss of its own, so resubmitted here without counting.
            handle.requeued += 1
            self._send(handle)

    def _recover_data(self):
        """Scatter again what every worker holding it lost; whether any was lost."""
        lost = [
            name
            for name, future in self._scattered.items()
            if future is not None and future.status != "finished"
        ]
        if not lost:
            return False
        self._losses += 1
        if self._losses > self.max_data_losses:
            raise RuntimeError(
                f"The search's data was lost with the dask workers holding it "
                f"{self._losses} times in a row, with no fit finishing in between; "
                "giving up. Check the workers' memory limits and logs."
            )
        for name in lost:
            self._scattered[name] = self._scatter_again(self._data[name])
        return True

    def _scatter_again(self, value):
        """Scatter ``value`` once a worker is there (nannies restart lost ones)."""
        from distributed import TimeoutError as DaskTimeout

        try:
            self._client_.wait_for_workers(1, timeout=self.worker_timeout)
            return self._scatter(value)
        except (OSError, DaskTimeout, TimeoutError) as exc:
            if not self._alive():
                raise self._lost() from None
            raise RuntimeError(
                f"The search's data was lost with every dask worker holding it, "
                f"and no worker took it again within {self.worker_timeout} s "
                f"({exc!r}); giving up. Are the workers started with a nanny?"
            ) from None

    def result(self, handle):
        from distributed import KilledWorker

        future = handle.future
        try:
            if future.status == "cancelled":
                raise CancelledError
            results = self._fetched.pop(future.key, None)
            if results is None:  # an error (raised as it was) or not fetched
                results = future.result()
        except KilledWorker as exc:
            raise WorkerLost(str(exc)) from exc
        except CancelledError:
            # Cancelled while running or while its result was fetched (its
            # worker, and maybe the data, lost meanwhile).
            if not self._alive():
                raise self._lost() from None
            self._recover_data()
            raise WorkerLost(f"dask task {future.key} was cancelled") from None
        self._losses = 0
        return results

    def was_rerun(self, batch):
        return self._starts[batch[0][0]] > 1

    def cancel(self, futures):
        if self._alive():
            self._client_.cancel([handle.future for handle in futures])

    def on_every_worker(self, function, *args):
        if self._client_ is None or not self._alive():
            return False
        self._client_.run(function, *args)
        return True

    def close(self):
        stack, self._stack = self._stack, None
        self._data = self._scattered = self._batches = self._fetched = None
        if stack is None:
            return
        if getattr(self, "_client_", None) is not None and not self._alive():
            # Closing a client whose scheduler is gone cancels its attempt to
            # reconnect, which distributed logs as an error with a traceback:
            # the search's own error says it all already.
            with _quiet("distributed.client"):
                self._client_.close()
        try:
            stack.close()
        finally:
            self._client_ = None


@contextlib.contextmanager
def _quiet(name):
    """Drop the records of logger ``name`` in this block."""
    import logging

    logger = logging.getLogger(name)
    drop = logging.Filter(f"{name}.never")  # passes only that child's records
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class _Batch:
    """A batch and its current dask future (replaced when resubmitted here)."""

    __slots__ = ("batch", "future", "starts", "requeued")

    def __init__(self, batch):
        self.batch = batch
        self.future = None
        self.starts = 0  # the starts of its first task seen when it was sent
        self.requeued = 0  # resubmitted here, cancelled before it started
