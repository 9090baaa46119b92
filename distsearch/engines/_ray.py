"""The ray engine: batches as ray tasks; the bundle put in the object store once.

The session uses the running ray, or connects to ``address``, or starts a
local ray; a connection or local ray made here is shut down on close. Tasks
are submitted with ``max_retries=0`` and resubmitted by
:class:`~distsearch.engines.FuturesEngine` on worker, node or object loss, so
that every retry is counted.
"""

from ._base import FuturesEngine, WorkerLost


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

    Examples
    --------
    >>> from distsearch.engines import RayEngine
    >>> RayEngine(num_cpus=2)
    RayEngine(address=None, num_cpus=2, resources=None)
    """

    name = "ray"
    requires = ("ray",)
    extra = "ray"

    def __init__(self, address=None, num_cpus=None, resources=None, num_cpus_per_task=1):
        self.address = address
        self.num_cpus = num_cpus
        self.resources = resources
        self.num_cpus_per_task = num_cpus_per_task
        self._started = False

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        from joblib import effective_n_jobs

        return cls(address=address, num_cpus=effective_n_jobs(n_jobs), **options)

    def __repr__(self):
        return (
            f"RayEngine(address={self.address!r}, num_cpus={self.num_cpus!r}, "
            f"resources={self.resources!r})"
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
            ray.init(address=self.address)
            self._started = True
        try:
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
            self._lost = (
                exc.WorkerCrashedError,
                exc.NodeDiedError,
                exc.ObjectLostError,
                exc.LocalRayletDiedError,
                exc.OutOfMemoryError,
            )
        except BaseException:
            self.close()
            raise

    def share(self, extra):
        return None if extra is None else self._ray.put(extra)

    def submit(self, batch, extra):
        return self._run.remote(self._bundle, batch, extra)

    def wait(self, futures):
        [ready], _ = self._ray.wait(futures, num_returns=1)
        return ready

    def result(self, ref):
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            # A model's own exception (error_score="raise"): re-raise it as is.
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise
        except self._lost as exc:
            raise WorkerLost(str(exc)) from exc

    def cancel(self, refs):
        for ref in refs:
            self._ray.cancel(ref, force=True)

    def close(self):
        self._bundle = None
        if self._started:
            self._started = False
            self._ray.shutdown()
