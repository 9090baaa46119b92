"""Shared pipeline prefixes: fitted once per fold, same results as GridSearchCV.

The prefix steps log every fit as a file in a folder, so the fits are counted
across worker processes.
"""

import uuid
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from distsearch import MultiModelSearchCV


class CountedScaler(StandardScaler):
    """StandardScaler that logs each fit in ``log_dir``."""

    def __init__(self, *, log_dir=None, copy=True, with_mean=True, with_std=True):
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.log_dir = log_dir

    def fit(self, X, y=None, sample_weight=None):
        Path(self.log_dir, f"scale-{uuid.uuid4().hex}").touch()
        return super().fit(X, y, sample_weight=sample_weight)


class CountedPCA(PCA):
    """PCA that logs each fit in ``log_dir``."""

    def __init__(self, n_components=None, *, log_dir=None):
        super().__init__(n_components=n_components)
        self.log_dir = log_dir

    def fit_transform(self, X, y=None):
        Path(self.log_dir, f"pca-{uuid.uuid4().hex}").touch()
        return super().fit_transform(X, y)


def n_fits(log_dir, kind):
    return len(list(Path(log_dir).glob(f"{kind}-*")))


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=150, n_features=8, random_state=0)


def assert_same_results(expected, actual):
    assert set(expected) <= set(actual)
    for key, value in expected.items():
        if key.endswith("_time"):
            continue
        if key == "params":
            assert actual[key] == value
        else:
            np.testing.assert_array_equal(
                np.asarray(actual[key]), np.asarray(value), err_msg=key
            )


