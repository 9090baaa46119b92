"""HalvingMultiModelSearchCV: successive halving over several models at once.

Invariants
----------
- Each round is one ``evaluate_candidates`` call of the search seam (see
  :mod:`distsearch._runtime`): every surviving candidate of every model is
  evaluated in that round's one dispatch, on the search's one engine session
  (when some models grow by rows and others by iterations, the call's ``cv``
  is a dict giving the row models their subsampled folds).
- Round ``i`` gives every model the same fraction ``r_i / max_resources_``
  of its own maximum resource: rows (``'n_samples'``: the folds' training
  and test rows subsampled as scikit-learn's HalvingGridSearchCV subsamples
  them) or iterations (an iteration parameter of the model, whose maximum is
  the value the model's estimator has). ``r_i`` follows scikit-learn's
  schedule exactly (``min_resources_ * factor ** i``, the same
  ``n_required_iterations_``, ``n_possible_iterations_`` and
  ``aggressive_elimination``).
- After each round the best ``ceil(n / factor)`` candidates of all the models
  go on, ranked by mean test score, ties and NaN ordered as scikit-learn's
  ``_top_k`` orders them; optionally each model's best candidate also goes on
  until a given round (``keep_model_best``).
- With one estimator the search is scikit-learn's HalvingGridSearchCV (with
  ``n_candidates``, its HalvingRandomSearchCV): same rounds, same
  ``cv_results_`` (``iter``, ``n_resources``), same attributes.
- Deterministic: which candidates go on depends only on the scores, which do
  not depend on the backend or ``n_jobs``; a checkpointed search that is run
  again reuses every recorded fit of every round it reaches.
"""

import numbers
from math import ceil, floor, log

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._search import MultiModelSearchCV
from ._sklearn_compat import (
    Interval,
    StrOptions,
    _num_samples,
    _SubsampleMetaSplitter,
    _yields_constant_splits,
)
from ._spaces import _iteration_resource, _subspaces


