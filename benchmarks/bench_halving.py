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
``n_jobs``. Printed for each: the sum of the fit seconds of every fit
(``mean_fit_time`` x folds over ``cv_results_``), also per family, the wall
time, the winner and its held-out r2; the load average before and after.
Targets: halving spends at most 1/3 of the exhaustive fit seconds with a
winner within 0.01 r2 of the exhaustive winner's held-out score, in less wall
time than the per-family scikit-learn runs.

Also printed: halving's *floor*, the fit seconds of its first round alone
(every candidate once, on every fold, with the first round's resource). No
halving schedule that evaluates every candidate can spend less; when a
family's fits have a large fixed cost (a Keras fit compiles its network
before the first epoch), the floor is close to the exhaustive cost of that
family whatever ``factor`` and ``min_resources`` are.

Run::

    python benchmarks/bench_halving.py           # 27 candidates per family, 5 folds
    python benchmarks/bench_halving.py --quick   # 9 candidates, 3 folds, 1200 rows

Needs the ``lightgbm`` and ``keras`` extras.
"""

import argparse
import datetime
import os
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


def _load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (~3 min on 2 cores)")
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()
    n_candidates, n_splits, n_samples, epochs = (9, 3, 600, 60) if args.quick else (27, 5, 2000, 200)
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
    cv = KFold(n_splits)
    common = dict(cv=cv, scoring="r2", random_state=seed, n_jobs=args.n_jobs)
    names = [name for name, _, _ in models]
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{'--quick' if args.quick else 'full size'}, {os.cpu_count()} cores, {_load()}"
    )
    print(
        f"{len(X_train)} training rows, {len(X_test)} held out; {n_candidates} random candidates "
        f"per family ({', '.join(names)}), {n_splits} folds"
    )
    rows, families = [], {}
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    exhaustive = MultiModelSearchCV(pipelines, n_iter=n_candidates, **common).fit(X_train, y_train)
    rows.append(("exhaustive", _fit_seconds(exhaustive), time.perf_counter() - start,
                 exhaustive.best_model_name_, exhaustive.score(X_test, y_test)))
    families["exhaustive"] = _per_family(exhaustive, names)
    print(f"  exhaustive done: {rows[-1][2]:.1f} s, {_load()}", flush=True)

    start = time.perf_counter()
    # resource="auto": LightGBM on its declared n_estimators, Keras on its
    # declared epochs, ridge (which declares none) on rows.
    halving = HalvingMultiModelSearchCV(
        pipelines, n_candidates=n_candidates, resource="auto", **common
    ).fit(X_train, y_train)
    rows.append(("halving", _fit_seconds(halving), time.perf_counter() - start,
                 halving.best_model_name_, halving.score(X_test, y_test)))
    families["halving"] = _per_family(halving, names)
    first_round = np.asarray(halving.cv_results_["iter"]) == 0
    floor = _fit_seconds(halving, first_round)
    print(f"  halving done: {rows[-1][2]:.1f} s, {_load()}", flush=True)
    print(f"  resources {halving.resources_}; rounds {halving.n_candidates_}, "
          f"per model {halving.n_candidates_per_model_}", flush=True)

    start = time.perf_counter()
    fit_seconds, best, per_family = 0.0, None, {}
    for name, pipeline, space in pipelines:
        search = HalvingRandomSearchCV(
            pipeline, space, n_candidates=n_candidates, **common
        ).fit(X_train, y_train)
        per_family[name] = _fit_seconds(search)
        fit_seconds += per_family[name]
        if best is None or search.best_score_ > best[1].best_score_:
            best = (name, search)
    rows.append(("sklearn per family", fit_seconds, time.perf_counter() - start,
                 best[0], best[1].score(X_test, y_test)))
    families["sklearn per family"] = per_family
    print(f"  sklearn per family done: {rows[-1][2]:.1f} s, {_load()}", flush=True)

    print(f"\n{'search':<20} {'fit s':>8} {'wall s':>8}  {'winner':<9} {'held-out r2':>11}  "
          + "  ".join(f"{name + ' fit s':>14}" for name in names))
    for name, fit_s, wall_s, winner, r2 in rows:
        print(f"{name:<20} {fit_s:8.1f} {wall_s:8.1f}  {winner:<9} {r2:11.4f}  "
              + "  ".join(f"{families[name][family]:14.1f}" for family in names))
    ex, ha, sk = rows
    print(
        f"\nhalving / exhaustive fit seconds: {ha[1] / ex[1]:.2f} (target <= 0.33; "
        f"its first round alone: {floor / ex[1]:.2f}); "
        f"held-out r2 difference: {ha[4] - ex[4]:+.4f} (target >= -0.01); "
        f"wall halving / sklearn per family: {ha[2] / sk[2]:.2f} (target < 1)"
    )


if __name__ == "__main__":
    main()
