"""The Keras helpers' JAX compilation cache (see ``distsearch/_keras.py``).

The cache is per process, set at the first Keras fit; no test sets a JAX
cache of its own, so this process has the helpers' cache.
"""

import logging
import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _fit_predict(X, y, rows):
    from distsearch.models import KerasRegressor

    # A width and row count no other test uses: its steps are not in the cache yet.
    model = KerasRegressor(hidden_layer_sizes=(7,), epochs=3, patience=2, random_state=0)
    return model.fit(X[rows], y[rows]).predict(X[:10])


def test_identical_keras_steps_compile_once_per_process_with_the_same_numbers(caplog):
    import jax

    from distsearch import _keras

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = 10 * X[:, 0] + rng.randn(60)
    _fit_predict(X, y, np.arange(5))  # the first fit turns the cache on
    folder = _keras._COMPILATION_CACHE
    assert Path(folder).name.startswith("distsearch-jax-")
    assert jax.config.jax_compilation_cache_dir == folder
    before = set(os.listdir(folder))
    compiled = _fit_predict(X, y, np.arange(53))
    after = set(os.listdir(folder))
    assert after > before  # compiled and written
    # The same network on rows of the same shape (the next fold): nothing
    # compiled again, and the steps read back give the same numbers.
    with caplog.at_level(logging.DEBUG, logger="jax._src.compiler"):
        cached = _fit_predict(X, y, np.arange(53))
    hits = [r.getMessage() for r in caplog.records if "compilation cache hit" in r.getMessage()]
    assert any("'jit_train_step'" in hit for hit in hits), hits
    assert set(os.listdir(folder)) == after
    np.testing.assert_array_equal(compiled, cached)


def test_networks_differing_only_in_their_penalties_compile_once(caplog):
    """l1 and l2 are weights of the network, not constants of its steps: the
    next candidate of a search with other penalties reads the compiled steps
    of the first, and its penalties still count."""
    from distsearch.models import KerasRegressor

    rng = np.random.RandomState(1)
    X = rng.randn(47, 3)
    y = 10 * X[:, 0] + rng.randn(47)

    def fit_predict(l1, l2):
        # A width and row count no other test uses (not in the cache yet).
        model = KerasRegressor(hidden_layer_sizes=(9,), l1=l1, l2=l2, epochs=3,
                               patience=2, learning_rate=0.05, random_state=0)
        return model.fit(X, y).predict(X[:10])

    first = fit_predict(1e-3, 1e-4)
    with caplog.at_level(logging.DEBUG, logger="jax._src.compiler"):
        other = fit_predict(0.5, 0.2)
    hits = [r.getMessage() for r in caplog.records if "compilation cache hit" in r.getMessage()]
    assert any("'jit_train_step'" in hit for hit in hits), hits
    assert not np.allclose(first, other)


@pytest.mark.skipif(os.name != "posix", reason="process ids checked with signal 0")
def test_cache_folders_of_ended_processes_are_removed(tmp_path, monkeypatch):
    """A loky worker ended by its pool skips atexit: the next process that
    opens a cache removes the folders of ended processes, keeps the others."""
    import subprocess
    import sys
    import tempfile

    from distsearch import _keras

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    pid = int(ended.stdout)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folders = {
        "ended": f"distsearch-jax-{pid}-abc",
        "alive": f"distsearch-jax-{os.getpid()}-abc",
        "no pid": "distsearch-jax-abc",
        "other": f"other-{pid}-abc",
    }
    for name in folders.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "entry").write_text("x")
    _keras._remove_ended_caches()
    assert sorted(os.listdir(tmp_path)) == sorted(
        folders[k] for k in ("alive", "no pid", "other")
    )


def test_a_compilation_cache_of_the_users_own_is_kept(monkeypatch):
    import jax

    from distsearch import _keras

    _keras._cache_compilations()
    monkeypatch.setattr(_keras, "_COMPILATION_CACHE", None)  # as in a fresh process
    enabled = jax.config.jax_enable_compilation_cache
    folder = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_enable_compilation_cache", False)
        _keras._cache_compilations()
        assert _keras._COMPILATION_CACHE == "" and jax.config.jax_compilation_cache_dir == folder
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)
    monkeypatch.setattr(_keras, "_COMPILATION_CACHE", None)
    own = "/nonexistent/own-cache"
    try:
        jax.config.update("jax_compilation_cache_dir", own)
        _keras._cache_compilations()
        assert _keras._COMPILATION_CACHE == "" and jax.config.jax_compilation_cache_dir == own
    finally:
        jax.config.update("jax_compilation_cache_dir", folder)
