"""The engine interface: where the fits of a search run.

An engine is a session (:meth:`Engine.open` ... :meth:`Engine.close`, or a
``with`` block) with a number of worker slots (:attr:`Engine.n_slots`), in
which :meth:`Engine.run` runs batches of tasks and yields each task's
``(index, result)`` as its batch finishes.

Invariants every engine keeps (the search's results depend on them, never on
the engine):

- A batch is run by calling ``function(bundle, batch, extra)`` on a worker,
  where ``function`` and ``bundle`` are those given to :meth:`Engine.open`
  (the bundle is sent to the workers once per session, not per batch) and
  ``extra`` is the small value given to :meth:`Engine.run` (once per run).
  It returns the batch's ``(index, result)`` pairs; the engine yields them
  unchanged.
- Batches are taken with ``take()`` only when a slot is about to need one,
  so that each batch is made from the latest estimates of the task queue;
  ``take()`` returns an empty list when no task is left.
- Lost work (a worker, node or object gone) is run again, at most
  :attr:`FuturesEngine.max_retries` times per batch, and the indices of the
  tasks run again are added to ``retried``. A batch is run again as a
  :class:`Rerun` (a list marked as such): ``function`` runs it where its
  fits cannot end the worker again (distsearch runs such a batch in a
  process of its own, one fit after the other, so that a fit that kills
  its process, or outlives ``fit_timeout``, is recorded as a failed fit
  naming how its process ended, and the batch's other fits are not lost
  with it). A model's own error is never retried: it is part of the
  result (``error_score``), or, raised out of ``function``
  (``error_score='raise'``), it reaches the caller as it is.
- On any exception, Ctrl-C included, the batches in flight are cancelled and
  :meth:`Engine.close` releases whatever :meth:`Engine.open` started.
"""

from abc import ABC, abstractmethod

from .._extras import require


class WorkerLost(Exception):
    """A batch's result was lost with its worker: infrastructure, not the model.

    Raised by :meth:`FuturesEngine.result`; the batch is run again (as a
    :class:`Rerun`), at most :attr:`FuturesEngine.max_retries` times.

    Parameters
    ----------
    message : str
        What was lost, as the engine's library tells it.

    Examples
    --------
    An engine's ``result`` turns its library's lost-worker error into this
    one (here a thread pool's future holding one):

    >>> import concurrent.futures
    >>> from distsearch.engines import WorkerLost
    >>> future = concurrent.futures.Future()
    >>> future.set_exception(BrokenPipeError("worker 10.0.0.2 gone"))
    >>> try:
    ...     future.result()
    ... except BrokenPipeError as exc:
    ...     lost = WorkerLost(str(exc))
    >>> lost
    WorkerLost('worker 10.0.0.2 gone')
    """

    def __init__(self, message):
        super().__init__(message)


class Rerun(list):
    """A batch run again after its worker was lost: a list of ``(index, task)``.

    An engine passes a lost batch to ``function`` again as ``Rerun(batch)``,
    so that ``function`` knows, by its ``rerun`` attribute (True; a plain
    list has none), to run it where one of its tasks cannot end the worker
    (see the module docstring).

    Parameters
    ----------
    iterable : iterable of (int, object), default=()
        The batch's ``(index, task)`` pairs.

    Examples
    --------
    >>> from distsearch.engines import Rerun
    >>> batch = Rerun([(0, "task")])
    >>> isinstance(batch, list), batch.rerun, batch[0]
    (True, True, (0, 'task'))
    """

    rerun = True

    def __init__(self, iterable=()):
        super().__init__(iterable)

    def __reduce__(self):
        return Rerun, (list(self),)


class ClusterLost(ConnectionError):
    """The cluster does not answer, or went away during the search.

    Raised by an engine when nothing answers at its address within its
    connect timeout, or when its scheduler (dask) or head (ray) goes away
    while a search runs: the work in flight is lost with it, so the search
    stops at once rather than wait. The search adds to the message how many
    finished fits its checkpoint holds and how to resume from them.

    Parameters
    ----------
    message : str
        What happened, naming the address.
    address : str or None, default=None
        The cluster's address.

    Examples
    --------
    >>> from distsearch.engines import ClusterLost
    >>> error = ClusterLost("the dask scheduler at tcp://10.0.0.1:8786 went away",
    ...                     address="tcp://10.0.0.1:8786")
    >>> isinstance(error, ConnectionError), error.address
    (True, 'tcp://10.0.0.1:8786')
    """

    def __init__(self, message, address=None):
        super().__init__(message)
        self.address = address


