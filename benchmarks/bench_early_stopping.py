"""Early stopping: how optimistic is stopping on the scored fold?

The seed project early-stopped LightGBM on the very fold it then scored, and
its final check early-stopped on the held-out test set. This benchmark runs
its randomized LightGBM contender both ways on the seed's kind of data
(``make_regression``, 10 features, 5 informative, noise 100; 80/20
train/test split, 5 unshuffled folds, 5 random candidates, up to 10 000
rounds, 10 rounds of patience), for several data seeds, and on pure noise
(no informative feature, so every positive score is optimism):

- **seed-style**: ``lightgbm.LGBMRegressor`` with the fold's test rows as
  its eval set; the winner is refit on the training set stopping on the
  held-out test set (the seed's ``train_test`` step).
- **distsearch**: ``MultiModelSearchCV`` over ``LightGBMRegressor``, which
  stops on an inner 10 % split of each fold's training rows; the winner is
  refit with ``refit_iterations="mean"``.

Reported per seed and on average: the cross-validated R^2 of the winner,
the R^2 it reports on the test set, and an honest test R^2 of the winner
(refit on the training set for its mean best iteration, test set unseen).
*Optimism* = reported score - honest test score; positive means the method
promises more than it delivers.

Run::

    python benchmarks/bench_early_stopping.py           # 10 seeds, ~4 min on 2 cores
    python benchmarks/bench_early_stopping.py --quick   # 3 seeds, ~1.5 min

Needs the ``lightgbm`` extra.
"""

import argparse

import lightgbm
import numpy as np
from scipy.stats import loguniform, randint
from sklearn.datasets import make_regression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, ParameterSampler, train_test_split

from distsearch import MultiModelSearchCV
from distsearch.models import LightGBMRegressor

SPACE = {"learning_rate": loguniform(1e-2, 1e-1), "max_depth": randint(1, 4)}
N_CANDIDATES, N_SPLITS, MAX_ROUNDS, PATIENCE = 5, 5, 10_000, 10


def data(seed, n_samples, informative):
    X, y = make_regression(
        n_samples=n_samples, n_features=10, n_informative=informative, noise=100.0,
        random_state=seed,
    )
    return train_test_split(X, y, test_size=0.2, random_state=seed)


def lgbm(params, n_estimators=MAX_ROUNDS):
    return lightgbm.LGBMRegressor(n_estimators=n_estimators, verbose=-1, n_jobs=1, **params)


def stop(X_eval, y_eval):
    return {
        "eval_X": (X_eval,),
        "eval_y": (y_eval,),
        "callbacks": [lightgbm.early_stopping(PATIENCE, verbose=False)],
    }


def honest_test(params, n_iterations, X_train, y_train, X_test, y_test):
    """Test R^2 of a refit for a fixed number of rounds (test set unseen)."""
    model = lgbm(params, n_estimators=n_iterations).fit(X_train, y_train)
    return r2_score(y_test, model.predict(X_test))


def seed_style(seed, X_train, X_test, y_train, y_test):
    best = None
    for params in ParameterSampler(SPACE, N_CANDIDATES, random_state=seed):
        scores, rounds = [], []
        for train, val in KFold(N_SPLITS).split(X_train):
            model = lgbm(params).fit(
                X_train[train], y_train[train], **stop(X_train[val], y_train[val])
            )
            scores.append(r2_score(y_train[val], model.predict(X_train[val])))
            rounds.append(model.best_iteration_)
        if best is None or np.mean(scores) > best[0]:
            best = (np.mean(scores), params, round(np.mean(rounds)))
    cv_score, params, n_iterations = best
    final = lgbm(params).fit(X_train, y_train, **stop(X_test, y_test))
    reported = r2_score(y_test, final.predict(X_test))
    honest = honest_test(params, n_iterations, X_train, y_train, X_test, y_test)
    return cv_score, reported, honest


def distsearch_style(seed, X_train, X_test, y_train, y_test):
    search = MultiModelSearchCV(
        LightGBMRegressor(
            n_estimators=MAX_ROUNDS, early_stopping_rounds=PATIENCE, random_state=seed
        ),
        SPACE,
        n_iter=N_CANDIDATES,
        cv=KFold(N_SPLITS),
        random_state=seed,
        scoring="r2",
    ).fit(X_train, y_train)
    reported = r2_score(y_test, search.predict(X_test))
    # The refit already ran the mean best iteration on the training set only.
    return search.best_score_, reported, reported


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds instead of 10")
    parser.add_argument("--n-samples", type=int, default=2000)
    args = parser.parse_args()
    seeds = range(3 if args.quick else 10)
    # The seed's data (5 informative features), and pure noise (none), where
    # any positive score is optimism.
    for label, informative in (("seed's data", 5), ("pure noise", 0)):
        print(f"== {label}: make_regression(n_informative={informative}, noise=100)")
        rows = {"seed-style": [], "distsearch": []}
        print(f"{'seed':>4} {'method':>10} {'cv R2':>8} {'reported test':>14} "
              f"{'honest test':>12}")
        for seed in seeds:
            split = data(seed, args.n_samples, informative)
            for name, method in (("seed-style", seed_style), ("distsearch", distsearch_style)):
                cv_score, reported, honest = method(seed, *split)
                rows[name].append((cv_score, reported, honest))
                print(f"{seed:>4} {name:>10} {cv_score:8.4f} {reported:14.4f} "
                      f"{honest:12.4f}")
        print(f"{'method':>10} {'mean cv-honest':>15} {'mean reported-honest':>21} "
              f"{'mean honest':>12}")
        for name, values in rows.items():
            cv_score, reported, honest = np.array(values).T
            print(
                f"{name:>10} {np.mean(cv_score - honest):15.4f} "
                f"{np.mean(reported - honest):21.4f} {np.mean(honest):12.4f}"
            )
        print()


if __name__ == "__main__":
    main()
