"""The joblib engine: batches as joblib tasks, on any joblib backend.

One :class:`joblib.Parallel` is opened per session and reused by every run
(the same loky workers for every round of a search). joblib pulls batches
from ``take`` in its own thread as workers free up. loky memory-maps large
arrays, so the bundle is written once and read by every worker.

A backend that cannot return results out of order (one without joblib's
retrieve callback, such as joblib-spark's or ``"multiprocessing"``) is run in
waves instead: ``2 * n_slots`` batches per :class:`joblib.Parallel` call,
results yielded when the wave ends. The batches, and thus the results, are
the same.

A lost loky worker is survived as a lost dask or ray worker is: when a
worker process dies (a fit that calls ``os._exit``, a segmentation fault,
the OOM killer, ``fit_timeout``), loky ends the whole pool and every batch
in flight fails with ``TerminatedWorkerError``. The engine then opens a new
:class:`joblib.Parallel` (a new pool) and runs each batch that was in flight
again as a :class:`~distsearch.engines.Rerun` (the lost tasks in at most
``n_slots`` batches, since each starts a process), at most
:attr:`JoblibEngine.max_retries` times, its tasks counted in ``retried``;
the other batches follow as before. A batch whose result had arrived is
never run again.

:meth:`JoblibEngine.on_every_worker` reaches every worker process of a
``"loky"`` or ``"multiprocessing"`` pool (they run on this machine): it runs
one call per slot, each holding its worker until all have started (a barrier
in a temporary folder), so that no worker runs two and none is left out.
"""

import os
import tempfile
import threading
import time
from collections import deque

from joblib import effective_n_jobs, parallel_config
from joblib._parallel_backends import LokyBackend, MultiprocessingBackend
from joblib.externals.loky.process_executor import TerminatedWorkerError
from sklearn.utils.parallel import Parallel, delayed

from ._base import Engine, Rerun

# Seconds a call of on_every_worker waits for the others to start.
_BARRIER_SECONDS = 30


def _on_this_worker(folder, n_workers, function, args):
    """``function(*args)`` in this worker, then wait until ``n_workers`` calls have.

    Each call marks ``folder`` with its process id and keeps its worker busy
    until ``n_workers`` processes have, so that ``n_workers`` calls run in
    ``n_workers`` different processes. Returns ``(pid, function's result)``.
    """
    result = function(*args)
    open(os.path.join(folder, str(os.getpid())), "w").close()
    deadline = time.monotonic() + _BARRIER_SECONDS
    while len(os.listdir(folder)) < n_workers and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid(), result


