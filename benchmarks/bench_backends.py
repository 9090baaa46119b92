"""Backends: MultiModelSearchCV on loky, dask and ray vs GridSearchCV on the same engines.

Three workloads, in this one process, each engine started once (a dask
LocalCluster of ``--workers`` single-threaded processes, a local ray with as
many CPUs, loky with as many workers):

1. Cheap fits: 200 Ridge alphas x 5 folds (1000 fits) on 2000x20 data,
   ``refit=False``. (a) GridSearchCV under joblib's dask backend, (b)
   MultiModelSearchCV ``backend="dask"``, (c) the same pair on ray (joblib's
   ray backend), (d) both on loky. Targets: ours on dask and on ray at most
   0.5x GridSearchCV on the same engine and at most 1.3x ours on loky.
2. Heavy fits: LightGBM (one thread, about 1 s per fit here) x 5 folds,
   through MultiModelSearchCV on loky, dask and ray. Parallel efficiency =
   sum of fit and score times / (workers x wall); target >= 0.9.
3. Memory: searches on a 200 MB X with ``backend="dask"``, one with a model
   that fits on its training rows as given (SGDRegressor) and one with Ridge
   (which centres a copy of them). Reported per model: the peak RSS increase
   of a worker over its RSS before the search (Linux's peak RSS, VmHWM,
   reset on the workers just before), as a multiple of the data size, next
   to the floor no dispatch can go below; target < 2.

Run::

    python benchmarks/bench_backends.py                 # ~5 min on 2 cores
    python benchmarks/bench_backends.py --quick         # ~1.5 min
    python benchmarks/bench_backends.py --only memory   # workload 3 alone

Times of workload 1 are medians of ``--repeat`` runs after one warm-up run;
on a busy machine report the ratios, which are measured in the same run.
Ours on dask (ray) / ours on loky is the median of back-to-back pairs (at
least 7: single pairs range from 0.8 to 1.5 here) run
while the dask cluster (ray) is up, as this machine's speed drifts by a
third within minutes; the ratio of the separate medians is printed beside.
Needs the ``dask``, ``ray`` and ``lightgbm`` extras.
"""

import argparse
import os
import statistics
import time

import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge, SGDRegressor
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


def paired_ratio(fit, reference, repeat):
    """Median over ``repeat`` back-to-back pairs of ``fit``'s time / ``reference``'s.

    Each pair runs the two one after the other, so that a change of the
    machine's load between pairs touches both sides of a ratio.
    """
    ratios = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit()
        middle = time.perf_counter()
        reference()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def ours_cheap(X, y, grid, workers, backend):
    """A function that runs the cheap search with MultiModelSearchCV on ``backend``."""
    return lambda: MultiModelSearchCV(
        Ridge(), grid, cv=5, refit=False, backend=backend, n_jobs=workers
    ).fit(X, y)


def run_cheap(label, X, y, grid, repeat, workers, backend):
    """(GridSearchCV seconds, MultiModelSearchCV seconds) on one engine.

    On dask and ray also MultiModelSearchCV's time on the engine / on loky,
    from back-to-back pairs run while the engine is up.
    """
    import joblib

    def grid_fit():
        with joblib.parallel_config(backend=backend, n_jobs=workers):
            GridSearchCV(Ridge(), grid, cv=5, refit=False).fit(X, y)

    ours_fit = ours_cheap(X, y, grid, workers, backend)
    t_grid = median_time(grid_fit, repeat)
    t_ours = median_time(ours_fit, repeat)
    line = f"  {label:6s} GridSearchCV {t_grid:6.2f} s   MultiModelSearchCV {t_ours:6.2f} s"
    vs_loky = None
    if backend != "loky":
        vs_loky = paired_ratio(
            ours_fit, ours_cheap(X, y, grid, workers, "loky"), max(2 * repeat + 1, 7)
        )
        line += f"   / loky (paired) {vs_loky:.2f}"
    print(line)
    return t_grid, t_ours, vs_loky


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


def _reset_peak_rss():
    """Reset this process's peak RSS (Linux's VmHWM); return its RSS now."""
    import psutil  # a dependency of distributed

    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")
    return psutil.Process().memory_info().rss


