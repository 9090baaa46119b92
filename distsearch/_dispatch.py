"""Dispatch: running every (candidate, fold) fit of a search.

The search's work is a set of small :class:`_Task` tuples (candidate index,
fold index, model index, parameters), handed out one at a time by a
:class:`distsearch._schedule._TaskQueue` (longest expected fit first), and one
:class:`_Shared` bundle of everything the tasks have in common (the data, the
folds, the unfitted models, the scorer). A :class:`_Session` is the engine of
one fit: opened once (workers started, the bundle sent), it runs any number of
rounds; :meth:`_Session.run` evaluates every task of a round's queue with
:func:`_evaluate_task`, tells the queue each finished task's time and yields
each result with its task's index as it finishes; the search puts them back
in task order, so its results never depend on where or in which order the
fits ran.

Backends
--------
On every backend tasks travel in batches (:func:`_run_batch`) taken from the
queue when a worker is about to need one: as many tasks as the queue expects
to take ``_TARGET_BATCH_SECONDS`` (one task before any fit finished, and
smaller batches at the end so that the workers finish together). Cheap fits
thus travel by the hundred, which keeps the driver's work per fit small, and
fits of a second or more one by one.
``None``, ``"loky"`` and ``"threading"`` go through :class:`joblib.Parallel`
with one batch per joblib task (loky memory-maps large arrays, so the data is
written once per fit); joblib pulls the batches as workers free up.
``"dask"`` and ``"ray"`` use the engines' own APIs: the :class:`_Shared`
bundle is sent to the workers once (``client.scatter(broadcast=True)`` /
``ray.put``), the batches carry only their small :class:`_Task` tuples, and
the results are consumed in completion order (``as_completed`` /
``ray.wait``).

Failures
--------
An exception raised by a model is handled inside ``_fit_and_score`` by
``error_score`` and never retried (with ``error_score="raise"`` it reaches
the caller). A lost worker is an infrastructure failure: its batches are run
again elsewhere, at most ``_MAX_RETRIES`` times each, and the indices of the
tasks run again are reported. On dask the scheduler itself re-runs the tasks
of a lost worker (counted from the start events the batches log); a batch it
gives up on (``KilledWorker``) is resubmitted by :func:`_iter_remote`. Ray tasks are
submitted with ``max_retries=0`` and resubmitted by :func:`_iter_remote` on
worker, node or object loss, so that every retry is counted.
"""

import contextlib
import multiprocessing
import os
import threading
import time
import uuid
from collections import Counter
from typing import NamedTuple

from joblib import effective_n_jobs, parallel_config
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed

from ._callbacks import _capture
from ._extras import require
from ._fit import _fit_and_score
from ._prefix import _fit_and_score_shared

_BACKENDS = ("loky", "threading", "dask", "ray")
_EXTRAS = {"dask": "distributed", "ray": "ray"}

# How many times a batch lost with its worker is resubmitted before the
# search gives up.
_MAX_RETRIES = 3

# Compute time a batch of tasks aims at: a remote call costs a few
# milliseconds of scheduling, so 0.2 s keeps that cost near 2 % of the work.
_TARGET_BATCH_SECONDS = 0.2


class _Task(NamedTuple):
    """One fit: candidate ``cand_idx`` of model ``model_idx`` on fold ``split_idx``."""

    cand_idx: int
    split_idx: int
    model_idx: int
    params: dict
    # A _prefix._PrefixPlan when the task's leading pipeline steps are
    # shared with other tasks (fitted once per fold), else None.
    prefix: object = None


class _Shared(NamedTuple):
    """What every task of one search needs; sent to the workers, not per task."""

    X: object
    y: object
    estimators: list
    splits: list
    fit_params: list
    score_params: dict
    scorer: object
    return_train_score: bool
    error_score: object
    verbose: int
    n_candidates: int
    # Per task of the round, a detached scikit-learn callback context to
    # propagate into the model (see distsearch._callbacks), or None.
    contexts: list = None


