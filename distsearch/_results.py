"""Views of a fitted search's ``cv_results_``: the leaderboard and the model comparison.

Invariants:

- these functions only read a fitted search's public attributes
  (``cv_results_``, ``n_splits_``, ``best_index_``, ``cv``, ``refit``) and
  never refit or rescore anything;
- a fold whose score is NaN (a failed fit with ``error_score=np.nan``) is
  left out of the standard errors and of the comparison's shared folds, never
  counted as a score;
- the standard error of a mean over folds is ``std(ddof=1) / sqrt(n)``; the
  comparison's is Nadeau and Bengio's corrected one (see
  :func:`compare_models`), which is larger because the folds' training sets
  overlap.
"""

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import stats


def _metrics(search):
    """The search's metrics, the one the leaderboard ranks by first."""
    results = search.cv_results_
    metrics = [k[len("rank_test_") :] for k in results if k.startswith("rank_test_")]
    first = search._leaderboard_metric()
    return [first] + [m for m in metrics if m != first]


def split_scores(search, metric):
    """The (n_candidates, n_splits) array of per-fold test scores of ``metric``."""
    results = search.cv_results_
    return np.column_stack(
        [np.asarray(results[f"split{k}_test_{metric}"], dtype=float) for k in range(search.n_splits_)]
    )


