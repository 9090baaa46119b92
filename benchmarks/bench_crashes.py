"""A fit that kills its worker, or hangs: what the search does, and what it costs.

One search of cheap fits (Ridge alphas and CrashingRegressor candidates of
tests/dispatch_models.py, 3 folds) on an engine, run twice: undisturbed
(``crash="none"``), then with one candidate that calls ``os._exit(3)`` in
its fit (``--case exit``) or sleeps for an hour (``--case hang``, with
``fit_timeout``). Prints, for each engine: whether the disturbed search
finished, its wall seconds, the ratio to the undisturbed one, the worker
deaths survived (``n_task_retries_``), the failed candidate's recorded error
and whether every other candidate's scores equal the undisturbed run's.

Run::

    python benchmarks/bench_crashes.py                        # loky, dask, ray; exit
    python benchmarks/bench_crashes.py --case hang --engines loky --fit-timeout 2

Needs the ``dask`` and ``ray`` extras for those engines. On a busy machine
report the ratio, measured in the same run.
"""

import argparse
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])
)

from dispatch_models import CrashingRegressor  # noqa: E402
from sklearn.datasets import make_regression  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

from distsearch import MultiModelSearchCV  # noqa: E402


def search(bad, backend, fit_timeout):
    models = [
        ("ridge", Ridge(), {"alpha": list(np.logspace(-3, 3, 12))}),
        ("mean", CrashingRegressor(), {"scale": [0.5, 1.0, 2.0], "crash": [False, bad]}),
    ]
    kwargs = {} if fit_timeout is None else {"fit_timeout": fit_timeout}
    return MultiModelSearchCV(models, cv=3, n_jobs=2, backend=backend, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["loky", "dask", "ray"])
    parser.add_argument("--case", choices=["exit", "hang"], default="exit")
    parser.add_argument("--fit-timeout", type=float, default=None)
    args = parser.parse_args()
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    for backend in args.engines:
        tick = time.perf_counter()
        reference = search("none", backend, args.fit_timeout).fit(X, y)
        undisturbed = time.perf_counter() - tick
        tick = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                disturbed = search(args.case, backend, args.fit_timeout).fit(X, y)
        except Exception as exc:
            wall = time.perf_counter() - tick
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            print(f"{backend}: FAILED after {wall:.1f} s (undisturbed {undisturbed:.1f} s): "
                  f"{text[:300]}")
            continue
        wall = time.perf_counter() - tick
        bad = [i for i, p in enumerate(disturbed.cv_results_["params"])
               if p.get("crash") == args.case]
        others = np.setdiff1d(np.arange(len(reference.cv_results_["params"])), bad)
        same = all(
            np.array_equal(disturbed.cv_results_[f"split{k}_test_score"][others],
                           reference.cv_results_[f"split{k}_test_score"][others])
            for k in range(3)
        )
        errors = sorted({e.splitlines()[0][:160] for e in disturbed.fit_errors_.values()})
        print(
            f"{backend}: finished in {wall:.1f} s (undisturbed {undisturbed:.1f} s, "
            f"ratio {wall / undisturbed:.2f}); fits run again {disturbed.n_task_retries_}; "
            f"failed candidate(s) {bad}, its folds NaN: "
            f"{bool(np.isnan(disturbed.cv_results_['mean_test_score'][bad]).all())}; "
            f"others identical: {same}; errors: {errors}"
        )


if __name__ == "__main__":
    main()
