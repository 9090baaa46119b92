"""Fitting and scoring one task, holding as few copies of the data as possible.

scikit-learn's private ``_fit_and_score`` (what GridSearchCV runs for each
candidate and fold) copies the fold's training rows *and* its test rows out
of ``X`` before the fit, and holds both until the task ends. On a dask or
ray worker, which keeps the whole ``X`` in memory, a task's peak is then the
data (1x) + the training rows (0.8x with 5 folds) + the test rows (0.2x) +
the model's own working copies.

:func:`_fit_and_score` here returns the same dict, prints the same
``verbose`` lines and handles a failed fit the same way (``error_score``,
``fit_error``), so that results are identical to GridSearchCV's; it differs
only in when the rows are copied: the test rows are taken only after the
fit, and the training rows are dropped before that (unless training scores
are asked for). A task's peak is thus the data + the training rows + the
model's own copies, the least a fit on copied rows can take. The helpers
(splitting, scoring, slicing of sample-aligned parameters) are
scikit-learn's own.
"""

import contextlib
import time
from traceback import format_exc

from joblib.logger import short_format_time
from sklearn.base import clone

from ._sklearn_compat import (
    _check_method_params,
    _MultimetricScorer,
    _num_samples,
    _safe_split,
    _score,
    device,
    get_namespace,
)


def _fit_and_score(
    estimator,
    X,
    y,
    *,
    scorer,
    train,
    test,
    verbose,
    parameters,
    fit_params,
    score_params,
    return_train_score,
    error_score,
    split_progress=None,
    candidate_progress=None,
    callback_ctx=None,
):
    """Fit ``estimator`` on the ``train`` rows, then score it on the ``test`` rows.

    Parameters
    ----------
    estimator : estimator object
        An unfitted estimator (a clone); it is fitted in place.
    X : array-like of shape (n_samples, n_features)
        All the data of the search; only rows of it are copied.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs) or None
        The target of all the data.
    scorer : callable or _MultimetricScorer
        The search's scorer.
    train, test : array-like of int
        Indices of the fold's training and test rows.
    verbose : int
        scikit-learn's verbosity: above 1, one line per task; above 2, with
        its scores; above 9, also a line when it starts.
    parameters : dict or None
        Parameters set on ``estimator`` (cloned) before the fit.
    fit_params, score_params : dict or None
        Passed to ``fit`` and to the scorer; sample-aligned values are
        sliced to the rows.
    return_train_score : bool
        Also score on the training rows (which are then kept until scored).
    error_score : 'raise' or numeric
        The score of a failed fit; ``'raise'`` re-raises the fit's error.
    split_progress, candidate_progress : tuple of (int, int) or None
        ``(index, total)`` of the fold and of the candidate, for the
        ``verbose`` lines.
    callback_ctx : sklearn.callback.CallbackContext or None
        The fit's evaluation context (scikit-learn 1.9+), propagated into the
        model for the fit as GridSearchCV propagates it; the search calls
        the evaluation's own hooks itself (see :mod:`distsearch._callbacks`).

    Returns
    -------
    result : dict
        ``fit_error`` (the traceback of a failed fit, or None),
        ``test_scores``, ``train_scores`` (with ``return_train_score``),
        ``n_test_samples``, ``fit_time``, ``score_time`` and ``estimator``,
        as scikit-learn's ``_fit_and_score`` returns them with
        ``return_n_test_samples``, ``return_times`` and ``return_estimator``.
    """
    xp, _ = get_namespace(X)
    train = xp.asarray(train, device=device(X))
    test = xp.asarray(test, device=device(X))

    progress_msg = ""
    if verbose > 2:
        if split_progress is not None:
            progress_msg = f" {split_progress[0] + 1}/{split_progress[1]}"
        if candidate_progress and verbose > 9:
            progress_msg += f"; {candidate_progress[0] + 1}/{candidate_progress[1]}"
    if verbose > 1:
        params_msg = ""
        if parameters is not None:
            params_msg = ", ".join(f"{k}={parameters[k]}" for k in sorted(parameters))
    if verbose > 9:
        start_msg = f"[CV{progress_msg}] START {params_msg}"
        print(f"{start_msg}{(80 - len(start_msg)) * '.'}")

    if parameters is not None:
        # Cloned: a parameter may itself be an estimator (scikit-learn #26786).
        estimator = estimator.set_params(**clone(parameters, safe=False))
    score_params = {} if score_params is None else score_params

    start_time = time.time()
    result = {"fit_error": None}
    X_train, y_train = _safe_split(estimator, X, y, train)
    fit_params = _check_method_params(X, params=fit_params or {}, indices=train)
    try:
        with (
            contextlib.nullcontext()
            if callback_ctx is None
            else callback_ctx.propagate_callback_context(estimator)
        ):
            if y_train is None:
                estimator.fit(X_train, **fit_params)
            else:
                estimator.fit(X_train, y_train, **fit_params)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_error"] = format_exc()
    fit_time = time.time() - start_time
    if not return_train_score or result["fit_error"] is not None:
        X_train = y_train = None  # before the test rows are copied

    if result["fit_error"] is None:
        X_test, y_test = _safe_split(estimator, X, y, test, train)
        params = _check_method_params(X, params=score_params, indices=test)
        test_scores = _score(estimator, X_test, y_test, scorer, params, error_score)
        score_time = time.time() - start_time - fit_time
        if return_train_score:
            X_test = y_test = None
            params = _check_method_params(X, params=score_params, indices=train)
            train_scores = _score(estimator, X_train, y_train, scorer, params, error_score)
    else:
        score_time = 0.0
        if isinstance(scorer, _MultimetricScorer):
            test_scores = {name: error_score for name in scorer._scorers}
            train_scores = test_scores.copy()
        else:
            test_scores = train_scores = error_score

    if verbose > 1:
        end_msg = f"[CV{progress_msg}] END "
        result_msg = params_msg + (";" if params_msg else "")
        if verbose > 2:
            if isinstance(test_scores, dict):
                for name in sorted(test_scores):
                    result_msg += f" {name}: ("
                    if return_train_score:
                        result_msg += f"train={train_scores[name]:.3f}, "
                    result_msg += f"test={test_scores[name]:.3f})"
            elif return_train_score:
                result_msg += f", score=(train={train_scores:.3f}, test={test_scores:.3f})"
            else:
                result_msg += f", score={test_scores:.3f}"
        result_msg += f" total time={short_format_time(score_time + fit_time)}"
        print(end_msg + "." * (80 - len(end_msg) - len(result_msg)) + result_msg)

    result["test_scores"] = test_scores
    if return_train_score:
        result["train_scores"] = train_scores
    result["n_test_samples"] = _num_samples(test)  # as many as X[test] has
    result["fit_time"] = fit_time
    result["score_time"] = score_time
    result["estimator"] = estimator
    return result
