"""Model-based search across families: fits needed for a given score.

Two workloads, each split 80/20 into training rows (searched with 5 shuffled
folds, or 3 with ``--quick``) and held-out rows:

- **scikit-learn**: ``make_friedman1`` (non-linear, noise 1) with a ridge
  (``alpha`` log-uniform), a ``HistGradientBoostingRegressor``
  (``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``) and a k-NN
  (``n_neighbors``, ``weights``).
- **tournament**: the tournament's own LightGBM + Keras + ridge contenders
  and pipelines on its default mock data (``--quick``: its quick rows and
  lengths).

Methods, each scored with r2 on the same folds:

- **random**: ``MultiModelSearchCV`` with ``n_iter`` candidates per family
  (the exhaustive random search; ridge's 5-point grid in the tournament).
- **halving**: ``HalvingMultiModelSearchCV`` over the same random
  candidates (when it is available).
- **optuna**: ``OptunaMultiModelSearchCV`` with as many trials as random's
  candidates and the sampler a demanding Optuna user picks for a
  conditional space run in parallel: ``TPESampler(multivariate=True,
  group=True, constant_liar=True, n_startup_trials=ceil(n_trials / 4))``
  (seeded: a quarter of the trials random, 8 of the quick scikit-learn
  workload's 30);
  **optuna+prune** adds a ``PercentilePruner(25.0, n_startup_trials=min(5,
  ceil(n_trials / 4)))`` on the fold scores (a trial outside the top
  quarter of the completed trials at a fold stops; its later folds are
  never dispatched). Its startup: Optuna's default of 5 completed trials,
  or the sampler's random startup when that is shorter (3 of the quick
  tournament's 12 trials: waiting for 5 would leave only the last half of
  the trials to prune).
- **OptunaSearchCV**: ``optuna_integration.OptunaSearchCV`` run once per
  family, the same number of trials split between the families; the family
  with the best CV score wins (needs ``optuna-integration``, the ``bench``
  extra).

Printed per method: fold fits run, best CV score, the winner's held-out
r2, wall seconds. After random, optuna and optuna+prune: the fits Optuna
needed to reach random's best CV score (target: at most half of random's)
and the fold fits pruning saved (target: at least 30 % fewer than without,
final held-out score within 0.01); then the rows of halving and
OptunaSearchCV.

Run::

    python benchmarks/bench_optuna.py                 # both workloads
    python benchmarks/bench_optuna.py --quick         # smaller, ~5 min on 2 cores
    python benchmarks/bench_optuna.py --workload sklearn
    python benchmarks/bench_optuna.py --workload tournament --skip halving --skip OptunaSearchCV
"""

import argparse
import math
import time
import warnings

import numpy as np
import optuna
from scipy.stats import loguniform, randint
from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import distsearch
from distsearch import MultiModelSearchCV, OptunaMultiModelSearchCV
from distsearch._optuna import _to_distribution

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=FitFailedWarning)
warnings.filterwarnings("ignore", message="One or more of the .* scores are non-finite")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# k-NN candidates with more neighbours than a small halving round has rows.
warnings.filterwarnings("ignore", message="Scoring failed")


def tpe(n_trials, seed):
    """The sampler of the Optuna runs: a quarter of the trials are TPE's random startup."""
    return optuna.samplers.TPESampler(
        multivariate=True, group=True, constant_liar=True,
        n_startup_trials=math.ceil(n_trials / 4), seed=seed,
    )


def pruner(n_trials):
    """The pruner of optuna+prune: the top quarter goes on, once the startup trials are done."""
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=min(5, math.ceil(n_trials / 4)))


def sklearn_workload(quick, seed):
    X, y = make_friedman1(n_samples=800 if quick else 2000, noise=1.0, random_state=seed)
    models = [
        ("ridge", make_pipeline(StandardScaler(), Ridge()),
         {"ridge__alpha": loguniform(1e-3, 1e3)}),
        ("hgb", HistGradientBoostingRegressor(max_iter=100, random_state=seed),
         {"learning_rate": loguniform(1e-2, 1.0), "max_leaf_nodes": randint(2, 64),
          "min_samples_leaf": randint(1, 100)}),
        ("knn", make_pipeline(StandardScaler(), KNeighborsRegressor()),
         {"kneighborsregressor__n_neighbors": randint(1, 60),
          "kneighborsregressor__weights": ["uniform", "distance"]}),
    ]
    return X, y, models, (10 if quick else 20)