def check_reachable(address, timeout, what):
    """Raise :class:`ClusterLost` at once when nothing listens at ``address``.

    ``address`` is ``host:port`` with an optional scheme (``tcp://``,
    ``tls://``, ``ray://``); one TCP connection is tried, for at most
    ``timeout`` seconds, so that a dead address fails in that time rather
    than a client library's own retries. Other schemes (an in-process or UCX
    address, ray's ``"auto"``) are left to the engine.

    Parameters
    ----------
    address : str
        ``[scheme://]host:port``.
    timeout : float
        Seconds to wait for the connection.
    what : str
        What should answer there (``"dask scheduler"``), for the messages.

    Raises
    ------
    ValueError
        When ``address`` is not ``host:port`` with an integer port.
    ClusterLost
        When the connection is refused or not answered within ``timeout``.

    Examples
    --------
    >>> from distsearch.engines import check_reachable
    >>> check_reachable("tcp://127.0.0.1:1", 2.0, "dask scheduler")
    Traceback (most recent call last):
    ...
    distsearch.engines._base.ClusterLost: No dask scheduler answers at tcp://127.0.0.1:1 (Connection refused, timeout=2.0 s): start it first, or check the address.
    """
    import socket

    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp", "tls", "ray"):
        return
    host, _, port = rest.partition("/")[0].rpartition(":")
    try:
        port = int(port)
    except ValueError:
        port = None
    if not host or port is None or not 0 < port < 65536:
        raise ValueError(
            f"address={address!r} is not a {what} address: expected "
            "[scheme://]host:port, e.g. 'tcp://10.0.0.1:8786'."
        )
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
    except OSError as exc:
        raise ClusterLost(
            f"No {what} answers at {address} "
            f"({exc.strerror or type(exc).__name__}, timeout={timeout} s): "
            "start it first, or check the address.",
            address=address,
        ) from None


class Engine(ABC):
    """Base class of the engines that run a search's fits.

    Subclasses implement :meth:`open`, :meth:`run` and :meth:`close` and set
    :attr:`n_slots` in :meth:`open`; an engine's own options (an address, a
    cluster size, resources per task...) are its constructor's parameters.
    Register a subclass with :func:`~distsearch.engines.register_engine` to
    select it by name (``backend="name"``), or pass an instance
    (``backend=MyEngine(...)``).

    Attributes
    ----------
    name : str
        The engine's name in messages.
    requires : tuple of str
        Modules the engine imports; checked (with :attr:`extra` in the
        message) before a search does any work.
    extra : str or None
        The distsearch extra that installs :attr:`requires`.
    n_slots : int
        How many tasks the engine runs at once; set by :meth:`open`. The
        search sizes its batches and its prefix-sharing waves from it.
    in_process : bool
        Whether the fits run in the search's own process (threads, or one
        job), where a fit that outlives ``fit_timeout`` cannot be stopped
        without ending the search: the search then refuses ``fit_timeout``.
    batch_seconds : float
        The compute time a batch aims at (0.2): the search puts as many
        tasks in a batch as it expects to take that long together (one task
        before any fit finished, fewer at the end so that the workers finish
        together). An engine whose round trip per batch costs more raises
        it, which makes cheap fits travel by the hundred.

    Examples
    --------
    An engine that runs every batch in the calling process, one at a time:

    >>> from distsearch.engines import Engine
    >>> class InProcess(Engine):
    ...     name = "in-process"
    ...     def open(self, function, bundle):
    ...         self.n_slots, self._function, self._bundle = 1, function, bundle
    ...     def run(self, take, retried, extra=None):
    ...         while batch := take():
    ...             yield from self._function(self._bundle, batch, extra)
    ...     def close(self):
    ...         self._bundle = None
    >>> def double(bundle, batch, extra):
    ...     return [(index, bundle * task) for index, task in batch]
    >>> batches = iter([[(0, 1), (1, 2)], [(2, 3)], []])
    >>> with InProcess().session(double, 10) as engine:
    ...     list(engine.run(lambda: next(batches), retried=set()))
    [(0, 10), (1, 20), (2, 30)]
    """

    name = None
    requires = ()
    extra = None
    n_slots = 1
    in_process = False
    batch_seconds = 0.2

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        """The engine for a search's ``n_jobs``, ``address`` and ``pre_dispatch``.

        Used when ``backend`` names the engine; ``options`` are those given
        to :func:`~distsearch.engines.register_engine`. The default returns
        ``cls(**options)``: an address is refused (it would be silently
        ignored), ``n_jobs`` and ``pre_dispatch`` are joblib's and ignored.
        """
        if address is not None:
            raise ValueError(
                f"address={address!r} is only used with backend='dask', "
                f"'ray' or 'spark', not backend={cls.name!r}; pass an engine "
                "object with its own options instead."
            )
        return cls(**options)

    def check(self):
        """Raise before any work if a module in :attr:`requires` is missing."""
        for module in self.requires:
            require(module, self.extra or self.name, f"backend={self.name!r}")

    @abstractmethod
    def open(self, function, bundle):
        """Start or join the workers and send them ``bundle`` once.

        Parameters
        ----------
        function : callable
            ``function(bundle, batch, extra)`` runs one batch on a worker and
            returns its ``(index, result)`` pairs. Picklable (a module-level
            function).
        bundle : object
            What every task of the session needs (the data, the folds, the
            unfitted models, the scorer), sent to the workers once.
        """

    @abstractmethod
    def run(self, take, retried, extra=None):
        """Run batches until ``take()`` returns none; yield ``(index, result)``.

        Parameters
        ----------
        take : callable
            ``take()`` returns the next batch (a list of ``(index, task)``),
            an empty list when no task is left. Call it when a slot is about
            to need work.
        retried : set
            The engine adds the indices of tasks it ran again after their
            worker was lost.
        extra : object, optional
            Small data shared by the batches of this run, passed to
            ``function`` as its third argument.

        Yields
        ------
        index, result
            As batches finish, in any order.
        """

    @abstractmethod
    def close(self):
        """Release what :meth:`open` started (workers, clusters, sent data)."""

    def on_every_worker(self, function, *args):
        """Call ``function(*args)`` in every worker process, if the engine can.

        Used to free what a search left in its workers' memory (its cached
        pipeline prefixes). Returns whether it reached the workers; the
        default reaches none and returns False.
        """
        return False

    def session(self, function, bundle):
        """``with engine.session(function, bundle):`` opens, then closes."""
        self.open(function, bundle)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"{type(self).__name__}()"


