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


def timed_fit(search, X, y):
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    X, y, pipeline, grid = workload(args.quick)
    common = dict(cv=5, refit=False, n_jobs=args.n_jobs)
    with tempfile.TemporaryDirectory() as folder:
        plain, _ = timed_fit(MultiModelSearchCV(pipeline, grid, **common), X, y)
        original, first = timed_fit(
            MultiModelSearchCV(pipeline, grid, checkpoint=folder, **common), X, y
        )
        resumed, again = timed_fit(
            MultiModelSearchCV(pipeline, grid, checkpoint=folder, **common), X, y
        )
    for key, value in first.cv_results_.items():
        if key != "params":
            np.testing.assert_array_equal(again.cv_results_[key], value, err_msg=key)
    print(f"data {X.shape}, 20 candidates x 5 folds, n_jobs={args.n_jobs}")
    print(f"search without checkpoint:      {plain:7.3f} s")
    print(f"search writing its checkpoint:  {original:7.3f} s")
    print(f"resume of the finished search:  {resumed:7.3f} s")
    print("resumed cv_results_ identical (recorded times included): yes")
    print(f"resume / original: {100 * resumed / original:.2f}% (target < 5%)")


if __name__ == "__main__":
    main()
