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
  the resource, its defaults) run once per family, the best of the three
  winners by their cross-validated score.

Printed for each: the sum of the fit seconds of every fit (``mean_fit_time``
x folds over ``cv_results_``), the wall time, the winner and its held-out r2.
Targets: halving spends at most 1/3 of the exhaustive fit seconds with a
winner within 0.01 r2 of the exhaustive winner's held-out score, in less wall
time than the per-family scikit-learn runs.

Run::

    python benchmarks/bench_halving.py           # 27 candidates per family, 5 folds
    python benchmarks/bench_halving.py --quick   # 9 candidates, 3 folds, 1200 rows

Needs the ``lightgbm`` and ``keras`` extras.
"""

import argparse
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


def _fit_seconds(search):
    results = search.cv_results_
    return float(np.sum(results["mean_fit_time"]) * search.n_splits_)


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
    print(
        f"{len(X_train)} training rows, {len(X_test)} held out; {n_candidates} random candidates "
        f"per family ({', '.join(n for n, _, _ in models)}), {n_splits} folds"
    )
    rows = []
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    exhaustive = MultiModelSearchCV(pipelines, n_iter=n_candidates, **common).fit(X_train, y_train)
    rows.append(("exhaustive", _fit_seconds(exhaustive), time.perf_counter() - start,
                 exhaustive.best_model_name_, exhaustive.score(X_test, y_test)))
    print(f"  exhaustive done: {rows[-1][2]:.1f} s", flush=True)

    start = time.perf_counter()
    halving = HalvingMultiModelSearchCV(
        pipelines, n_candidates=n_candidates,
        resource={"lightgbm": "model__n_estimators", "keras": "model__epochs"}, **common,
    ).fit(X_train, y_train)
    rows.append(("halving", _fit_seconds(halving), time.perf_counter() - start,
                 halving.best_model_name_, halving.score(X_test, y_test)))
    print(f"  halving done: {rows[-1][2]:.1f} s; rounds {halving.n_candidates_}, "
          f"per model {halving.n_candidates_per_model_}", flush=True)

    start = time.perf_counter()
    fit_seconds, best = 0.0, None
    for name, pipeline, space in pipelines:
        search = HalvingRandomSearchCV(
            pipeline, space, n_candidates=n_candidates, min_resources="smallest", **common
        ).fit(X_train, y_train)
        fit_seconds += _fit_seconds(search)
        if best is None or search.best_score_ > best[1].best_score_:
            best = (name, search)
    rows.append(("sklearn per family", fit_seconds, time.perf_counter() - start,
                 best[0], best[1].score(X_test, y_test)))

    print(f"\n{'search':<20} {'fit s':>8} {'wall s':>8}  {'winner':<9} {'held-out r2':>11}")
    for name, fit_s, wall_s, winner, r2 in rows:
        print(f"{name:<20} {fit_s:8.1f} {wall_s:8.1f}  {winner:<9} {r2:11.4f}")
    ex, ha, sk = rows
    print(
        f"\nhalving / exhaustive fit seconds: {ha[1] / ex[1]:.2f} (target <= 0.33); "
        f"held-out r2 difference: {ha[4] - ex[4]:+.4f} (target >= -0.01); "
        f"wall halving / sklearn per family: {ha[2] / sk[2]:.2f} (target < 1)"
    )


if __name__ == "__main__":
    main()
