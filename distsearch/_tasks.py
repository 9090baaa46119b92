"""The task data of a search: its fits and what they share.

A :class:`_Task` is one (candidate, fold) fit: small (indices and the
candidate's parameters), made when the queue hands it out, and sent with its
batch. The :class:`_Shared` bundle holds everything the tasks of a search
have in common (the data, the folds, the unfitted models, the scorer); an
engine sends it to its workers once per fit. This module imports nothing
from distsearch: the scheduler, the worker-side evaluation and the engines
all build on it.
"""

from typing import NamedTuple


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
    # Seconds a fit (and its scoring) may take on a worker, or None; and the
    # pid of the search's own process, where no fit is ever stopped.
    fit_timeout: float = None
    driver_pid: int = None
