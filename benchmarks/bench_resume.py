"""Resuming a finished search from its checkpoint vs running it.

The workload of ``bench_shared_steps.py`` (20 candidates x 5 folds) runs once
with ``checkpoint=<folder>`` (timed: the original search), then again with the
same folder (timed: the resume, which loads the 100 records and fits
nothing), and once without a checkpoint (the cost of writing the records).
All use ``refit=False``: a refit is the same work with or without a
checkpoint. Target: resume under 5% of the original's wall time. Run::

    python benchmarks/bench_resume.py            # ~30 s on 2 cores
    python benchmarks/bench_resume.py --quick
"""

import argparse
import tempfile
import time

import numpy as np
from bench_shared_steps import workload

from distsearch import MultiModelSearchCV


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    X, y, pipeline, grid = workload(args.quick)
    # Start the worker processes before timing.
    warm_up = MultiModelSearchCV(pipeline, {"clf__C": [1.0]}, n_jobs=args.n_jobs)
    warm_up.fit(X[:200], y[:200])
    seconds, searches = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        runs = [("plain", None), ("original", folder), ("resume", folder)]
        for name, checkpoint in runs:
            searches[name] = MultiModelSearchCV(
                pipeline, grid, cv=5, refit=False, n_jobs=args.n_jobs,
                checkpoint=checkpoint,
            )
            start = time.perf_counter()
            searches[name].fit(X, y)
            seconds[name] = time.perf_counter() - start
    first, again = searches["original"], searches["resume"]
    for key, value in first.cv_results_.items():
        if key != "params":
            np.testing.assert_array_equal(again.cv_results_[key], value, err_msg=key)
    plain, original, resumed = seconds["plain"], seconds["original"], seconds["resume"]
    print(f"data {X.shape}, 20 candidates x 5 folds, n_jobs={args.n_jobs}")
    print(f"search without checkpoint:      {plain:7.3f} s")
    print(f"search writing its checkpoint:  {original:7.3f} s")
    print(f"resume of the finished search:  {resumed:7.3f} s")
    print("resumed cv_results_ identical (recorded times included): yes")
    print(f"resume / original: {100 * resumed / original:.2f}% (target < 5%)")


if __name__ == "__main__":
    main()
