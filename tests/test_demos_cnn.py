"""The image lessons: ``nnkit demo cnn`` reaches 0.98 on the 8x8 digits, ``nnkit demo cnn-fooling``
turns correct digits into a chosen wrong class at > 99% by a small L-infinity change, and an attack
differentiates batch normalization by its moving statistics without changing them."""

import importlib.util

import numpy as np
import pytest

import nnkit as nk
from nnkit.demos import run_demo

BACKEND = "numba" if importlib.util.find_spec("numba") else "numpy"


def test_cnn_demo_reaches_098_on_the_digits():
    r = run_demo("cnn", backend=BACKEND)
    assert r["test_accuracy"] >= 0.98
    assert r["epochs"] == 20 and r["filters_shape"] == (3, 3, 1, 32)


def test_cnn_fooling_demo_reaches_099_with_a_small_change():
    r = run_demo("cnn-fooling", quick=True, backend=BACKEND)
    for key in ("gradient_ascent", "fgsm"):
        attack = r[key]
        assert attack["fooled"] >= 1, key
        assert attack["confidence"] > 0.99 and attack["target"] != attack["digit"]
        assert attack["linf"] <= attack["epsilon"] + 1e-6 and attack["epsilon"] <= 0.3
    assert r["gradient_ascent"]["fooled"] >= 15  # of 20


def _bn_model(backend):
    L = nk.layers
    model = nk.Sequential([L.Conv2D(3, 3, padding="same", activation="tanh", input_shape=(5, 5, 1)),
                           L.BatchNormalization(momentum=0.5), L.Flatten(), L.Dense(3, activation="softmax")],
                          backend=backend, seed=0, dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_frozen_batch_norm_gradients(backend, rng):
    model = _bn_model(backend)
    X = rng.normal(size=(6, 5, 5, 1))
    model.fit(X, rng.integers(0, 3, 6), epochs=2, batch_size=3, verbose=0)  # moving statistics != 0, 1
    model.layers[1].trainable = False
    assert nk.check_gradients(model, X, rng.integers(0, 3, 6)) < 1e-6


def test_attacks_use_and_keep_the_moving_statistics(rng):
    from nnkit.adversarial import gradient_ascent, input_gradient

    model = _bn_model("numpy")
    X = rng.random((8, 5, 5, 1))
    model.fit(X, rng.integers(0, 3, 8), epochs=3, batch_size=4, verbose=0)
    before = model.get_weights()
    x1 = X[:1]
    g_alone = input_gradient(model, x1, [1])
    g_batch = input_gradient(model, X, np.ones(8, dtype=int))[:1]
    # the loss is a mean over the rows; without batch statistics a row's gradient ignores the others
    np.testing.assert_allclose(g_batch * 8, g_alone, rtol=1e-9, atol=1e-12)
    gradient_ascent(model, X, target=np.zeros(8, dtype=int), steps=3, epsilon=0.1, step_size=0.05)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert model.layers[1].trainable
