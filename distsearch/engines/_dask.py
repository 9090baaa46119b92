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
"""

import contextlib
import uuid
from collections import Counter

from ._base import FuturesEngine, WorkerLost


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

    Examples
    --------
    >>> from distsearch.engines import DaskEngine
    >>> DaskEngine(address="tcp://10.0.0.1:8786", resources={"GPU": 1})
    DaskEngine(address='tcp://10.0.0.1:8786', n_workers=None, resources={'GPU': 1})
    """

    name = "dask"
    requires = ("distributed",)
    extra = "dask"

    def __init__(self, address=None, n_workers=None, resources=None, priority=0):
        self.address = address
        self.n_workers = n_workers
        self.resources = resources
        self.priority = priority
        self._stack = None

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        from joblib import effective_n_jobs

        return cls(address=address, n_workers=effective_n_jobs(n_jobs), **options)

    def __repr__(self):
        return (
            f"DaskEngine(address={self.address!r}, n_workers={self.n_workers!r}, "
            f"resources={self.resources!r})"
        )

    def _client(self, stack):
        from distributed import Client, LocalCluster

        if self.address is not None:
            return stack.enter_context(Client(self.address, set_as_default=False))
        try:
            return Client.current()
        except ValueError:
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
            self._function = function
            self.n_slots = max(1, sum(client.nthreads().values()))
            # A list of one, so that a tuple is scattered whole.
            [self._bundle] = client.scatter([bundle], broadcast=True, hash=False)
            self._done = as_completed(loop=client.loop)
            self._topic = f"distsearch-{uuid.uuid4().hex}"
            self._starts = Counter()
            client.subscribe_topic(self._topic, self._on_start)
            self._stack.callback(client.unsubscribe_topic, self._topic)
        except BaseException:
            self._stack.close()
            raise

    def _on_start(self, event):
        _, first_index = event
        self._starts[first_index] += 1

    def share(self, extra):
        # Called once per round (run): task indices start at 0 again each
        # round, so do the start counts (else every batch of a later round
        # looks run again).
        self._starts = Counter()
        if extra is None:
            return None
        [future] = self._client_.scatter([extra], broadcast=True, hash=False)
        return future

    def submit(self, batch, extra):
        future = self._client_.submit(
            _announced,
            self._function,
            self._bundle,
            batch,
            extra,
            self._topic,
            pure=False,
            resources=self.resources,
            priority=self.priority,
        )
        self._done.add(future)
        return future

    def wait(self, futures):
        return next(self._done)

    def result(self, future):
        from distributed import KilledWorker

        if future.status == "cancelled":
            raise WorkerLost(f"dask task {future.key} was cancelled")
        try:
            return future.result()
        except KilledWorker as exc:
            raise WorkerLost(str(exc)) from exc

    def was_rerun(self, batch):
        return self._starts[batch[0][0]] > 1

    def cancel(self, futures):
        self._client_.cancel(futures)

    def on_every_worker(self, function, *args):
        self._client_.run(function, *args)
        return True

    def close(self):
        stack, self._stack = self._stack, None
        self._bundle = None
        if stack is not None:
            stack.close()