def pipeline(log_dir, final=None):
    return Pipeline(
        [
            ("scale", CountedScaler(log_dir=log_dir)),
            ("pca", CountedPCA(4, log_dir=log_dir)),
            ("clf", final if final is not None else LogisticRegression()),
        ]
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_two_shared_levels_same_results_fewer_fits(data, tmp_path, n_jobs):
    # The scaler is shared by all 6 candidates, each PCA by 3 of them.
    X, y = data
    grid = {"pca__n_components": [2, 4], "clf__C": [0.1, 1.0, 10.0]}
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    search = MultiModelSearchCV(
        pipeline(str(ours)), grid, cv=3, n_jobs=n_jobs, refit=False,
        return_train_score=True,
    ).fit(X, y)
    expected = GridSearchCV(
        pipeline(str(theirs)), grid, cv=3, refit=False, return_train_score=True
    ).fit(X, y)
    assert_same_results(expected.cv_results_, search.cv_results_)
    assert n_fits(theirs, "scale") == 18 and n_fits(theirs, "pca") == 18
    # The workers of one machine share through a folder, one fit per output.
    assert n_fits(ours, "scale") == 3  # once per fold
    assert n_fits(ours, "pca") == 6  # once per (n_components, fold)


def test_shared_across_models(data, tmp_path):
    X, y = data

    def model(final):
        return Pipeline([("scale", CountedScaler(log_dir=str(tmp_path))), ("m", final)])

    models = [
        ("lr", model(LogisticRegression()), {"m__C": [0.1, 1.0]}),
        ("svc", model(LinearSVC()), {"m__C": [0.1, 1.0]}),
    ]
    search = MultiModelSearchCV(models, cv=4, refit=False).fit(X, y)
    assert n_fits(tmp_path, "scale") == 4
    for name, estimator, grid in models:
        expected = GridSearchCV(estimator, grid, cv=4, refit=False).fit(X, y)
        rows = search.cv_results_["model"] == name
        np.testing.assert_array_equal(
            search.cv_results_["mean_test_score"][rows],
            expected.cv_results_["mean_test_score"],
        )


def test_fit_params_and_partial_folds(data, tmp_path):
    # Sample weights go to the final step (rows re-ordered with the stacked
    # data) and ShuffleSplit leaves rows out of both train and test.
    X, y = data
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    grid = {"clf__C": [0.1, 1.0, 10.0]}
    cv = ShuffleSplit(n_splits=3, train_size=0.5, test_size=0.3, random_state=0)
    search = MultiModelSearchCV(pipeline(str(tmp_path)), grid, cv=cv, refit=False)
    search.fit(X, y, clf__sample_weight=weights)
    expected = GridSearchCV(pipeline(str(tmp_path)), grid, cv=cv, refit=False)
    expected.fit(X, y, clf__sample_weight=weights)
    assert_same_results(expected.cv_results_, search.cv_results_)


def test_fit_params_of_a_prefix_step_stop_the_sharing_there(data, tmp_path):
    X, y = data
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    grid = {"clf__C": [0.1, 1.0, 10.0]}
    search = MultiModelSearchCV(pipeline(str(tmp_path)), grid, cv=3, refit=False)
    search.fit(X, y, scale__sample_weight=weights)
    expected = GridSearchCV(pipeline(str(tmp_path)), grid, cv=3, refit=False)
    expected.fit(X, y, scale__sample_weight=weights)
    assert_same_results(expected.cv_results_, search.cv_results_)
    assert n_fits(tmp_path, "scale") == 9 + 9  # never shared, both searches
    assert n_fits(tmp_path, "pca") == 9 + 9


def test_pandas_output_and_failing_prefix(data, tmp_path):
    # DataFrames flow between the steps; a prefix that fails (n_components
    # too large) gives error_score exactly as when nothing is shared.
    X, y = data
    grid = {"pca__n_components": [3, 50], "clf__C": [0.1, 1.0]}
    estimator = pipeline(str(tmp_path)).set_output(transform="pandas")
    with pytest.warns(FitFailedWarning), pytest.warns(UserWarning, match="non-finite"):
        search = MultiModelSearchCV(estimator, grid, cv=3, refit=False).fit(X, y)
    with pytest.warns(FitFailedWarning), pytest.warns(UserWarning, match="non-finite"):
        expected = GridSearchCV(estimator, grid, cv=3, refit=False).fit(X, y)
    assert_same_results(expected.cv_results_, search.cv_results_)
    failed = search.cv_results_["param_pca__n_components"] == 50
    assert (np.isnan(search.cv_results_["mean_test_score"]) == failed).all()


def test_failing_final_step_with_train_scores(data, tmp_path):
    X, y = data
    grid = {"clf__C": [1.0, -1.0]}  # C=-1 fails after the shared prefix
    searches = [
        cls(pipeline(str(tmp_path)), grid, cv=3, refit=False, return_train_score=True)
        for cls in (MultiModelSearchCV, GridSearchCV)
    ]
    for search in searches:
        with pytest.warns(FitFailedWarning), pytest.warns(UserWarning, match="non-finite"):
            search.fit(X, y)
    assert_same_results(searches[1].cv_results_, searches[0].cv_results_)
    assert np.isnan(searches[0].cv_results_["mean_train_score"][1])


def test_texts_on_threads():
    # A list of strings through a vectorizer, on the threading backend (the
    # workers then share one cache).
    rng = np.random.RandomState(0)
    words = np.array(["red", "green", "blue", "cat", "dog", "fish", "tree", "sky"])
    y = rng.randint(0, 2, 90)
    texts = [
        " ".join(rng.choice(words[label * 4 : label * 4 + 5], 6)) for label in y
    ]
    estimator = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
    grid = {"tfidf__ngram_range": [(1, 1), (1, 2)], "clf__C": [0.1, 1.0, 10.0]}
    search = MultiModelSearchCV(
        estimator, grid, cv=3, backend="threading", n_jobs=2, refit=False,
        return_train_score=True,
    ).fit(texts, y)
    expected = GridSearchCV(
        estimator, grid, cv=3, refit=False, return_train_score=True
    ).fit(texts, y)
    assert_same_results(expected.cv_results_, search.cv_results_)


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_remote_backends_same_results(data, backend):
    # Plain scikit-learn steps, so that the remote workers can import them.
    X, y = data
    estimator = Pipeline(
        [("scale", StandardScaler()), ("pca", PCA(4)), ("clf", LogisticRegression())]
    )
    grid = {"pca__n_components": [2, 4], "clf__C": [0.1, 1.0]}
    search = MultiModelSearchCV(
        estimator, grid, cv=3, backend=backend, n_jobs=2, refit=False
    ).fit(X, y)
    expected = GridSearchCV(estimator, grid, cv=3, refit=False).fit(X, y)
    assert_same_results(expected.cv_results_, search.cv_results_)


def test_claim_waits_for_the_holder_and_outlives_a_dead_one(tmp_path):
    import subprocess
    import sys
    import threading

    from distsearch._prefix import _MEMORY, _FoldData, _claim, _store

    data = _FoldData(np.arange(6.0).reshape(3, 2), 2, None, 0.5, 0.1)
    got = []
    with _claim("k1", str(tmp_path)) as stored:
        assert stored is None  # first: this one fits
        waiter = threading.Thread(
            target=lambda: got.append(_claim("k1", str(tmp_path)).__enter__())
        )
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # waits while the holder fits
        _store("k1", data, str(tmp_path))
    waiter.join(5)
    np.testing.assert_array_equal(got[0].X, data.X)
    del _MEMORY["k1"]

    # A lock left by a process that died is taken over.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    (tmp_path / "k2.lock").write_text(dead)
    with _claim("k2", str(tmp_path)) as stored:
        assert stored is None
    assert not (tmp_path / "k2.lock").exists()
