"""Optuna's samplers and pruners on distsearch's spaces and folds.

The pieces a model-based search across several models needs, independent of
how the fits run:

- :class:`_OptunaSpace` turns the models of a search into one *conditional*
  Optuna space: with several models (the multi-model form) the first
  parameter of every trial is the categorical ``"model"`` (the model names,
  in their order), and a model's own parameters exist only under it, named
  ``"<model>:<parameter>"``; in the drop-in form (one estimator) there is no
  ``"model"`` parameter and the names are the estimator's own. A model whose
  space is a list of dicts gets one more categorical, ``"<model>:space"``
  (``"space"`` in the drop-in form), choosing the dict, and that dict's
  parameters are named ``"<model>:<i>:<parameter>"``. The same Optuna name
  always has the same distribution, as Optuna requires.
- distsearch spaces map to Optuna distributions (:func:`_to_distribution`):
  a list (or array) of values is a categorical; ``scipy.stats.loguniform``
  a log-scaled float; ``uniform`` a float; ``randint`` an int (its upper
  bound is exclusive in scipy, inclusive in Optuna); an Optuna distribution
  is taken as it is. Anything else is an error that names the model, the
  parameter and the distribution, raised before any fit.
- :func:`_ask` asks the trials of one batch one after the other, each
  suggested completely before the next is asked, so the sampler sees the
  earlier trials of the batch as ``RUNNING`` with their parameters (the
  constant liar of :class:`optuna.samplers.TPESampler`, default in the
  sampler :func:`_default_sampler` makes) and does not propose them again.
  A trial whose parameters are those of a trial already evaluated or asked
  (TPE proposes its best point again and again on a small categorical
  space, e.g. a grid of ``alpha`` values) is not fitted: it stays
  ``RUNNING`` while the slot is asked again, so the constant liar steers
  the sampler away from it, and is then told failed with the user
  attribute ``"distsearch_duplicate_of"`` (the earlier trial's number).
  The first redraws keep the model the sampler chose (an enqueued trial
  fixes ``"model"``), so that only its parameters move; the later ones
  leave the model free. After ``_MAX_REDRAWS`` duplicates in a row (a
  space with no new point left) the duplicate is evaluated.
- :class:`_FoldReports` reports each trial's fold scores as intermediate
  values (step ``k`` is fold ``k``) and asks the pruner, in one fixed order
  whatever order the fits finish in: fold by fold, and within a fold by
  trial number, a trial's fold ``k`` being reported only once its folds
  ``0..k-1`` were. The pruning decisions, hence which folds a pruned trial
  keeps, therefore depend only on the scores, never on timing. With a
  pruner, a trial's fold ``k + 1`` is dispatched only once its fold ``k``
  was reported and not pruned (:meth:`_FoldReports.fold_limit`, the
  ``fold_limit`` of ``evaluate_candidates``): a pruned trial's later folds
  are never sent to a worker, so the fits saved do not depend on timing
  either.
- :func:`_tell` tells a batch's trials in trial-number order.

Invariants: nothing here fits a model; the sampler and the pruner are only
called from the driver, in an order fixed by the trials' numbers and fold
indices, so a seeded sampler gives the same trials for the same scores.
"""

import copy
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from joblib import effective_n_jobs

from ._search import MultiModelSearchCV
from ._seeding import derived_seed, int_seed
from ._sklearn_compat import BaseSearchCV, HasMethods, Interval
from ._spaces import _describe_value, _is_optuna_distribution, _subspaces

_EXTRA_HINT = (
    "the Optuna search needs the optuna package: pip install 'distsearch[optuna]'"
)

# The categorical parameter that chooses the model (multi-model form).
_MODEL_PARAM = "model"

# Values Optuna's storages keep as they are in a categorical; any other value
# is stood in for by its repr.
_PLAIN = (type(None), bool, int, float, str)


def _import_optuna():
    """The optuna module; an ImportError naming the extra when it is missing."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(f"optuna is not installed: {_EXTRA_HINT}.") from exc
    return optuna


class _Param(NamedTuple):
    """One parameter of one model's (sub)space, as Optuna sees it."""

    name: str  # the estimator's parameter name
    key: str  # the Optuna parameter name
    distribution: object  # an optuna.distributions.BaseDistribution
    values: tuple | None  # a categorical's original values (choice i -> values[i])


