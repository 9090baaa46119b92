"""The Keras helpers' JAX compilation cache (see ``distsearch/_keras.py``).

The cache is per process, set at its first Keras fit: this process has
it (no test sets a cache of its own); a fresh process with the cache
switched off gives the numbers to compare with.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


FITS = """
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
from distsearch.models import KerasRegressor

rng = np.random.RandomState(0)
X = rng.randn(60, 4)
y = 10 * X[:, 0] + rng.randn(60)
predictions = []
for fold in range(2):  # the same network on rows of the same shape
    rows = np.arange(fold, fold + 50)
    model = KerasRegressor(hidden_layer_sizes=(5,), epochs=3, patience=2, random_state=fold)
    predictions.append(model.fit(X[rows], y[rows]).predict(X[:10]).tolist())
"""


def test_identical_keras_steps_compile_once_per_process_with_the_same_numbers():
    import jax

    from distsearch import _keras

    namespace = {}
    exec(FITS, namespace)
    # A private folder, set as JAX's cache, holding the compiled steps.
    folder = _keras._COMPILATION_CACHE
    assert Path(folder).name.startswith("distsearch-jax-")
    assert jax.config.jax_compilation_cache_dir == folder
    assert os.listdir(folder)
    # The user's choice is kept (here: the cache off), and the fits give the same numbers.
    script = FITS + (
        "import json, jax\nfrom distsearch import _keras\n"
        "print(json.dumps([_keras._COMPILATION_CACHE, jax.config.jax_compilation_cache_dir, predictions]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_ENABLE_COMPILATION_CACHE": "false"},
    )
    own, config, predictions = json.loads(done.stdout.strip().splitlines()[-1])
    assert own == "" and config is None
    np.testing.assert_array_equal(namespace["predictions"], predictions)
