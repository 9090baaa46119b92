"""Fits run in a process of their own, so that a fit cannot end its worker.

An engine runs a batch again as a :class:`~distsearch.engines.Rerun` after
the worker running it was lost (a fit that calls ``os._exit``, crashes with
a segmentation fault, is killed by the kernel's OOM killer, or outlives
``fit_timeout`` ends its whole worker process). :func:`_run_alone` then runs
the batch's fits in a child process of the worker, one after the other,
each result written to a folder as it finishes. When the child ends before
the batch does, the fit it was running is known exactly: it is recorded as
a failed fit (``error_score``) whose error says how the process ended (exit
code or signal) or that ``fit_timeout`` was exceeded, and a new child runs
the rest of the batch. The worker itself never dies for it, on any engine.

Invariants
----------
- A fit's result in a child is the same as in the worker (the same
  :func:`distsearch._evaluate._evaluate_task`, with the pipeline prefix
  fitted whole: the child has no prefix cache).
- Only the fit that was running when the child ended is recorded as failed;
  every other fit of the batch runs to its end.
- A model's own exception is not a crash: it is the fit's result
  (``error_score``), or, with ``error_score='raise'``, raised in the worker
  as it was raised in the child.
- The child is a fresh interpreter (``subprocess``, not ``fork``): dask's
  daemonic workers cannot start ``multiprocessing`` children, and forking
  ray's or dask's threaded workers is unsafe. It inherits the worker's
  environment (``PYTHONPATH``), so it imports the user's models as the
  worker does.
"""

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

# How often the worker looks at the child's progress (seconds).
_POLL = 0.02


def _how(returncode):
    """``'exit code 3'`` or ``'signal 11 (SIGSEGV)'`` for a process's return code.

    Examples
    --------
    >>> _how(3), _how(-9)
    ('exit code 3', 'signal 9 (SIGKILL)')
    """
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
    return f"signal {-returncode} ({name})"


def _describe(shared, task):
    """The candidate of ``task`` in words, for the error of a failed fit."""
    estimator = shared.estimators[task.model_idx]
    return (
        f"{type(estimator).__name__} with {task.params!r} (candidate "
        f"{task.cand_idx}, fold {task.split_idx})"
    )


def _run_alone(shared, batch, evaluate, failed):
    """Run ``batch``'s fits in child processes; return its ``(index, result)`` pairs.

    Parameters
    ----------
    shared : distsearch._tasks._Shared
        The round's bundle (its ``fit_timeout`` bounds each fit).
    batch : list of (int, _Task)
    evaluate : callable
        ``evaluate(shared, index, task)`` returns ``(index, result)``.
    failed : callable
        ``failed(shared, task, error, seconds)`` is the result of a fit
        recorded as failed with the text ``error``.
    """
    timeout = shared.fit_timeout
    todo = [(index, task._replace(prefix=None)) for index, task in batch]
    results = []
    while todo:
        with tempfile.TemporaryDirectory(prefix="distsearch-alone-") as folder:
            folder = Path(folder)
            with open(folder / "batch.pkl", "wb") as file:
                pickle.dump((shared, todo, evaluate), file, protocol=5)
            child = subprocess.Popen(
                [sys.executable, "-c", "from distsearch._isolated import _child; _child()",
                 str(folder)],
                stdin=subprocess.DEVNULL,
                # The worker's own import path (a dask or ray worker may have
                # more than its environment says).
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
            )
            n_done, timed_out, started = 0, False, None
            try:
                while True:
                    n_done, started = _collect(folder, n_done, started, results)
                    if child.poll() is not None:
                        break
                    if (
                        timeout is not None
                        and started is not None
                        and time.monotonic() - started > timeout
                    ):
                        timed_out = True
                        child.kill()
                        child.wait()
                        break
                    time.sleep(_POLL)
            finally:
                if child.poll() is None:  # an error or Ctrl-C in this worker
                    child.kill()
                    child.wait()
            n_done, started = _collect(folder, n_done, started, results)
            if n_done == len(todo):
                return results
            # The child ended during fit n_done: that fit is recorded as failed.
            index, task = todo[n_done]
            seconds = 0.0 if started is None else time.monotonic() - started
            if timed_out:
                error = (
                    f"FitTimeout: fitting {_describe(shared, task)} took more than "
                    f"fit_timeout={timeout} seconds; its process was stopped."
                )
            else:
                error = (
                    f"WorkerDied: the process fitting {_describe(shared, task)} "
                    f"died ({_how(child.returncode)}) before the fit ended; its "
                    "worker had died running it too."
                )
            results.append((index, failed(shared, task, error, seconds)))
            todo = todo[n_done + 1:]
    return results


def _collect(folder, n_done, started, results):
    """Read the results the child has finished since ``n_done``.

    Returns the new ``n_done`` and when the running fit started (as seen
    from here; None before the child reaches it).
    """
    while True:
        path = folder / f"{n_done}.pkl"
        if path.exists():
            with open(path, "rb") as file:
                kind, value = pickle.load(file)
            if kind == "raise":  # error_score='raise': the model's own error
                raise value
            results.append(value)
            n_done += 1
            started = None
            continue
        if started is None and (folder / f"{n_done}.started").exists():
            started = time.monotonic()
        return n_done, started


def _exit_with_parent():
    """End this process when its parent is gone: a daemon thread polls ``os.getppid()``.

    Used by the child that runs a batch alone (not left to finish it when its
    worker is gone) and by loky workers (``_evaluate._exit_with_loky_parent``).
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="distsearch-parent", daemon=True).start()


def _child():
    """The child process: run the batch in ``sys.argv[1]``, one result file per fit."""
    folder = Path(sys.argv[1])
    _exit_with_parent()
    with open(folder / "batch.pkl", "rb") as file:
        shared, todo, evaluate = pickle.load(file)
    for n, (index, task) in enumerate(todo):
        (folder / f"{n}.started").touch()
        try:
            outcome = ("result", evaluate(shared, index, task))
        except Exception as exc:  # error_score='raise'
            outcome = ("raise", exc)
        try:
            data = pickle.dumps(outcome, protocol=5)
        except Exception:  # an exception that does not pickle
            data = pickle.dumps(("raise", RuntimeError(traceback.format_exc())))
        part = folder / f"{n}.part"
        part.write_bytes(data)
        os.replace(part, folder / f"{n}.pkl")
