"""The ``distsearch`` command line."""

import argparse

from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from ._search import MultiModelSearchCV


def main(argv=None):
    """Run the ``distsearch`` command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="distsearch")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tournament", help="run a model-selection tournament")
    parser.parse_args(argv)
    X, y = make_regression(n_samples=500, n_features=10, noise=10, random_state=0)
    search = MultiModelSearchCV(
        [
            ("ridge", Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0]}),
            ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2, 4, 8]}),
        ],
        cv=5,
        n_jobs=-1,
    ).fit(X, y)
    print(search.leaderboard(per_model=True).to_string(index=False))
    return 0
