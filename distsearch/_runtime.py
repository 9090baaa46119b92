"""The runtime of one ``fit``: what every round of a search shares.

:meth:`MultiModelSearchCV.fit <distsearch.MultiModelSearchCV.fit>` validates
its input, opens one :class:`_Runtime`, calls the search's
``_run_search(evaluate_candidates)`` with the runtime's
:meth:`_Runtime.evaluate_candidates`, closes the runtime and selects the best
candidate from the cumulative results.

Invariants
----------
- One engine session per fit (:class:`distsearch._dispatch._Session`): the
  data bundle is sent to the workers once, and a ``LocalCluster`` or local
  ray started by the search is started once, however many rounds
  (``evaluate_candidates`` calls) run.
- All the candidates of one call, of all models, are one flat dispatch of
  (candidate, fold) tasks, ordered by the task queue; the measured seconds
  per cost unit of earlier rounds inform the queue of later ones.
- Results are kept in call order, then candidate order, then fold order,
  whatever order the fits ran in; ``evaluate_candidates`` returns the
  cumulative ``cv_results_`` of all the calls so far, exactly as
  scikit-learn's does, so one call with every candidate gives the search's
  historical results bit for bit.
- Checkpoint records, the progress total and the tasks grow with each call:
  a record's key depends on what determines the fit (not on its round), so a
  resumed search reuses the records of any round it reaches again.
- A round with its own ``cv`` sends only its folds to the workers, not the
  data again. ``cv`` may also be a dict ``{model name: splitter}`` (the
  multi-model form): the named models' candidates run on those folds, the
  others on the search's, all in the call's one dispatch.
"""

import contextlib
import os
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import FitFailedWarning

from ._callbacks import (
    _deliver,
    _detached,
    _has_callbacks,
    _mark_propagated,
    _propagates,
)
from ._checkpoint import _Checkpoint
from .engines import ClusterLost
from ._dispatch import _Session
from ._outcome import _exception_text
from ._prefix import _shared_prefixes
from ._progress import _Progress
from ._schedule import _Tasks, _TaskQueue
from ._sklearn_compat import (
    _insert_error_scores,
    _safe_indexing,
    _warn_or_raise_about_fit_failures,
)
from ._tasks import _Shared


