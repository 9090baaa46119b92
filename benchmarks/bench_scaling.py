"""Scaling: sequential vs MultiModelSearchCV vs GridSearchCV, on ``--workers`` workers.

Part 1, three workloads, each timed sequentially (GridSearchCV, ``n_jobs=1``,
one BLAS / OpenMP thread, as each worker has), then on every engine of
``--backends`` (loky with ``--workers`` workers, a dask LocalCluster of
``--workers`` single-threaded processes) with MultiModelSearchCV and with
GridSearchCV on the same engine (joblib's dask backend for dask); all
``refit=False``:

1. cheap: 200 Ridge alphas x 5 folds = 1000 fits on 2000x20 data.
2. lightgbm: 16 LightGBM candidates of unequal cost (num_leaves 8..63,
   one thread each) x 5 folds = 80 fits; smaller data with ``--quick``.
3. 10k: 2000 Ridge alphas x 5 folds = 10,000 fits on 200x5 data; the
   driver's RSS is sampled every 5 ms during MultiModelSearchCV's search and
   its peak (and increase) is printed.

Printed: wall seconds, speed-up = sequential / wall and parallel efficiency
= speed-up / workers. With ``--quick``, the runs that would take minutes on
2 cores (the sequential and GridSearchCV runs of the 10k workload, and
GridSearchCV on dask) are timed on every k-th alpha only and their time is
multiplied by k (marked ``~``); MultiModelSearchCV always runs the whole
workload. The cheap workload is also timed in back-to-back pairs
(sequential, then ours; 6 pairs, 3 with ``--quick``), whose median speed-up
does not suffer from the machine's speed drifting between the sequential
runs at the start and the parallel ones minutes later.

Part 2, the order of the fits, on each engine (with ``--quick``, on the
first one only): MultiModelSearchCV with the
fits in task order (*off*, as GridSearchCV), in static cost order (*static*:
the product of size parameters such as ``n_estimators`` x ``num_leaves``, a
candidate's folds one after another) and as it runs them (*refined*: the
static cost refined by the measured times of finished folds, see
``distsearch/_schedule.py``), on workload 2 (where the static cost is right)
and on *mixed*: LightGBM (``num_leaves`` x ``max_depth``) and a random
forest (``n_estimators`` x ``max_features``) in one search, where the static
cost is wrong twice (``max_depth`` and ``max_features`` drive the cost but
are not size parameters, and a forest's tree costs far more than a LightGBM
leaf). Efficiency = sum of the fits' fit + score seconds / (workers x wall).

Targets on 2 cores: cheap >= 1.6x on loky and >= 1.3x on dask; lightgbm
efficiency >= 0.9 on loky; driver peak of the 10k search < 500 MB. Run::

    python benchmarks/bench_scaling.py --workers 2 --quick   # ~5 min on 2 cores
    python benchmarks/bench_scaling.py --workers 16          # a bigger machine

Every engine's workers are started and have imported the models before any
timing (a warm-up task per worker, then a small search of each workload). On
a shared machine, report the ratios of one run and the load average printed
at its start and end. Needs the ``dask``, ``lightgbm`` and ``bench``
(psutil) extras.
"""

import argparse
import contextlib
import math
import os
import statistics
import threading
import time
from collections import deque
from unittest import mock

import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.datasets import make_regression
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from distsearch import MultiModelSearchCV
from distsearch._schedule import _TaskQueue

N_SPLITS = 5
# Runs of a few seconds swing with the load of a shared machine: the
# sequential run and ours are timed this many times and the least is kept.
REPEATS = {"cheap": 3}


def booster(quick):
    """A one-thread LightGBM regressor."""
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=30 if quick else 100,
        min_child_samples=5,
        n_jobs=1,
        verbose=-1,
        random_state=0,
    )


def workloads(quick):
    """``{name: (X, y, estimator, grid, k)}``; k: the quick runs' alpha step."""
    X, y = make_regression(n_samples=2000, n_features=20, noise=1.0, random_state=0)
    alphas = np.logspace(-3, 3, 200).tolist()
    out = {"cheap": (X, y, Ridge(), {"alpha": alphas}, 1)}
    X, y = make_regression(
        n_samples=2000 if quick else 20000, n_features=50, noise=5.0, random_state=0
    )
    leaves = np.linspace(8, 63, 16).astype(int).tolist()
    out["lightgbm"] = (X, y, booster(quick), {"num_leaves": leaves}, 1)
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    alphas = np.logspace(-3, 3, 2000).tolist()
    out["10k"] = (X, y, Ridge(), {"alpha": alphas}, 10 if quick else 1)
    return out


def mixed_models(quick):
    """LightGBM and a random forest in one search (workload *mixed*)."""
    forest = RandomForestRegressor(n_jobs=1, random_state=0)
    return [
        ("lightgbm", booster(quick), {"num_leaves": [8, 63], "max_depth": [3, -1]}),
        (
            "forest",
            forest,
            {"n_estimators": [10, 40] if quick else [20, 80], "max_features": [0.2, 1.0]},
        ),
    ]


