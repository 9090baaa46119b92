"""The ray engine: batches as ray tasks; the bundle put in the object store once.

The session uses the running ray, or connects to ``address``, or starts a
local ray; a connection or local ray made here is shut down on close. Tasks
are submitted with ``max_retries=0`` and resubmitted by
:class:`~distsearch.engines.FuturesEngine` on worker, node or object loss, so
that every retry is counted. When the search stops early (an error, Ctrl-C),
the batches still running are cancelled only on a ray this engine did not
start; a ray started here ends them by shutting down (see
:meth:`RayEngine.cancel`).

A cluster that does not answer is an error, never a hang: before joining an
``address``, the engine checks that it accepts a connection within
``timeout`` seconds (:func:`~distsearch.engines.check_reachable`; ray's own
connection retries last minutes); during the search, whenever no batch has
finished for a second, it checks that the cluster's address (its head's
GCS, or the ray client server of a ``ray://`` address) still accepts
connections, and stops the search with
:class:`~distsearch.engines.ClusterLost` (naming the address) once it has
not for ``timeout`` seconds. A batch lost while the head does not answer is
not retried (it would be lost again): the head's loss is the error. (ray
itself only notices a lost head after 60 s, and then ends the process.)

:meth:`RayEngine.on_every_worker` reaches every worker when the whole
cluster is this machine (a ray started here or by ``ray.init()``): one call
per slot, each holding its worker at a barrier, as the joblib engine does.
On a cluster of several machines it reaches none; the workers of a cluster
joined at ``address`` still end with the search's ray job when it closes.
"""

import math
import socket
import time

from ._base import ClusterLost, FuturesEngine, WorkerLost, check_reachable

# Seconds between two checks that the head answers, while no batch finishes.
_POLL = 1.0


def _host_port(address):
    """``(host, port)`` of a ray address (``host:port`` or ``ray://host:port``).

    None for addresses ray resolves itself (``"auto"``, ``"local"``).
    """
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _answers(host_port, timeout):
    """Whether ``host_port`` accepts a TCP connection within ``timeout`` s."""
    try:
        socket.create_connection(host_port, timeout=timeout).close()
    except OSError:
        return False
    return True


