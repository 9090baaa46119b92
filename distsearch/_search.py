"""MultiModelSearchCV: one cross-validated search over several models."""

import contextlib
import numbers
import os
import time
import warnings
from inspect import signature

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping
from sklearn.utils.validation import check_is_fitted, indexable

from ._callbacks import _root_context
from ._dispatch import _check_backend
from ._extras import check_estimator_packages, require
from ._progress import _check_progress
from ._runtime import _Runtime
from .engines import Engine, engine_names
from ._spaces import (
    _check_models,
    _check_n_iter,
    _describe_space,
    _generate_candidates,
    _is_model_list,
)
from ._sklearn_compat import (
    BaseSearchCV,
    HasMethods,
    Interval,
    StrOptions,
    _check_method_params,
    _check_multimetric_scoring,
    _fit_context,
    _MultimetricScorer,
    _routing_enabled,
    _VisualBlock,
)

class _EngineName(StrOptions):
    """A registered engine name; the registry is read at each validation."""

    def __init__(self):
        super().__init__(set(engine_names()))

    def is_satisfied_by(self, val):
        self.options = set(engine_names())
        return super().is_satisfied_by(val)


# Names a model may not take: they are the other children of the metadata
# router (see ``get_metadata_routing``).
_RESERVED_NAMES = ("scorer", "splitter")