class _FixedOrder(_TaskQueue):
    """The task queue with a fixed order: task order, or static cost order.

    Only the order is fixed: batches are sized from the same measured times
    as the default queue's, so that the comparison is of the order alone.
    """

    by_cost = False

    def __init__(self, tasks, finished, estimators):
        super().__init__(tasks, finished, estimators)
        order = self.static_order()
        self._order = deque(order if self.by_cost else sorted(order))

    def pop(self):
        with self._lock:
            if not self._order:
                return None
            index = self._order.popleft()
            self._n_left -= 1
            known = self._total_units > 0
            seconds = self._expected(index // self._n_splits) if known else None
        return index, self._tasks[index], seconds


class _StaticOrder(_FixedOrder):
    by_cost = True


ORDERS = {"off": _FixedOrder, "static": _StaticOrder, "refined": _TaskQueue}


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


def timed(fit, repeat=1):
    """The least wall seconds of ``repeat`` calls of ``fit``, and its result."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = fit()
        best = min(best, time.perf_counter() - start)
    return best, result


def every(grid, k):
    return {key: values[::k] for key, values in grid.items()}


def busy_seconds(search):
    """The sum of every fit's fit + score seconds."""
    results = search.cv_results_
    return float(np.sum(results["mean_fit_time"] + results["mean_score_time"]) * N_SPLITS)


def _import_models():
    """Run on each worker: import what the fits need, then hold the worker."""
    import lightgbm  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import distsearch._dispatch  # noqa: F401

    time.sleep(0.5)  # so that every worker gets one of these tasks


def warm_up(engine, workers, work, mixed):
    """Start the engine's workers and import the models there."""
    with parallel_config(backend=engine, n_jobs=workers):
        Parallel()(delayed(_import_models)() for _ in range(2 * workers))
    for X, y, model, grid, _ in work.values():
        first = {key: values[:2] for key, values in grid.items()}
        MultiModelSearchCV(
            model, first, cv=2, refit=False, backend=engine, n_jobs=workers
        ).fit(X[:200], y[:200])
    X, y = work["lightgbm"][:2]
    MultiModelSearchCV(
        mixed, cv=2, refit=False, backend=engine, n_jobs=workers
    ).fit(X[:200], y[:200])


def grid_limit(engine, quick):
    """How many fits GridSearchCV runs at most on ``engine`` with ``--quick``."""
    if not quick:
        return math.inf
    return 100 if engine == "dask" else 1000


def paired_cheap(engine, work, workers, pairs):
    """The cheap workload's median speed-up over back-to-back pairs of runs.

    Part 1 times the sequential runs minutes before the parallel ones; on a
    machine whose speed drifts, a sequential run followed right away by ours
    gives the steadier speed-up. Prints and returns the median.
    """
    X, y, model, grid, _ = work["cheap"]
    ratios = []
    for _ in range(pairs):
        with threadpool_limits(1):
            t_seq, _ = timed(
                lambda: GridSearchCV(model, grid, cv=N_SPLITS, refit=False).fit(X, y)
            )
        t_ours, _ = timed(
            lambda: MultiModelSearchCV(
                model, grid, cv=N_SPLITS, refit=False, backend=engine, n_jobs=workers
            ).fit(X, y)
        )
        ratios.append(t_seq / t_ours)
    median = statistics.median(ratios)
    print(
        f"  cheap, {pairs} back-to-back pairs (sequential, then ours): speed-up "
        f"median {median:.2f}x, pairs {min(ratios):.2f}x to {max(ratios):.2f}x"
    )
    return median


def run_engine(engine, work, sequential, workers, scores, quick):
    """Part 1 on ``engine``: ours and GridSearchCV for every workload; print."""
    print(f"\n{engine}, {workers} workers")
    print(
        f"  {'workload':9s} {'sequential':>10s} {'ours':>8s} {'GridSCV':>9s} "
        f"{'speed-up ours':>14s} {'GridSCV':>8s} {'eff. ours':>10s} {'GridSCV':>8s}"
    )
    figures = {}
    for name, (X, y, model, grid, k) in work.items():
        peak = {}
        with peak_rss(peak) if name == "10k" else contextlib.nullcontext():
            t_ours, ours = timed(
                lambda: MultiModelSearchCV(
                    model, grid, cv=N_SPLITS, refit=False, backend=engine, n_jobs=workers
                ).fit(X, y),
                REPEATS.get(name, 1),
            )
        n_fits = len(next(iter(grid.values()))) * N_SPLITS
        # A multiple of k, so that the sequential run has its candidates.
        step = k * max(1, math.ceil(n_fits / (k * grid_limit(engine, quick))))
        with parallel_config(backend=engine, n_jobs=workers):
            t_grid, theirs = timed(
                lambda: GridSearchCV(
                    model, every(grid, step), cv=N_SPLITS, refit=False
                ).fit(X, y)
            )
        t_grid *= step
        # scores[name]: the sequential run's, on every k-th candidate.
        np.testing.assert_allclose(
            ours.cv_results_["mean_test_score"][::k], scores[name], rtol=1e-12
        )
        np.testing.assert_allclose(
            theirs.cv_results_["mean_test_score"], scores[name][:: step // k], rtol=1e-12
        )
        seq = sequential[name]
        mark = lambda n: "~" if n > 1 else " "  # noqa: E731
        figures[name] = seq / t_ours
        print(
            f"  {name:9s} {mark(k)}{seq:8.2f}s {t_ours:7.2f}s {mark(step)}{t_grid:7.2f}s "
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


def run_orders(engine, work, mixed, workers, figures):
    """Part 2 on ``engine``: efficiency of each order of the fits; print."""
    X, y, model, grid, _ = work["lightgbm"]
    searches = {
        "lightgbm": lambda: MultiModelSearchCV(
            model, grid, cv=N_SPLITS, refit=False, backend=engine, n_jobs=workers
        ),
        "mixed": lambda: MultiModelSearchCV(
            mixed, cv=N_SPLITS, refit=False, backend=engine, n_jobs=workers
        ),
    }
    print(
        f"\n{engine}, {workers} workers: efficiency = fit + score seconds "
        "/ (workers x wall)"
    )
    print(f"  {'workload':9s} " + " ".join(f"{order:>16s}" for order in ORDERS))
    for name, make in searches.items():
        cells, means = [], []
        for order, queue in ORDERS.items():
            with mock.patch("distsearch._search._TaskQueue", queue):
                wall, search = timed(lambda: make().fit(X, y))
            efficiency = busy_seconds(search) / (workers * wall)
            means.append(search.cv_results_["mean_test_score"])
            cells.append(f"{efficiency:8.2f} ({wall:5.1f}s)")
            figures[f"{name} {order}"] = efficiency
        for mean in means[1:]:
            np.testing.assert_array_equal(mean, means[0])
        print(f"  {name:9s} " + " ".join(cells), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument(
        "--quick", action="store_true", help="smaller workloads and slices (see above)"
    )
    parser.add_argument(
        "--backends", default="loky,dask", help="comma-separated: loky, dask"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    work = workloads(args.quick)
    mixed = mixed_models(args.quick)
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        + "; ".join(
            f"{name}: {X.shape[0]}x{X.shape[1]}, "
            f"{len(next(iter(grid.values())))} candidates x {N_SPLITS} folds"
            for name, (X, _, _, grid, _) in work.items()
        )
        + "; mixed: 8 candidates x 5 folds on the lightgbm data"
    )
    sequential, scores = {}, {}
    for name, (X, y, model, grid, k) in work.items():
        # One BLAS / OpenMP thread, as each worker has: once lightgbm's OpenMP
        # is loaded, multithreaded BLAS on these small matrices is several
        # times slower on a busy machine.
        with threadpool_limits(1):
            seconds, search = timed(
                lambda: GridSearchCV(
                    model, every(grid, k), cv=N_SPLITS, refit=False
                ).fit(X, y),
                REPEATS.get(name, 1),
            )
        sequential[name] = seconds * k
        scores[name] = search.cv_results_["mean_test_score"]
        print(
            f"sequential {name}: {sequential[name]:.2f} s"
            + (f" (~: every {k}th alpha, x {k})" if k > 1 else ""),
            flush=True,
        )
    summary = {}
    engines = args.backends.split(",")
    for engine in engines:
        if engine == "dask":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            context = contextlib.ExitStack()
            context.enter_context(cluster)
            context.enter_context(Client(cluster))
        else:
            context = contextlib.nullcontext()
        with context:
            warm_up(engine, args.workers, work, mixed)
            figures = run_engine(engine, work, sequential, args.workers, scores, args.quick)
            figures["cheap paired"] = paired_cheap(
                engine, work, args.workers, 3 if args.quick else 6
            )
            if not args.quick or engine == engines[0]:
                run_orders(engine, work, mixed, args.workers, figures)
        summary[engine] = figures
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    for engine, figures in summary.items():
        line = (
            f"{engine}: cheap {figures['cheap']:.2f}x sequential (back-to-back "
            f"pairs {figures['cheap paired']:.2f}x), lightgbm "
            f"efficiency {figures['lightgbm'] / args.workers:.2f} (sequential / "
            f"(workers x wall)), 10k {figures['10k']:.2f}x, driver peak "
            f"{figures['peak MiB']:.0f} MiB"
        )
        if "mixed off" in figures:
            line += "; efficiency off / static / refined: " + ", ".join(
                f"{name} " + " / ".join(f"{figures[f'{name} {o}']:.2f}" for o in ORDERS)
                for name in ("lightgbm", "mixed")
            )
        print(line)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
