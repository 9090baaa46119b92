"""Dispatch: running a search's (candidate, fold) fits on its engine.

The search's work is a set of small :class:`~distsearch._tasks._Task` tuples
handed out by a :class:`distsearch._schedule._TaskQueue` (longest expected
fit first), and one :class:`~distsearch._tasks._Shared` bundle of everything
the tasks have in common. A :class:`_Session` is the engine of one fit
(:mod:`distsearch.engines`: ``backend`` names a registered engine or is an
engine object): opened once (workers started, the bundle sent), it runs any
number of rounds; :meth:`_Session.run` evaluates every task of a round's
queue with :func:`distsearch._evaluate._run_batch` on the workers, tells the
queue each finished task's time and yields each result with its task's index
as it finishes; the search puts them back in task order, so its results
never depend on where or in which order the fits ran.

Batches
-------
Tasks travel in batches taken from the queue when a worker is about to need
one: as many tasks as the queue expects to take the engine's
:attr:`~distsearch.engines.Engine.batch_seconds` (one task before any fit
finished, and smaller batches at the end so that the workers finish
together). Cheap
fits thus travel by the hundred, which keeps the driver's work per fit
small, and fits of a second or more one by one.

Failures
--------
An exception raised by a model is handled inside ``_fit_and_score`` by
``error_score`` and never retried (with ``error_score="raise"`` it reaches
the caller). A lost worker is an infrastructure failure: the engine runs
its batches again, a bounded number of times, as
:class:`~distsearch.engines.Rerun` batches, and reports the indices of the
tasks run again (see :class:`distsearch.engines.FuturesEngine`). A rerun
batch runs in a child process of the worker (:mod:`distsearch._isolated`):
a fit that ends that process (a crash, the OOM killer, ``fit_timeout``) is
recorded as a failed fit saying how, and the search goes on.
"""

from ._evaluate import _run_batch
from .engines import get_engine


def _check_backend(backend, address):
    """Validate ``backend`` and ``address`` before any work is done.

    Raises
    ------
    ValueError
        For an unknown backend, or an address given to a local backend.
    ImportError
        When the engine of ``backend`` is not installed; the message names
        the extra that installs it.
    """
    get_engine(backend, address=address)


class _Session:
    """The engine of one fit, opened once and used by every round.

    Opening starts (or joins) the engine and sends the data bundle to its
    workers once: the same loky workers, ``LocalCluster``, ray or Spark
    session for every round. Closing releases what opening made. Between
    the two, :meth:`run` runs the tasks of one round.

    Parameters
    ----------
    shared : distsearch._tasks._Shared
        The data bundle of the fit (its ``splits`` are the search's folds).
    backend : str, distsearch.engines.Engine or None
        See :func:`distsearch.engines.get_engine`.
    address : str or None
        Scheduler (dask) or cluster (ray) address to connect to.
    n_jobs : int or None
        Fits run at once under joblib; for a dask or ray cluster started
        here, its number of single-threaded worker processes.
    pre_dispatch : as for :class:`joblib.Parallel` (joblib backends only)
    """

    def __init__(self, shared, *, backend=None, address=None, n_jobs=None,
                 pre_dispatch="2*n_jobs"):
        self.shared = shared
        self.engine = get_engine(
            backend, n_jobs=n_jobs, address=address, pre_dispatch=pre_dispatch
        )

    @property
    def n_slots(self):
        """How many tasks the engine runs at once."""
        return self.engine.n_slots

    def release(self, function, *args):
        """Call ``function(*args)`` on every worker the engine can reach."""
        return self.engine.on_every_worker(function, *args)

    def __enter__(self):
        self.engine.open(_run_batch, self.shared)
        if self.shared.fit_timeout is not None and self.engine.in_process:
            self.engine.close()
            raise ValueError(
                f"fit_timeout={self.shared.fit_timeout!r} needs the fits in worker "
                f"processes, but {self.engine!r} runs them in this process (threads, "
                "or n_jobs=1), where a fit that does not return cannot be stopped "
                "without ending the search. Use n_jobs >= 2 with loky, or dask, ray "
                "or spark, or fit_timeout=None."
            )
        return self

    def __exit__(self, *exc_info):
        self.engine.close()

    def run(self, queue, round=None, retried=None):
        """Evaluate every task of ``queue``; yield ``(index, result)`` pairs.

        Parameters
        ----------
        queue : distsearch._schedule._TaskQueue
            The tasks of the round; told the time of each finished one.
        round : dict or None
            The fields of the bundle this round changes (see
            :func:`distsearch._evaluate._run_batch`).
        retried : set or None
            Filled with the indices of the tasks that were run again because
            their worker was lost.

        Yields
        ------
        index, result : int, dict
            Each task's index and its result, as soon as it finishes (not in
            task order), so that the caller can record progress and keep
            finished results while the search runs.
        """
        retried = set() if retried is None else retried
        n_slots, seconds = self.engine.n_slots, self.engine.batch_seconds

        def take():
            return queue.take(seconds, n_slots)

        for index, result in self.engine.run(take, retried, round or None):
            queue.done(index, result)
            yield index, result