class RayEngine(FuturesEngine):
    """Run the fits on a ray cluster.

    Parameters
    ----------
    address : str or None, default=None
        A cluster address (``'ray://host:10001'`` or ``'host:6379'``). None
        uses the running ray, else starts a local one for the session.
    num_cpus : int or None, default=None
        CPUs of a local ray started here (None: every core).
    resources : dict or None, default=None
        ray resources each batch needs, e.g. ``{"GPU": 1}`` or custom ones;
        the CPU a batch needs is ``num_cpus_per_task``.
    num_cpus_per_task : float, default=1
        CPUs each batch holds while it runs.
    timeout : float, default=10
        Seconds the cluster's address may take to accept a connection when
        joining it, and may go without accepting one during the search,
        before the search stops with :class:`~distsearch.engines.ClusterLost`
        naming the address.

    Raises
    ------
    distsearch.engines.ClusterLost
        From :meth:`open` when ``address`` does not answer within
        ``timeout``; from :meth:`run` when the cluster stops answering for
        ``timeout`` seconds (its head gone).

    Examples
    --------
    >>> from distsearch.engines import RayEngine
    >>> RayEngine(num_cpus=2)
    RayEngine(address=None, num_cpus=2, resources=None, timeout=10.0)
    >>> RayEngine(address="10.0.0.1:6379", timeout=0)
    Traceback (most recent call last):
    ...
    ValueError: timeout=0 must be a positive number of seconds.
    """

    name = "ray"
    requires = ("ray",)
    extra = "ray"

    def __init__(
        self, address=None, num_cpus=None, resources=None, num_cpus_per_task=1, timeout=10.0
    ):
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < math.inf
        ):
            raise ValueError(f"timeout={timeout!r} must be a positive number of seconds.")
        self.address = address
        self.num_cpus = num_cpus
        self.resources = resources
        self.num_cpus_per_task = num_cpus_per_task
        self.timeout = float(timeout)
        self._started = False

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        from joblib import effective_n_jobs

        return cls(address=address, num_cpus=effective_n_jobs(n_jobs), **options)

    def __repr__(self):
        return (
            f"RayEngine(address={self.address!r}, num_cpus={self.num_cpus!r}, "
            f"resources={self.resources!r}, timeout={self.timeout!r})"
        )

    def _answers_within_timeout(self):
        """Whether the head answers within :attr:`timeout` (tried each second)."""
        deadline = time.monotonic() + self.timeout
        while not _answers(self._head, _POLL):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def _lost(self):
        return ClusterLost(
            f"The ray cluster at {self._where} stopped answering: no connection "
            f"accepted for {self.timeout:g} s during the search "
            "(RayEngine(timeout=...) sets how long to wait).",
            address=self._where,
        )

    def open(self, function, bundle):
        import ray

        self._ray = ray
        if ray.is_initialized():
            if self.address is not None:
                raise ValueError(
                    f"address={self.address!r} was given but ray is already "
                    "initialized in this process; drop address to use the running "
                    "ray, or call ray.shutdown() first."
                )
        elif self.address is None:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False)
            self._started = True
        else:
            if _host_port(self.address) is not None:  # not "auto" or "local"
                check_reachable(self.address, self.timeout, "ray cluster")
            ray.init(address=self.address)
            self._started = True
        try:
            self._head = self._head_address()
            cpus = ray.cluster_resources().get("CPU", 1)
            self.n_slots = max(1, int(cpus // self.num_cpus_per_task))
            self._bundle = ray.put(bundle)
            # Retries are ours (see the module docstring), so that they are counted.
            self._run = ray.remote(
                max_retries=0,
                retry_exceptions=False,
                num_cpus=self.num_cpus_per_task,
                resources=self.resources,
            )(function)
            exc = ray.exceptions
            self._lost_errors = (
                exc.WorkerCrashedError,
                exc.NodeDiedError,
                exc.ObjectLostError,
                exc.LocalRayletDiedError,
                exc.OutOfMemoryError,
            )
        except BaseException:
            self.close()
            raise

    def _head_address(self):
        """The ``(host, port)`` that answers while the cluster is up, or None."""
        ray = self._ray
        if self.address is not None and self.address.startswith("ray://"):
            address = self.address  # the client server; the GCS is not ours to see
        else:
            try:
                address = ray.get_runtime_context().gcs_address
            except Exception:  # no GCS address to check (e.g. a ray client)
                return None
        named = self.address is not None and _host_port(self.address) is not None
        self._where = self.address if named else address
        self._answered = time.monotonic()
        return _host_port(address)

    def _check_head(self):
        """Raise :class:`ClusterLost` once the head has not answered for ``timeout`` s."""
        if self._head is None:
            return
        if _answers(self._head, _POLL):
            self._answered = time.monotonic()
        elif time.monotonic() - self._answered >= self.timeout:
            raise self._lost()

    def share(self, extra):
        return None if extra is None else self._ray.put(extra)

    def submit(self, batch, extra):
        return self._run.remote(self._bundle, batch, extra)

    def wait(self, futures):
        while True:
            ready, _ = self._ray.wait(futures, num_returns=1, timeout=_POLL)
            if ready:
                self._answered = time.monotonic()  # a batch ended: the cluster is up
                return ready[0]
            self._check_head()

    def result(self, ref):
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            # A model's own exception (error_score="raise"): re-raise it as is.
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise
        except self._lost_errors as exc:
            if self._head is not None and not self._answers_within_timeout():
                raise self._lost() from None
            raise WorkerLost(str(exc)) from exc

    def on_every_worker(self, function, *args):
        # One call per slot, each holding its worker at a barrier (a folder
        # of this machine: only when the whole cluster is this machine, as a
        # ray started here or with ray.init() is), so that every worker runs
        # it once. Elsewhere the workers end with the search's ray job when
        # the engine joined the cluster itself (see _prefix).
        import tempfile

        from ._joblib import _BARRIER_SECONDS, _on_this_worker

        ray = self._ray
        if self._head is not None and not _answers(self._head, _POLL):
            return False  # the cluster is gone (the search is stopping)
        nodes = [node for node in ray.nodes() if node["Alive"]]
        here = ray.util.get_node_ip_address()
        if len(nodes) != 1 or nodes[0]["NodeManagerAddress"] != here:
            return False
        call = ray.remote(
            max_retries=0, num_cpus=self.num_cpus_per_task, resources=self.resources
        )(_on_this_worker)
        n = self.n_slots
        with tempfile.TemporaryDirectory(prefix="distsearch-barrier-") as folder:
            refs = [call.remote(folder, n, function, args) for _ in range(n)]
            try:
                pids = {pid for pid, _ in ray.get(refs, timeout=2 * _BARRIER_SECONDS)}
            except ray.exceptions.GetTimeoutError:
                self._cancel(refs)  # the session goes on: free the slots now
                return False
        return len(pids) == n

    def cancel(self, refs):
        # The tasks of a ray started here end with it in close(), which
        # follows. Cancelling them first races, in ray's core worker, with
        # the replies of tasks finishing at that moment, and ray then aborts
        # this process ("Check failed: it != submissible_tasks_.end() Tried
        # to complete task that was not pending", ray-project/ray#54798): no
        # KeyboardInterrupt, no ray.shutdown, and ray's agents left behind
        # for 30 to 90 s (seen in 2 of 11 Ctrl-Cs of a local ray, ray 2.60).
        # Only the tasks of a ray this engine did not start are cancelled.
        if not self._started:
            self._cancel(refs)

    def _cancel(self, refs):
        for ref in refs:
            self._ray.cancel(ref, force=True)

    def close(self):
        self._bundle = None
        if self._started:
            self._started = False
            self._ray.shutdown()
