"""Dispatch: running every (candidate, fold) fit of a search.

The search turns its work into one flat list of small :class:`_Task` tuples
(candidate index, fold index, model index, parameters) and one
:class:`_Shared` bundle of everything the tasks have in common (the data, the
folds, the unfitted models, the scorer). :func:`_iter_results` evaluates every
task with :func:`_evaluate_task` and yields each result with its task's index
as it finishes; the search puts them back in task order, so its results never
depend on where or in which order the fits ran.
"""

from typing import NamedTuple

from sklearn.base import clone
from sklearn.model_selection._validation import _fit_and_score
from sklearn.utils.parallel import Parallel, delayed

from ._prefix import _fit_and_score_shared


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
    ``sklearn.model_selection._validation._fit_and_score`` (as GridSearchCV
    gets it) plus ``best_iteration``.
    """
    train, test = shared.splits[task.split_idx]
    result = None if task.prefix is None else _fit_and_score_shared(shared, task)
    if result is None:
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
            return_n_test_samples=True,
            return_times=True,
            return_estimator=True,
            split_progress=(task.split_idx, len(shared.splits)),
            candidate_progress=(task.cand_idx, shared.n_candidates),
            error_score=shared.error_score,
        )
    result["best_iteration"] = _best_iteration(result.pop("estimator"))
    return index, result


def _iter_results(tasks, shared, *, n_jobs=None, pre_dispatch="2*n_jobs"):
    """Evaluate every task under the active joblib backend.

    Parameters
    ----------
    tasks : list of _Task
    shared : _Shared
    n_jobs, pre_dispatch : as for :class:`joblib.Parallel`

    Yields
    ------
    index, result : int, dict
        Each task's position in ``tasks`` and its result, as soon as it
        finishes (not in task order), so that the caller can record progress
        and keep finished results while the search runs.
    """
    parallel = Parallel(
        n_jobs=n_jobs, pre_dispatch=pre_dispatch, return_as="generator_unordered"
    )
    yield from parallel(
        delayed(_evaluate_task)(shared, index, task) for index, task in enumerate(tasks)
    )