def _best_iteration(estimator):
    """The best iteration a fitted model reports, or None.

    A model reports it with a positive integer attribute ``best_iteration_``
    (boosting rounds or epochs kept by early stopping); for a pipeline the
    final step is asked.
    """
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    value = getattr(final, "best_iteration_", None)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _evaluate_task(shared, index, task):
    """Fit and score one task; runs on a worker.

    Returns ``(index, result)``: the task's position and the dict of
    :func:`._fit._fit_and_score` (the same as GridSearchCV gets from
    scikit-learn's, with less memory) plus ``best_iteration`` (and
    ``callback_messages`` when the round propagates callbacks).
    """
    train, test = shared.splits[task.split_idx]
    context = None if shared.contexts is None else shared.contexts[index]
    result = None if task.prefix is None else _fit_and_score_shared(shared, task)
    if result is None:
        # The messages that callbacks send during the fit travel with its
        # result (see distsearch._callbacks).
        with contextlib.nullcontext() if context is None else _capture() as messages:
            result = _fit_and_score(
                clone(shared.estimators[task.model_idx]),
                shared.X,
                shared.y,
                scorer=shared.scorer,
                train=train,
                test=test,
                verbose=shared.verbose,
                parameters=task.params,
                fit_params=shared.fit_params[task.model_idx],
                score_params=shared.score_params,
                return_train_score=shared.return_train_score,
                error_score=shared.error_score,
                split_progress=(task.split_idx, len(shared.splits)),
                candidate_progress=(task.cand_idx, shared.n_candidates),
                callback_ctx=context,
            )
        if context is not None:
            result["callback_messages"] = messages
    result["best_iteration"] = _best_iteration(result.pop("estimator"))
    return index, result


def _run_batch(shared, batch, round=None):
    """Evaluate a batch of ``(index, task)`` pairs on a worker.

    ``round`` holds the fields of ``shared`` that the batch's round of the
    search changes (its ``n_candidates``, and its ``splits`` when the round
    has its own folds); the data travel once per fit, the round's small
    part once per round.
    """
    _exit_with_parent()
    if round:
        shared = shared._replace(**round)
    return [_evaluate_task(shared, index, task) for index, task in batch]


_WATCHING_PARENT = False


def _exit_with_parent():
    """In a loky worker, start a thread that ends the process with its parent.

    loky's workers otherwise outlive a search killed with ``kill -9``: a
    fit runs to its end and the worker waits for loky's idle timeout
    (300 s). The thread polls ``os.getppid()`` once a second and exits the
    worker when the process that started it is gone. Started by the first
    batch a worker runs (a worker that never ran one still ends at the idle
    timeout); not on Windows.
    """
    global _WATCHING_PARENT
    if _WATCHING_PARENT or os.name == "nt":
        return
    if not multiprocessing.current_process().name.startswith("LokyProcess"):
        return
    _WATCHING_PARENT = True
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="distsearch-parent", daemon=True).start()


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
    if backend is not None and backend not in _BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {(None,) + _BACKENDS}.")
    if address is not None and backend not in _EXTRAS:
        raise ValueError(
            f"address={address!r} is only used with backend='dask' or "
            f"backend='ray', not backend={backend!r}."
        )
    if backend in _EXTRAS:
        require(_EXTRAS[backend], backend, f"backend={backend!r}")