def _plain(value):
    """``value`` as a plain Python scalar when it is a numpy scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _categorical(values, optuna):
    """A categorical over ``values``; returns (distribution, original values)."""
    values = tuple(values)
    plain = [_plain(v) for v in values]
    if all(isinstance(v, _PLAIN) for v in plain):
        choices = plain
    else:
        # Objects (estimators, callables, tuples...) are chosen by their repr;
        # the index keeps two objects with the same repr apart.
        reprs = [repr(v) for v in values]
        if len(set(reprs)) == len(reprs):
            choices = reprs
        else:
            choices = [f"{i}: {r}" for i, r in enumerate(reprs)]
    return optuna.distributions.CategoricalDistribution(choices), values


def _to_distribution(values, where):
    """The Optuna distribution for a distsearch space's ``values``.

    Parameters
    ----------
    values : list, array, scipy.stats frozen distribution or Optuna distribution
    where : str
        Names the model and parameter in errors.

    Returns
    -------
    distribution, original_values
        ``original_values`` is the tuple of a categorical's values (its choice
        ``i`` stands for ``original_values[i]``), else None.

    Examples
    --------
    >>> from scipy.stats import loguniform, randint
    >>> _to_distribution(loguniform(1e-3, 10), "alpha")[0]
    FloatDistribution(high=10.0, log=True, low=0.001, step=None)
    >>> _to_distribution(randint(1, 5), "max_depth")[0]
    IntDistribution(high=4, log=False, low=1, step=1)
    >>> _to_distribution([0.1, 1.0], "C")[0]
    CategoricalDistribution(choices=(0.1, 1.0))
    """
    optuna = _import_optuna()
    od = optuna.distributions
    if isinstance(values, od.BaseDistribution):
        if not isinstance(
            values, (od.FloatDistribution, od.IntDistribution, od.CategoricalDistribution)
        ):
            raise TypeError(
                f"{where}: {values!r} is not supported; give an "
                "optuna.distributions.FloatDistribution, IntDistribution or "
                "CategoricalDistribution."
            )
        return values, None
    if isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, str):
        if len(values) == 0:
            raise ValueError(f"{where}: the list of values is empty.")
        return _categorical(values, optuna)
    dist = getattr(values, "dist", None)
    name = getattr(dist, "name", None)
    if name is not None and hasattr(values, "support"):
        low, high = (_plain(b) for b in values.support())
        if name == "randint" and math.isfinite(low) and math.isfinite(high):
            return od.IntDistribution(int(low), int(high)), None
        if name == "uniform" and math.isfinite(low) and math.isfinite(high):
            return od.FloatDistribution(float(low), float(high)), None
        if name in ("loguniform", "reciprocal") and 0 < low < high < math.inf:
            # Log-uniform on [low, high] only without a shift (loc=0): then
            # the geometric mean of the bounds is the median.
            if math.isclose(float(values.cdf(math.sqrt(low * high))), 0.5, rel_tol=1e-9):
                return od.FloatDistribution(float(low), float(high), log=True), None
    described = _describe_value(values)
    if name is not None:
        described = f"scipy.stats.{described}"
    raise TypeError(
        f"{where}: {described} has no Optuna equivalent. Use a list of "
        "values, scipy.stats.loguniform (without loc), uniform or randint, or "
        "an optuna.distributions object (FloatDistribution, IntDistribution, "
        "CategoricalDistribution)."
    )


class _OptunaSpace:
    """The conditional Optuna space of a search's models.

    Parameters
    ----------
    models : list of distsearch._spaces._Model
    multi_model : bool
        The multi-model form: a ``"model"`` categorical chooses the model and
        every other name is prefixed by the model's name.

    Examples
    --------
    >>> import optuna
    >>> from scipy.stats import loguniform
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from distsearch._spaces import _Model
    >>> space = _OptunaSpace(
    ...     [_Model("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e3)}),
    ...      _Model("tree", DecisionTreeRegressor(), {"max_depth": [2, 4, 8]})],
    ...     multi_model=True,
    ... )
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    >>> trial = study.ask()
    >>> space.suggest(trial)
    (1, {'max_depth': 4})
    >>> trial.params
    {'model': 'tree', 'tree:max_depth': 4}
    >>> space.decode(trial.params)
    (1, {'max_depth': 4})
    """

    def __init__(self, models, multi_model):
        self.models = models
        self.multi_model = multi_model
        self.names = [m.name for m in models]
        # Per model: (selector key or None, [list of _Param per subspace]).
        self._spaces = []
        for model in models:
            prefix = f"{model.name}:" if multi_model else ""
            subspaces = _subspaces(model)
            selector = f"{prefix}space" if len(subspaces) > 1 else None
            params = []
            for position, sub in enumerate(subspaces):
                sub_prefix = prefix + (f"{position}:" if selector else "")
                params.append(
                    [
                        _Param(
                            name,
                            sub_prefix + name,
                            *_to_distribution(
                                values,
                                f"Model {model.name!r}, parameter {name!r}",
                            ),
                        )
                        for name, values in sub.items()
                    ]
                )
            self._spaces.append((selector, params))

    def suggest(self, trial):
        """Suggest a candidate on ``trial``: ``(model index, params)``."""
        model_idx = 0
        if self.multi_model:
            name = trial.suggest_categorical(_MODEL_PARAM, self.names)
            model_idx = self.names.index(name)
        selector, subspaces = self._spaces[model_idx]
        position = 0
        if selector is not None:
            position = trial.suggest_categorical(selector, list(range(len(subspaces))))
        params = {}
        for param in subspaces[position]:
            params[param.name] = _decode_value(
                param, _suggest(trial, param.key, param.distribution)
            )
        return model_idx, params

    def decode(self, trial_params):
        """The candidate ``(model index, params)`` of a trial's ``params``.

        Used for trials suggested earlier (e.g. read back from a storage).
        """
        model_idx = 0
        if self.multi_model:
            name = trial_params[_MODEL_PARAM]
            if name not in self.names:
                raise ValueError(
                    f"The study has a trial of model {name!r}, which is not "
                    f"one of this search's models {self.names}."
                )
            model_idx = self.names.index(name)
        selector, subspaces = self._spaces[model_idx]
        position = 0 if selector is None else trial_params[selector]
        params = {}
        for param in subspaces[position]:
            if param.key not in trial_params:
                raise ValueError(
                    f"The study has a trial without parameter {param.key!r} of "
                    f"model {self.names[model_idx]!r}: its space differs from "
                    "this search's."
                )
            params[param.name] = _decode_value(param, trial_params[param.key])
        return model_idx, params


def _suggest(trial, key, distribution):
    """``trial.suggest_*`` for an Optuna distribution (public API only)."""
    optuna = _import_optuna()
    od = optuna.distributions
    if isinstance(distribution, od.CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    if isinstance(distribution, od.IntDistribution):
        return trial.suggest_int(
            key,
            distribution.low,
            distribution.high,
            step=distribution.step,
            log=distribution.log,
        )
    return trial.suggest_float(
        key,
        distribution.low,
        distribution.high,
        step=distribution.step,
        log=distribution.log,
    )


def _decode_value(param, value):
    if param.values is None:
        return value
    return param.values[param.distribution.choices.index(value)]


def _default_sampler(random_state):
    """TPE for a conditional space, with its constant liar, seeded.

    ``multivariate`` and ``group``: the parameters that occur together (one
    model's) are modelled jointly, each model's group on the trials of that
    model, which is what a space conditional on the model needs.
    """
    optuna = _import_optuna()
    with warnings.catch_warnings():
        # group (and, before optuna 5, constant_liar) are experimental.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=int_seed(random_state), multivariate=True, group=True, constant_liar=True
        )


def _params_key(params):
    """A hashable key of a trial's ``params`` (the same key: the same candidate)."""
    return tuple(sorted(params.items()))


def _ask(study, space, n, evaluated=None):
    """Ask ``n`` trials, each fully suggested before the next is asked.

    Parameters
    ----------
    study : optuna.study.Study
    space : _OptunaSpace
    n : int
    evaluated : dict, default=None
        ``{params key: trial number}`` of the trials evaluated so far
        (:func:`_params_key`); the batch's trials are added to it. A trial
        suggested with the parameters of one of them, or of an earlier
        trial of the batch, is a duplicate: it is kept ``RUNNING`` while the
        slot is asked again (up to ``_MAX_REDRAWS`` times; in the first
        half of them with the model fixed to the duplicate's), then, once the
        slot is filled, told failed with the user attribute
        ``_DUPLICATE_ATTR``. None: no check.

    Returns
    -------
    list of (trial, (model index, params))
    """
    optuna = _import_optuna()
    batch = []
    for _ in range(n):
        duplicates, fixed = [], None
        for redraw in range(_MAX_REDRAWS + 1):
            if fixed is not None:
                study.enqueue_trial(fixed, skip_if_exists=False)
            trial = study.ask()
            candidate = space.suggest(trial)
            if evaluated is None:
                break
            key = _params_key(trial.params)
            if key not in evaluated or redraw == _MAX_REDRAWS:
                break
            # Marked before anything else, so that a resumed study drops it.
            trial.set_user_attr(_DUPLICATE_ATTR, int(evaluated[key]))
            duplicates.append(trial)
            # The first redraws keep the model the sampler chose and redraw
            # its parameters (the duplicates, running, count as poor points
            # there); the later ones leave the model free too (its space may
            # have no new point left).
            fixed = None
            if space.multi_model and redraw + 1 < _MAX_REDRAWS // 2:
                fixed = {_MODEL_PARAM: trial.params[_MODEL_PARAM]}
        # The slot's duplicates stop counting as poor points for the next slot.
        for duplicate in duplicates:
            study.tell(duplicate, state=optuna.trial.TrialState.FAIL)
        if evaluated is not None:
            evaluated.setdefault(key, trial.number)
        batch.append((trial, candidate))
    return batch


class _FoldReports:
    """Fold scores of one batch's trials, reported in a fixed order.

    Parameters
    ----------
    trials : list of optuna.trial.Trial
        The batch's trials, in trial-number order.
    n_splits : int
    prune : bool
        Ask the pruner (``trial.should_prune``) after each report but the
        last fold's.

    Notes
    -----
    The order is fold-major: fold 0 of every trial (by number), then fold 1
    of every trial not pruned, and so on. :meth:`add` buffers a score and
    reports every score whose turn has come; a pruned trial reports nothing
    after the fold it was pruned at.
    """

    def __init__(self, trials, n_splits, prune):
        self._trials = trials
        self._n_splits = n_splits
        self._prune = prune
        self._scores = {}  # (position, fold) -> score, not reported yet
        self.pruned_at = {}  # position -> fold at which it was pruned
        self.n_reported = [0] * len(trials)  # folds reported, per trial
        self._step, self._position = 0, 0

    def add(self, position, fold, score):
        """Take trial ``position``'s score on ``fold``; return newly pruned positions."""
        self._scores[(position, fold)] = score
        pruned = []
        while self._step < self._n_splits:
            if self._position == len(self._trials):
                self._step, self._position = self._step + 1, 0
                continue
            current = self._position
            if current in self.pruned_at:
                self._position += 1
                continue
            key = (current, self._step)
            if key not in self._scores:
                break
            trial = self._trials[current]
            trial.report(float(self._scores.pop(key)), self._step)
            self.n_reported[current] += 1
            if (
                self._prune
                and self._step < self._n_splits - 1
                and trial.should_prune()
            ):
                self.pruned_at[current] = self._step
                pruned.append(current)
            self._position += 1
        return pruned

    def fold_limit(self, position):
        """The folds trial ``position`` may run, as far as its reports tell.

        Its folds reported and, unless it was pruned, the next one: a trial's
        next fold runs only once the pruner has seen the folds before it.
        """
        n_reported = self.n_reported[position]
        if position in self.pruned_at:
            return n_reported
        return min(n_reported + 1, self._n_splits)

    def kept(self, position, fold):
        """Whether trial ``position``'s ``fold`` belongs in the results."""
        return fold <= self.pruned_at.get(position, self._n_splits)


def _tell(study, trials, scores, pruned_at):
    """Tell the batch's trials, in trial-number order.

    ``scores[i]`` is trial ``i``'s mean test score (NaN when its fits
    failed: the trial fails); a trial in ``pruned_at`` is told pruned (Optuna
    records its last intermediate value).
    """
    optuna = _import_optuna()
    state = optuna.trial.TrialState
    order = sorted(range(len(trials)), key=lambda i: trials[i].number)
    for i in order:
        if i in pruned_at:
            study.tell(trials[i], state=state.PRUNED)
        elif not math.isfinite(scores[i]):
            study.tell(trials[i], state=state.FAIL)
        else:
            study.tell(trials[i], float(scores[i]))


# ----------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------
# The cv_results_ column with each candidate's trial number in the study.
_TRIAL_COLUMN = "trial_number"
# A user attribute set on every trial this search evaluated, so that a trial
# failed by its fits is told apart from one left RUNNING by a killed process.
_EVALUATED_ATTR = "distsearch_evaluated"
# A user attribute of a trial not evaluated because its parameters were
# those of an earlier trial (that trial's number); it is told failed.
_DUPLICATE_ATTR = "distsearch_duplicate_of"
# Duplicates asked again in a row for one slot before one is evaluated.
_MAX_REDRAWS = 10


class OptunaMultiModelSearchCV(MultiModelSearchCV):
    """Model-based search with Optuna across several models, on any engine.

    The model is the first choice of every trial (a categorical over the
    model names) and each model's parameters exist only under it, so one
    Optuna sampler (TPE by default) learns both which model and which
    parameters score best. The trials run in rounds: each round asks as many
    trials as the engine has worker slots (the pending ones are shown to the
    sampler as running, so they are not proposed again), dispatches all
    their (trial, fold) fits at once through the search's engine (loky,
    threading, dask or ray), reports each fold's score to its trial as an
    intermediate value, and tells the trials in trial-number order.
    A candidate is never fitted twice: a trial that proposes the parameters
    of one already evaluated (which TPE does often on a small categorical
    space) is asked again and told failed, its user attribute
    ``"distsearch_duplicate_of"`` naming the earlier trial.
    With one estimator and its ``param_distributions`` it takes the place of
    :class:`~sklearn.model_selection.RandomizedSearchCV` (same
    ``cv_results_``, attributes and ``best_*``).

    Parameters
    ----------
    estimator : estimator or list of (str, estimator, param_space) tuples
        As :class:`MultiModelSearchCV`: one estimator (its space is
        ``param_distributions``), or the models to compare.

    param_distributions : dict or list of dicts, default=None
        The space of the single estimator in the drop-in form. A space maps
        parameter names to a list of values (a categorical), a
        ``scipy.stats`` ``loguniform`` (a log-scaled float), ``uniform`` (a
        float) or ``randint`` (an int), or an Optuna distribution
        (``FloatDistribution``, ``IntDistribution``,
        ``CategoricalDistribution``). Any other distribution is an error
        naming it. A list of dicts is a choice between them.

    n_trials : int
        How many trials are evaluated (rows of ``cv_results_``) when the
        search ends; trials of an earlier, interrupted fit on the same
        ``storage`` and ``study_name`` count. Duplicates asked again are
        failed trials of the study beyond these.

    sampler : optuna.samplers.BaseSampler, default=None
        None uses ``TPESampler(multivariate=True, group=True,
        constant_liar=True)`` (each model's parameters modelled jointly on
        that model's trials) seeded from ``random_state`` (and reseeded every round from it and the number of
        finished trials, so that a resumed study continues as the
        uninterrupted one would have). A sampler given here is copied at
        ``fit``; to keep a round's trials apart it must take running trials
        into account (TPE's ``constant_liar``, or samplers that do so).

    pruner : optuna.pruners.BasePruner, default=None
        Decides after each fold (step ``k`` is fold ``k``) whether a trial
        stops; its remaining folds are then not run. None never prunes.
        :class:`optuna.pruners.WilcoxonPruner` and
        :class:`optuna.pruners.MedianPruner` suit cross-validation folds.
        The decisions are taken in a fixed order (fold by fold, then by
        trial number), so they do not depend on which fit finished first.

    storage : str or optuna.storages.BaseStorage, default=None
        Where the study lives; a URL such as ``"sqlite:///search.db"`` keeps
        it across processes. With ``study_name``, fitting again after a
        crash resumes the study: its finished trials are kept and only the
        missing trials are asked. Their folds are evaluated again for
        ``cv_results_``, from ``checkpoint`` when given (no fit runs).
        None keeps the study in memory.

    study_name : str, default=None
        The study's name in ``storage`` (loaded if it exists); None lets
        Optuna choose a new one.

    scoring, n_jobs, refit, cv, verbose, pre_dispatch, backend, address, \
progress, checkpoint, random_state, error_score, return_train_score, \
refit_iterations, fit_timeout
        As :class:`MultiModelSearchCV`. The study maximises the refit
        metric's mean test score (``scoring``'s only one, or the one
        ``refit`` names). ``random_state`` seeds the default sampler.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        Every key of GridSearchCV's, ``model`` (multi-model form) and
        ``trial_number``, one row per trial in the order they were asked. A
        pruned trial's folds not run are NaN, so its mean is NaN and it
        ranks below every completed trial.

    study_ : optuna.study.Study
        The study, for Optuna's own analysis and visualisations.

    n_fits_saved_ : int
        Fits that pruning kept from running (folds of pruned trials never
        started).

    best_estimator_, best_model_name_, best_score_, best_params_, \
best_index_, scorer_, n_splits_, refit_time_, multimetric_, n_task_retries_
        As :class:`MultiModelSearchCV`.

    See Also
    --------
    MultiModelSearchCV : Exhaustive or random search over several models.
    optuna.integration.OptunaSearchCV : One estimator, trials in threads.

    Examples
    --------
    >>> import optuna
    >>> from scipy.stats import loguniform, randint
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from distsearch import OptunaMultiModelSearchCV
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    >>> search = OptunaMultiModelSearchCV(
    ...     [
    ...         ("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e2)}),
    ...         ("tree", DecisionTreeRegressor(random_state=0),
    ...          {"max_depth": randint(1, 8)}),
    ...     ],
    ...     n_trials=12,
    ...     cv=3,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> search.best_model_name_
    'ridge'
    >>> len(search.cv_results_["params"]), len(search.study_.trials)
    (12, 14)
    >>> search.cv_results_["trial_number"]
    array([ 0,  1,  2,  3,  4,  5,  6,  7, 10, 11, 12, 13])

    Trials 8 and 9 proposed trees evaluated before: they were not fitted,
    but told failed and the slot asked again (a tree again, at first).

    >>> [(t.number, t.params, t.user_attrs) for t in search.study_.trials[8:10]]
    [(8, {'model': 'tree', 'tree:max_depth': 1}, {'distsearch_duplicate_of': 6}), (9, {'model': 'tree', 'tree:max_depth': 5}, {'distsearch_duplicate_of': 7})]
    """

    _parameter_constraints: dict = {
        **{
            key: value
            for key, value in MultiModelSearchCV._parameter_constraints.items()
            if key not in ("param_grid", "n_iter")
        },
        "param_distributions": [dict, list, None],
        "n_trials": [Interval(numbers.Integral, 1, None, closed="left")],
        "sampler": [HasMethods(["sample_independent"]), None],
        "pruner": [HasMethods(["prune"]), None],
        "storage": [str, HasMethods(["create_new_study"]), None],
        "study_name": [str, None],
    }

    def __init__(
        self,
        estimator,
        param_distributions=None,
        *,
        n_trials,
        sampler=None,
        pruner=None,
        storage=None,
        study_name=None,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        backend=None,
        address=None,
        progress=False,
        checkpoint=None,
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        refit_iterations="mean",
        fit_timeout=None,
    ):
        BaseSearchCV.__init__(
            self,
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.sampler = sampler
        self.pruner = pruner
        self.storage = storage
        self.study_name = study_name
        self.random_state = random_state
        self.backend = backend
        self.address = address
        self.progress = progress
        self.checkpoint = checkpoint
        self.refit_iterations = refit_iterations
        self.fit_timeout = fit_timeout

    # The base class's names for the drop-in form's space and the number of
    # candidates per model (the validation of MultiModelSearchCV reads them).
    @property
    def param_grid(self):
        return self.param_distributions

    @property
    def n_iter(self):
        return self.n_trials

    def fit(self, X, y=None, **params):
        """Run the trials, then refit the best one on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        **params : dict
            As for :meth:`MultiModelSearchCV.fit`.

        Returns
        -------
        self : object
            The fitted search.
        """
        # Before any work: the ImportError names the extra; a space that does
        # not map to Optuna, or no metric to maximise, is an error.
        _import_optuna()
        if not self._multi_model and self.param_distributions is None:
            raise ValueError(
                "param_distributions is required when estimator is a single "
                "estimator; to search several models, pass estimator as a list "
                "of (name, estimator, param_space) triples."
            )
        _OptunaSpace(self._models(), self._multi_model)
        self._optuna_metric()
        return super().fit(X, y, **params)

    def _optuna_metric(self):
        """The name of the metric the study maximises."""
        scoring = self.scoring
        if scoring is None or isinstance(scoring, str) or callable(scoring):
            if callable(scoring) and isinstance(self.refit, str):
                return self.refit  # a callable returning a dict
            return "score"
        if isinstance(self.refit, str):
            return self.refit
        raise ValueError(
            "OptunaMultiModelSearchCV maximises one metric: with several "
            f"scorers ({scoring!r}), refit must name the one to optimise; got "
            f"refit={self.refit!r}."
        )

    def _run_search(self, evaluate_candidates, callback_ctx=None):
        """Ask, evaluate and tell the trials, one round per batch.

        Parameters
        ----------
        evaluate_candidates : callable
            The runtime's ``evaluate_candidates`` (see
            :meth:`MultiModelSearchCV._run_search`).
        callback_ctx : sklearn.callback.CallbackContext, default=None
            The fit's callback context (scikit-learn 1.9+): one ``search``
            task, with one ``optuna-round`` subtask per round whose subtasks
            are its evaluations, as HalvingGridSearchCV has its iterations.
        """
        if callback_ctx is not None:
            # As HalvingGridSearchCV: a search task, one subtask per round.
            callback_ctx = callback_ctx.subcontext(
                task_name="search", max_subtasks=None
            ).call_on_fit_task_begin(estimator=self)
            evaluate_candidates = _RoundsWithCallbacks(
                evaluate_candidates, callback_ctx, self
            )
        optuna = _import_optuna()
        verbosity = optuna.logging.get_verbosity()
        if self.verbose < 1:
            # Optuna's INFO line per trial is verbose output.
            optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
        try:
            self._run_trials(evaluate_candidates, optuna)
        finally:
            optuna.logging.set_verbosity(verbosity)
        if callback_ctx is not None:
            callback_ctx.call_on_fit_task_end(estimator=self)

    def _run_trials(self, evaluate_candidates, optuna):
        metric = self._optuna_metric()
        models = self._models()
        space = _OptunaSpace(models, self._multi_model)
        n_slots = _n_slots(evaluate_candidates, self.n_jobs)
        study = self._create_study(optuna)
        self.study_ = study
        self.n_fits_saved_ = 0
        user_sampler = self.sampler is not None
        seed = int_seed(self.random_state)
        n_splits = self.n_splits_

        done, stale = _split_stored_trials(study, optuna)
        if stale:
            # Trials a killed process asked: failed, and asked again with the
            # same parameters, in the same batch, so the study goes on as it
            # would have without the crash.
            for trial in stale:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                if _DUPLICATE_ATTR not in trial.user_attrs:
                    study.enqueue_trial(trial.params)
        if done:
            # Their rows in cv_results_: the same fits again (from the
            # checkpoint when there is one), each pruned trial keeping the
            # folds it reported; nothing is told.
            kept = {
                position: max(trial.intermediate_values) + 1
                for position, trial in enumerate(done)
                if trial.state == optuna.trial.TrialState.PRUNED
                and trial.intermediate_values
            }
            evaluate_candidates(
                [_candidate(space, space.decode(t.params)) for t in done],
                more_results={_TRIAL_COLUMN: [t.number for t in done]},
                on_result=lambda position, fold, result: {
                    position: kept[position]
                }
                if position in kept
                else {},
            )
        n_done = len(done)
        # The candidates evaluated so far: a trial proposing one again is
        # asked again (see _ask), never fitted twice.
        evaluated = {}
        for trial in done:
            evaluated.setdefault(_params_key(trial.params), trial.number)
        while n_done < self.n_trials:
            if not user_sampler:
                study.sampler = _default_sampler(derived_seed(seed, n_done))  # the round after n_done trials
            batch = _ask(study, space, min(n_slots, self.n_trials - n_done), evaluated)
            trials = [trial for trial, _ in batch]
            reports = _FoldReports(trials, n_splits, prune=self.pruner is not None)
            received = [0] * len(trials)
            gated = self.pruner is not None

            def on_result(position, fold, result):
                received[position] += 1
                score = result["test_scores"]
                if isinstance(score, dict):
                    score = score[metric]
                before = list(reports.n_reported)
                reports.add(position, fold, score)
                if not gated:
                    return {}
                # The trials with new reports: their next fold, or none if pruned.
                return {
                    p: reports.fold_limit(p)
                    for p, n in enumerate(before)
                    if reports.n_reported[p] != n
                }

            with warnings.catch_warnings():
                if gated:
                    # A pruned trial's NaN folds are expected, not a warning.
                    warnings.filterwarnings(
                        "ignore", message="One or more of the .* scores are non-finite"
                    )
                results = evaluate_candidates(
                    [_candidate(space, candidate) for _, candidate in batch],
                    more_results={_TRIAL_COLUMN: [t.number for t in trials]},
                    on_result=on_result,
                    fold_limit=1 if gated else None,
                )
            for trial in trials:
                trial.set_user_attr(_EVALUATED_ATTR, True)
            scores = results[f"mean_test_{metric}"][-len(trials) :]
            _tell(study, trials, scores, reports.pruned_at)
            self.n_fits_saved_ += sum(
                n_splits - received[position] for position in reports.pruned_at
            )
            n_done += len(trials)

    def _create_study(self, optuna):
        """The study: in ``storage`` under ``study_name`` (loaded if it exists)."""
        pruner = (
            optuna.pruners.NopPruner() if self.pruner is None else copy.deepcopy(self.pruner)
        )
        sampler = None if self.sampler is None else copy.deepcopy(self.sampler)
        study = optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError(
                f"The study {study.study_name!r} in the storage minimises; this "
                "search maximises its score (scikit-learn's convention)."
            )
        return study


class _RoundsWithCallbacks:
    """``evaluate_candidates`` with each call a ``optuna-round`` callback task."""

    def __init__(self, evaluate_candidates, search_ctx, search):
        self.func = evaluate_candidates  # as a partial's, for _n_slots
        self._search_ctx = search_ctx
        self._search = search

    def __call__(self, candidates, **kwargs):
        candidates = list(candidates)
        round_ctx = self._search_ctx.subcontext(
            task_name="optuna-round",
            max_subtasks=len(candidates) * self._search.n_splits_,
            sequential_subtasks=False,
        ).call_on_fit_task_begin(estimator=self._search)
        results = self.func(candidates, callback_ctx=round_ctx, **kwargs)
        round_ctx.call_on_fit_task_end(estimator=self._search)
        return results


def _candidate(space, model_and_params):
    """A candidate in the form ``evaluate_candidates`` takes."""
    model_idx, params = model_and_params
    return (space.names[model_idx], params) if space.multi_model else params


def _n_slots(evaluate_candidates, n_jobs):
    """The worker slots of the fit's engine (the size of a round)."""
    function = getattr(evaluate_candidates, "func", evaluate_candidates)  # wrapped
    runtime = getattr(function, "__self__", None)
    n_slots = getattr(runtime, "n_slots", None)
    if n_slots is None:
        n_slots = effective_n_jobs(n_jobs)
    return max(1, int(n_slots))


def _split_stored_trials(study, optuna):
    """A loaded study's trials: (evaluated ones, ones a killed process left).

    Evaluated: complete, pruned, or failed after this search evaluated them
    (their fits failed); they have rows in ``cv_results_``. Left: still
    running (asked by a process that ended before telling them; a duplicate
    among them is only failed, not asked again).
    """
    state = optuna.trial.TrialState
    done, stale = [], []
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (state.COMPLETE, state.PRUNED) or (
            trial.state == state.FAIL and trial.user_attrs.get(_EVALUATED_ATTR)
        ):
            done.append(trial)
        elif trial.state == state.RUNNING:
            stale.append(trial)
    return done, stale
