"""GradientFlow and gradient_norms: per-layer ||dE/dW|| against a hand computation, History keys,
and the vanishing-gradient demo's numbers (sigmoid collapses, the cures do not)."""

from __future__ import annotations

import numpy as np
import pytest

import nnkit as nk
from nnkit.diagnostics import GradientFlow, first_last_ratio, gradient_norms, weighted_layers


def _model(seed=0):
    model = nk.Sequential([nk.layers.Dense(6, activation="tanh", input_dim=4),
                           nk.layers.Residual(nk.layers.Dense(6, activation="relu")),
                           nk.layers.Dense(3, activation="softmax")], dtype="float64", seed=seed)
    model.compile(nk.optimizers.SGD(lr=0.1), "sparse_categorical_crossentropy")
    return model


def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


def test_weighted_layers_look_inside_residual_blocks():
    model = _model()
    model.build(4)
    names = [name for name, _ in weighted_layers(model)]
    assert len(names) == 3 and len(set(names)) == 3


def test_gradient_norms_by_hand():
    X, y = _data()
    model = _model()
    norms = gradient_norms(model, X, y)
    W1, b1, W2, b2, W3, b3 = model.get_weights()
    # the forward and backward pass in NumPy: softmax cross-entropy, mean over samples
    h1 = np.tanh(X @ W1 + b1)
    a2 = h1 @ W2 + b2
    h2 = h1 + np.maximum(a2, 0)
    z = h2 @ W3 + b3
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - np.eye(3)[y]) / len(X)
    dW3 = h2.T @ dz
    dh2 = dz @ W3.T
    da2 = dh2 * (a2 > 0)
    dW2 = h1.T @ da2
    dh1 = dh2 + da2 @ W2.T
    dW1 = X.T @ (dh1 * (1 - h1 ** 2))
    expected = [np.linalg.norm(g) for g in (dW1, dW2, dW3)]
    np.testing.assert_allclose(list(norms.values()), expected, rtol=1e-10)
    assert first_last_ratio(norms) == pytest.approx(expected[0] / expected[2])


def test_gradient_flow_records_into_history():
    X, y = _data()
    model = _model()
    before = gradient_norms(_model(), X, y)  # the same initial weights
    flow = GradientFlow(reduce="last")
    # one full batch: the gradient fit steps along is the initial weights' gradient
    history = model.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, verbose=0, callbacks=[flow])
    for name, value in before.items():
        assert history.history[f"grad_norm/{name}"][0] == pytest.approx(value, rel=1e-10)
    values = list(before.values())
    assert history.history["grad_norm_ratio"][0] == pytest.approx(values[0] / values[-1], rel=1e-10)
    mean_flow = GradientFlow()
    history = _model().fit(X, y, epochs=3, batch_size=8, verbose=0, callbacks=[mean_flow])
    assert len(history.history["grad_norm_ratio"]) == 3
    assert all(len(v) == 3 and all(x > 0 for x in v) for v in mean_flow.norms.values())


def test_vanishing_demo_numbers():
    """Measured (quick sizes, seed 0): first/last at initialisation 1.6e-6 with sigmoid, 4.0 with
    ReLU, 1.0 with ReLU and skip connections."""
    from nnkit.demos import run_demo

    runs = run_demo("vanishing", quick=True)["runs"]
    assert runs["sigmoid"]["ratio_at_init"] <= 1e-2  # at least 100x smaller in the first layer
    assert runs["residual"]["ratio_at_init"] > 1e-2
    assert runs["relu"]["ratio_at_init"] > 1e-2
    assert runs["sigmoid"]["ratio_training"][-1] <= 1e-2
    assert runs["residual"]["ratio_training"][-1] > 1e-2
    # the sigmoid network's norms fall layer by layer towards the input
    norms = runs["sigmoid"]["norms_at_init"]
    assert norms[0] < norms[5] < norms[-1]


def test_bad_input():
    with pytest.raises(ValueError, match="reduce"):
        GradientFlow(reduce="max")
    with pytest.raises(ValueError, match="compiled"):
        gradient_norms(nk.Sequential([nk.layers.Dense(2, input_dim=2)]), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="two layers"):
        first_last_ratio({"dense": 1.0})
