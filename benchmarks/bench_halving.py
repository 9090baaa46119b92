"""Successive halving across model families against exhaustive search.

The tournament's mock data (``mock_regression``, 80/20 held-out split) and
its three built-in families: LightGBM and a Keras network (both early-stopped
on an inner split) and a ridge baseline, each with ``N`` random candidates
(the spaces of the built-in tournament; ridge's ``alpha`` drawn log-uniformly),
``K`` unshuffled folds. Three ways to pick a winner:

- **exhaustive**: ``MultiModelSearchCV`` with every candidate on all folds;
- **halving**: ``HalvingMultiModelSearchCV`` over all the families at once,
  LightGBM halved on ``n_estimators`` and Keras on ``epochs`` (their maximum:
  the built-in values), ridge on rows, ``factor=3``;
- **sklearn per family**: scikit-learn's ``HalvingRandomSearchCV`` (rows as
  the resource, its defaults: ``factor=3``, ``min_resources='exhaust'``) run
  once per family, the best of the three winners by their cross-validated
  score.

Every contender gets the same data, spaces, folds, ``random_state`` and
``n_jobs``, and runs in a fresh process of its own: no contender reuses the
warm workers of another, nor the Keras steps they compiled (the JAX
compilation cache of :mod:`distsearch._keras` is per process, and the same
candidates compile to the same steps; run in one process, the second search
found the first one's compilations and looked five times cheaper). Printed for each: the sum of the fit seconds of every fit
(``mean_fit_time`` x folds over ``cv_results_``), also per family, the wall
time, the winner and its held-out r2; the load average before and after.
Targets: halving spends at most 1/3 of the exhaustive fit seconds with a
winner within 0.01 r2 of the exhaustive winner's held-out score, in less wall
time than the per-family scikit-learn runs.

Also printed: halving's *floor*, the fit seconds of its first round alone
(every candidate once, on every fold, with the first round's resource). No
halving schedule that evaluates every candidate can spend less; when a
family's fits have a large fixed cost (a Keras fit builds its network and
traces its steps before the first epoch, and compiles them the first time
a worker sees its layer widths), the floor is a large share of the
exhaustive cost of that family whatever ``factor`` and ``min_resources``
are. Per round and model, the candidates, their resource and their fit
seconds are printed too. ``--factor``, ``--min-resources`` and
``--aggressive-elimination`` set the halving search's; ``--only`` runs some
of the contenders.

Run::

    python benchmarks/bench_halving.py           # 27 candidates per family, 5 folds
    python benchmarks/bench_halving.py --quick   # 9 candidates, 3 folds, 1200 rows

Needs the ``lightgbm`` and ``keras`` extras.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy.stats import loguniform
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV, KFold

from distsearch import HalvingMultiModelSearchCV, MultiModelSearchCV
from distsearch._config import _default_contenders
from distsearch._data import _load_data
from distsearch._datacheck import held_out_split
from distsearch._tournament import _pipeline, _prefixed


def _fit_seconds(search, mask=None):
    results = search.cv_results_
    times = np.asarray(results["mean_fit_time"])
    if mask is not None:
        times = times[mask]
    return float(np.sum(times) * search.n_splits_)


def _per_family(search, names):
    """Fit seconds per family of a multi-model search."""
    models = np.asarray(search.cv_results_["model"])
    return {name: _fit_seconds(search, models == name) for name in names}


def _per_round(search, names):
    """``[round, model, candidates, resource, fit seconds, mean seconds per fit]`` rows."""
    results = search.cv_results_
    models, rounds = np.asarray(results["model"]), np.asarray(results["iter"])
    resources, times = np.asarray(results["n_resources"]), np.asarray(results["mean_fit_time"])
    rows = []
    for itr in np.unique(rounds):
        for name in names:
            mask = (rounds == itr) & (models == name)
            if mask.any():
                rows.append([int(itr), name, int(mask.sum()), int(resources[mask][0]),
                             float(times[mask].sum() * search.n_splits_),
                             float(times[mask].mean())])
    return rows


def _load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


CONTENDERS = ("exhaustive", "halving", "sklearn per family")


def _setup(quick, n_jobs):
    """The data, the models (as pipelines) and the search settings of a run."""
    n_candidates, n_splits, n_samples, epochs = (9, 3, 600, 60) if quick else (27, 5, 2000, 200)
    seed = 0
    dataset = _load_data(
        {"kind": "mock_regression", "n_categorical_features": 2, "n_samples": n_samples,
         "n_features": 10, "n_informative": 5, "noise": 100.0},
        seed,
    )
    X_train, X_test, y_train, y_test = held_out_split(dataset.X, dataset.y, "regression", 0.2, seed)
    models, _ = _default_contenders("regression", seed)
    models = [
        (name, estimator, {"alpha": loguniform(1e-3, 1e3)} if name == "ridge" else space)
        for name, estimator, space in models
    ]
    models[1][1].set_params(epochs=epochs)
    pipelines = [(name, _pipeline(est, dataset), _prefixed(space)) for name, est, space in models]
    common = dict(cv=KFold(n_splits), scoring="r2", random_state=seed, n_jobs=n_jobs)
    return (X_train, X_test, y_train, y_test), pipelines, n_candidates, n_splits, common


def _contender(name, quick, n_jobs, halving):
    """Run one contender; its figures as a dict (printed as JSON by the child process).

    ``halving``: HalvingMultiModelSearchCV's factor, min_resources and
    aggressive_elimination."""
    (X_train, X_test, y_train, y_test), pipelines, n_candidates, _, common = _setup(quick, n_jobs)
    names = [model for model, _, _ in pipelines]
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    figures = {}
    if name == "exhaustive":
        search = MultiModelSearchCV(pipelines, n_iter=n_candidates, **common).fit(X_train, y_train)
        winner, families = search.best_model_name_, _per_family(search, names)
        models = np.asarray(search.cv_results_["model"])
        figures["per_fit"] = {
            model: float(np.mean(np.asarray(search.cv_results_["mean_fit_time"])[models == model]))
            for model in names
        }
    elif name == "halving":
        # resource="auto": LightGBM on its declared n_estimators, Keras on its
        # declared epochs, ridge (which declares none) on rows.
        search = HalvingMultiModelSearchCV(
            pipelines, n_candidates=n_candidates, resource="auto", **halving, **common
        ).fit(X_train, y_train)
        winner, families = search.best_model_name_, _per_family(search, names)
        figures["first_round"] = _fit_seconds(search, np.asarray(search.cv_results_["iter"]) == 0)
        figures["rounds"] = (
            f"{halving}; resources {search.resources_}; rounds {search.n_candidates_}, "
            f"per model {search.n_candidates_per_model_}"
        )
        figures["per_round"] = _per_round(search, names)
    else:
        families, best = {}, None
        for model, pipeline, space in pipelines:
            one = HalvingRandomSearchCV(
                pipeline, space, n_candidates=n_candidates, **common
            ).fit(X_train, y_train)
            families[model] = _fit_seconds(one)
            if best is None or one.best_score_ > best[1].best_score_:
                best = (model, one)
        winner, search = best
    wall = time.perf_counter() - start
    return {**figures, "fit_s": sum(families.values()), "wall_s": wall, "winner": winner,
            "r2": float(search.score(X_test, y_test)), "families": families, "load": _load()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (~6 min on 2 busy cores)")
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--factor", type=float, default=3, help="halving's factor (3)")
    parser.add_argument(
        "--min-resources", default="exhaust",
        help="halving's min_resources: 'exhaust' (default), 'smallest' or rows",
    )
    parser.add_argument("--aggressive-elimination", action="store_true")
    parser.add_argument(
        "--only", default=",".join(CONTENDERS),
        help="the contenders to run, comma-separated (default: all three)",
    )
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    factor = int(args.factor) if args.factor == int(args.factor) else args.factor
    minimum = args.min_resources
    halving = {
        "factor": factor,
        "min_resources": int(minimum) if minimum.isdigit() else minimum,
        "aggressive_elimination": args.aggressive_elimination,
    }
    if args.contender:
        figures = _contender(args.contender, args.quick, args.n_jobs, halving)
        print("RESULT " + json.dumps(figures))
        return
    contenders = args.only.split(",")
    if not set(contenders) <= set(CONTENDERS):
        parser.error(f"--only {args.only!r}: the contenders are {', '.join(CONTENDERS)}")
    (X_train, X_test, _, _), pipelines, n_candidates, n_splits, _ = _setup(args.quick, args.n_jobs)
    names = [name for name, _, _ in pipelines]
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{'--quick' if args.quick else 'full size'}, {os.cpu_count()} cores, {_load()}"
    )
    print(
        f"{len(X_train)} training rows, {len(X_test)} held out; {n_candidates} random candidates "
        f"per family ({', '.join(names)}), {n_splits} folds; each contender in a fresh "
        "process (its own workers, cold caches)"
    )
    rows = {}
    # A process of its own: no contender reuses another's warm workers or
    # their compiled Keras steps (the JAX compilation cache is per worker
    # process, in a new temporary folder). A JAX cache folder of the user's
    # own (JAX_COMPILATION_CACHE_DIR) would outlive a contender and make the
    # next one cheaper: the contenders run without it.
    env = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    for name in contenders:
        command = [sys.executable, __file__, "--contender", name, "--n-jobs", str(args.n_jobs),
                   "--factor", str(args.factor), "--min-resources", str(args.min_resources)]
        command += ["--aggressive-elimination"] if args.aggressive_elimination else []
        done = subprocess.run(
            command + (["--quick"] if args.quick else []), capture_output=True, text=True, env=env
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        rows[name] = json.loads(lines[-1].removeprefix("RESULT "))
        print(f"  {name} done: {rows[name]['wall_s']:.1f} s, {rows[name]['load']}", flush=True)
        if "rounds" in rows[name]:
            print(f"  {rows[name]['rounds']}", flush=True)
            print("  round  model       candidates  resource  fit s  s per fit", flush=True)
            for itr, model, n, resource, seconds, mean in rows[name]["per_round"]:
                print(f"  {itr:5d}  {model:<10} {n:10d} {resource:9d} {seconds:6.1f} {mean:9.3f}")
        if "per_fit" in rows[name]:
            print("  seconds per fit: " + ", ".join(
                f"{model} {mean:.3f}" for model, mean in rows[name]["per_fit"].items()), flush=True)

    print(f"\n{'search':<20} {'fit s':>8} {'wall s':>8}  {'winner':<9} {'held-out r2':>11}  "
          + "  ".join(f"{name + ' fit s':>14}" for name in names))
    for name, row in rows.items():
        print(f"{name:<20} {row['fit_s']:8.1f} {row['wall_s']:8.1f}  {row['winner']:<9} "
              f"{row['r2']:11.4f}  " + "  ".join(f"{row['families'][f]:14.1f}" for f in names))
    if set(rows) != set(CONTENDERS):
        return
    ex, ha, sk = (rows[name] for name in CONTENDERS)
    print(
        f"\nhalving / exhaustive fit seconds: {ha['fit_s'] / ex['fit_s']:.2f} (target <= 0.33; "
        f"its first round alone: {ha['first_round'] / ex['fit_s']:.2f}); "
        f"held-out r2 difference: {ha['r2'] - ex['r2']:+.4f} (target >= -0.01); "
        f"wall halving / sklearn per family: {ha['wall_s'] / sk['wall_s']:.2f} (target < 1)"
    )


if __name__ == "__main__":
    main()