class FuturesEngine(Engine):
    """Base class of engines whose batches are futures (dask, ray, Spark...).

    Holds the in-flight loop of :meth:`run`: it keeps twice as many batches
    in flight as there are slots (so that each worker has its next batch
    waiting), resubmits a batch whose result raises :class:`WorkerLost`, as
    a :class:`Rerun`, at most :attr:`max_retries` times (counting its tasks
    in ``retried``), and
    cancels the batches in flight on any exception. A subclass implements
    :meth:`open` (setting :attr:`n_slots`), :meth:`submit`, :meth:`wait`,
    :meth:`result`, :meth:`cancel` and :meth:`close`.

    Attributes
    ----------
    max_retries : int
        How many times a batch lost with its worker is run again (3).

    Examples
    --------
    An engine whose batches are futures of a thread pool:

    >>> import concurrent.futures
    >>> from distsearch.engines import FuturesEngine
    >>> class Threads(FuturesEngine):
    ...     name = "threads"
    ...     def open(self, function, bundle):
    ...         self.n_slots, self._function, self._bundle = 2, function, bundle
    ...         self._pool = concurrent.futures.ThreadPoolExecutor(2)
    ...     def submit(self, batch, extra):
    ...         return self._pool.submit(self._function, self._bundle, batch, extra)
    ...     def wait(self, futures):
    ...         done, _ = concurrent.futures.wait(futures, return_when="FIRST_COMPLETED")
    ...         return next(iter(done))
    ...     def result(self, future):
    ...         return future.result()
    ...     def close(self):
    ...         self._pool.shutdown()
    >>> def double(bundle, batch, extra):
    ...     return [(index, bundle * task) for index, task in batch]
    >>> batches = iter([[(0, 1), (1, 2)], [(2, 3)], []])
    >>> with Threads().session(double, 10) as engine:
    ...     sorted(engine.run(lambda: next(batches), retried=set()))
    [(0, 10), (1, 20), (2, 30)]
    """

    #: How many times a batch lost with its worker is resubmitted.
    max_retries = 3

    @abstractmethod
    def submit(self, batch, extra):
        """Start ``function(bundle, batch, extra)`` on a worker; return its future."""

    @abstractmethod
    def wait(self, futures):
        """Block until one of ``futures`` (a list) is done; return it."""

    @abstractmethod
    def result(self, future):
        """The finished batch's ``(index, result)`` pairs.

        Raises :class:`WorkerLost` when the batch was lost with its worker;
        re-raises a model's own error as it was raised.
        """

    def cancel(self, futures):
        """Cancel ``futures`` (on an error or Ctrl-C); by default nothing."""

    def share(self, extra):
        """What :meth:`submit` receives as ``extra``: by default ``extra`` itself.

        An engine with a data store puts it there once per run.
        """
        return extra

    def was_rerun(self, batch):
        """Whether the engine itself ran ``batch`` again (e.g. dask's scheduler)."""
        return False

    def run(self, take, retried, extra=None):
        extra = self.share(extra)
        in_flight = {}  # future -> (batch, number of times it was resubmitted)
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < 2 * self.n_slots:
                    batch = take()
                    if not batch:
                        exhausted = True
                        break
                    in_flight[self.submit(batch, extra)] = (batch, 0)
                if not in_flight:
                    break
                future = self.wait(list(in_flight))
                done, attempts = in_flight.pop(future)
                try:
                    results = self.result(future)
                except WorkerLost as exc:
                    if attempts >= self.max_retries:
                        raise RuntimeError(
                            f"{len(done)} fit(s) were lost with their worker "
                            f"{attempts + 1} times (after the first, in a process "
                            "of their own); giving up. Check the workers' memory "
                            "and logs."
                        ) from exc
                    retried.update(index for index, _ in done)
                    rerun = Rerun(done)
                    in_flight[self.submit(rerun, extra)] = (rerun, attempts + 1)
                    continue
                if self.was_rerun(done):
                    retried.update(index for index, _ in done)
                yield from results
        finally:
            if in_flight:
                self.cancel(list(in_flight))
