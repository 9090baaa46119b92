"""Backends: MultiModelSearchCV on loky, dask and ray vs GridSearchCV on the same engines.

Three workloads, in this one process, each engine started once (a dask
LocalCluster of ``--workers`` single-threaded processes, a local ray with as
many CPUs, loky with as many workers):

1. Cheap fits: 200 Ridge alphas x 5 folds (1000 fits) on 2000x20 data,
   ``refit=False``. (a) GridSearchCV under joblib's dask backend, (b)
   MultiModelSearchCV ``backend="dask"``, (c) the same pair on ray (joblib's
   ray backend), (d) both on loky. Targets: ours on dask and on ray at most
   0.5x GridSearchCV on the same engine and at most 1.5x ours on loky.
2. Heavy fits: LightGBM (one thread, about 1 s per fit here) x 5 folds,
   through MultiModelSearchCV on loky, dask and ray. Parallel efficiency =
   sum of fit and score times / (workers x wall); target >= 0.9.
3. Memory: a search on a 200 MB X with ``backend="dask"``; each worker's RSS
   is sampled (psutil via ``client.run``) every 50 ms during the search.
   Reported: the peak RSS increase over the worker's RSS before the search,
   as a multiple of the data size; target < 2.

Run::

    python benchmarks/bench_backends.py            # ~5 min on 2 cores
    python benchmarks/bench_backends.py --quick    # ~1.5 min

Times of workload 1 are medians of ``--repeat`` runs after one warm-up run;
on a busy machine report the ratios, which are measured in the same run.
Needs the ``dask``, ``ray`` and ``lightgbm`` extras.
"""

import argparse
import os
import statistics
import threading
import time

import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from distsearch import MultiModelSearchCV


def median_time(fit, repeat):
    """Median wall seconds of ``fit()`` over ``repeat`` runs, after a warm-up."""
    fit()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cheap(quick):
    X, y = make_regression(n_samples=2000, n_features=20, noise=1.0, random_state=0)
    alphas = np.logspace(-3, 3, 200).tolist()
    return X, y, {"alpha": alphas}


def heavy(quick):
    import lightgbm as lgb

    X, y = make_regression(n_samples=20000, n_features=50, noise=5.0, random_state=0)
    model = lgb.LGBMRegressor(n_estimators=100, n_jobs=1, verbose=-1, random_state=0)
    grid = {
        "num_leaves": [31, 63] if quick else [15, 31, 63, 127],
        "learning_rate": [0.1] if quick else [0.05, 0.1],
    }
    return X, y, model, grid


def run_cheap(label, X, y, grid, repeat, workers, backend, joblib_backend):
    """(GridSearchCV seconds, MultiModelSearchCV seconds) on one engine."""
    import joblib

    def grid_fit():
        with joblib.parallel_config(backend=joblib_backend, n_jobs=workers):
            GridSearchCV(Ridge(), grid, cv=5, refit=False).fit(X, y)

    def ours_fit():
        MultiModelSearchCV(
            Ridge(), grid, cv=5, refit=False, backend=backend, n_jobs=workers
        ).fit(X, y)

    t_grid = median_time(grid_fit, repeat)
    t_ours = median_time(ours_fit, repeat)
    print(f"  {label:6s} GridSearchCV {t_grid:6.2f} s   MultiModelSearchCV {t_ours:6.2f} s")
    return t_grid, t_ours


def run_heavy(label, X, y, model, grid, workers, backend):
    start = time.perf_counter()
    search = MultiModelSearchCV(
        model, grid, cv=5, refit=False, backend=backend, n_jobs=workers
    ).fit(X, y)
    wall = time.perf_counter() - start
    results = search.cv_results_
    busy = (results["mean_fit_time"] + results["mean_score_time"]).sum() * 5
    efficiency = busy / (workers * wall)
    per_fit = results["mean_fit_time"].mean()
    print(
        f"  {label:6s} wall {wall:6.1f} s   fits {busy:6.1f} s "
        f"({per_fit:.2f} s each)   efficiency {efficiency:.2f}"
    )
    return efficiency, results["mean_test_score"]


