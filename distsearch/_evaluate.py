"""Worker-side evaluation: what runs on a worker for each batch of tasks.

:func:`_run_batch` is the function every engine runs on its workers:
``_run_batch(shared, batch, round)`` evaluates each ``(index, task)`` of
the batch with :func:`_evaluate_task` (fit and score, sharing a pipeline
prefix where planned) and returns the ``(index, result)`` pairs. A result is
a pure function of the shared bundle and the task, never of the worker or
the order, so results are the same on every engine. This module imports no
engine and nothing of the driver (dispatch, search).
"""

import contextlib
import faulthandler
import multiprocessing
import os
import sys
import threading
import time

from sklearn.base import clone

from ._callbacks import _capture
from ._fit import _fit_and_score
from ._isolated import _exit_with_parent, _run_alone
from ._outcome import _best_iteration
from ._prefix import _fit_and_score_shared
from ._sklearn_compat import _MultimetricScorer, _num_samples


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


def _failed_result(shared, task, error, seconds):
    """The result of a fit that ended its process: a failed fit with ``error``.

    Shaped as a failed fit's result from :func:`._fit._fit_and_score`
    (``error_score`` for every score, ``error`` as ``fit_error``). With
    ``error_score='raise'`` the error is raised instead.
    """
    if shared.error_score == "raise":
        raise RuntimeError(error)
    if isinstance(shared.scorer, _MultimetricScorer):
        scores = {name: shared.error_score for name in shared.scorer._scorers}
    else:
        scores = shared.error_score
    result = {
        "fit_error": error,
        "test_scores": scores,
        "n_test_samples": _num_samples(shared.splits[task.split_idx][1]),
        "fit_time": seconds,
        "score_time": 0.0,
        "best_iteration": None,
    }
    if shared.return_train_score:
        result["train_scores"] = scores.copy() if isinstance(scores, dict) else scores
    if shared.contexts is not None:
        result["callback_messages"] = []
    return result


def _run_batch(shared, batch, round=None):
    """Evaluate a batch of ``(index, task)`` pairs on a worker.

    ``round`` holds the fields of ``shared`` that the batch's round of the
    search changes (its ``n_candidates``, and its ``splits`` when the round
    has its own folds); the data travel once per fit, the round's small
    part once per round. A :class:`~distsearch.engines.Rerun` (a batch whose
    worker was lost) runs in a child process (:mod:`distsearch._isolated`);
    otherwise, with ``fit_timeout``, a fit that outlives it ends its worker
    process (see :func:`_deadline`), so that the engine runs its batch again
    that way.
    """
    if round:
        shared = shared._replace(**round)
    _exit_with_loky_parent()
    if getattr(batch, "rerun", False):  # an engines.Rerun
        return _run_alone(shared, batch, _evaluate_task, _failed_result)
    results = []
    for index, task in batch:
        with _deadline(shared):
            results.append(_evaluate_task(shared, index, task))
    return results


@contextlib.contextmanager
def _deadline(shared):
    """End this worker process if the block outlives ``shared.fit_timeout``.

    A fit cannot be interrupted (it may be in C code that never returns to
    Python), so the worker process ends: :func:`faulthandler.dump_traceback_later`
    runs in a C thread that needs no interpreter lock, prints where every
    thread was (to the worker's stderr, its log) and exits with status 1.
    The engine then runs the lost batch again in a child process
    (:mod:`distsearch._isolated`), which stops the fit at the same deadline
    and records it as failed ("fit_timeout exceeded"). Never in the
    search's own process (threads, ``n_jobs=1``), which the search refuses
    with ``fit_timeout`` before any fit. A worker running several tasks at
    once (a dask worker with several threads) arms the one timer of the
    process for the earliest deadline of its running fits.
    """
    if shared.fit_timeout is None or os.getpid() == shared.driver_pid:
        yield
        return
    key = object()
    with _DEADLINES_LOCK:
        _DEADLINES[key] = time.monotonic() + shared.fit_timeout
        _arm()
    try:
        yield
    finally:
        with _DEADLINES_LOCK:
            del _DEADLINES[key]
            _arm()


_DEADLINES = {}  # one entry per fit running in this process under fit_timeout
_DEADLINES_LOCK = threading.Lock()


def _arm():
    """Set the process's faulthandler timer to the earliest deadline (or none)."""
    faulthandler.cancel_dump_traceback_later()
    if not _DEADLINES:
        return
    try:
        file = sys.stderr if sys.stderr is not None and sys.stderr.fileno() >= 0 else None
    except (AttributeError, OSError, ValueError):  # no real file behind it
        file = None
    if file is None:
        file = sys.__stderr__ or open(os.devnull, "w")  # noqa: SIM115 (kept by faulthandler)
    seconds = max(0.001, min(_DEADLINES.values()) - time.monotonic())
    faulthandler.dump_traceback_later(seconds, exit=True, file=file)


_WATCHING_PARENT = False


def _exit_with_loky_parent():
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
    _exit_with_parent()