class HalvingMultiModelSearchCV(MultiModelSearchCV):
    """Successive halving over one or several models, each with its own space.

    Every candidate of every model is first evaluated with a small resource;
    the best ``1 / factor`` of all of them go on to the next round with
    ``factor`` times more, until one round is left or the resource is
    exhausted. With one estimator it is a drop-in replacement for
    :class:`~sklearn.model_selection.HalvingGridSearchCV` (and, with
    ``n_candidates``, for
    :class:`~sklearn.model_selection.HalvingRandomSearchCV`). With a list
    of ``(name, estimator, param_space)`` triples the candidates of all the
    models compete in each round, every model getting the same fraction of its
    own maximum resource; every round is one dispatch on the search's engine
    (one ``LocalCluster`` or ray for the whole fit).

    Parameters
    ----------
    estimator : estimator or list of (str, estimator, param_space) tuples
        As for :class:`MultiModelSearchCV`.

    param_grid : dict or list of dicts, default=None
        The space of the single estimator in the drop-in form.

    n_candidates : int, 'exhaust', dict or None, default=None
        None enumerates every model's grid (HalvingGridSearchCV); an int
        samples that many candidates per model, ``'exhaust'`` as many as
        ``max_resources_ // min_resources_`` (HalvingRandomSearchCV); a dict
        sets it per model.

    factor : int or float, default=3
        The proportion of candidates kept after each round (``1 / factor``)
        and the growth of the resource. At least 2.

    resource : 'n_samples', 'auto', str or dict, default='n_samples'
        What grows from round to round. ``'n_samples'``: the rows of each
        fold. A parameter name (one estimator): that parameter, as in
        HalvingGridSearchCV. A dict ``{model name: parameter name}`` (several
        models): each named model's iteration parameter, for example
        ``{"hgb": "max_iter", "lgbm": "model__n_estimators"}``; its maximum is
        the value the model's estimator has; models left out use rows.
        ``'auto'`` (several models): each model's declared iteration
        parameter (``n_estimators`` for the LightGBM helpers, ``epochs`` for
        the Keras helpers of :mod:`distsearch.models`, also as a Pipeline's
        final step), else its ``n_estimators``, ``num_iterations`` or
        ``epochs`` (never ``max_iter``: name it in a dict), when it is an int
        the model does not search; rows for the others.

    max_resources : int or 'auto', default='auto'
        The resource of the last round, in rows (``'auto'``: all of them) or,
        with one estimator and a parameter resource, in that parameter's
        units (as HalvingGridSearchCV, required then).

    min_resources : int, 'exhaust' or 'smallest', default='exhaust'
        The resource of the first round, as in HalvingGridSearchCV.

    aggressive_elimination : bool, default=False
        As in HalvingGridSearchCV: repeat the first resource until few enough
        candidates are left.

    keep_model_best : int, default=0
        Each model's best candidate goes on (in addition to the best of all)
        to every round up to this one (rounds count from 0), so that every
        model stays in the per-model leaderboard that long. 0 keeps none.

    scoring, n_jobs, refit, cv, verbose, backend, address, progress, \
checkpoint, random_state, error_score, fit_timeout
        As for :class:`MultiModelSearchCV` (``cv`` defaults to 5, as in
        HalvingGridSearchCV; it must give the same folds on every call).

    return_train_score : bool, default=True
        As in HalvingGridSearchCV.

    Attributes
    ----------
    n_resources_ : list of int
        The resource of each round (rows, or the parameter's units).
    n_candidates_ : list of int
        The number of candidates evaluated in each round.
    n_remaining_candidates_ : int
        Candidates left after the last round.
    max_resources_, min_resources_ : int
        The resource of the last and of the first possible round.
    n_iterations_, n_possible_iterations_, n_required_iterations_ : int
        As in HalvingGridSearchCV.
    n_candidates_per_model_ : dict of str -> list of int
        Per model, its candidates in each round (several models).
    resources_ : dict of str -> str
        The models whose resource is a parameter, with that parameter (the
        others grow by rows): ``resource`` resolved.
    cv_results_ : dict
        :class:`MultiModelSearchCV`'s, with ``iter`` (the round) and
        ``n_resources`` (the candidate's own resource in that round: rows or
        iterations).

    Other attributes are those of :class:`MultiModelSearchCV`; the best
    candidate is the best of the last round.

    See Also
    --------
    MultiModelSearchCV : Exhaustive or random search over several models.
    sklearn.model_selection.HalvingGridSearchCV : Halving over one grid.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> from sklearn.linear_model import Ridge
    >>> from distsearch import HalvingMultiModelSearchCV
    >>> X, y = make_regression(n_samples=300, n_features=5, noise=5, random_state=0)
    >>> search = HalvingMultiModelSearchCV(
    ...     [
    ...         ("ridge", Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]}),
    ...         ("hgb", HistGradientBoostingRegressor(max_iter=90, random_state=0),
    ...          {"learning_rate": [0.05, 0.1, 0.3, 0.5]}),
    ...     ],
    ...     resource={"hgb": "max_iter"},
    ...     cv=3,
    ... ).fit(X, y)
    >>> search.n_candidates_
    [9, 3, 1]
    >>> search.best_model_name_
    'ridge'
    """

    _parameter_constraints: dict = {
        **MultiModelSearchCV._parameter_constraints,
        "n_candidates": [
            Interval(numbers.Integral, 1, None, closed="left"),
            StrOptions({"exhaust"}),
            dict,
            None,
        ],
        "factor": [Interval(numbers.Real, 0, None, closed="neither")],
        "resource": [str, dict],  # 'n_samples', 'auto', a parameter or a dict
        "max_resources": [
            Interval(numbers.Integral, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "min_resources": [
            Interval(numbers.Integral, 0, None, closed="neither"),
            StrOptions({"exhaust", "smallest"}),
        ],
        "aggressive_elimination": ["boolean"],
        "keep_model_best": [Interval(numbers.Integral, 0, None, closed="left")],
    }
    for _name in ("n_iter", "pre_dispatch"):
        _parameter_constraints.pop(_name)

    def __init__(
        self,
        estimator,
        param_grid=None,
        *,
        n_candidates=None,
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="exhaust",
        aggressive_elimination=False,
        keep_model_best=0,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=5,
        verbose=0,
        backend=None,
        address=None,
        progress=False,
        checkpoint=None,
        random_state=None,
        error_score=np.nan,
        return_train_score=True,
        fit_timeout=None,
    ):
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            backend=backend,
            address=address,
            progress=progress,
            checkpoint=checkpoint,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
            fit_timeout=fit_timeout,
        )
        self.n_candidates = n_candidates
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.aggressive_elimination = aggressive_elimination
        self.keep_model_best = keep_model_best

    def _n_iter(self):
        if self.n_candidates == "exhaust":
            return self.max_resources_ // self.min_resources_
        return self.n_candidates

    # ------------------------------------------------------------------
    # Checks before any fit
    # ------------------------------------------------------------------
    def _resources(self):
        """``{model name: parameter}`` of the models whose resource is a parameter."""
        models = self._models()
        names = [m.name for m in models]
        if isinstance(self.resource, dict):
            if not self._multi_model:
                raise ValueError(
                    f"resource={self.resource!r}: a dict of resources is for a list "
                    "of models; with one estimator give the parameter name."
                )
            unknown = sorted(set(self.resource) - set(names))
            if unknown:
                raise ValueError(
                    f"resource names unknown model(s) {unknown}; the models are {names}."
                )
            resources = dict(self.resource)
        elif self.resource == "n_samples":
            resources = {}
        elif self.resource == "auto":
            if not self._multi_model:
                raise ValueError(
                    "resource='auto' is for a list of models; with one estimator "
                    "give the parameter name (and max_resources) or 'n_samples'."
                )
            resources = {}
            for model in models:
                searched = {key for sub in _subspaces(model) for key in sub}
                param = _iteration_resource(model.estimator, searched)
                if param is not None:
                    resources[model.name] = param
        else:
            resources = {name: self.resource for name in names}
        for model in models:
            param = resources.get(model.name)
            if param is None:
                continue
            valid = model.estimator.get_params()
            if param not in valid:
                raise ValueError(
                    f"Cannot use resource={param} which is not supported by "
                    f"estimator {type(model.estimator).__name__}"
                    + (f" (model {model.name!r})" if self._multi_model else "")
                )
            in_space = [sub for sub in _subspaces(model) if param in sub]
            if in_space:
                raise ValueError(
                    f"Cannot use parameter {param} as the resource since it is "
                    "part of the searched parameters"
                    + (f" of model {model.name!r}." if self._multi_model else ".")
                )
            if self._multi_model and not (
                isinstance(valid[param], numbers.Integral) and valid[param] >= 1
            ):
                raise ValueError(
                    f"Model {model.name!r}: its resource {param!r} must be an int "
                    f">= 1 on its estimator (the maximum); it is {valid[param]!r}."
                )
        return resources

    def _check_input_parameters(self, X, y, split_params):
        if self.factor < 2:
            raise ValueError(
                f"factor={self.factor!r}: successive halving needs a factor of at "
                "least 2 (the resource grows and the candidates shrink by it)."
            )
        if not _yields_constant_splits(self._checked_cv_orig):
            raise ValueError(
                "The cv parameter must yield consistent folds across "
                "calls to split(). Set its random_state to an int, or set "
                "shuffle=False."
            )
        self._resource_params = self._resources()
        self.resources_ = dict(self._resource_params)
        drop_in_param = not self._multi_model and self.resource != "n_samples"
        if self.n_candidates == self.min_resources == "exhaust":
            raise ValueError(
                "n_candidates and min_resources cannot be both set to 'exhaust'."
            )
        self._n_samples_orig = _num_samples(X)
        self.min_resources_ = self.min_resources
        if self.min_resources_ in ("smallest", "exhaust"):
            if drop_in_param:
                self.min_resources_ = 1
            else:
                n_splits = self._checked_cv_orig.get_n_splits(X, y, **split_params)
                self.min_resources_ = n_splits * 2
                if is_classifier(self):
                    y = validate_data(self, X="no_validation", y=y)
                    check_classification_targets(y)
                    self.min_resources_ *= np.unique(y).shape[0]
        self.max_resources_ = self.max_resources
        if self.max_resources_ == "auto":
            if drop_in_param:
                raise ValueError(
                    "resource can only be 'n_samples' when max_resources='auto'"
                )
            self.max_resources_ = self._n_samples_orig
        if self.min_resources_ > self.max_resources_:
            raise ValueError(
                f"min_resources_={self.min_resources_} is greater "
                f"than max_resources_={self.max_resources_}."
            )
        if self.min_resources_ == 0:
            raise ValueError(
                f"min_resources_={self.min_resources_}: you might have passed "
                "an empty dataset X."
            )

    @staticmethod
    def _select_best_index(refit, refit_metric, results):
        """The best candidate of the last round (as HalvingGridSearchCV)."""
        last_iter = np.max(results["iter"])
        last_iter_indices = np.flatnonzero(results["iter"] == last_iter)
        metric = refit_metric if isinstance(refit_metric, str) else "score"
        test_scores = results[f"mean_test_{metric}"][last_iter_indices]
        if np.isnan(test_scores).all():
            return last_iter_indices[0]
        return last_iter_indices[np.nanargmax(test_scores)]

    def _get_scorers(self):
        single = self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)
        if not single and not isinstance(self.refit, str):
            raise ValueError(
                f"scoring={self.scoring!r}: successive halving ranks by one metric; "
                "with several scorers, name it in refit."
            )
        return super()._get_scorers()

    def _metric(self):
        """The ``cv_results_`` suffix of the metric that ranks the rounds."""
        single = self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)
        return "score" if single else self.refit

    # ------------------------------------------------------------------
    # The rounds
    # ------------------------------------------------------------------
    def _run_search(self, evaluate_candidates, callback_ctx=None):
        """Run the rounds: one ``evaluate_candidates`` call each."""
        models = self._models()
        candidates = self._all_candidates(models)
        multi = self._multi_model
        if multi and len(candidates) < self.factor:
            raise ValueError(
                f"{len(candidates)} candidates for factor={self.factor}: halving "
                f"needs at least {ceil(self.factor)} candidates for one round to "
                "eliminate any."
            )
        maxima = {
            name: model.estimator.get_params()[self._resource_params[name]]
            for model in models
            if (name := model.name) in self._resource_params
        }
        n_required = 1 + floor(log(len(candidates), self.factor))
        if self.min_resources == "exhaust":
            self.min_resources_ = max(
                self.min_resources_, self.max_resources_ // self.factor ** (n_required - 1)
            )
        n_possible = 1 + floor(log(self.max_resources_ // self.min_resources_, self.factor))
        n_iterations = n_required if self.aggressive_elimination else min(
            n_possible, n_required
        )
        if self.verbose:
            print(f"n_iterations: {n_iterations}")
            print(f"n_required_iterations: {n_required}")
            print(f"n_possible_iterations: {n_possible}")
            print(f"min_resources_: {self.min_resources_}")
            print(f"max_resources_: {self.max_resources_}")
            print(f"aggressive_elimination: {self.aggressive_elimination}")
            print(f"factor: {self.factor}")
        self.n_resources_, self.n_candidates_ = [], []
        self.n_candidates_per_model_ = {m.name: [] for m in models} if multi else None
        search_ctx = None
        if callback_ctx is not None:
            search_ctx = callback_ctx.subcontext(
                task_name="search", max_subtasks=n_iterations
            ).call_on_fit_task_begin(estimator=self)
        for itr in range(n_iterations):
            n_candidates = len(candidates)
            round_ctx = None
            if search_ctx is not None:
                round_ctx = search_ctx.subcontext(
                    task_name="halving-iteration",
                    max_subtasks=n_candidates * self.n_splits_,
                    sequential_subtasks=False,
                ).call_on_fit_task_begin(estimator=self)
            power = itr
            if self.aggressive_elimination:
                power = max(0, itr - n_required + n_possible)
            n_resources = min(int(self.factor**power * self.min_resources_), self.max_resources_)
            self.n_resources_.append(n_resources)
            self.n_candidates_.append(n_candidates)
            if self.verbose:
                print("-" * 10)
                print(f"iter: {itr}")
                print(f"n_candidates: {n_candidates}")
                print(f"n_resources: {n_resources}")
            if multi:
                for name in self.n_candidates_per_model_:
                    self.n_candidates_per_model_[name].append(
                        sum(1 for model, _ in candidates if model == name)
                    )
            results = self._evaluate_round(
                evaluate_candidates, candidates, itr, n_resources, maxima, round_ctx
            )
            candidates = self._survivors(
                results, ceil(n_candidates / self.factor), itr, itr + 1 <= self.keep_model_best
            )
            if round_ctx is not None:
                round_ctx.call_on_fit_task_end(estimator=self)
        self.n_remaining_candidates_ = len(candidates)
        self.n_required_iterations_ = n_required
        self.n_possible_iterations_ = n_possible
        self.n_iterations_ = n_iterations
        if search_ctx is not None:
            search_ctx.call_on_fit_task_end(estimator=self)

    def _evaluate_round(self, evaluate, candidates, itr, n_resources, maxima, ctx):
        """One round, one ``evaluate_candidates`` call: the row-resource
        candidates on subsampled folds, the parameter-resource ones on the
        search's folds with their share of iterations."""
        fraction = n_resources / self.max_resources_
        round_candidates, resources = [], []
        # The single model's name (its resource, if any, is under it).
        only_model = next(iter(self._resource_params), None)
        row_models = {}  # model name -> its candidates of the round
        for candidate in candidates:
            name, params = candidate if self._multi_model else (only_model, candidate)
            param = self._resource_params.get(name)
            if param is None:
                row_models[name] = row_models.get(name, 0) + 1
                round_candidates.append(candidate)
                resources.append(n_resources)
                continue
            value = n_resources if not self._multi_model else max(1, int(fraction * maxima[name]))
            params = {**params, param: value}
            round_candidates.append((name, params) if self._multi_model else params)
            resources.append(value)
        cv = None
        if row_models:
            cv = _SubsampleMetaSplitter(
                base_cv=self._checked_cv_orig,
                fraction=n_resources / self._n_samples_orig,
                subsample_test=True,
                random_state=self.random_state,
            )
            if sum(row_models.values()) < len(round_candidates):
                # Rows for some models, iterations for the others: still one
                # dispatch, each model on its own folds.
                cv = dict.fromkeys(row_models, cv)
        more = {"iter": [itr] * len(round_candidates), "n_resources": resources}
        return evaluate(round_candidates, cv, more_results=more, callback_ctx=ctx)

    def _survivors(self, results, k, itr, keep_model_best):
        """The best ``k`` candidates of round ``itr`` (worst first, as scikit-learn's
        ``_top_k``), plus each model's best while ``keep_model_best``."""
        iteration = np.asarray(results["iter"])
        scores = np.asarray(results[f"mean_test_{self._metric()}"])
        params = results["params"]
        in_round = np.flatnonzero(iteration == itr)
        round_scores = scores[in_round]
        order = np.roll(np.argsort(round_scores), np.count_nonzero(np.isnan(round_scores)))
        chosen = list(in_round[order[-k:]])
        if self._multi_model and keep_model_best:
            models = np.asarray(results["model"])
            for name in dict.fromkeys(models[in_round]):
                mine = [i for i in in_round[order] if models[i] == name]
                if mine and mine[-1] not in chosen:
                    chosen.insert(0, mine[-1])
        if not self._multi_model:
            # As HalvingGridSearchCV: the next round overwrites the resource.
            return [params[i] for i in chosen]
        models = results["model"]

        def strip(name, p):  # the next round sets the model's resource again
            param = self._resource_params.get(name)
            return {key: v for key, v in p.items() if key != param}

        return [(models[i], strip(models[i], params[i])) for i in chosen]