def run_memory(client, quick):
    import psutil  # a dependency of distributed

    n_rows = (62_500 if quick else 250_000)
    X = np.random.default_rng(0).standard_normal((n_rows, 100))
    y = X[:, 0] + 0.1 * np.random.default_rng(1).standard_normal(n_rows)
    size = X.nbytes

    def rss():
        return psutil.Process().memory_info().rss

    baseline = client.run(rss)
    peak = dict(baseline)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for worker, value in client.run(rss).items():
                peak[worker] = max(peak.get(worker, 0), value)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        MultiModelSearchCV(
            Ridge(), {"alpha": [0.1, 1.0, 10.0, 100.0]}, cv=5, refit=False,
            backend="dask",
        ).fit(X, y)
    finally:
        stop.set()
        sampler.join()
    growth = max(peak[w] - baseline[w] for w in baseline if w in peak)
    print(
        f"  X {size / 2**20:.0f} MiB; worker RSS before {max(baseline.values()) / 2**20:.0f} "
        f"MiB, peak {max(peak.values()) / 2**20:.0f} MiB; peak increase "
        f"{growth / 2**20:.0f} MiB = {growth / size:.2f}x the data (target < 2)\n"
        "  (floor with no copy of ours: the data 1x + the fold's train and test rows "
        "that _fit_and_score copies 1x + Ridge's centred copy of the train rows 0.8x "
        "= 2.8x)"
    )
    return growth / size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    workers = args.workers

    import ray
    from distributed import Client, LocalCluster
    from ray.util.joblib import register_ray

    register_ray()
    X, y, grid = cheap(args.quick)
    hX, hy, hmodel, hgrid = heavy(args.quick)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    print("1. cheap fits: 200 Ridge alphas x 5 folds = 1000 fits, 2000x20")
    t = {}
    t["grid loky"], t["ours loky"] = run_cheap("loky", X, y, grid, repeat, workers, "loky", "loky")
    heavy_scores = {}
    print("2. heavy fits: LightGBM, efficiency = sum of fit+score times / (workers x wall)")
    eff = {}
    eff["loky"], heavy_scores["loky"] = run_heavy("loky", hX, hy, hmodel, hgrid, workers, "loky")

    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        t["grid dask"], t["ours dask"] = run_cheap(
            "dask", X, y, grid, repeat, workers, "dask", "dask"
        )
        eff["dask"], heavy_scores["dask"] = run_heavy(
            "dask", hX, hy, hmodel, hgrid, workers, "dask"
        )
        print("3. memory of a dask worker during a search on a large X")
        growth = run_memory(client, args.quick)

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        t["grid ray"], t["ours ray"] = run_cheap("ray", X, y, grid, repeat, workers, "ray", "ray")
        eff["ray"], heavy_scores["ray"] = run_heavy("ray", hX, hy, hmodel, hgrid, workers, "ray")
    finally:
        ray.shutdown()

    for label in ("dask", "ray"):
        np.testing.assert_array_equal(heavy_scores[label], heavy_scores["loky"])

    print("\nratios (wall times of workload 1; targets in brackets)")
    for engine in ("dask", "ray"):
        print(
            f"  ours {engine} / GridSearchCV {engine}: "
            f"{t[f'ours {engine}'] / t[f'grid {engine}']:.2f} (<= 0.5)   "
            f"ours {engine} / ours loky: {t[f'ours {engine}'] / t['ours loky']:.2f} (<= 1.5)"
        )
    print(f"  ours loky / GridSearchCV loky: {t['ours loky'] / t['grid loky']:.2f}")
    print(
        "  heavy-fit efficiency: "
        + ", ".join(f"{k} {v:.2f}" for k, v in eff.items())
        + " (>= 0.9)"
    )
    print(f"  dask worker peak memory increase: {growth:.2f}x the data (< 2)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
