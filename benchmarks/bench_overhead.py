"""Dispatch overhead: MultiModelSearchCV vs GridSearchCV on cheap fits.

The workload is the one where overhead shows: 200 Ridge alphas x 5 folds
(1000 fits of a few milliseconds) on 2000x20 data, ``n_jobs=2`` on loky,
``refit=False``. Both searches run in this one process on the same loky
workers, alternately (one warm-up run each, then ``--repeat`` pairs); the
script prints each one's median wall time and the ratio of the medians
MultiModelSearchCV / GridSearchCV (target: <= 1.05), and the median of the
ratios of each pair of runs (made one after the other, so less exposed to
changes of the machine's load). It also checks that
both give the same scores. Run::

    python benchmarks/bench_overhead.py            # ~1 min on 2 cores
    python benchmarks/bench_overhead.py --quick    # 50 alphas, 500x20: ~10 s

On a busy machine the absolute times move; the ratio, measured in the same
run with the runs interleaved, is the figure to report.
"""

import argparse
import os
import statistics
import time

import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from distsearch import MultiModelSearchCV


def workload(quick):
    """``X, y, grid``: the full or the quick cheap-fit workload."""
    n_samples, n_alphas = (500, 50) if quick else (2000, 200)
    X, y = make_regression(n_samples=n_samples, n_features=20, noise=1.0, random_state=0)
    return X, y, {"alpha": np.logspace(-3, 3, n_alphas).tolist()}


def timed_fit(search, X, y):
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workload")
    parser.add_argument("--repeat", type=int, default=None, help="timed pairs (7; quick: 5)")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    repeat = args.repeat or (5 if args.quick else 7)
    X, y, grid = workload(args.quick)
    common = dict(cv=5, refit=False, n_jobs=args.n_jobs)
    searches = {
        "GridSearchCV": lambda: GridSearchCV(Ridge(), grid, **common),
        "MultiModelSearchCV": lambda: MultiModelSearchCV(Ridge(), grid, **common),
    }
    times = {name: [] for name in searches}
    fitted = {}
    for run in range(repeat + 1):  # run 0 warms up the workers
        for name, make in searches.items():
            seconds, fitted[name] = timed_fit(make(), X, y)
            if run:
                times[name].append(seconds)
    np.testing.assert_array_equal(
        fitted["MultiModelSearchCV"].cv_results_["mean_test_score"],
        fitted["GridSearchCV"].cv_results_["mean_test_score"],
    )
    n_fits = len(grid["alpha"]) * common["cv"]
    print(f"data {X.shape}, {len(grid['alpha'])} candidates x 5 folds = {n_fits} fits, "
          f"n_jobs={args.n_jobs}, {repeat} interleaved runs each after a warm-up")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:>18}: median {medians[name]:6.3f} s  (runs: "
              + ", ".join(f"{x:.2f}" for x in t) + ")")
    ratio = medians["MultiModelSearchCV"] / medians["GridSearchCV"]
    paired = statistics.median(
        ours / theirs
        for ours, theirs in zip(times["MultiModelSearchCV"], times["GridSearchCV"])
    )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"median of the ratios of each pair of runs: {paired:.3f}")
    print(f"ratio MultiModelSearchCV / GridSearchCV: {ratio:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
