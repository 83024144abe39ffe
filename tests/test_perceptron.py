"""nk.Perceptron: the delta rule, its three ways to stop, and the bias (tests on every backend)."""

from __future__ import annotations

import numpy as np
import pytest

from nnkit.perceptron import Perceptron

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def _offset_clusters(seed=0):
    """Two clusters at (1, 1) (label 0) and (3, 3) (label 1): separable by x1 + x2 = 4, not through 0."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal([1.0, 1.0], 0.25, size=(50, 2)), rng.normal([3.0, 3.0], 0.25, size=(50, 2))])
    return X, np.r_[np.zeros(50), np.ones(50)]


def _separable(seed=0, n=100):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + 2.0 * X[:, 1] > 0.3).astype(float)
    return X, y


def test_delta_rule_one_update_by_hand():
    # w(0) = 0 (init_scale 0): step(0) = 1 for the first sample, label 0, so w -= lr x and b -= lr
    p = Perceptron(lr=0.5, max_epochs=1, shuffle=False, init_scale=0.0).fit(
        np.array([[2.0, -1.0]]), np.array([0.0]))
    np.testing.assert_allclose(p.weights, [-1.0, 0.5])
    assert p.bias == -0.5
    assert p.errors_ == [1]
    assert p.stop_reason == "max_epochs"


def test_converges_on_separable_data(backend):
    X, y = _separable()
    p = Perceptron(seed=0, backend=backend, max_epochs=100).fit(X, y)
    assert p.stop_reason == "converged"
    assert p.errors_[-1] == 0 and all(e > 0 for e in p.errors_[:-1])
    assert len(p.errors_) < 100
    np.testing.assert_array_equal(p.predict(X), y.astype(int))
    assert p.score(X, y) == 1.0


def test_same_trajectory_on_every_backend(backend):
    X, y = _separable(seed=3)
    ref = Perceptron(seed=1, backend="numpy").fit(X, y)
    p = Perceptron(seed=1, backend=backend).fit(X, y)
    assert p.errors_ == ref.errors_
    np.testing.assert_allclose(p.weights, ref.weights, rtol=1e-12)


def test_stalls_on_xor_with_patience(backend):
    p = Perceptron(seed=0, patience=5, max_epochs=1000, backend=backend).fit(XOR_X, XOR_Y)
    assert p.stop_reason == "stalled"
    best = min(p.errors_)
    assert best >= 1  # XOR is not linearly separable
    first_best = p.errors_.index(best)
    # stopped exactly `patience` epochs after the fewest misclassifications was last improved
    assert len(p.errors_) == first_best + 1 + 5
    assert p.score(XOR_X, XOR_Y) < 1.0


def test_stops_at_max_epochs():
    p = Perceptron(seed=0, max_epochs=7).fit(XOR_X, XOR_Y)
    assert p.stop_reason == "max_epochs"
    assert len(p.errors_) == 7 == p.n_epochs_


def test_without_bias_offset_data_cannot_be_separated(backend):
    X, y = _offset_clusters()
    with_bias = Perceptron(seed=0, max_epochs=200, patience=20, backend=backend).fit(X, y)
    assert with_bias.stop_reason == "converged"
    assert with_bias.score(X, y) == 1.0
    assert with_bias.bias < -1.0  # the boundary w.x + b = 0 is pushed away from the origin

    no_bias = Perceptron(seed=0, max_epochs=200, patience=20, use_bias=False, backend=backend).fit(X, y)
    assert no_bias.bias == 0.0
    assert no_bias.stop_reason == "stalled"
    # a line through the origin puts both clusters (on nearly one ray) mostly on one side
    assert min(no_bias.errors_) >= 20
    assert no_bias.score(X, y) <= 0.8


def test_decision_function_is_w_dot_x_plus_b():
    X, y = _separable()
    p = Perceptron(seed=0).fit(X, y)
    np.testing.assert_allclose(p.decision_function(X), X @ p.weights + p.bias, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"lr": -1}, {"max_epochs": 0}, {"patience": 0},
                                    {"init_scale": -1}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Perceptron(**kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="0 or 1"):
        Perceptron().fit(XOR_X, np.array([-1.0, 1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="NaN"):
        Perceptron().fit(np.array([[np.nan, 0.0]]), np.array([1.0]))
    with pytest.raises(ValueError, match="y"):
        Perceptron().fit(XOR_X, XOR_Y[:3])
    with pytest.raises(ValueError, match="empty"):
        Perceptron().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="not fitted"):
        Perceptron().predict(XOR_X)
    p = Perceptron(seed=0, max_epochs=2).fit(XOR_X, XOR_Y)
    with pytest.raises(ValueError, match="2 features"):
        p.predict(np.zeros((1, 3)))
