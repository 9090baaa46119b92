"""scikit-learn callbacks (``set_callbacks``, scikit-learn 1.9+) on every backend.

A search honours its callbacks as :class:`~sklearn.model_selection.GridSearchCV`
does: the same task tree (the fit, its ``search`` task with one
``candidate-split-evaluation`` leaf per (candidate, fold) fit, the
``refit-with-best-params`` task) and the same hooks, each given the search
itself as ``estimator``. Where the fits run does not matter:

- The search's own hooks (its fit, search, evaluations and refit) are called
  in the process that runs the search. An evaluation's ``on_fit_task_begin``
  and ``on_fit_task_end`` are called when its result arrives through the
  search's result stream, with the fold's training rows (made only if a
  callback asks for them).
- Auto-propagated callbacks (e.g. ``ProgressBar``) also follow each fit into
  the model, as GridSearchCV propagates them: the fit's context travels with
  its round (a copy holding only its path to the root, so it stays small),
  and every message those callbacks send while the model fits on a worker
  (scikit-learn's callbacks send through ``sklearn.callback._transport``) is
  captured there, returned with the fit's result and delivered to the
  callback's consumer in the search's process. scikit-learn's own transport
  (a local socket) is not used, so dask and ray workers on other machines
  report too.

On scikit-learn 1.8, which has no callbacks, none of this runs.
"""

import contextlib
import copy
import threading
import warnings

# None on scikit-learn 1.8, which has no callbacks.
from ._sklearn_compat import AutoPropagatedCallback, _transport, get_context_path


def _root_context(search):
    """The search's root callback context, its fit begun; None before 1.9."""
    if not hasattr(search, "_init_callback_context"):
        return None
    return search._init_callback_context(max_subtasks=1 + (search.refit is not False))


def _has_callbacks(context):
    return context is not None and bool(context._callbacks)


def _propagates(context):
    """Whether some callback of ``context`` follows the fits into the models."""
    return _has_callbacks(context) and any(
        isinstance(callback, AutoPropagatedCallback) for callback in context._callbacks
    )


def _detached(context):
    """A copy of ``context`` whose ancestors (copies too) hold only their path to it.

    What a worker needs to propagate the context into a model: pickling the
    context itself would pickle the whole task tree through its parents.
    """
    parent = None
    for ctx in get_context_path(context):
        twin = copy.copy(ctx)
        twin.parent = parent
        twin._children_map = {}
        if parent is not None:
            parent._children_map[twin.task_id] = twin
        parent = twin
    return parent


class _Consumers(dict):
    """``_transport._message_consumers`` that can capture a thread's messages.

    While a thread runs under :func:`_capture`, every message a callback sends
    from it (to any listener) is appended to that thread's list as
    ``(address, message)``; other threads are served as before.
    """

    _local = threading.local()

    def get(self, address, default=None):
        messages = getattr(self._local, "messages", None)
        if messages is not None:
            return lambda message: messages.append((address, message))
        return super().get(address, default)


@contextlib.contextmanager
def _capture():
    """Capture the callback messages sent by this thread; yields their list."""
    if not isinstance(_transport._message_consumers, _Consumers):
        _transport._message_consumers = _Consumers(_transport._message_consumers)
    messages = []
    _Consumers._local.messages = messages
    try:
        yield messages
    finally:
        _Consumers._local.messages = None


def _deliver(messages):
    """Hand captured messages to their consumers in this process."""
    for address, message in messages:
        consumer = dict.get(_transport._message_consumers, address)
        if consumer is not None:
            consumer(message)


def _mark_propagated(context, estimator):
    """Mark on ``context`` the callbacks its fit propagates into ``estimator``.

    scikit-learn does it while it propagates the context (on the worker
    here); an evaluation's hooks called in the search's process then skip
    those callbacks as GridSearchCV's do (the model's own root task reports
    for them). ``estimator`` is the model's unfitted estimator, left as it
    was.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the worker warns, as in GridSearchCV
        with context.propagate_callback_context(estimator):
            pass
