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
- :class:`_FoldReports` reports each trial's fold scores as intermediate
  values (step ``k`` is fold ``k``) and asks the pruner, in one fixed order
  whatever order the fits finish in: fold by fold, and within a fold by
  trial number, a trial's fold ``k`` being reported only once its folds
  ``0..k-1`` were. The pruning decisions, hence which folds a pruned trial
  keeps, therefore depend only on the scores, never on timing; only how
  many fits are saved depends on timing (a fold that had already started
  when its trial was pruned still runs, and is dropped).
- :func:`_tell` tells a batch's trials in trial-number order.

Invariants: nothing here fits a model; the sampler and the pruner are only
called from the driver, in an order fixed by the trials' numbers and fold
indices, so a seeded sampler gives the same trials for the same scores.
"""

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ._spaces import _describe_value, _subspaces

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


def _is_optuna_distribution(value):
    optuna = _import_optuna()
    return isinstance(value, optuna.distributions.BaseDistribution)


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
    """TPE with its constant liar, seeded from ``random_state``."""
    optuna = _import_optuna()
    with warnings.catch_warnings():
        # Experimental (a warning) before optuna 5.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=_seed(random_state), constant_liar=True)


def _seed(random_state):
    """An int seed (or None) for Optuna from a scikit-learn ``random_state``."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        return None if random_state is None else int(random_state)
    return int(random_state.randint(np.iinfo(np.int32).max))


def _ask(study, space, n):
    """Ask ``n`` trials, each fully suggested before the next is asked.

    Returns
    -------
    list of (trial, (model index, params))
    """
    batch = []
    for _ in range(n):
        trial = study.ask()
        batch.append((trial, space.suggest(trial)))
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
            if (
                self._prune
                and self._step < self._n_splits - 1
                and trial.should_prune()
            ):
                self.pruned_at[current] = self._step
                pruned.append(current)
            self._position += 1
        return pruned

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


def _space_values_checked(space):
    """``space`` (dict or list of dicts) with Optuna distributions stood in for.

    distsearch's own checks take a value without ``rvs`` for a bad one; for
    them, an Optuna distribution is replaced by a one-value list (its values
    are checked by :func:`_to_distribution`).
    """
    def stand_in(sub):
        return {
            k: ([None] if _is_optuna_distribution(v) else v) for k, v in sub.items()
        }

    if isinstance(space, Mapping):
        return stand_in(space)
    if isinstance(space, Sequence) and not isinstance(space, str):
        return [stand_in(sub) if isinstance(sub, Mapping) else sub for sub in space]
    return space