class _Session:
    """The engine of one fit, opened once and used by every round.

    Opening starts (or joins) what ``backend`` names and sends the data
    bundle to the workers once: a :class:`joblib.Parallel` kept open (the
    same loky workers for every round), a dask client (a ``LocalCluster``
    started for the fit is started once, however many rounds run), or a
    ray session. Closing releases what opening made. Between the two,
    :meth:`run` runs the tasks of one round.

    Parameters
    ----------
    shared : _Shared
        The data bundle of the fit (its ``splits`` are the search's folds).
    backend : {None, 'loky', 'threading', 'dask', 'ray'}
        None uses the active joblib backend.
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
        self._backend = backend
        self._address = address
        self._n_jobs = n_jobs
        self._pre_dispatch = pre_dispatch
        self._stack = None
        self._engine = None
        self._parallel = None

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        try:
            if self._backend == "dask":
                client = self._stack.enter_context(
                    _dask_client(self._address, self._n_jobs)
                )
                self._engine = _DaskEngine(client, self.shared)
                self._stack.callback(self._engine.close)
            elif self._backend == "ray":
                self._stack.enter_context(_ray_session(self._address, self._n_jobs))
                self._engine = _RayEngine(self.shared)
                self._stack.callback(self._engine.close)
            else:
                config = {} if self._backend is None else {"backend": self._backend}
                with parallel_config(**config):
                    self._n_slots = max(1, effective_n_jobs(self._n_jobs))
                self._parallel = Parallel(
                    n_jobs=self._n_jobs,
                    pre_dispatch=self._pre_dispatch,
                    batch_size=1,  # the queue's batches, not joblib's
                    return_as="generator_unordered",
                    **config,
                )
                self._stack.enter_context(self._parallel)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info):
        return self._stack.__exit__(*exc_info)

    @property
    def n_slots(self):
        """The fits the open engine runs at once (its worker slots)."""
        return self._engine.n_slots if self._engine is not None else self._n_slots

    def run(self, queue, round=None, retried=None):
        """Evaluate every task of ``queue``; yield ``(index, result)`` pairs.

        Parameters
        ----------
        queue : distsearch._schedule._TaskQueue
            The tasks of the round; told the time of each finished one.
        round : dict or None
            The fields of the bundle this round changes (see
            :func:`_run_batch`).
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
        if self._engine is not None:
            self._engine.set_round(round)
            yield from _told(queue, _iter_remote(queue, self._engine, retried))
            return
        n_slots = self._n_slots
        # joblib pulls batches from this generator (in its own thread) as
        # workers free up, so each batch is made from the latest estimates.
        batches = iter(lambda: queue.take(_TARGET_BATCH_SECONDS, n_slots), [])
        results = self._parallel(
            delayed(_run_batch)(self.shared, batch, round) for batch in batches
        )
        yield from _told(queue, (pair for batch in results for pair in batch))


def _told(queue, results):
    """Pass on ``results``, telling ``queue`` each finished task's time."""
    for index, result in results:
        queue.done(index, result)
        yield index, result


class _WorkerLost(Exception):
    """A batch's result was lost with its worker (not a model's error)."""


def _iter_remote(queue, engine, retried):
    """Run the tasks of ``queue`` in batches on a remote engine; yield results.

    Keeps twice as many batches in flight as the engine has worker slots, so
    that every worker has its next batch waiting. On any exception (a
    model's error with ``error_score='raise'``, too many lost workers,
    Ctrl-C) the batches still in flight are cancelled.
    """
    in_flight = {}  # handle -> (batch, number of times it was resubmitted)
    try:
        while len(queue) or in_flight:
            while len(queue) and len(in_flight) < 2 * engine.n_slots:
                batch = queue.take(_TARGET_BATCH_SECONDS, engine.n_slots)
                in_flight[engine.submit(batch)] = (batch, 0)
            handle = engine.next_done(list(in_flight))
            batch, attempts = in_flight.pop(handle)
            try:
                results = engine.result(handle)
            except _WorkerLost as exc:
                if attempts >= _MAX_RETRIES:
                    raise RuntimeError(
                        f"{len(batch)} fit(s) were lost with their worker "
                        f"{attempts + 1} times; giving up. Check the workers' "
                        "memory and logs."
                    ) from exc
                retried.update(index for index, _ in batch)
                in_flight[engine.submit(batch)] = (batch, attempts + 1)
                continue
            if engine.was_rerun(batch):
                retried.update(index for index, _ in batch)
            yield from results
    finally:
        if in_flight:
            engine.cancel(list(in_flight))


# ----------------------------------------------------------------------
# dask
# ----------------------------------------------------------------------
@contextlib.contextmanager
def _dask_client(address, n_jobs):
    """The client of a search: to ``address``, the current one, or a new cluster.

    A client or cluster made here is closed on exit (its worker processes
    end with it); the current client is left as it was.
    """
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if address is not None:
            client = stack.enter_context(Client(address, set_as_default=False))
        else:
            try:
                client = Client.current()
            except ValueError:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=effective_n_jobs(n_jobs),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(Client(cluster, set_as_default=False))
        yield client