class _Runtime:
    """Everything one fit opens once and every round uses.

    Parameters
    ----------
    search : MultiModelSearchCV
        The search being fitted (its parameters: backend, checkpoint...).
    models : list of distsearch._spaces._Model
    X, y : the data, already indexable.
    fit_params : list of dict
        Fit parameters per model.
    split_params, score_params : dict
    scorers : scorer or _MultimetricScorer
    refit_metric : str or callable
    cv : cross-validation splitter (checked)
    """

    def __init__(
        self,
        search,
        models,
        X,
        y,
        fit_params,
        split_params,
        score_params,
        scorers,
        refit_metric,
        cv,
    ):
        self._search = search
        self.models = models
        self._names = {model.name: index for index, model in enumerate(models)}
        self._X, self._y = X, y
        self._split_params = split_params
        self.cv = cv
        self.n_splits = cv.get_n_splits(X, y, **split_params)
        self.splits = self._split(cv)
        self.shared = _Shared(
            X=X,
            y=y,
            estimators=[m.estimator for m in models],
            splits=self.splits,
            fit_params=fit_params,
            score_params=score_params,
            scorer=scorers,
            return_train_score=search.return_train_score,
            error_score=search.error_score,
            verbose=search.verbose,
            n_candidates=0,
            fit_timeout=getattr(search, "fit_timeout", None),
            driver_pid=os.getpid(),
        )
        self._progress = _Progress(
            search.progress,
            0,
            self.n_splits,
            refit_metric if isinstance(refit_metric, str) else None,
        )
        self._session = _Session(
            self.shared,
            backend=search.backend,
            address=search.address,
            n_jobs=search.n_jobs,
            pre_dispatch=search.pre_dispatch,
        )
        self._rates = None
        self.n_rounds = 0
        # Cumulative over the calls: each candidate as (model index, params),
        # each fit's result in candidate-then-fold order, extra columns.
        self.candidates = []
        self.out = []
        self.best_iterations = []
        self.more_results = {}
        self.results = {}
        self.retried = set()
        # (candidate index, split index) -> traceback of each failed fit.
        self.fit_errors = {}
        self._context_ids = {}  # id(callback task) -> next evaluation task id

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.callback(self._progress.close)
        self._stack.enter_context(self._session)
        return self

    def __exit__(self, *exc_info):
        return self._stack.__exit__(*exc_info)

    def _split(self, cv):
        splits = list(cv.split(self._X, self._y, **self._split_params))
        if len(splits) != self.n_splits:
            raise ValueError(
                "cv.split and cv.get_n_splits return inconsistent results. "
                f"Expected {self.n_splits} splits, got {len(splits)}"
            )
        return splits

    def _folds(self, cv, candidates):
        """The splits of a call and, per candidate, its first fold in them.

        ``cv``: None (the search's folds), a splitter, or a dict
        ``{model name: splitter}`` whose folds follow the search's in the
        returned splits (each splitter once, however many models share it).
        Offsets are None when every candidate starts at 0.
        """
        if cv is None:
            return self.splits, None
        if not isinstance(cv, Mapping):
            return self._split(cv), None
        if not self._search._multi_model:
            raise ValueError(
                "evaluate_candidates got cv as a dict of models; with one "
                "estimator give one splitter."
            )
        unknown = sorted(set(cv) - set(self._names), key=str)
        if unknown:
            raise ValueError(
                f"evaluate_candidates got cv for unknown model(s) {unknown}; "
                f"the models are {list(self._names)}."
            )
        splits, first, starts = list(self.splits), {}, {}
        for name, splitter in cv.items():
            if splitter is None:
                continue
            if id(splitter) not in starts:
                starts[id(splitter)] = len(splits)
                splits += self._split(splitter)
            first[self._names[name]] = starts[id(splitter)]
        if not first:
            return self.splits, None
        return splits, [first.get(model_idx, 0) for model_idx, _ in candidates]

    def _resolve(self, candidate_params):
        """The candidates of a call as ``(model index, params)`` pairs.

        The drop-in form takes parameter dicts; the multi-model form takes
        ``(model name, params)`` pairs.
        """
        candidates = []
        multi_model = self._search._multi_model
        for candidate in candidate_params:
            if not multi_model and isinstance(candidate, dict):
                candidates.append((0, candidate))
                continue
            if (
                multi_model
                and isinstance(candidate, (tuple, list))
                and len(candidate) == 2
                and isinstance(candidate[1], dict)
                and candidate[0] in self._names
            ):
                candidates.append((self._names[candidate[0]], candidate[1]))
                continue
            expected = (
                f"a (model name, params) pair with a name among {list(self._names)}"
                if multi_model
                else "a dict of parameters"
            )
            raise ValueError(
                f"evaluate_candidates got the candidate {candidate!r}; each "
                f"candidate must be {expected}."
            )
        return candidates

    def _describe(self, task):
        """(model name, params, fold) of a task, for messages."""
        return self.models[task.model_idx].name, task.params, task.split_idx

    @property
    def n_slots(self):
        """The fits the fit's engine runs at once (while the runtime is open)."""
        return self._session.n_slots

    def evaluate_candidates(
        self, candidate_params, cv=None, more_results=None, callback_ctx=None, *,
        on_result=None, fold_limit=None
    ):
        """Evaluate candidates on every fold; return the cumulative ``cv_results_``.

        Parameters
        ----------
        candidate_params : iterable
            Parameter dicts (drop-in form) or ``(model name, params)`` pairs
            (multi-model form); all of them go into one flat dispatch.
        cv : cross-validation splitter or dict, default=None
            Folds for this call; None uses the search's. It must give the
            search's number of splits. In the multi-model form a dict
            ``{model name: splitter}`` gives the named models' candidates
            their own folds (the others use the search's), in the same one
            dispatch.
        more_results : dict of str -> list, default=None
            Extra ``cv_results_`` columns, one value per candidate.
        callback_ctx : sklearn.callback.CallbackContext, default=None
            The task (scikit-learn 1.9+ callbacks) whose subtasks this call's
            fits are, one ``candidate-split-evaluation`` each, as in
            GridSearchCV (see :mod:`distsearch._callbacks`).
        on_result : callable, default=None
            ``on_result(candidate, fold, result)`` is called on the driver
            with each fit's result as it arrives (the call's candidate index,
            the fold index, the fit's result dict; checkpointed results
            first, in task order). It returns a dict ``{candidate: n_folds}``
            (possibly empty) of new *fold limits*: from then on the candidate
            runs only its folds ``< n_folds`` (its other folds not handed out
            yet are held back; raising the limit hands them out). A
            candidate whose limit is below the number of folds when the call
            ends keeps only its first ``n_folds`` folds in the results, the
            others having NaN scores and zero times (a search that prunes,
            such as the Optuna search).
        fold_limit : int, default=None
            The fold limit every candidate starts with (at least 1; None:
            all folds). With ``fold_limit=1``, a candidate's second fold is
            sent to a worker only once ``on_result`` raised its limit after
            its first fold's result (fold-gated dispatch); meanwhile the
            workers run the folds that are allowed. The call ends when no
            allowed fold is left.

        Returns
        -------
        results : dict
            The ``cv_results_`` of all the calls so far.
        """
        search = self._search
        candidates = self._resolve(candidate_params)
        n_candidates = len(candidates)
        splits, offsets = self._folds(cv, candidates)
        n_splits = self.n_splits
        if search.verbose > 0:
            print(
                f"Fitting {n_splits} folds for each of {n_candidates} candidates"
                + (f" of {len(self.models)} models" if search._multi_model else "")
                + f", totalling {n_candidates * n_splits} fits"
            )
        round = {"n_candidates": n_candidates}
        if splits is not self.splits:
            round["splits"] = splits
        contexts = None
        if _has_callbacks(callback_ctx):
            # Task ids go on where an earlier call under the same task stopped.
            first = self._context_ids.get(id(callback_ctx), 0)
            self._context_ids[id(callback_ctx)] = first + n_candidates * n_splits
            contexts = [
                callback_ctx.subcontext(
                    task_name="candidate-split-evaluation", task_id=first + i
                )
                for i in range(n_candidates * n_splits)
            ]
            if _propagates(callback_ctx):
                round["contexts"] = [_detached(context) for context in contexts]
        shared = self.shared._replace(**round)

        self.n_rounds += 1
        offset = len(self.candidates)
        # Task i of the call is fold i % n_splits of its candidate
        # i // n_splits, made when needed; results are kept in that order.
        tasks = _Tasks(candidates, n_splits, offsets)
        out = [None] * len(tasks)
        sharding = getattr(search, "_sharding", None)  # set by fit_shard / collect
        if sharding is not None and self.n_rounds > 1:
            raise ValueError(sharding.ADAPTIVE)
        store = _Checkpoint(
            search.checkpoint if sharding is None else sharding.records,
            tasks,
            shared,
            search.scoring,
        )
        store.load(out)
        finished = out if sharding is None else sharding.before_run(
            store, tasks, out, lambda i: self._describe(tasks[i])
        )
        # The bar shows the round: a halving search's own, else the call's.
        rounds = (more_results or {}).get("iter")
        number = int(rounds[0]) + 1 if rounds else self.n_rounds
        self._progress.extend(
            n_candidates, f"round {number}" if self.n_rounds > 1 else None
        )
        queue = _TaskQueue(
            tasks, finished, shared.estimators, rates=self._rates, fold_limit=fold_limit
        )

        def tell(index, result):
            if on_result is not None:
                for cand_idx, n_folds in on_result(*divmod(index, n_splits), result).items():
                    queue.limit(cand_idx, n_folds)

        for index, result in enumerate(out):
            if result is not None:  # reused from the checkpoint
                self._progress.update(offset + index // n_splits, result)
                self._callbacks(contexts, round, index, tasks, [])
                tell(index, result)
        # A model that callbacks follow is fitted whole (no shared prefix).
        todo = [] if shared.contexts is not None else queue.static_order()
        with _shared_prefixes(
            tasks, todo, shared, self._session.n_slots, self._session.release
        ) as plans:
            queue.run_first(plans)
            try:
                while len(queue):  # more than once only when on_result raises limits
                    for index, result in self._session.run(queue, round, self.retried):
                        messages = result.pop("callback_messages", [])
                        out[index] = result
                        store.save(index, result)
                        self._progress.update(offset + index // n_splits, result)
                        self._callbacks(contexts, round, index, tasks, messages)
                        tell(index, result)
            except ClusterLost as exc:
                exc.args = (f"{exc.args[0]} {_how_to_resume(store, len(tasks))}",)
                raise
        self._rates = queue.rates()
        if sharding is not None:
            sharding.after_run(store, out)  # a shard's fit ends here
        for cand_idx, (n_kept, n_held) in queue.limits().items():
            self._progress.drop(n_held)
            first = out[cand_idx * n_splits]  # n_kept >= 1: fold 0 is kept
            for split_idx in range(n_kept, n_splits):
                index = cand_idx * n_splits + split_idx
                out[index] = _not_run(first, len(splits[tasks[index].split_idx][1]))
        if len(out) < 1:
            raise ValueError(
                "No fits were performed. Was the CV iterator empty? "
                "Were there no candidates?"
            )
        best_iterations = [result.pop("best_iteration") for result in out]
        errors = {
            divmod(index, n_splits): result["fit_error"]
            for index, result in enumerate(out)
            if result.get("fit_error") is not None
        }
        self.fit_errors.update(
            ((offset + cand_idx, split_idx), error)
            for (cand_idx, split_idx), error in errors.items()
        )
        _warn_or_raise_about_fit_failures(out, search.error_score)
        if search._multi_model:
            _warn_about_failed_models(errors, candidates, self.models, n_splits)
        if callable(search.scoring):
            _insert_error_scores(out, search.error_score)

        self.candidates.extend(candidates)
        self.out.extend(out)
        self.best_iterations.extend(best_iterations)
        for key, value in (more_results or {}).items():
            self.more_results.setdefault(key, []).extend(value)
        self.results = self._format()
        return self.results

    def _callbacks(self, contexts, round, index, tasks, messages):
        """Call the hooks of a finished fit's evaluation task in this process.

        Its ``on_fit_task_begin``, the messages its model's callbacks sent
        on the worker, then its ``on_fit_task_end``, with the search as
        ``estimator`` and the fold's training rows (and sample weights) made
        only if a callback asks for them.
        """
        if contexts is None:
            return
        task = tasks[index]
        train = round.get("splits", self.splits)[task.split_idx][0]
        weight = self.shared.fit_params[task.model_idx].get("sample_weight")
        kwargs = {
            "X": lambda: _safe_indexing(self._X, train),
            "y": None if self._y is None else lambda: _safe_indexing(self._y, train),
            "metadata": None
            if weight is None
            else lambda: {"sample_weight": _safe_indexing(weight, train)},
        }
        if "contexts" in round:
            _mark_propagated(contexts[index], self.shared.estimators[task.model_idx])
        contexts[index].call_on_fit_task_begin(estimator=self._search, **kwargs)
        _deliver(messages)
        contexts[index].call_on_fit_task_end(estimator=self._search, **kwargs)

    def _format(self):
        """The cumulative ``cv_results_``."""
        search = self._search
        n_candidates = len(self.candidates)
        results = search._format_results(
            [params for _, params in self.candidates],
            self.n_splits,
            self.out,
            self.more_results,
        )
        if search._multi_model:
            names = np.array([self.models[index].name for index, _ in self.candidates])
            results = {"model": names, **results}
        results.update(
            _best_iteration_columns(self.best_iterations, n_candidates, self.n_splits)
        )
        return results


def _how_to_resume(store, n_tasks):
    """What a search stopped by a lost cluster tells about its finished fits."""
    if store.folder is None:
        return (
            "The fits finished so far are lost with it (no checkpoint= was set: "
            "set one to keep them across a lost cluster)."
        )
    return (
        f"{store.n_saved()} of the {n_tasks} fits of this round are saved in "
        f"checkpoint={store.folder!r}: once the cluster is back, rerun the same "
        "search with the same checkpoint to resume from them."
    )


def _not_run(result, n_test_samples):
    """The result of a fold that did not run, shaped as ``result``: NaN scores."""
    def nan_like(scores):
        if isinstance(scores, dict):
            return {name: np.nan for name in scores}
        return np.nan

    missing = dict(
        result,
        fit_time=0.0,
        score_time=0.0,
        fit_error=None,
        n_test_samples=n_test_samples,
    )
    missing["test_scores"] = nan_like(result["test_scores"])
    if "train_scores" in result:
        missing["train_scores"] = nan_like(result["train_scores"])
    missing["best_iteration"] = None
    return missing


def _best_iteration_columns(best_iterations, n_candidates, n_splits):
    """``split{k}_best_iteration`` and ``mean_best_iteration`` columns.

    Empty unless at least one fit reported a best iteration, so searches over
    models without early stopping keep GridSearchCV's keys exactly.
    """
    if all(b is None for b in best_iterations):
        return {}
    array = np.array(
        [np.nan if b is None else b for b in best_iterations], dtype=np.float64
    ).reshape(n_candidates, n_splits)
    columns = {f"split{k}_best_iteration": array[:, k] for k in range(n_splits)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        columns["mean_best_iteration"] = np.nanmean(array, axis=1)
    return columns


def _warn_about_failed_models(fit_errors, candidates, models, n_splits):
    """A FitFailedWarning for each model whose every fit failed, with its first error."""
    counts = np.bincount([model_idx for model_idx, _ in candidates], minlength=len(models))
    failed = np.zeros(len(models), dtype=int)
    first = {}
    for (cand_idx, _), error in sorted(fit_errors.items()):
        model_idx = candidates[cand_idx][0]
        failed[model_idx] += 1
        first.setdefault(model_idx, error)
    for model_idx, model in enumerate(models):
        if counts[model_idx] and failed[model_idx] == counts[model_idx] * n_splits:
            warnings.warn(
                f"Every fit of model {model.name!r} failed ({failed[model_idx]} fits of "
                f"{counts[model_idx]} candidate{'s' if counts[model_idx] != 1 else ''}); "
                f"its first error: "
                f"{_exception_text(first[model_idx])} (all errors: fit_errors_)",
                FitFailedWarning,
            )