def tournament_workload(quick, seed):
    from distsearch._tournament import _pipeline, _prefixed, _prepare

    _, dataset, models, _, _, _, _ = _prepare(None, seed, quick)
    pipelines = [(name, _pipeline(est, dataset), _prefixed(space)) for name, est, space in models]
    return dataset.X, dataset.y, pipelines, (4 if quick else 10)


def best_so_far(scores):
    return np.fmax.accumulate(np.where(np.isnan(scores), -np.inf, scores))


def run_random(models, per_model, cv, n_jobs, seed, data):
    X_train, X_test, y_train, y_test = data
    search = MultiModelSearchCV(
        models, n_iter=per_model, cv=cv, scoring="r2", n_jobs=n_jobs, random_state=seed
    )
    tick = time.perf_counter()
    search.fit(X_train, y_train)
    wall = time.perf_counter() - tick
    scores = search.cv_results_["mean_test_score"]
    # Its anytime curve: the candidates in a seeded random order.
    order = np.random.RandomState(seed).permutation(len(scores))
    n_fits = len(scores) * cv.get_n_splits()
    return {
        "fits": n_fits,
        "cv": search.best_score_,
        "test": r2_score(y_test, search.predict(X_test)),
        "wall": wall,
        "curve": (np.arange(1, len(scores) + 1) * cv.get_n_splits(), best_so_far(scores[order])),
        "n_candidates": len(scores),
    }


def run_halving(models, per_model, cv, n_jobs, seed, data):
    halving = getattr(distsearch, "HalvingMultiModelSearchCV", None)
    if halving is None:
        return None
    X_train, X_test, y_train, y_test = data
    search = halving(
        models, n_candidates=per_model, cv=cv, scoring="r2", n_jobs=n_jobs, random_state=seed
    )
    tick = time.perf_counter()
    search.fit(X_train, y_train)
    wall = time.perf_counter() - tick
    return {
        "fits": int(np.sum(search.n_candidates_)) * cv.get_n_splits(),
        "cv": search.best_score_,
        "test": r2_score(y_test, search.predict(X_test)),
        "wall": wall,
    }


def run_optuna(models, n_trials, cv, n_jobs, seed, data, pruner=None):
    X_train, X_test, y_train, y_test = data
    search = OptunaMultiModelSearchCV(
        models, n_trials=n_trials, cv=cv, scoring="r2", n_jobs=n_jobs, random_state=seed,
        sampler=tpe(n_trials, seed), pruner=pruner,
    )
    tick = time.perf_counter()
    search.fit(X_train, y_train)
    wall = time.perf_counter() - tick
    results = search.cv_results_
    n_splits = cv.get_n_splits()
    folds = np.array([results[f"split{k}_test_score"] for k in range(n_splits)])
    # Fits per trial in ask order: the folds it kept (a pruned trial's
    # dropped in-flight folds are counted in the total below).
    fits_per_trial = (~np.isnan(folds)).sum(axis=0)
    return {
        "fits": n_trials * n_splits - search.n_fits_saved_,
        "cv": search.best_score_,
        "test": r2_score(y_test, search.predict(X_test)),
        "wall": wall,
        "curve": (np.cumsum(fits_per_trial), best_so_far(results["mean_test_score"])),
        "models": list(results["model"]),
        "saved": search.n_fits_saved_,
        # Trials that proposed an evaluated candidate again: asked again, not fitted.
        "duplicates": sum("distsearch_duplicate_of" in t.user_attrs for t in search.study_.trials),
    }