class JoblibEngine(Engine):
    """Run the fits on a joblib backend.

    Parameters
    ----------
    backend : str or None, default=None
        A backend registered with joblib (``"loky"``, ``"threading"``,
        ``"multiprocessing"``, or one of your own registered with
        :func:`joblib.register_parallel_backend`); None uses the active one
        (``joblib.parallel_config``).
    n_jobs : int or None, default=None
        Tasks run at once, as for :class:`joblib.Parallel`.
    pre_dispatch : int or str, default='2*n_jobs'
        As for :class:`joblib.Parallel`.
    **backend_params
        Passed to the backend, as ``joblib.parallel_config`` does.

    Examples
    --------
    >>> from distsearch.engines import JoblibEngine
    >>> JoblibEngine("threading", n_jobs=2)
    JoblibEngine(backend='threading', n_jobs=2)
    """

    name = "joblib"

    #: How many times a batch lost with its loky worker is run again.
    max_retries = 3

    def __init__(self, backend=None, n_jobs=None, pre_dispatch="2*n_jobs", **backend_params):
        self.backend = backend
        self.n_jobs = n_jobs
        self.pre_dispatch = pre_dispatch
        self.backend_params = backend_params
        self._parallel = None

    @classmethod
    def from_search(cls, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs", **options):
        backend = options.pop("backend", None)
        if address is not None:
            raise ValueError(
                f"address={address!r} is only used with backend='dask', "
                f"'ray' or 'spark', not backend={backend!r}."
            )
        return cls(backend, n_jobs=n_jobs, pre_dispatch=pre_dispatch, **options)

    def __repr__(self):
        return f"JoblibEngine(backend={self.backend!r}, n_jobs={self.n_jobs!r})"

    def _config(self):
        if self.backend is None:
            return {}
        return {"backend": self.backend, **self.backend_params}

    def open(self, function, bundle):
        self._function, self._bundle = function, bundle
        config = self._config()
        with parallel_config(**config):
            self.n_slots = max(1, effective_n_jobs(self.n_jobs))
        self._options = dict(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch, **config)
        self._start()

    def _start(self):
        """Open the session's :class:`joblib.Parallel` (its pool of workers)."""
        # batch_size=1: the queue's batches, not joblib's.
        try:
            self._parallel = Parallel(
                batch_size=1, return_as="generator_unordered", **self._options
            )
            self._unordered = True
        except ValueError:  # the backend has no retrieve callback
            self._parallel = Parallel(batch_size=1, return_as="list", **self._options)
            self._unordered = False
        self._parallel.__enter__()

    @property
    def in_process(self):
        """Whether the fits run in this process (threads, or ``n_jobs=1``)."""
        backend = getattr(self._parallel, "_backend", None)
        return self.n_slots == 1 or bool(getattr(backend, "uses_threads", False))

    def run(self, take, retried, extra=None):
        call = delayed(self._function)
        if self._unordered:
            yield from self._run_unordered(call, take, retried, extra)
            return
        while True:
            wave = []
            while len(wave) < 2 * self.n_slots and (batch := take()):
                wave.append(batch)
            if not wave:
                return
            for pairs in self._parallel(call(self._bundle, b, extra) for b in wave):
                yield from pairs

    def _run_unordered(self, call, take, retried, extra):
        """Batches from ``again`` then ``take()``; a dead worker's batches run again."""
        again = deque()  # (batch, times run again) of a broken pool
        while True:
            lock = threading.Lock()
            in_flight = {}  # first index -> (batch, times run again)
            state = {"open": True}

            def batches():
                # joblib calls this from its dispatch thread.
                while True:
                    with lock:
                        if not state["open"]:
                            return
                        if again:
                            batch, attempts = again.popleft()
                        elif batch := take():
                            attempts = 0
                        else:
                            return
                        in_flight[batch[0][0]] = (batch, attempts)
                    yield call(self._bundle, batch, extra)

            try:
                for pairs in self._parallel(batches()):
                    with lock:
                        in_flight.pop(pairs[0][0], None)
                    yield from pairs
                return
            except TerminatedWorkerError as exc:
                with lock:
                    state["open"] = False
                    lost = list(in_flight.values())
                self._restart()
                attempts = max((attempts for _, attempts in lost), default=0)
                if attempts >= self.max_retries:
                    raise RuntimeError(
                        f"{sum(len(batch) for batch, _ in lost)} fit(s) were lost with "
                        f"their loky worker {attempts + 1} times (after the first, in "
                        "a process of their own); giving up. Check the machine's "
                        "memory."
                    ) from exc
                # At most one rerun batch per slot: each starts a process.
                pairs = [pair for batch, _ in lost for pair in batch]
                retried.update(index for index, _ in pairs)
                n_batches = min(self.n_slots, len(lost))
                for k in range(n_batches):
                    again.append((Rerun(pairs[k::n_batches]), attempts + 1))

    def _restart(self):
        """A new pool after loky's was broken by a dead worker."""
        parallel, self._parallel = self._parallel, None
        try:
            parallel.__exit__(None, None, None)
        finally:
            self._start()

    def on_every_worker(self, function, *args):
        backend = self._parallel._backend
        if getattr(backend, "uses_threads", False):  # threads, or n_jobs=1
            function(*args)
            return True
        if not isinstance(backend, (LokyBackend, MultiprocessingBackend)):
            return False  # other backends' workers cannot be addressed one by one
        n = self.n_slots
        with tempfile.TemporaryDirectory(prefix="distsearch-barrier-") as folder:
            calls = (delayed(_on_this_worker)(folder, n, function, args) for _ in range(n))
            pids = {pid for pid, _ in self._parallel(calls)}
        return len(pids) == n

    def close(self):
        parallel, self._parallel = self._parallel, None
        self._bundle = None
        if parallel is not None:
            parallel.__exit__(None, None, None)