class MultiModelSearchCV(BaseSearchCV):
    """Cross-validated search over several models, each with its own space.

    With one estimator and its ``param_grid`` it is a drop-in replacement for
    :class:`~sklearn.model_selection.GridSearchCV` (and, with ``n_iter`` set,
    for :class:`~sklearn.model_selection.RandomizedSearchCV`): same
    parameters, same ``cv_results_``, same attributes. With a list of
    ``(name, estimator, param_space)`` triples it searches all the models at
    once: every (candidate, fold) fit of every model goes into one flat
    joblib dispatch, candidates are ranked globally, and ``best_estimator_``
    is the overall winner refit on all the data.

    Parameters
    ----------
    estimator : estimator or list of (str, estimator, param_space) tuples
        One estimator (the drop-in form; its space is ``param_grid``), or the
        models to compare. A model's space is a dict mapping parameter names
        to lists of values or to distributions (objects with an ``rvs``
        method, e.g. from :mod:`scipy.stats`), or a list of such dicts.
        Names must be unique Python identifiers without ``'__'``.

    param_grid : dict or list of dicts, default=None
        The space of the single estimator in the drop-in form; must be None
        with a list of models.

    n_iter : int, dict or None, default=None
        How many candidates to draw per model. None enumerates the whole grid
        (as GridSearchCV); an int samples that many candidates from every
        model's space (as RandomizedSearchCV, sampling without replacement
        when the space holds only lists); a dict ``{name: int or None}`` sets
        it per model, models left out being enumerated.

    scoring : str, callable, list, tuple or dict, default=None
        As for GridSearchCV. With None, each model's own ``score`` method.

    n_jobs : int, default=None
        Number of fits run in parallel under the joblib backends. ``None``
        means 1 unless in a :func:`joblib.parallel_config` context. With
        ``backend='dask'`` or ``'ray'`` it is the number of single-threaded
        worker processes of a local cluster started by ``fit``; an existing
        cluster uses all its workers.

    refit : bool, str or callable, default=True
        As for GridSearchCV: refit the best candidate (of any model) on the
        whole data set.

    cv : int, cross-validation generator or iterable, default=None
        As for GridSearchCV. Stratified folds are used when every model is a
        classifier.

    verbose : int, default=0
        Verbosity, as for GridSearchCV.

    pre_dispatch : int or str, default='2*n_jobs'
        As for :class:`joblib.Parallel` (joblib backends only).

    backend : str, Engine or None, default=None
        Where the fits run: the name of a registered engine
        (:func:`distsearch.engines.engine_names`: ``'loky'``,
        ``'threading'``, ``'dask'``, ``'ray'``, ``'spark'`` and any
        registered with :func:`distsearch.engines.register_engine`), an
        engine object carrying its own options (e.g.
        ``DaskEngine(address=..., resources={"GPU": 1})``), or None for the
        active joblib backend (loky unless set with
        :func:`joblib.parallel_config`; any backend registered with joblib
        works). ``'loky'`` and ``'threading'`` select that joblib backend.
        ``'dask'``, ``'ray'`` and ``'spark'`` send the data to the workers
        once per fit, batch cheap fits, re-run the fits of a lost worker and
        need the ``distsearch[dask]``, ``distsearch[ray]`` or
        ``distsearch[spark]`` extra:

        - ``'dask'``: the client to ``address`` if given, else the current
          :class:`distributed.Client`, else a ``LocalCluster`` of ``n_jobs``
          processes started for this fit and closed after it.
        - ``'ray'``: the running ray (``ray.init`` called before, e.g. with
          ``address=`` to join a cluster), else ``ray.init(address=address)``
          if an address is given, else a local ray with ``n_jobs`` CPUs;
          what ``fit`` started or joined is shut down after it.
        - ``'spark'``: the active ``SparkSession``, else a local one
          (``local[n_jobs]``, or the master given as ``address``) started
          for this fit and stopped after it.

        See ``docs/clusters.md``.

    address : str, default=None
        With ``backend='dask'``, a scheduler address such as
        ``'tcp://10.0.0.1:8786'``; with ``backend='ray'``, a cluster address
        such as ``'ray://10.0.0.1:10001'`` or ``'auto'``. Only valid with
        those two backends.

    progress : bool, default=False
        Show a tqdm progress bar over all the fits, advanced as fits finish
        on any backend, with the best mean test score (refit metric) of the
        candidates completed so far. Needs the ``distsearch[progress]``
        extra.

    checkpoint : str, path-like or None, default=None
        A folder where every finished (candidate, fold) result is written as
        soon as it arrives, atomically, under a hash of everything that
        determines it (estimator and parameters, fold indices, X, y, fit and
        score parameters, scoring, ``error_score``, ``return_train_score``
        and library versions, plus the code of estimator classes that are
        not part of an installed package). Fitting again with the same folder
        (after a crash, or to extend the search) only runs the fits without a
        record and gives the same ``cv_results_`` (reused fits keep their
        recorded times). Records are JSON signed with a key kept outside the
        folder (never unpickled); corrupt or edited records are reported with
        a warning and run again; failed fits are not recorded. The folder is
        checked writable before any fit.

    random_state : int, RandomState instance or None, default=None
        Seed of the candidate sampling (only used for models with ``n_iter``).
        In the drop-in form it is used exactly as RandomizedSearchCV uses it.
        With several models and an int seed, each model's candidates depend
        only on the seed, the model's name and its space.

    error_score : 'raise' or numeric, default=np.nan
        Score given to a fit that fails; 'raise' raises the error instead.

    return_train_score : bool, default=False
        Whether ``cv_results_`` includes training scores.

    refit_iterations : {'mean'} or None, default='mean'
        How the refit of ``best_estimator_`` treats models that early-stop
        (see :mod:`distsearch.models`). With ``'mean'``, when the best
        candidate's folds reported a best iteration and its model has a
        ``fixed_iteration_params`` method, the refit runs the mean best
        iteration over the folds (rounded) on all the rows, without early
        stopping. It is the default because the refit then trains on every
        row (no inner validation rows held back) for an iteration count
        validated on every fold rather than on one more split. With None the
        refit early-stops again, on an inner split of the whole data.

    fit_timeout : float or None, default=None
        Seconds one fit (with its scoring) may take on a worker. A fit over
        it is stopped, its worker process replaced (a fit cannot be
        interrupted), and it is recorded as a failed fit (``error_score``,
        its error in ``fit_errors_`` saying that ``fit_timeout`` was
        exceeded); the search goes on. Needs the fits in worker processes
        (loky with ``n_jobs >= 2``, dask, ray, spark): with threads or
        ``n_jobs=1`` the fits run in this process and ``fit`` raises a
        ``ValueError`` before any fit. The other fits of the stopped fit's
        batch are run again (counted in ``n_task_retries_``), in a process
        of their own. A fit that ends its worker (``os._exit``, a crash,
        the OOM killer) is recorded as failed the same way, saying how the
        process ended, with or without ``fit_timeout``.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        GridSearchCV's keys. With a list of models, also ``model``: the name
        of each candidate's model. When the models report a best iteration
        (early stopping), also ``split{k}_best_iteration`` and
        ``mean_best_iteration``.

    best_estimator_ : estimator
        The winning candidate refit on the whole data (if ``refit``).

    best_model_name_ : str
        The name of the winning candidate's model.

    best_score_ : float
        Mean cross-validated score of the best candidate.

    best_params_ : dict
        Parameters of the best candidate, within its own model.

    best_index_ : int
        Index of the best candidate in ``cv_results_``.

    scorer_ : function or dict
        The scorer(s) used on the held-out folds.

    n_splits_ : int
        Number of cross-validation splits.

    n_task_retries_ : int
        Number of fits run again because the worker running them was lost
        (on any engine: loky, dask, ray, spark); a warning is emitted when
        it is not zero. Fits run again run in a process of their own on the
        worker: one that ends that process too (it killed its worker) is
        recorded as a failed fit saying how the process ended (exit code or
        signal), and the search goes on. A model's own errors are never
        retried: ``error_score`` handles them.

    fit_errors_ : dict of (int, int) -> str
        The traceback of every failed fit, keyed by ``(candidate, split)``:
        the candidate's index in ``cv_results_`` and the fold's index. Empty
        when every fit succeeded. A failed fit scores ``error_score``; with
        several models, a model whose every fit failed also gets a
        :class:`~sklearn.exceptions.FitFailedWarning` of its own, naming it
        and its first error.

    refit_time_ : float
        Seconds spent refitting the best candidate on the whole data.

    multimetric_ : bool
        Whether several scorers were used.

    classes_ : ndarray of shape (n_classes,)
        Class labels, when the winner is a classifier.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when the winner records them.

    Notes
    -----
    Candidates (of one model or of several) whose ``Pipeline`` starts with
    identical steps (same classes and parameters) fit those steps once per
    fold and share their output, on every backend, with the same results as
    fitting each pipeline whole; their ``fit_time`` includes the shared
    steps' time. Each worker keeps such outputs in a cache of at most
    512 MiB; see ``docs/guide/checkpoints.md``.

    The fits start longest expected first on every backend: a static cost
    from the size parameters (``n_estimators``, ``num_leaves``,
    ``max_iter``, ``epochs``...) refined by the measured times of the folds
    that have finished (see ``docs/clusters.md``). Only the order changes,
    never a result.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : Exhaustive search over one grid.
    sklearn.model_selection.RandomizedSearchCV : Random search over one space.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from distsearch import MultiModelSearchCV
    >>> X, y = make_regression(n_samples=100, n_features=5, random_state=0)
    >>> search = MultiModelSearchCV(
    ...     [
    ...         ("ridge", Ridge(), {"alpha": [0.1, 1.0, 10.0]}),
    ...         ("tree", DecisionTreeRegressor(random_state=0),
    ...          {"max_depth": [2, 4]}),
    ...     ],
    ...     cv=3,
    ... ).fit(X, y)
    >>> search.best_model_name_
    'ridge'
    >>> search.leaderboard(per_model=True)["model"].tolist()
    ['ridge', 'tree']
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "estimator": [HasMethods(["fit"]), list, tuple],
        "param_grid": [dict, list, None],
        "n_iter": [Interval(numbers.Integral, 1, None, closed="left"), dict, None],
        "random_state": ["random_state"],
        "error_score": [StrOptions({"raise"}), numbers.Real],
        "backend": [_EngineName(), Engine, None],
        "address": [str, None],
        "progress": ["boolean"],
        "checkpoint": [str, os.PathLike, None],
        "refit_iterations": [StrOptions({"mean"}), None],
        "fit_timeout": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        estimator,
        param_grid=None,
        *,
        n_iter=None,
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
        super().__init__(
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
        self.param_grid = param_grid
        self.n_iter = n_iter
        self.random_state = random_state
        self.backend = backend
        self.address = address
        self.progress = progress
        self.checkpoint = checkpoint
        self.refit_iterations = refit_iterations
        self.fit_timeout = fit_timeout

    # ------------------------------------------------------------------
    # The models and their common properties
    # ------------------------------------------------------------------
    @property
    def _multi_model(self):
        return _is_model_list(self.estimator)

    def _models(self):
        """The validated models; raises on bad input (see ``_check_models``)."""
        param_grid = self.param_grid
        if (
            param_grid is None
            and not self._multi_model
            and type(self)._run_search is not MultiModelSearchCV._run_search
        ):
            # A subclass choosing its own candidates (as scikit-learn's
            # test_custom_run_search) needs no grid.
            param_grid = {}
        models = _check_models(self.estimator, param_grid)
        if self._multi_model:
            clash = [m.name for m in models if m.name in _RESERVED_NAMES]
            if clash:
                raise ValueError(
                    f"Model name(s) {clash} are reserved ({_RESERVED_NAMES}); "
                    "choose other names."
                )
            kinds = {is_classifier(m.estimator) for m in models}
            if len(kinds) > 1 and any(is_regressor(m.estimator) for m in models):
                raise ValueError(
                    "The models mix classifiers and regressors: "
                    + ", ".join(
                        f"{m.name}={get_tags(m.estimator).estimator_type}"
                        for m in models
                    )
                    + ". All models of a search must solve the same task."
                )
        return models

    def _reference_estimator(self):
        """The estimator whose tags and scoring defaults stand for all models."""
        if self._multi_model:
            if len(self.estimator) == 0 or len(self.estimator[0]) != 3:
                return None
            return self.estimator[0][1]
        return self.estimator

    def __sklearn_tags__(self):
        if not self._multi_model:
            tags = super().__sklearn_tags__()
            # BaseSearchCV does not pass on multi_output (so GridSearchCV
            # fails check_supervised_y_2d); the estimator's own tag is right.
            tags.target_tags.multi_output = get_tags(
                self.estimator
            ).target_tags.multi_output
            return tags
        tags = super(BaseSearchCV, self).__sklearn_tags__()
        model_tags = [
            get_tags(t[1]) for t in self.estimator if len(t) == 3 and hasattr(t[1], "fit")
        ]
        if model_tags:
            tags.target_tags.multi_output = all(
                t.target_tags.multi_output for t in model_tags
            )
            types = {t.estimator_type for t in model_tags}
            first = model_tags[0]
            tags.estimator_type = types.pop() if len(types) == 1 else None
            tags.classifier_tags = first.classifier_tags
            tags.regressor_tags = first.regressor_tags
            tags.input_tags.pairwise = any(t.input_tags.pairwise for t in model_tags)
            tags.input_tags.sparse = all(t.input_tags.sparse for t in model_tags)
        return tags

    def _get_scorers(self):
        """The scorer(s) and the refit metric, as BaseSearchCV computes them."""
        refit_metric = "score"
        reference = self._reference_estimator()
        if callable(self.scoring):
            scorers = self.scoring
        elif self.scoring is None or isinstance(self.scoring, str):
            scorers = check_scoring(reference, self.scoring)
        else:
            scorers = _check_multimetric_scoring(reference, self.scoring)
            self._check_refit_for_multimetric(scorers)
            refit_metric = self.refit
            scorers = _MultimetricScorer(
                scorers=scorers, raise_exc=(self.error_score == "raise")
            )
        return scorers, refit_metric

    def get_metadata_routing(self):
        """Get metadata routing of this object.

        In the multi-model form each model is routed under its own name, so
        each can request different metadata.

        Returns
        -------
        routing : MetadataRouter
            The routing information.
        """
        if not self._multi_model:
            return super().get_metadata_routing()
        router = MetadataRouter(owner=self)
        for name, estimator, _ in self.estimator:
            router.add(
                **{name: estimator},
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        scorer, _ = self._get_scorers()
        router.add(
            scorer=scorer,
            method_mapping=MethodMapping()
            .add(caller="score", callee="score")
            .add(caller="fit", callee="score"),
        )
        router.add(
            splitter=self.cv,
            method_mapping=MethodMapping().add(caller="fit", callee="split"),
        )
        return router

    def _routed_params(self, models, params):
        """Route fit params: (fit params per model, split params, score params)."""
        routed = self._get_routed_params_for_fit(params)
        if self._multi_model and _routing_enabled():
            fit_params = [routed[m.name].fit for m in models]
            if self.scoring is None:
                self._check_score_requests(models, params, routed.scorer.score)
        else:
            fit_params = [routed.estimator.fit] * len(models)
        return fit_params, routed.splitter.split, routed.scorer.score

    def _check_score_requests(self, models, params, score_params):
        """With ``scoring=None``, check that every model requests ``score_params``.

        Each model is then scored by its own ``score`` method, but the score
        metadata are routed by the first model's request and passed to all
        models; a model requesting other metadata would silently get them.
        """
        for model in models[1:]:
            own = (
                MetadataRouter(owner=self)
                .add(
                    model=model.estimator,
                    method_mapping=MethodMapping().add(caller="fit", callee="score"),
                )
                .route_params(caller="fit", params=params)
                .model.score
            )
            if own.keys() != score_params.keys() or any(
                own[key] is not score_params[key] for key in own
            ):
                raise ValueError(
                    "With scoring=None each model is scored by its own score "
                    "method, and all models must request the same score "
                    f"metadata: model {models[0].name!r} requests "
                    f"{sorted(score_params)}, model {model.name!r} requests "
                    f"{sorted(own)}. Call set_score_request with the same "
                    "values on every model, or pass a scorer as scoring."
                )

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Run fit with all candidates of all models.

        Validates the input, opens one runtime for the whole fit (engine
        session, data sent once, checkpoint, progress, task queue), calls
        ``_run_search(evaluate_candidates)`` (by default one call with every
        candidate), then selects the best candidate of all the calls and
        refits it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vectors.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Target relative to X; None for unsupervised learning.

        **params : dict of str -> object
            Parameters passed to the ``fit`` method of the models, the scorer
            and the CV splitter, as for GridSearchCV. With metadata routing
            enabled, each model receives what it requested.

        Returns
        -------
        self : object
            The fitted search.
        """
        _check_backend(self.backend, self.address)
        _check_progress(self.progress)
        models = self._models()
        for model in models:
            check_estimator_packages(model.name, model.estimator)
        scorers, refit_metric = self._get_scorers()

        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        fit_params, split_params, score_params = self._routed_params(models, params)
        # As BaseSearchCV: a subclass checks its own parameters here, before
        # any fit (successive halving: its resources).
        self._checked_cv_orig = check_cv(self.cv, y, classifier=is_classifier(self))
        self._check_input_parameters(X=X, y=y, split_params=split_params)
        _check_n_iter(self._n_iter(), models)

        weight = params.get("sample_weight")
        metadata = None if weight is None else {"sample_weight": weight}
        root_ctx = _root_context(self)
        if root_ctx is not None:
            root_ctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)

        cv = self._checked_cv_orig
        runtime = _Runtime(
            self,
            models,
            X,
            y,
            fit_params,
            split_params,
            score_params,
            scorers,
            refit_metric,
            cv,
        )
        self.n_splits_ = runtime.n_splits
        with runtime:
            try:
                if "callback_ctx" in signature(self._run_search).parameters:
                    self._run_search(runtime.evaluate_candidates, callback_ctx=root_ctx)
                else:  # a subclass's own search, as scikit-learn allows
                    self._run_search(runtime.evaluate_candidates)
            finally:
                # Kept when every fit failed and the search raises.
                self.fit_errors_ = runtime.fit_errors
        if not runtime.out:
            raise ValueError(
                "No fits were performed: _run_search never called "
                "evaluate_candidates."
            )
        self.n_task_retries_ = len(runtime.retried)
        if runtime.retried:
            warnings.warn(
                f"{len(runtime.retried)} of {len(runtime.out)} fits were run again "
                "because the worker running them was lost; a fit that ended its "
                "process again is recorded as failed (fit_errors_), the others "
                "completed.",
                RuntimeWarning,
            )
        self._select_and_refit(runtime, X, y, scorers, refit_metric, root_ctx, metadata)
        if root_ctx is not None:
            root_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)
        return self

    def _run_search(self, evaluate_candidates, callback_ctx=None):
        """Evaluate every candidate of every model in one call.

        The search's seam, as in :class:`~sklearn.model_selection.GridSearchCV`:
        ``fit`` calls it once with ``evaluate_candidates(candidates, cv=None,
        more_results=None)``, which may be called any number of times and
        returns the cumulative ``cv_results_``. A candidate is a parameter
        dict in the drop-in form and a ``(model name, params)`` pair in the
        multi-model form. A subclass may override it to choose its
        candidates round by round.

        Parameters
        ----------
        evaluate_candidates : callable
            Evaluates candidates on every fold (see above).
        callback_ctx : sklearn.callback.CallbackContext, default=None
            The fit's callback context (scikit-learn 1.9+); the evaluations
            are subtasks of a ``search`` task under it, as in GridSearchCV.
        """
        candidates = self._all_candidates(self._models())
        if callback_ctx is not None:
            callback_ctx = callback_ctx.subcontext(
                task_name="search",
                max_subtasks=len(candidates) * self.n_splits_,
                sequential_subtasks=False,
            ).call_on_fit_task_begin(estimator=self)
        evaluate_candidates(candidates, callback_ctx=callback_ctx)
        if callback_ctx is not None:
            callback_ctx.call_on_fit_task_end(estimator=self)

    def _check_input_parameters(self, X, y, split_params):
        """Check a subclass's own parameters before any fit (as BaseSearchCV's
        hook of the same name, which scikit-learn 1.8 does not have)."""

    def _n_iter(self):
        """How many candidates to draw per model (``n_iter``; see there)."""
        return self.n_iter

    def _all_candidates(self, models):
        """Every candidate of every model, in the form ``evaluate_candidates`` takes."""
        candidates = _generate_candidates(
            models, _check_n_iter(self._n_iter(), models), self.random_state, self._multi_model
        )
        if not self._multi_model:
            return [params for _, params in candidates]
        return [(models[index].name, params) for index, params in candidates]

    def _select_and_refit(self, runtime, X, y, scorers, refit_metric, root_ctx, metadata):
        """Select the best candidate of all the rounds and refit it.

        As BaseSearchCV does after its search (``_select_best_index``,
        ``best_*``, ``refit_time_``, ``scorer_``), the winner being refit as
        its own model's estimator.
        """
        results = runtime.results
        candidates, models = runtime.candidates, runtime.models
        first_test_score = runtime.out[0]["test_scores"]
        self.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit

        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
            best_model = models[candidates[self.best_index_][0]]
            self.best_model_name_ = best_model.name

        if self.refit:
            self.best_estimator_ = clone(best_model.estimator).set_params(
                **clone(self.best_params_, safe=False)
            )
            if self.refit_iterations == "mean" and "mean_best_iteration" in results:
                self.best_estimator_.set_params(
                    **_fixed_iteration_params(
                        self.best_estimator_,
                        results["mean_best_iteration"][self.best_index_],
                    )
                )
            best_fit_params = runtime.shared.fit_params[candidates[self.best_index_][0]]
            refit_ctx = None
            if root_ctx is not None:
                refit_ctx = root_ctx.subcontext(task_name="refit-with-best-params")
            with (
                contextlib.nullcontext()
                if refit_ctx is None
                else refit_ctx.propagate_callback_context(self.best_estimator_)
            ):
                if refit_ctx is not None:
                    refit_ctx.call_on_fit_task_begin(
                        estimator=self, X=X, y=y, metadata=metadata
                    )
                refit_start_time = time.time()
                if y is not None:
                    self.best_estimator_.fit(X, y, **best_fit_params)
                else:
                    self.best_estimator_.fit(X, **best_fit_params)
                self.refit_time_ = time.time() - refit_start_time
            if refit_ctx is not None:
                refit_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_

        if isinstance(scorers, _MultimetricScorer):
            self.scorer_ = scorers._scorers
        else:
            self.scorer_ = scorers
        self.cv_results_ = results

    # ------------------------------------------------------------------
    # Views of the results
    # ------------------------------------------------------------------
    def _leaderboard_metric(self):
        if isinstance(self.refit, str):
            return self.refit
        if "mean_test_score" in self.cv_results_:
            return "score"
        return next(
            k[len("mean_test_") :] for k in self.cv_results_ if k.startswith("mean_test_")
        )

    def leaderboard(self, per_model=False):
        """The candidates (or the models) ranked by cross-validated score.

        Parameters
        ----------
        per_model : bool, default=False
            If False, one row per candidate in rank order. If True, one row per
            model: its best candidate, that candidate's scores, how many
            candidates were tried and the model's total fit time.

        Returns
        -------
        leaderboard : pandas.DataFrame
            Per candidate: ``rank``, ``model``, ``params`` (the dict), then for
            every metric (the ranking one first) ``mean_test_<metric>``,
            ``std_test_<metric>`` and ``sem_test_<metric>`` (the standard
            error of the mean over the folds that have a score, ``ddof=1``),
            ``mean_fit_time``, ``mean_best_iteration`` when the models
            report one, and one ``param_<name>`` column per searched
            parameter (missing, NaN or None, where the candidate's model
            has no such parameter). Per model: ``model``, ``best_rank``, ``best_params``,
            the mean, std and sem of every metric, ``n_candidates``,
            ``total_fit_time``. With a single metric its name is ``score``;
            with several, ``refit``'s (or the first) ranks the rows.

        Examples
        --------
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Lasso, Ridge
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> search = MultiModelSearchCV(
        ...     [("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
        ...      ("lasso", Lasso(), {"alpha": [0.1]})],
        ...     cv=3,
        ... ).fit(X, y)
        >>> search.leaderboard()[["rank", "model", "params"]]
           rank  model           params
        0     1  ridge   {'alpha': 0.1}
        1     2  lasso   {'alpha': 0.1}
        2     3  ridge  {'alpha': 10.0}
        >>> search.leaderboard()[["model", "param_alpha"]]
           model  param_alpha
        0  ridge          0.1
        1  lasso          0.1
        2  ridge         10.0
        >>> search.leaderboard(per_model=True)[["model", "best_rank", "n_candidates"]]
           model  best_rank  n_candidates
        0  ridge          1             2
        1  lasso          2             1
        """
        from ._results import leaderboard

        if not hasattr(self, "cv_results_"):
            raise NotFittedError(
                "This MultiModelSearchCV instance is not fitted yet: call fit first."
            )
        return leaderboard(self, per_model=per_model)

    def compare_models(self, metric=None, test_train_ratio=None):
        """The winner against the best candidate of each other model, fold by fold.

        The scores of two candidates come from the same folds, so their
        difference is measured fold by fold; its standard error is corrected
        for the overlap of the folds' training sets (Nadeau and Bengio's
        corrected resampled t-test, as in scikit-learn's "Statistical
        comparison of models using grid search" example):
        ``se = sqrt(var(d, ddof=1) * (1 / n + n_test / n_train))`` over the
        ``n`` folds where both have a score. The probability that the winner
        is better is ``1 - T.cdf(0)`` for the Student t distribution with
        ``n - 1`` degrees of freedom located at the mean difference and
        scaled by ``se``. With repeated cross-validation (e.g.
        :class:`~sklearn.model_selection.RepeatedKFold`) every fold of every
        repeat counts. After successive halving the best candidate of another
        model may come from an earlier round, scored with fewer resources
        (``n_resources`` in ``cv_results_``) than the winner.

        Parameters
        ----------
        metric : str, default=None
            The metric to compare, for a search with several; None compares
            the one the leaderboard ranks by.
        test_train_ratio : float, default=None
            ``n_test / n_train`` of a fold. None derives it from ``cv``:
            ``1 / (k - 1)`` for k folds (repeated or not), the sizes of a
            shuffle-split with fractional sizes.

        Returns
        -------
        comparison : pandas.DataFrame
            One row per other model, in rank order: ``model``, ``rank``,
            ``params`` of its best candidate, its ``mean_test_<metric>``,
            ``mean_difference`` (winner minus it), ``std_error`` (corrected),
            ``probability_winner_better`` and ``n_folds``.

        Examples
        --------
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Lasso, Ridge
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, noise=10, random_state=0)
        >>> search = MultiModelSearchCV(
        ...     [("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
        ...      ("lasso", Lasso(), {"alpha": [30.0]})],
        ...     cv=5,
        ... ).fit(X, y)
        >>> table = search.compare_models()
        >>> table[["model", "rank", "n_folds"]]
           model  rank  n_folds
        0  lasso     3        5
        >>> bool(table.loc[0, "probability_winner_better"] > 0.5)
        True
        """
        from ._results import compare_models

        check_is_fitted(self, "cv_results_")
        return compare_models(self, metric, test_train_ratio)

    def plot_scores(self, metric=None):
        """Box plot of every candidate's per-fold test scores, best first.

        One box per candidate over its cross-validation folds, in rank order,
        coloured by model: the figure the ``distsearch tournament`` command
        writes as ``scores.png``. Needs matplotlib (the ``plot`` extra). The
        figure is made without pyplot (no global state); in a notebook, run
        ``%matplotlib inline`` once so that a returned figure is drawn.

        Parameters
        ----------
        metric : str, default=None
            The metric to plot, for a search with several metrics; None plots
            the one the leaderboard ranks by (``refit``'s, or the first).

        Returns
        -------
        figure : matplotlib.figure.Figure
            The figure; ``figure.savefig(path)`` writes it to a file.

        Examples
        --------
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Lasso, Ridge
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> search = MultiModelSearchCV(
        ...     [("ridge", Ridge(), {"alpha": [0.1, 10.0]}),
        ...      ("lasso", Lasso(), {"alpha": [0.1]})],
        ...     cv=3,
        ... ).fit(X, y)
        >>> figure = search.plot_scores()
        >>> [label.get_text() for label in figure.axes[0].get_xticklabels()]
        ['1 ridge', '2 lasso', '3 ridge']
        """
        require("matplotlib", "plot", "plot_scores")
        from ._plots import check_plot_args, plot_scores

        check_is_fitted(self, "cv_results_")
        return plot_scores(self, check_plot_args(self, None, metric)[1])

    def plot_hyperparameters(self, model=None, metric=None):
        """Mean CV score against each hyperparameter of one model.

        One panel per searched parameter of the model: a point per candidate
        at its value of the parameter and its mean score, with the standard
        error as an error bar, the model's best candidate ringed. A
        log-scaled distribution (``scipy.stats.loguniform``) gets a log axis,
        a list of values a categorical axis (its values in the order
        listed). Needs matplotlib (the ``plot`` extra).

        Parameters
        ----------
        model : str, default=None
            The model's name; None plots the winner's model.
        metric : str, default=None
            The metric, for a search with several; None: the ranking one.

        Returns
        -------
        figure : matplotlib.figure.Figure

        Examples
        --------
        >>> from scipy.stats import loguniform
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Ridge
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> search = MultiModelSearchCV(
        ...     [("ridge", Ridge(), {"alpha": loguniform(1e-3, 1e3)}),
        ...      ("tree", DecisionTreeRegressor(random_state=0),
        ...       {"max_depth": [2, 4], "splitter": ["best", "random"]})],
        ...     n_iter={"ridge": 4, "tree": None}, cv=3, random_state=0,
        ... ).fit(X, y)
        >>> [ax.get_xscale() for ax in search.plot_hyperparameters("ridge").axes]
        ['log']
        >>> figure = search.plot_hyperparameters("tree")
        >>> [[t.get_text() for t in ax.get_xticklabels()] for ax in figure.axes]
        [['2', '4'], ['best', 'random']]
        """
        require("matplotlib", "plot", "plot_hyperparameters")
        from ._plots import check_plot_args, plot_hyperparameters

        check_is_fitted(self, "cv_results_")
        return plot_hyperparameters(self, *check_plot_args(self, model, metric))

    def plot_parallel_coordinates(self, model=None, metric=None):
        """Every candidate of one model as a line across its hyperparameters.

        One vertical axis per searched parameter and a last one for the
        mean CV score; each candidate is a line through its values, coloured
        by its score, the best drawn thickest. Numeric axes span the values
        tried (log-scaled for a log-scaled distribution), categorical ones
        list their values. Needs matplotlib (the ``plot`` extra).

        Parameters
        ----------
        model : str, default=None
            The model's name; None plots the winner's model.
        metric : str, default=None
            The metric, for a search with several; None: the ranking one.

        Returns
        -------
        figure : matplotlib.figure.Figure

        Examples
        --------
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> search = MultiModelSearchCV(
        ...     DecisionTreeRegressor(random_state=0),
        ...     {"max_depth": [2, 4], "min_samples_leaf": [1, 5]}, cv=3,
        ... ).fit(X, y)
        >>> figure = search.plot_parallel_coordinates()
        >>> [t.get_text() for t in figure.axes[0].get_xticklabels()]
        ['max_depth', 'min_samples_leaf', 'mean score']
        >>> len(figure.axes[0].lines) - 3  # one line per candidate (and 3 axes)
        4
        """
        require("matplotlib", "plot", "plot_parallel_coordinates")
        from ._plots import check_plot_args, plot_parallel_coordinates

        check_is_fitted(self, "cv_results_")
        return plot_parallel_coordinates(self, *check_plot_args(self, model, metric))

    # ------------------------------------------------------------------
    # Sharded searches (see distsearch._shard)
    # ------------------------------------------------------------------
    def _check_shardable(self):
        from ._shard import _Sharding

        if type(self)._run_search is not MultiModelSearchCV._run_search:
            raise ValueError(f"{type(self).__name__}: {_Sharding.ADAPTIVE}")

    def fit_shard(self, X, y=None, *, shard, store, **params):
        """Run shard ``i`` of ``n`` of the search's fits into a shared result store.

        The (candidate, fold) fits are numbered in ``cv_results_`` order;
        shard ``i`` runs those whose number is ``i`` modulo ``n`` (skipping
        any already recorded in ``store``) and records them there. Run every
        shard, anywhere that can reach ``store`` (separate processes,
        machines, Metaflow ``foreach`` tasks), with the same search and data;
        then :meth:`collect` finishes the search. Nothing is refit and no
        ``cv_results_`` is set. Serves the exhaustive and random searches.

        Parameters
        ----------
        X, y, **params
            As for :meth:`fit` (the same in every shard and in collect).
        shard : (int, int) or str
            ``(i, n)`` or ``"i/n"``, with ``0 <= i < n``.
        store : str or path-like
            A folder, or an fsspec URL (``s3://...``) when fsspec is
            installed. Records are checked with the checkpoint key
            (``DISTSEARCH_CHECKPOINT_KEY_FILE``), which shards on other
            machines must share.

        Returns
        -------
        self : object
            With ``shard_`` (``(i, n)``) and ``n_shard_fits_`` (fits run).

        Examples
        --------
        >>> import tempfile
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Ridge
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> search = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3)
        >>> store = tempfile.mkdtemp()
        >>> for i in range(2):  # anywhere, in any order
        ...     _ = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3).fit_shard(
        ...         X, y, shard=(i, 2), store=store)
        >>> search.collect(X, y, store=store).best_params_
        {'alpha': 0.1}
        """
        from ._shard import _check_shard, _check_store, _local_store, _ShardDone, _Sharding

        shard = _check_shard(shard)
        store = _check_store(store)
        self._check_shardable()
        with _local_store(store, "shard") as folder:
            self._sharding = sharding = _Sharding("shard", folder, shard)
            try:
                self.fit(X, y, **params)
            except _ShardDone:
                pass
            finally:
                del self._sharding
        self.shard_ = shard
        self.n_shard_fits_ = sharding.ran
        return self

    def collect(self, X, y=None, *, store, run_missing=False, **params):
        """Finish a sharded search from its store, as one ``fit`` would.

        Reads every shard's records from ``store`` and selects (and, with
        ``refit``, refits) the best candidate: ``cv_results_`` and the winner
        are those of one in-process :meth:`fit` (the times are the shards').
        Give the search, data and parameters the shards ran with.

        Parameters
        ----------
        X, y, **params
            As for :meth:`fit`.
        store : str or path-like
            The store the shards wrote to (a folder or an fsspec URL).
        run_missing : bool, default=False
            Fit here what no shard recorded. By default nothing is fit: a
            missing shard raises :class:`~distsearch._shard.ShardError`
            naming it and listing its fits.

        Returns
        -------
        self : object
            The fitted search.

        Raises
        ------
        distsearch.ShardError
            A shard is missing or of another search (before any fit).

        Examples
        --------
        >>> import tempfile
        >>> from sklearn.datasets import make_regression
        >>> from sklearn.linear_model import Ridge
        >>> from distsearch import MultiModelSearchCV
        >>> X, y = make_regression(n_samples=60, n_features=4, random_state=0)
        >>> store = tempfile.mkdtemp()
        >>> search = MultiModelSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3)
        >>> _ = search.fit_shard(X, y, shard=(0, 2), store=store)  # shard 1 never ran
        >>> search.collect(X, y, store=store, run_missing=True).best_params_
        {'alpha': 0.1}
        """
        from ._shard import _check_store, _local_store, _Sharding

        store = _check_store(store)
        self._check_shardable()
        with _local_store(store, "collect") as folder:
            self._sharding = _Sharding("collect", folder, run_missing=run_missing)
            try:
                return self.fit(X, y, **params)
            finally:
                del self._sharding

    def _sk_visual_block_(self):
        # The models side by side, each with its space (shown when its name
        # is clicked); once fitted with refit, the winner's column shows the
        # refit ``best_estimator_``.
        if not self._multi_model:
            return super()._sk_visual_block_()
        best = getattr(self, "best_model_name_", None)
        estimators, names, details = [], [], []
        for name, estimator, space in self.estimator:
            n_iter = self._n_iter().get(name) if isinstance(self._n_iter(), dict) else self._n_iter()
            if name == best and hasattr(self, "best_estimator_"):
                estimator, name = self.best_estimator_, f"{name}: best_estimator_"
            estimators.append(estimator)
            names.append(name)
            details.append(_describe_space(space, n_iter))
        return _VisualBlock("parallel", estimators, names=names, name_details=details)


def _fixed_iteration_params(estimator, mean_iteration):
    """Parameters that refit ``estimator`` for ``mean_iteration`` iterations.

    Asks the estimator (or a pipeline's final step, with its step prefix)
    for its ``fixed_iteration_params``; empty when it has none or the folds
    reported no iteration (NaN).
    """
    if np.isnan(mean_iteration):
        return {}
    prefix, final = "", estimator
    if hasattr(estimator, "steps"):
        prefix, final = estimator.steps[-1][0] + "__", estimator.steps[-1][1]
    if not hasattr(final, "fixed_iteration_params"):
        return {}
    n_iterations = max(1, int(round(float(mean_iteration))))
    params = final.fixed_iteration_params(n_iterations)
    return {prefix + key: value for key, value in params.items()}
