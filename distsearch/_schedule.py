"""Scheduling: which (candidate, fold) fit of a search runs next.

A search's fits are its tasks: task ``i`` is fold ``i % n_splits`` of
candidate ``i // n_splits`` (:class:`_Tasks`, a sequence that makes each
:class:`~distsearch._tasks._Task` when asked, so no list of them is
kept). :class:`_TaskQueue` hands out the tasks still to run, in batches
(:meth:`_TaskQueue.take`) that every backend asks for as workers free up,
longest expected fit first, and is told the fit + score seconds of every finished
task, so that the expected times improve while the search runs:

- a candidate with finished folds is expected to take the mean seconds of
  those folds;
- any other candidate is expected to take its static cost
  (:func:`_estimated_cost`: the product of its size parameters such as
  ``n_estimators`` x ``num_leaves``) times its model's measured seconds per
  cost unit (from the model's finished fits; before any, the rate over all
  models; before any fit finished, the static cost alone), so that the
  estimates of different models are comparable.

The first fold of every candidate runs before the second fold of any
candidate not yet measured (a candidate's remaining folds wait for its
first time, unless nothing else is left), so the bulk of the work is ordered
by measured times. Fits whose pipeline prefix is shared
(:mod:`distsearch._prefix`) run first, in the order their sharing plan
gives. Only the order changes, never a result: the search puts the results
back in task order.

Fold limits: each candidate may run only its folds below its *limit*
(``n_splits`` unless ``fold_limit`` says fewer); :meth:`_TaskQueue.limit`
lowers or raises it while the search runs. Folds at or above the limit that
are not handed out yet are held back (not counted in ``len``); raising the
limit hands them out again. A search that prunes thus starts every candidate
with ``fold_limit=1`` and raises a candidate's limit only once its scored
folds say it goes on (fold-gated dispatch): the folds of a pruned candidate
are never sent to a worker, and the slots are filled meanwhile with the
folds that are allowed (other candidates' first folds).
"""

import heapq
import threading
from collections import deque
from numbers import Real

from ._spaces import _SIZE_PARAMS
from ._tasks import _Task

# A candidate's estimated cost is the product of the parameters its fit's
# cost grows with (distsearch._spaces._SIZE_PARAMS: iterations and leaves).

# A candidate's state in the queue.
_FRESH, _STARTED, _MEASURED = 0, 1, 2


def _is_size_param(key):
    return key.rsplit("__", 1)[-1] in _SIZE_PARAMS


def _estimated_cost(params):
    """The product of the positive numeric size parameters in ``params`` (else 1).

    Examples
    --------
    >>> _estimated_cost({"n_estimators": 100, "num_leaves": 31, "alpha": 0.5})
    3100.0
    """
    cost = 1.0
    for key, value in params.items():
        if _is_size_param(key) and isinstance(value, Real):
            if not isinstance(value, bool) and value > 0:
                cost *= float(value)
    return cost


class _Tasks:
    """The tasks of a search as a read-only sequence; each made when asked.

    Task ``i`` is fold ``i % n_splits`` of candidate ``i // n_splits``; its
    ``params`` is the candidate's own dict (shared by its folds, not copied).
    Its ``split_idx`` is that fold's position in the round's splits: the
    fold number, plus the candidate's offset when the round gives some
    models folds of their own.

    Parameters
    ----------
    candidates : list of (int, dict)
        Each candidate's model index and parameters.
    n_splits : int
    offsets : list of int or None
        Per candidate, the position of its first fold in the round's splits
        (None: 0 for every candidate).
    """

    def __init__(self, candidates, n_splits, offsets=None):
        self.candidates = candidates
        self.n_splits = n_splits
        self.offsets = offsets

    def __len__(self):
        return len(self.candidates) * self.n_splits

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        cand_idx, split_idx = divmod(index, self.n_splits)
        model_idx, params = self.candidates[cand_idx]
        if self.offsets is not None:
            split_idx += self.offsets[cand_idx]
        return _Task(cand_idx, split_idx, model_idx, params)

    def __iter__(self):
        return map(self.__getitem__, range(len(self)))