def _peak_rss():
    """This process's peak RSS since the last reset (Linux's VmHWM), in bytes."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker_data_released(dask_worker):
    import gc

    gc.collect()
    return len(dask_worker.data)


# The two models of workload 3, with why each was chosen and the floor of a
# worker's peak increase (in units of X) that no dispatch can go below: X 1x
# (scattered once; y and the folds' indices come with it) + the fold's
# training rows 0.8x (a copy: a fancy index of X) + the model's own copies.
# The test rows (0.2x) are only copied after the fit, once the training rows
# are let go.
MEMORY_MODELS = [
    (
        "SGDRegressor",
        SGDRegressor(random_state=0),
        {"alpha": [1e-4, 1e-3]},
        "fits on the training rows as given (C-ordered float64: no copy, "
        "no centring)",
        1.8,
    ),
    (
        "Ridge",
        Ridge(),
        {"alpha": [0.1, 10.0]},
        "centres a copy of the training rows (copy_X=True): +0.8x",
        2.6,
    ),
]


def run_memory(client, quick):
    """Peak RSS increase of a dask worker over a search, per model (x the data)."""
    n_rows = 62_500 if quick else 250_000
    X = np.random.default_rng(0).standard_normal((n_rows, 100))
    y = X[:, 0] + 0.1 * np.random.default_rng(1).standard_normal(n_rows)
    size = X.nbytes
    # Sent with X: y and the 5 folds' training and test indices.
    extra = (y.nbytes + 5 * n_rows * np.dtype(np.intp).itemsize) / size
    print(
        f"  X {size / 2**20:.0f} MiB, 5 folds (training rows 0.8x, test rows 0.2x); "
        f"y and the folds' indices {extra:.2f}x"
    )
    growths = {}
    for name, model, grid, why, floor in MEMORY_MODELS:
        deadline = time.monotonic() + 30
        while any(client.run(_worker_data_released).values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers still hold data of an earlier search")
            time.sleep(0.2)
        before = client.run(_reset_peak_rss)
        MultiModelSearchCV(model, grid, cv=5, refit=False, backend="dask").fit(X, y)
        peak = client.run(_peak_rss)
        growth = max(peak[w] - before[w] for w in before)
        growths[name] = growth / size
        print(
            f"  {name:12s} worker RSS before {max(before.values()) / 2**20:4.0f} MiB, "
            f"peak increase {growth / 2**20:4.0f} MiB = {growth / size:.2f}x the data "
            f"(floor {floor:.1f}x + {extra:.2f}x: {why})"
        )
    return growths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only", choices=["cheap", "heavy", "memory"], help="run one workload"
    )
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    workers = args.workers
    run = {args.only} if args.only else {"cheap", "heavy", "memory"}

    import ray
    from distributed import Client, LocalCluster
    from ray.util.joblib import register_ray

    register_ray()
    X, y, grid = cheap(args.quick)
    hX, hy, hmodel, hgrid = heavy(args.quick)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    t, eff, heavy_scores = {}, {}, {}

    def workloads_1_and_2(label, backend):
        if "cheap" in run:
            print(f"1. cheap fits on {label}: 200 Ridge alphas x 5 folds = 1000 fits, 2000x20")
            t[f"grid {label}"], t[f"ours {label}"], t[f"{label} / loky"] = run_cheap(
                label, X, y, grid, repeat, workers, backend
            )
        if "heavy" in run:
            print(f"2. heavy fits on {label}: LightGBM, efficiency = sum of fit+score "
                  "times / (workers x wall)")
            eff[label], heavy_scores[label] = run_heavy(
                label, hX, hy, hmodel, hgrid, workers, backend
            )

    workloads_1_and_2("loky", "loky")
    growths = {}
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        workloads_1_and_2("dask", "dask")
        if "memory" in run:
            print("3. memory of a dask worker during a search on a large X")
            growths = run_memory(client, args.quick)

    if run & {"cheap", "heavy"}:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        try:
            workloads_1_and_2("ray", "ray")
        finally:
            ray.shutdown()

    for label in ("dask", "ray"):
        if label in heavy_scores:
            np.testing.assert_array_equal(heavy_scores[label], heavy_scores["loky"])

    print("\nsummary (targets in brackets)")
    if "cheap" in run:
        for engine in ("dask", "ray"):
            print(
                f"  ours {engine} / GridSearchCV {engine}: "
                f"{t[f'ours {engine}'] / t[f'grid {engine}']:.2f} (<= 0.5)   "
                f"ours {engine} / ours loky: {t[f'{engine} / loky']:.2f} (<= 1.3; "
                f"separate runs {t[f'ours {engine}'] / t['ours loky']:.2f})"
            )
        print(f"  ours loky / GridSearchCV loky: {t['ours loky'] / t['grid loky']:.2f}")
    if eff:
        print(
            "  heavy-fit efficiency: "
            + ", ".join(f"{k} {v:.2f}" for k, v in eff.items())
            + " (>= 0.9)"
        )
    for name, growth in growths.items():
        print(f"  dask worker peak memory increase, {name}: {growth:.2f}x the data (< 2)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
