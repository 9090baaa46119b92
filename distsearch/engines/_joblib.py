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
"""

from joblib import effective_n_jobs, parallel_config
from sklearn.utils.parallel import Parallel, delayed

from ._base import Engine


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
        options = dict(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch, **config)
        # batch_size=1: the queue's batches, not joblib's.
        try:
            self._parallel = Parallel(
                batch_size=1, return_as="generator_unordered", **options
            )
            self._unordered = True
        except ValueError:  # the backend has no retrieve callback
            self._parallel = Parallel(batch_size=1, return_as="list", **options)
            self._unordered = False
        self._parallel.__enter__()

    def run(self, take, retried, extra=None):
        call = delayed(self._function)
        if self._unordered:
            batches = iter(take, [])
            for pairs in self._parallel(call(self._bundle, b, extra) for b in batches):
                yield from pairs
            return
        while True:
            wave = []
            while len(wave) < 2 * self.n_slots and (batch := take()):
                wave.append(batch)
            if not wave:
                return
            for pairs in self._parallel(call(self._bundle, b, extra) for b in wave):
                yield from pairs

    def on_every_worker(self, function, *args):
        # Threads (and n_jobs=1) run in this process; joblib does not let
        # us address its worker processes one by one.
        if not getattr(self._parallel._backend, "uses_threads", False):
            return False
        function(*args)
        return True

    def close(self):
        parallel, self._parallel = self._parallel, None
        self._bundle = None
        if parallel is not None:
            parallel.__exit__(None, None, None)
