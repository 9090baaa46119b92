"""Shared preprocessing fitted once: MultiModelSearchCV vs GridSearchCV vs dask-ml.

Workload: 20 candidates (the ``C`` of a LogisticRegression) x 5 folds, all
behind the same expensive preprocessing (StandardScaler + full-SVD PCA),
whose fit costs about 10x the final model's (the script measures and prints
the ratio). GridSearchCV refits the preprocessing for each of the 100 fits;
dask-ml's GridSearchCV and MultiModelSearchCV fit it once per fold. All run
with ``n_jobs`` workers and ``refit=False``, in this one process, in turns,
and must give the same mean test scores. MultiModelSearchCV runs twice: on
its default backend (loky worker processes, as GridSearchCV) and on
``backend="threading"`` (threads, as dask-ml's default scheduler).

Targets: MultiModelSearchCV at least 3x faster than GridSearchCV and no slower
than dask-ml. Run::

    python benchmarks/bench_shared_steps.py            # ~3 min on 2 cores
    python benchmarks/bench_shared_steps.py --quick    # ~30 s

Needs the ``bench`` extra (dask-ml, psutil). Times are medians of
``--repeat`` runs, wall and CPU (this process and its workers);
the searches run in turns, so the ratios hold on a busy machine better than
the times do.
"""

import argparse
import contextlib
import statistics
import time

import numpy as np
import psutil
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from distsearch import MultiModelSearchCV


def workload(quick):
    """``(X, y, pipeline, grid)``: 20 candidates sharing an expensive prefix."""
    n_samples, n_features, n_components = (3000, 150, 50) if quick else (5000, 200, 70)
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=40, random_state=0
    )
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=n_components, svd_solver="full")),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    grid = {"clf__C": np.logspace(-3, 3, 20).tolist()}
    return X, y, pipeline, grid


def cost_ratio(X, y, pipeline):
    """Seconds of one fold's prefix fit over its final model's fit (1 thread)."""
    n_train = len(X) * 4 // 5
    with threadpool_limits(1):
        start = time.perf_counter()
        Xt = pipeline[:-1].fit_transform(X[:n_train], y[:n_train])
        prefix = time.perf_counter() - start
        start = time.perf_counter()
        pipeline[-1].fit(Xt, y[:n_train])
        final = time.perf_counter() - start
    return prefix, final


def cpu_seconds():
    """CPU seconds used so far by this process and its live worker processes."""
    processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def timed(runs, X, y, repeat):
    """Median wall and CPU seconds of each ``make().fit(X, y)``, last searches.

    The searches run in turns (round-robin, ``repeat`` rounds) so that a
    change of load on a shared machine hits them alike; the CPU seconds (all
    processes) measure the work itself, whatever the load. BLAS runs one
    thread per worker for all (loky workers already do; this keeps dask-ml's
    threads from oversubscribing the cores).
    """
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    searches = {}
    with threadpool_limits(1):
        for _ in range(repeat):
            for name, make in runs.items():
                searches[name] = make()
                start, start_cpu = time.perf_counter(), cpu_seconds()
                searches[name].fit(X, y)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds() - start_cpu)
    median = statistics.median
    return (
        {name: median(t) for name, t in wall.items()},
        {name: median(t) for name, t in cpu.items()},
        searches,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, 1 run")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=None, help="runs per search")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV

    X, y, pipeline, grid = workload(args.quick)
    prefix, final = cost_ratio(X, y, pipeline)
    print(
        f"data {X.shape}, 20 candidates x 5 folds, n_jobs={args.n_jobs}, "
        f"median of {repeat}; prefix fit {prefix:.3f} s vs final fit "
        f"{final:.3f} s per fold: {prefix / final:.1f}x"
    )
    common = dict(cv=5, refit=False, n_jobs=args.n_jobs)
    runs = {
        "GridSearchCV": lambda: GridSearchCV(pipeline, grid, **common),
        "dask-ml GridSearchCV": lambda: DaskGridSearchCV(pipeline, grid, **common),
        "MultiModelSearchCV": lambda: MultiModelSearchCV(pipeline, grid, **common),
        "MultiModelSearchCV threads": lambda: MultiModelSearchCV(
            pipeline, grid, backend="threading", **common
        ),
    }
    # Start the worker processes before timing (all use the same pool).
    MultiModelSearchCV(pipeline, {"clf__C": [1.0]}, **common).fit(X[:200], y[:200])
    seconds, cpu, searches = timed(runs, X, y, repeat)
    for name, search in searches.items():
        print(f"{name:>26}: {seconds[name]:7.2f} s wall, {cpu[name]:7.2f} s CPU")
        np.testing.assert_allclose(
            search.cv_results_["mean_test_score"],
            searches["MultiModelSearchCV"].cv_results_["mean_test_score"],
        )
    print("same mean test scores: yes")
    print("speedup (wall; CPU) of MultiModelSearchCV, targets >= 3 and >= 1:")
    for ours in ("MultiModelSearchCV", "MultiModelSearchCV threads"):
        for other in ("GridSearchCV", "dask-ml GridSearchCV"):
            print(
                f"  {ours:>26} vs {other:<20}: {seconds[other] / seconds[ours]:5.2f}x;"
                f" {cpu[other] / cpu[ours]:5.2f}x"
            )


if __name__ == "__main__":
    main()