def run_optuna_search_cv(models, n_trials, cv, n_jobs, seed, data):
    try:
        from optuna_integration import OptunaSearchCV
    except ImportError:
        return None
    X_train, X_test, y_train, y_test = data
    per_family = max(1, n_trials // len(models))
    best, n_fits, tick = None, 0, time.perf_counter()
    for name, estimator, space in models:
        if isinstance(space, list):  # the tournament's quick spaces: [dict]
            [space] = space
        # OptunaSearchCV passes a categorical's choices to the estimator as
        # they are: the values themselves (tuples included), not stand-ins.
        distributions = {
            k: optuna.distributions.CategoricalDistribution(list(v))
            if isinstance(v, list) else _to_distribution(v, k)[0]
            for k, v in space.items()
        }
        search = OptunaSearchCV(
            estimator, distributions, cv=cv, n_trials=per_family, scoring="r2",
            n_jobs=n_jobs, random_state=seed, error_score=np.nan, verbose=0,
        )
        search.fit(X_train, y_train)
        n_fits += per_family * cv.get_n_splits()
        if best is None or search.best_score_ > best.best_score_:
            best = search
    return {
        "fits": n_fits,
        "cv": best.best_score_,
        "test": r2_score(y_test, best.predict(X_test)),
        "wall": time.perf_counter() - tick,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workload", choices=["sklearn", "tournament", "both"], default="both")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["halving", "OptunaSearchCV"],
        help="leave a comparison method out (the targets need only random and optuna)",
    )
    args = parser.parse_args()
    workloads = ["sklearn", "tournament"] if args.workload == "both" else [args.workload]
    for workload in workloads:
        make = sklearn_workload if workload == "sklearn" else tournament_workload
        X, y, models, per_model = make(args.quick, args.seed)
        data = train_test_split(X, y, test_size=0.2, random_state=args.seed)
        cv = KFold(3 if args.quick else 5, shuffle=True, random_state=args.seed)
        print(f"== {workload}: {len(data[0])} training rows, {len(models)} families, "
              f"{cv.get_n_splits()} folds, n_jobs={args.n_jobs}", flush=True)
        runs = {}
        print(f"{'method':>15} {'fold fits':>9} {'best CV r2':>10} {'held-out r2':>11} {'wall s':>7}",
              flush=True)

        def record(name, run):
            runs[name] = run
            if run is None:
                print(f"{name:>15}  (not available)", flush=True)
            else:
                print(f"{name:>15} {run['fits']:9d} {run['cv']:10.4f} {run['test']:11.4f} "
                      f"{run['wall']:7.1f}", flush=True)

        record("random", run_random(models, per_model, cv, args.n_jobs, args.seed, data))
        n_trials = runs["random"]["n_candidates"]
        record("optuna", run_optuna(models, n_trials, cv, args.n_jobs, args.seed, data))
        record("optuna+prune", run_optuna(
            models, n_trials, cv, args.n_jobs, args.seed, data,
            pruner=pruner(n_trials),
        ))
        target = runs["random"]["cv"]
        for name in ("optuna", "optuna+prune"):
            fits, curve = runs[name]["curve"]
            reached = np.flatnonzero(curve >= target)
            if len(reached):
                n = int(fits[reached[0]])
                ratio = n / runs["random"]["fits"]
                print(f"{name}: reached random's best CV {target:.4f} after {n} fold fits "
                      f"= {ratio:.2f} of random's {runs['random']['fits']} "
                      f"(target <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'})")
            else:
                print(f"{name}: did not reach random's best CV {target:.6f} "
                      f"(best {curve[-1]:.6f}, {target - curve[-1]:.6f} below; "
                      f"target: NOT met)")
        fits, curve = runs["random"]["curve"]
        for fraction in (0.25, 0.5, 1.0):
            budget = fraction * runs["random"]["fits"]
            line = [f"best CV within {fraction:.0%} of random's fits:"]
            for name in ("random", "optuna", "optuna+prune"):
                run_fits, run_curve = runs[name]["curve"]
                within = run_curve[run_fits <= budget]
                line.append(f"{name} {within[-1] if len(within) else float('nan'):.4f}")
            print(" ".join(line))
        plain, pruned = runs["optuna"], runs["optuna+prune"]
        fewer = 1 - pruned["fits"] / plain["fits"]
        met = fewer >= 0.3 and abs(pruned["test"] - plain["test"]) <= 0.01
        print(f"pruning: {pruned['fits']} fold fits vs {plain['fits']} "
              f"({fewer:.0%} fewer, {pruned['saved']} never started); "
              f"best CV {pruned['cv']:.4f} vs {plain['cv']:.4f}; "
              f"held-out r2 {pruned['test']:.4f} vs {plain['test']:.4f} "
              f"(difference {pruned['test'] - plain['test']:+.4f}; "
              f"target >= 30% fewer within 0.01: {'met' if met else 'NOT met'})")
        print("optuna's model choice per trial: " + " ".join(plain["models"]))
        print(f"duplicates asked again (not fitted): optuna {plain['duplicates']}, "
              f"optuna+prune {pruned['duplicates']}", flush=True)
        # The other methods, for comparison (the targets above need only these three).
        if "halving" not in args.skip:
            record("halving", run_halving(models, per_model, cv, args.n_jobs, args.seed, data))
        if "OptunaSearchCV" not in args.skip:
            record("OptunaSearchCV", run_optuna_search_cv(
                models, n_trials, cv, args.n_jobs, args.seed, data
            ))
        print(flush=True)


if __name__ == "__main__":
    main()