def sem(scores):
    """Standard error of the mean over the last axis (ddof=1), ignoring NaN folds."""
    scores = np.asarray(scores, dtype=float)
    n = np.sum(~np.isnan(scores), axis=-1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # fewer than 2 finite folds
        return np.nanstd(scores, axis=-1, ddof=1) / np.sqrt(n)


def param_columns(search):
    """The ``param_<name>`` columns of ``cv_results_``, in their order."""
    return [k for k in search.cv_results_ if k.startswith("param_")]


def leaderboard(search, per_model=False):
    """The body of :meth:`MultiModelSearchCV.leaderboard`."""
    results = search.cv_results_
    metrics = _metrics(search)
    first = metrics[0]
    n_candidates = len(results["params"])
    models = results.get("model")
    if models is None:
        models = np.full(n_candidates, type(search.estimator).__name__)
    table = {
        "rank": results[f"rank_test_{first}"],
        "model": models,
        "params": results["params"],
    }
    for metric in metrics:
        table[f"mean_test_{metric}"] = results[f"mean_test_{metric}"]
        table[f"std_test_{metric}"] = results[f"std_test_{metric}"]
        table[f"sem_test_{metric}"] = sem(split_scores(search, metric))
    table["mean_fit_time"] = results["mean_fit_time"]
    if "mean_best_iteration" in results:  # early-stopping models (see fit)
        table["mean_best_iteration"] = results["mean_best_iteration"]
    for column in param_columns(search):
        # A parameter the candidate's model does not have is None, not a value.
        table[column] = [p.get(column[len("param_") :]) for p in results["params"]]
    board = pd.DataFrame(table)
    board = board.sort_values("rank", kind="stable").reset_index(drop=True)
    if not per_model:
        return board
    total_fit = np.asarray(results["mean_fit_time"]) * search.n_splits_
    rows = []
    for name, group in board.groupby("model", sort=False):
        best = group.iloc[0]
        row = {"model": name, "best_rank": best["rank"], "best_params": best["params"]}
        for metric in metrics:
            for stat in ("mean", "std", "sem"):
                row[f"{stat}_test_{metric}"] = best[f"{stat}_test_{metric}"]
        row["n_candidates"] = len(group)
        row["total_fit_time"] = float(total_fit[np.asarray(models) == name].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def fold_size_ratio(cv, n_splits):
    """``n_test / n_train`` of one fold of ``cv`` (for the corrected standard error).

    Shuffle-split splitters with fractional sizes give their own ratio;
    every other splitter is taken as a partition into folds (k-fold,
    repeated k-fold, stratified, group k-fold, leave-one-out): a fold tests
    ``1 / k`` of the rows and trains on the other ``(k - 1) / k``.
    """
    if isinstance(cv, numbers.Integral) or cv is None:
        return 1.0 / ((5 if cv is None else int(cv)) - 1)
    test_size = getattr(cv, "test_size", None)
    if hasattr(cv, "test_size") and not hasattr(cv, "n_repeats"):  # ShuffleSplit family
        train_size = getattr(cv, "train_size", None)
        if isinstance(test_size, float) and (train_size is None or isinstance(train_size, float)):
            train = 1.0 - test_size if train_size is None else train_size
            return test_size / train
        if test_size is None and isinstance(train_size, float):
            return (1.0 - train_size) / train_size
        if test_size is None and train_size is None:
            return getattr(cv, "_default_test_size", 0.1) / (1 - getattr(cv, "_default_test_size", 0.1))
        raise ValueError(
            f"cannot tell the test/train size ratio of cv={cv!r} (absolute sizes); "
            "pass test_train_ratio=n_test/n_train."
        )
    k = getattr(cv, "cvargs", {}).get("n_splits") or getattr(cv, "n_splits", None)
    if not isinstance(k, numbers.Integral):
        k = n_splits
    return 1.0 / (int(k) - 1)


def corrected_comparison(differences, ratio):
    """Mean, corrected standard error and P(mean > 0) of paired fold differences.

    Nadeau and Bengio's correction of the resampled t-test, as in
    scikit-learn's "Statistical comparison of models using grid search"
    example: ``var = var(d, ddof=1) * (1 / n + n_test / n_train)``, and the
    probability is ``1 - T.cdf(0)`` for the Student t posterior ``T`` with
    ``n - 1`` degrees of freedom, located at the mean difference and scaled
    by the corrected standard error.
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    mean = float(np.mean(d)) if n else float("nan")
    if n < 2:
        return mean, float("nan"), float("nan"), n
    se = float(np.sqrt(np.var(d, ddof=1) * (1.0 / n + ratio)))
    if se == 0:
        probability = 1.0 if mean > 0 else 0.0 if mean < 0 else 0.5
    else:
        probability = float(1.0 - stats.t(n - 1, loc=mean, scale=se).cdf(0.0))
    return mean, se, probability, n


def compare_models(search, metric=None, test_train_ratio=None):
    """The body of :meth:`MultiModelSearchCV.compare_models`."""
    metric = search._leaderboard_metric() if metric is None else metric
    results = search.cv_results_
    if f"rank_test_{metric}" not in results:
        metrics = [k[len("rank_test_") :] for k in results if k.startswith("rank_test_")]
        raise ValueError(f"metric={metric!r} is not a metric of this search; its metrics are {metrics}.")
    ratio = fold_size_ratio(search.cv, search.n_splits_) if test_train_ratio is None else test_train_ratio
    scores = split_scores(search, metric)
    ranks = np.asarray(results[f"rank_test_{metric}"])
    n_candidates = len(ranks)
    models = results.get("model")
    if models is None:
        models = np.full(n_candidates, type(search.estimator).__name__)
    models = np.asarray(models)
    order = np.argsort(ranks, kind="stable")
    winner = order[0]
    rows = []
    for name in dict.fromkeys(models[order]):
        if name == models[winner]:
            continue
        other = next(i for i in order if models[i] == name)
        shared = ~np.isnan(scores[winner]) & ~np.isnan(scores[other])
        mean, se, probability, n = corrected_comparison(scores[winner][shared] - scores[other][shared], ratio)
        rows.append(
            {
                "model": name,
                "rank": int(ranks[other]),
                "params": results["params"][other],
                f"mean_test_{metric}": float(results[f"mean_test_{metric}"][other]),
                "mean_difference": mean,
                "std_error": se,
                "probability_winner_better": probability,
                "n_folds": n,
            }
        )
    columns = [
        "model", "rank", "params", f"mean_test_{metric}", "mean_difference",
        "std_error", "probability_winner_better", "n_folds",
    ]
    return pd.DataFrame(rows, columns=columns)