class _TaskQueue:
    """The tasks left to run, handed out longest expected fit first.

    Thread-safe: joblib takes batches from its dispatch thread while the
    search reports finished tasks from its own.

    Parameters
    ----------
    tasks : _Tasks
    finished : list
        One slot per task: its result if already known (e.g. from a
        checkpoint; its times then count as measured), else None (to run).
    estimators : list
        The unfitted model of each model index (their default parameters
        enter the static cost).
    rates : tuple or None
        :meth:`rates` of the queue of an earlier round of the same search:
        the seconds per cost unit measured then inform this round's
        estimates before any of its own fits finish.
    fold_limit : int or None
        The folds every candidate may run before :meth:`limit` raises its
        limit (at least 1); None: all of them.

    Notes
    -----
    Per model, the candidates not started yet are kept in a list in static
    cost order (with one rate per model, that is also their order in
    expected seconds); measured candidates with folds left are in a heap by
    mean seconds; started candidates not measured yet wait in a heap of
    their own. A pop compares the heap's top with every model's first
    candidate: O(log n + number of models).
    """

    def __init__(self, tasks, finished, estimators, rates=None, fold_limit=None):
        self._lock = threading.Lock()
        self._tasks = tasks
        self._n_splits = tasks.n_splits
        self._model_of = [model_idx for model_idx, _ in tasks.candidates]
        n_candidates = len(tasks.candidates)
        self._cost = self._static_costs(tasks.candidates, estimators)
        self._sum = [0.0] * n_candidates  # measured seconds of finished folds
        self._count = [0] * n_candidates
        self._state = [_FRESH] * n_candidates
        self._model_seconds = [0.0] * len(estimators)
        self._model_units = [0.0] * len(estimators)
        self._total_seconds = self._total_units = 0.0
        if rates is not None:
            seconds, units, self._total_seconds, self._total_units = rates
            self._model_seconds, self._model_units = list(seconds), list(units)
        self._pending = {}  # cand_idx -> deque of fold indices to run
        for index, result in enumerate(finished):
            if result is None:
                cand_idx, split_idx = divmod(index, self._n_splits)
                self._pending.setdefault(cand_idx, deque()).append(split_idx)
        self._first = deque()  # (index, prefix plan): run before the rest
        self._n_left = len(finished) - sum(r is not None for r in finished)
        # Per candidate: the folds it may run (its limit), and its folds at
        # or above the limit not handed out (held back, not in _n_left).
        self._limit = [self._n_splits] * n_candidates
        self._held = {}
        if fold_limit is not None:
            for cand_idx in self._pending:
                self._set_limit(cand_idx, fold_limit)
        # Fresh candidates per model, most expensive first (a stable sort).
        self._fresh = [[] for _ in estimators]
        for cand_idx in sorted(self._pending, key=lambda c: -self._cost[c]):
            self._fresh[self._model_of[cand_idx]].append(cand_idx)
        self._fresh_pos = [0] * len(estimators)
        self._measured = []  # heap of (-mean seconds, cand_idx, count)
        self._started = []  # heap of (-static cost, cand_idx)
        for index, result in enumerate(finished):
            if result is not None:
                self._record(index, result)

    @staticmethod
    def _static_costs(candidates, estimators):
        defaults = [
            {k: v for k, v in e.get_params(deep=True).items() if _is_size_param(k)}
            for e in estimators
        ]
        return [
            _estimated_cost({**defaults[model_idx], **params})
            for model_idx, params in candidates
        ]

    def rates(self):
        """The measured seconds and cost units, per model and in all.

        Passed as ``rates`` to the queue of the search's next round.
        """
        with self._lock:
            return (
                tuple(self._model_seconds),
                tuple(self._model_units),
                self._total_seconds,
                self._total_units,
            )

    def static_order(self):
        """The indices of the tasks to run, most expensive static cost first.

        Ties keep task order; used to plan shared prefixes.
        """
        order = sorted(self._pending, key=lambda c: -self._cost[c])
        n = self._n_splits
        return [c * n + s for c in order for s in self._pending[c]]

    def run_first(self, plans):
        """Hand out the tasks of ``plans`` (index -> prefix plan) first, in its order."""
        with self._lock:
            for index, plan in plans.items():
                cand_idx, split_idx = divmod(index, self._n_splits)
                self._pending[cand_idx].remove(split_idx)
                self._first.append((index, plan))

    def __len__(self):
        """The number of tasks not handed out yet (not counting those held back)."""
        return self._n_left

    def _rate(self, model_idx):
        """Measured seconds per cost unit of the model, else of all; else None."""
        if self._model_units[model_idx]:
            return self._model_seconds[model_idx] / self._model_units[model_idx]
        if self._total_units:
            return self._total_seconds / self._total_units
        return None

    def _expected(self, cand_idx):
        """Expected seconds of a fold of ``cand_idx``; static cost if no rate."""
        if self._count[cand_idx]:
            return self._sum[cand_idx] / self._count[cand_idx]
        rate = self._rate(self._model_of[cand_idx])
        return self._cost[cand_idx] if rate is None else self._cost[cand_idx] * rate

    def _next_candidate(self):
        """The candidate whose next fold runs next (its folds left non-empty)."""
        heap = self._measured
        while heap and (
            not self._pending.get(heap[0][1]) or self._count[heap[0][1]] != heap[0][2]
        ):
            heapq.heappop(heap)  # done, or superseded by a newer mean
        best, best_seconds = None, None
        if heap:
            best, best_seconds = heap[0][1], -heap[0][0]
        for model_idx, fresh in enumerate(self._fresh):
            pos = self._fresh_pos[model_idx]
            while pos < len(fresh) and (
                self._state[fresh[pos]] != _FRESH or not self._pending[fresh[pos]]
            ):
                pos += 1
            self._fresh_pos[model_idx] = pos
            if pos < len(fresh):
                seconds = self._expected(fresh[pos])
                if best is None or seconds > best_seconds:
                    best, best_seconds = fresh[pos], seconds
        if best is not None:
            return best
        started = self._started
        while started and (
            self._state[started[0][1]] != _STARTED or not self._pending[started[0][1]]
        ):
            heapq.heappop(started)
        return started[0][1] if started else None

    def pop(self):
        """The next task to run as ``(index, task, seconds)``.

        ``task`` is the :class:`~distsearch._tasks._Task` (with its prefix
        plan, if any), ``seconds`` its expected fit + score time (None before
        any fit finished). Returns None when no task is left.
        """
        with self._lock:
            if self._first:
                index, plan = self._first.popleft()
                cand_idx = index // self._n_splits
            else:
                cand_idx = self._next_candidate()
                if cand_idx is None:
                    return None
                index, plan = cand_idx * self._n_splits + self._pending[
                    cand_idx
                ].popleft(), None
                if self._state[cand_idx] == _FRESH:
                    self._state[cand_idx] = _STARTED
                    heapq.heappush(self._started, (-self._cost[cand_idx], cand_idx))
            self._n_left -= 1
            known = self._count[cand_idx] or self._total_units
            task = self._tasks[index]
            if plan is not None:
                task = task._replace(prefix=plan)
            return index, task, self._expected(cand_idx) if known else None

    def take(self, seconds, n_slots):
        """A batch of tasks for a worker: ``[(index, task), ...]``.

        As many tasks as are expected to take ``seconds`` together, but
        at least one, and at most the tasks left divided by twice
        ``n_slots`` (so that the last batches shrink and the workers finish
        together); one task while no fit has finished.
        """
        cap = max(1, -(-len(self) // (2 * n_slots)))
        batch, total = [], 0.0
        while len(batch) < cap and (popped := self.pop()) is not None:
            index, task, expected = popped
            batch.append((index, task))
            if expected is None:
                break
            total += expected
            if total >= seconds:
                break
        return batch

    def limit(self, cand_idx, n_folds):
        """Let ``cand_idx`` run only its folds ``< n_folds`` from now on.

        Its folds at or above ``n_folds`` not handed out yet are held back;
        its held folds below ``n_folds`` are handed out again. A fold
        already handed out runs whatever its limit.
        """
        with self._lock:
            self._set_limit(cand_idx, n_folds)

    def _set_limit(self, cand_idx, n_folds):
        if not 1 <= n_folds <= self._n_splits:
            raise ValueError(
                f"A candidate's fold limit must be between 1 and {self._n_splits} "
                f"(the number of folds); got {n_folds!r} for candidate {cand_idx}."
            )
        self._limit[cand_idx] = n_folds
        pending = self._pending.get(cand_idx)
        held = self._held.get(cand_idx, ())
        if pending is None:
            return
        folds = sorted([*pending, *held])
        kept = [split_idx for split_idx in folds if split_idx < n_folds]
        self._n_left += len(kept) - len(pending)
        was_empty = not pending
        pending.clear()
        pending.extend(kept)
        self._held[cand_idx] = [split_idx for split_idx in folds if split_idx >= n_folds]
        if was_empty and pending:
            # Back among the candidates with folds to hand out.
            if self._state[cand_idx] == _MEASURED:
                mean = self._sum[cand_idx] / self._count[cand_idx]
                heapq.heappush(self._measured, (-mean, cand_idx, self._count[cand_idx]))
            elif self._state[cand_idx] == _STARTED:
                heapq.heappush(self._started, (-self._cost[cand_idx], cand_idx))

    def limits(self):
        """``{candidate: (fold limit, folds held back)}`` of each limited candidate.

        When the search is done, a limited candidate ran only its folds below
        its limit (and any fold handed out before the limit was lowered).
        """
        with self._lock:
            return {
                cand_idx: (limit, len(self._held.get(cand_idx, ())))
                for cand_idx, limit in enumerate(self._limit)
                if limit < self._n_splits
            }

    def done(self, index, result):
        """Record the fit + score seconds of the finished task ``index``."""
        with self._lock:
            self._record(index, result)

    def _record(self, index, result):
        cand_idx = index // self._n_splits
        seconds = result["fit_time"] + result["score_time"]
        model_idx = self._model_of[cand_idx]
        self._sum[cand_idx] += seconds
        self._count[cand_idx] += 1
        self._model_seconds[model_idx] += seconds
        self._model_units[model_idx] += self._cost[cand_idx]
        self._total_seconds += seconds
        self._total_units += self._cost[cand_idx]
        self._state[cand_idx] = _MEASURED
        if self._pending.get(cand_idx):
            mean = self._sum[cand_idx] / self._count[cand_idx]
            heapq.heappush(self._measured, (-mean, cand_idx, self._count[cand_idx]))
