"""The compiled training steps are cached per environment and nnkit version: another
environment's (or version's) folder is never read, and a file that is not what this nnkit
generates is rewritten, not loaded."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import nnkit as nk

pytest.importorskip("numba")

from nnkit._kernels.numba import _stepgen  # noqa: E402


def test_the_cache_folder_is_keyed_by_environment_and_version(monkeypatch):
    key = _stepgen.environment_key()
    assert key.startswith(nk.__version__ + "-")
    folder = _stepgen._directory()
    assert os.path.basename(folder) == key and os.path.basename(os.path.dirname(folder)) == "nnkit-numba-steps"
    monkeypatch.setattr(sys, "prefix", "/some/other/venv")
    assert _stepgen.environment_key() != key
    monkeypatch.undo()
    import nnkit as package

    monkeypatch.setattr(package, "__version__", "9.9.9")
    assert _stepgen.environment_key().startswith("9.9.9-") and _stepgen.environment_key() != key


def _trained_weights(X, y):
    model = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=2),
                           nk.layers.Dense(1, activation="sigmoid")], backend="numba", dtype="float64", seed=0)
    model.compile(nk.optimizers.SGD(learning_rate=0.1), "binary_crossentropy")
    model.fit(X, y, epochs=2, batch_size=8, seed=0, verbose=0)
    return model.get_weights()


def test_a_foreign_step_file_is_rewritten_not_loaded(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 2)), rng.integers(0, 2, size=32).astype(float)
    texts = []
    real = _stepgen._load
    monkeypatch.setattr(_stepgen, "_load", lambda text: texts.append(text) or real(text))
    expected = _trained_weights(X, y)
    assert texts, "the numba backend trained through a step module written to the cache folder"
    text = texts[0]
    _, path = _stepgen.step_file(text)
    with open(path) as f:
        assert f.read() == text, path
    # another version's step under the same name: stale, so it must not be imported
    with open(path, "w") as f:
        f.write("raise RuntimeError('a foreign step was loaded')\n")
    _stepgen._LOADED.clear()
    for name in [m for m in sys.modules if m.startswith("nnkit_step_")]:
        del sys.modules[name]
    again = _trained_weights(X, y)
    with open(path) as f:
        assert f.read() == text
    for a, b in zip(again, expected):
        np.testing.assert_array_equal(a, b)
