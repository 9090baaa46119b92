"""Scaling: sequential vs MultiModelSearchCV vs GridSearchCV, on ``--workers`` workers.

Three workloads, each timed sequentially (GridSearchCV, ``n_jobs=1``) once,
then on every engine of ``--backends`` (loky with ``--workers`` workers, a
dask LocalCluster of ``--workers`` single-threaded processes) with
MultiModelSearchCV and with GridSearchCV on the same engine (joblib's dask
backend for dask); all ``refit=False``:

The sequential runs use one BLAS / OpenMP thread, as each worker does.

1. cheap: 200 Ridge alphas x 5 folds = 1000 fits on 2000x20 data.
2. lightgbm: 16 LightGBM candidates of unequal cost (num_leaves 8..63,
   one thread each) x 5 folds = 80 fits; smaller data with ``--quick``.
3. 10k: 2000 Ridge alphas x 5 folds = 10,000 fits on 200x5 data; the
   driver's RSS is sampled every 5 ms during MultiModelSearchCV's search and
   its peak (and increase) is printed.

For each: wall seconds, speed-up = sequential / wall and parallel
efficiency = speed-up / workers. Targets on 2 cores: cheap >= 1.6x on loky
and >= 1.3x on dask; lightgbm efficiency >= 0.9 on loky; driver peak of the
10k search < 500 MB. Run::

    python benchmarks/bench_scaling.py --workers 2 --quick   # ~2-3 min on 2 cores
    python benchmarks/bench_scaling.py --workers 16          # a bigger machine

Each engine gets a small warm-up search first. On a shared machine, report
the ratios of one run and the load average printed at its end.
Needs the ``dask``, ``lightgbm`` and ``bench`` (psutil) extras.
"""

import argparse
import contextlib
import os
import threading
import time

import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from distsearch import MultiModelSearchCV


def workloads(quick):
    """``{name: (X, y, estimator, grid)}``."""
    import lightgbm as lgb

    X, y = make_regression(n_samples=2000, n_features=20, noise=1.0, random_state=0)
    out = {"cheap": (X, y, Ridge(), {"alpha": np.logspace(-3, 3, 200).tolist()})}
    n_rows = 2000 if quick else 20000
    X, y = make_regression(n_samples=n_rows, n_features=50, noise=5.0, random_state=0)
    model = lgb.LGBMRegressor(
        n_estimators=30 if quick else 100,
        min_child_samples=5,
        n_jobs=1,
        verbose=-1,
        random_state=0,
    )
    leaves = np.linspace(8, 63, 16).astype(int).tolist()
    out["lightgbm"] = (X, y, model, {"num_leaves": leaves})
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    out["10k"] = (X, y, Ridge(), {"alpha": np.logspace(-3, 3, 2000).tolist()})
    return out


@contextlib.contextmanager
def peak_rss(peak):
    """Sample this process's RSS every 5 ms; ``peak`` gets 'before' and 'peak'."""
    import psutil

    process = psutil.Process()
    peak["before"] = peak["peak"] = process.memory_info().rss
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["peak"] = max(peak["peak"], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()


def timed(fit):
    start = time.perf_counter()
    result = fit()
    return time.perf_counter() - start, result


def run_engine(engine, work, sequential, workers, scores):
    """Time ours and GridSearchCV on ``engine`` for every workload; print."""
    import joblib

    print(f"\n{engine}, {workers} workers")
    print(
        f"  {'workload':9s} {'sequential':>10s} {'ours':>8s} {'GridSCV':>8s} "
        f"{'speed-up ours':>14s} {'GridSCV':>8s} {'eff. ours':>10s} {'GridSCV':>8s}"
    )
    # Warm-up: start the workers and import the models there.
    for X, y, model, grid in work.values():
        first = {key: values[:2] for key, values in grid.items()}
        MultiModelSearchCV(
            model, first, cv=2, refit=False, backend=engine, n_jobs=workers
        ).fit(X[:200], y[:200])
    figures = {}
    for name, (X, y, model, grid) in work.items():
        peak = {}
        with peak_rss(peak) if name == "10k" else contextlib.nullcontext():
            t_ours, ours = timed(
                lambda: MultiModelSearchCV(
                    model, grid, cv=5, refit=False, backend=engine, n_jobs=workers
                ).fit(X, y)
            )
        with joblib.parallel_config(backend=engine, n_jobs=workers):
            t_grid, theirs = timed(
                lambda: GridSearchCV(model, grid, cv=5, refit=False).fit(X, y)
            )
        for search in (ours, theirs):
            np.testing.assert_allclose(
                search.cv_results_["mean_test_score"], scores[name], rtol=1e-12
            )
        seq = sequential[name]
        figures[name] = seq / t_ours
        print(
            f"  {name:9s} {seq:9.2f}s {t_ours:7.2f}s {t_grid:7.2f}s "
            f"{seq / t_ours:13.2f}x {seq / t_grid:7.2f}x "
            f"{seq / t_ours / workers:10.2f} {seq / t_grid / workers:8.2f}",
            flush=True,
        )
        if peak:
            print(
                f"  10k search: driver RSS peak {peak['peak'] / 2**20:.0f} MiB "
                f"(+{(peak['peak'] - peak['before']) / 2**20:.0f} MiB during the "
                "search; target < 500 MB)",
                flush=True,
            )
            figures["peak MiB"] = peak["peak"] / 2**20
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="smaller LightGBM workload")
    parser.add_argument(
        "--backends", default="loky,dask", help="comma-separated: loky, dask"
    )
    args = parser.parse_args(argv)
    work = workloads(args.quick)
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        + "; ".join(
            f"{name}: {X.shape[0]}x{X.shape[1]}, "
            f"{len(next(iter(grid.values())))} candidates x 5 folds"
            for name, (X, _, _, grid) in work.items()
        )
    )
    sequential, scores = {}, {}
    for name, (X, y, model, grid) in work.items():
        # One BLAS / OpenMP thread, as each worker has: once lightgbm's OpenMP
        # is loaded, multithreaded BLAS on these small matrices is several
        # times slower on a busy machine.
        with threadpool_limits(1):
            sequential[name], search = timed(
                lambda: GridSearchCV(model, grid, cv=5, refit=False, n_jobs=1).fit(X, y)
            )
        scores[name] = search.cv_results_["mean_test_score"]
        print(f"sequential {name}: {sequential[name]:.2f} s", flush=True)
    summary = {}
    for engine in args.backends.split(","):
        if engine == "dask":
            from distributed import Client, LocalCluster

            with LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster, Client(cluster):
                summary[engine] = run_engine(engine, work, sequential, args.workers, scores)
        else:
            summary[engine] = run_engine(engine, work, sequential, args.workers, scores)
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    for engine, figures in summary.items():
        print(
            f"{engine}: cheap {figures['cheap']:.2f}x, lightgbm efficiency "
            f"{figures['lightgbm'] / args.workers:.2f}, 10k {figures['10k']:.2f}x, "
            f"driver peak {figures['peak MiB']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