def _run_batch_announced(shared, batch, topic, round=None):
    """:func:`_run_batch` on a dask worker, first logging the batch's start.

    The event (the batch's first task index) reaches the search's client
    before the batch's result does, so a batch seen starting twice was run
    again after its worker was lost.
    """
    from distributed import get_worker

    get_worker().log_event(topic, batch[0][0])
    return _run_batch(shared, batch, round)


class _DaskEngine:
    """Batches as dask futures; the shared bundle scattered to every worker.

    Re-runs by the scheduler are counted from the start events each batch
    logs on a topic of this search's own (a topic no one else publishes to;
    the scheduler keeps its few small events).
    """

    def __init__(self, client, shared):
        from distributed import as_completed

        self._client = client
        self.n_slots = max(1, sum(client.nthreads().values()))
        # A list of one, so that the namedtuple is scattered whole.
        [self._shared] = client.scatter([shared], broadcast=True, hash=False)
        self._done = as_completed(loop=client.loop)
        self._topic = f"distsearch-{uuid.uuid4().hex}"
        self._starts = Counter()
        client.subscribe_topic(self._topic, self._on_start)
        self._round = None

    def set_round(self, round):
        """Send the round's part of the bundle to every worker, once."""
        self._round = None
        if round:
            [self._round] = self._client.scatter([round], broadcast=True, hash=False)

    def _on_start(self, event):
        _, first_index = event
        self._starts[first_index] += 1

    def submit(self, batch):
        future = self._client.submit(
            _run_batch_announced,
            self._shared,
            batch,
            self._topic,
            self._round,
            pure=False,
        )
        self._done.add(future)
        return future

    def next_done(self, handles):
        return next(self._done)

    def result(self, future):
        from distributed import KilledWorker

        if future.status == "cancelled":
            raise _WorkerLost(f"dask task {future.key} was cancelled")
        try:
            return future.result()
        except KilledWorker as exc:
            raise _WorkerLost(str(exc)) from exc

    def was_rerun(self, batch):
        return self._starts[batch[0][0]] > 1

    def cancel(self, futures):
        self._client.cancel(futures)

    def close(self):
        self._client.unsubscribe_topic(self._topic)
        self._shared = self._round = None


# ----------------------------------------------------------------------
# ray
# ----------------------------------------------------------------------
@contextlib.contextmanager
def _ray_session(address, n_jobs):
    """Use the running ray, or connect to ``address``, or start a local one.

    A connection or local ray made here is shut down on exit.
    """
    import ray

    if ray.is_initialized():
        if address is not None:
            raise ValueError(
                f"address={address!r} was given but ray is already initialized "
                "in this process; drop address to use the running ray, or call "
                "ray.shutdown() first."
            )
        yield
        return
    if address is None:
        ray.init(num_cpus=effective_n_jobs(n_jobs), include_dashboard=False)
    else:
        ray.init(address=address)
    try:
        yield
    finally:
        ray.shutdown()


class _RayEngine:
    """Batches as ray tasks; the shared bundle put in the object store once."""

    def __init__(self, shared):
        import ray

        self._ray = ray
        self.n_slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._shared = ray.put(shared)
        # Retries are ours (see the module docstring), so that they are counted.
        self._run = ray.remote(max_retries=0, retry_exceptions=False)(_run_batch)
        exc = ray.exceptions
        self._lost = (
            exc.WorkerCrashedError,
            exc.NodeDiedError,
            exc.ObjectLostError,
            exc.LocalRayletDiedError,
            exc.OutOfMemoryError,
        )
        self._round = None

    def set_round(self, round):
        """Put the round's part of the bundle in the object store, once."""
        self._round = self._ray.put(round) if round else None

    def submit(self, batch):
        return self._run.remote(self._shared, batch, self._round)

    def next_done(self, handles):
        [ready], _ = self._ray.wait(handles, num_returns=1)
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
            raise _WorkerLost(str(exc)) from exc

    def was_rerun(self, batch):
        return False

    def cancel(self, refs):
        for ref in refs:
            self._ray.cancel(ref, force=True)

    def close(self):
        self._shared = self._round = None
