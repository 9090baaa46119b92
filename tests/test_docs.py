"""The notebook experience and the docs: HTML diagram, example notebooks, site.

The notebooks of ``examples/`` are executed and the documentation site is built
in strict mode (any warning fails), so that neither can rot.
"""

import html
import re

import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

from distsearch import MultiModelSearchCV


def _models():
    return [
        (
            "ridge",
            make_pipeline(StandardScaler(), Ridge()),
            {"ridge__alpha": loguniform(1e-3, 1e3)},
        ),
        (
            "knn",
            make_pipeline(StandardScaler(), KNeighborsRegressor()),
            {"kneighborsregressor__n_neighbors": [3, 5]},
        ),
        ("hgb", HistGradientBoostingRegressor(max_iter=20), [{"max_depth": [2]}, {}]),
    ]


def _labels(page):
    """The text of the diagram's labels, in document order."""
    return [
        re.sub(r"<[^>]+>", "", label)
        for label in re.findall(r'<label for="[^"]+" class="sk-toggleable__label[^>]*>'
                                r"<div><div>([^<]*)</div>", page)
    ]


def _pre_blocks(page):
    return [html.unescape(block) for block in re.findall(r"<pre>(.*?)</pre>", page, re.S)]


def test_html_repr_shows_every_model_with_its_pipeline_and_space():
    search = MultiModelSearchCV(_models(), n_iter={"ridge": 4}, cv=3, random_state=0)
    page = estimator_html_repr(search)
    labels = _labels(page)
    # The search, then each model's name followed by its pipeline's steps.
    assert labels == [
        "MultiModelSearchCV",
        "ridge", "StandardScaler", "Ridge",
        "knn", "StandardScaler", "KNeighborsRegressor",
        "hgb", "HistGradientBoostingRegressor",
    ]
    assert page.count('class="sk-parallel-item"') == 3
    # The first block is the text repr (shown when the diagram cannot be).
    assert _pre_blocks(page)[1:] == [
        "ridge__alpha: loguniform(0.001, 1000.0)\n(n_iter=4)",
        "kneighborsregressor__n_neighbors: [3, 5]\n(whole grid)",
        "max_depth: [2]\nor\n(default parameters)\n(whole grid)",
    ]
    assert "fitted" not in re.findall(r'class="sk-toggleable__label ([a-z]*)', page)


def test_html_repr_of_fitted_search_marks_the_refit_winner():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    search = MultiModelSearchCV(_models(), n_iter=2, cv=2, random_state=0).fit(X, y)
    assert search.best_model_name_ == "ridge"
    labels = _labels(estimator_html_repr(search))
    assert labels[1:5] == ["ridge: best_estimator_", "StandardScaler", "Ridge", "knn"]
    assert "hgb" in labels

    no_refit = MultiModelSearchCV(_models(), n_iter=2, cv=2, random_state=0, refit=False)
    labels = _labels(estimator_html_repr(no_refit.fit(X, y)))
    assert [label for label in labels if label in ("ridge", "knn", "hgb")] == [
        "ridge", "knn", "hgb"
    ]


def test_html_repr_of_single_estimator_is_gridsearchcv_s():
    search = MultiModelSearchCV(Ridge(), {"alpha": [1.0]})
    assert _labels(estimator_html_repr(search))[1] == "estimator: Ridge"
