"""Keras's and PyTorch's names and habits: learning_rate=, input_shape=, a model built at
construction, Keras's summary(), fit(sample_weight=, class_weight=) against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense

OPTIMIZERS = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_takes_learning_rate(name):
    cls = getattr(nk.optimizers, name)
    opt = cls(learning_rate=0.05)
    assert opt.lr == 0.05 and opt.learning_rate == 0.05
    assert opt.get_config() == cls(lr=0.05).get_config()
    opt.learning_rate = 0.2
    assert opt.lr == 0.2
    with pytest.raises(TypeError, match="lr or learning_rate"):
        cls(0.1, learning_rate=0.2)
    with pytest.raises(ValueError, match="lr"):
        cls(learning_rate=-1.0)


def test_dense_takes_input_shape():
    a = nk.Sequential([Dense(3, input_shape=(4,))], seed=1)
    b = nk.Sequential([Dense(3, input_dim=4)], seed=1)
    assert a.input_shape == (4,) and a.count_params() == 15
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert Dense(3, input_shape=4).requested_input_dim == 4
    with pytest.raises(ValueError, match="not both"):
        Dense(3, input_dim=4, input_shape=(4,))
    with pytest.raises(ValueError, match="input_shape"):
        Dense(3, input_shape=(4, 2))


def test_model_is_built_at_construction_when_the_first_layer_knows_its_input():
    model = nk.Sequential([Dense(8, activation="tanh", input_dim=2), Dense(1, activation="sigmoid")], seed=0)
    assert model.built and model.count_params() == 2 * 8 + 8 + 8 + 1
    assert [w.shape for w in model.get_weights()] == [(2, 8), (8,), (8, 1), (1,)]
    # the same weights as the model built later from data of that width
    lazy = nk.Sequential([Dense(8, activation="tanh"), Dense(1, activation="sigmoid")], seed=0)
    assert not lazy.built
    lazy.build(2)
    for a, b in zip(model.get_weights(), lazy.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a layer added after construction rebuilds the model whole, from the same seed
    grown = nk.Sequential([Dense(8, activation="tanh", input_dim=2)], seed=0)
    grown.add(Dense(1, activation="sigmoid"))
    for a, b in zip(model.get_weights(), grown.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_summary_prints_the_keras_table(capsys):
    model = nk.Sequential([Dense(8, activation="tanh", input_dim=2), Dense(1)], seed=0)
    assert model.summary() is None
    printed = capsys.readouterr().out
    assert 'Model: "sequential"' in printed
    assert "Layer (type)" in printed and "Output Shape" in printed and "Param #" in printed
    assert "dense (Dense)" in printed and "(None, 8)" in printed and "(None, 1)" in printed
    assert "Total params: 33" in printed and "Trainable params: 33" in printed
    got = []
    text = model.summary(print_fn=got.append)
    assert capsys.readouterr().out == ""
    assert got == [text] and text + "\n" == printed


def _hand_linear_step(W, b, X, t, w, lr):
    """One full-batch SGD step of y = X W + b under E_w = 1/B sum_i w_i 1/2 (y_i - t_i)^2."""
    B = X.shape[0]
    r = X @ W + b - t
    loss = float(np.sum(w[:, None] * 0.5 * r * r) / B)
    dW = X.T @ (w[:, None] * r) / B
    db = np.sum(w[:, None] * r, axis=0) / B
    return loss, W - lr * dW, b - lr * db


def test_sample_weight_against_a_hand_computation(train_backend):
    rng = np.random.default_rng(0)
    X, t = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    weights = rng.uniform(0.0, 3.0, size=12)
    model = nk.Sequential([Dense(1, input_dim=3)], backend=train_backend, dtype="float64", seed=3)
    W, b = model.get_weights()
    model.compile(nk.optimizers.SGD(learning_rate=0.1), "mse")
    history = model.fit(X, t, epochs=1, batch_size=12, shuffle=False, verbose=0, sample_weight=weights)
    loss, W1, b1 = _hand_linear_step(W, b, X, t, weights, 0.1)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(model.get_weights()[0], W1, rtol=1e-12)
    np.testing.assert_allclose(model.get_weights()[1], b1, rtol=1e-12)


def test_class_weight_against_a_hand_computation(train_backend):
    rng = np.random.default_rng(1)
    X, labels = rng.normal(size=(10, 4)), rng.integers(0, 3, size=10)
    class_weight = {0: 1.0, 1: 5.0, 2: 0.5}
    model = nk.Sequential([Dense(3, activation="softmax", input_dim=4)], backend=train_backend,
                          dtype="float64", seed=2)
    W, b = model.get_weights()
    model.compile(nk.optimizers.SGD(learning_rate=0.3), "sparse_categorical_crossentropy")
    history = model.fit(X, labels, epochs=1, batch_size=10, shuffle=False, verbose=0, class_weight=class_weight)
    z = X @ W + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    w = np.array([class_weight[c] for c in labels])
    loss = float(np.mean(w * -np.log(p[np.arange(10), labels])))
    onehot = np.eye(3)[labels]
    dz = w[:, None] * (p - onehot) / 10
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(model.get_weights()[0], W - 0.3 * X.T @ dz, rtol=1e-11)
    np.testing.assert_allclose(model.get_weights()[1], b - 0.3 * dz.sum(axis=0), rtol=1e-11)


def test_weights_of_one_train_as_no_weights_with_shuffles_and_batches():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 2)), rng.integers(0, 2, size=50).astype(float)

    def trained(**weights):
        model = nk.Sequential([Dense(4, activation="tanh", input_dim=2), Dense(1, activation="sigmoid")],
                              backend="numpy", dtype="float64", seed=0)
        model.compile(nk.optimizers.Adam(learning_rate=0.01), "binary_crossentropy")
        h = model.fit(X, y, epochs=3, batch_size=8, seed=4, verbose=0, **weights)
        return model.get_weights(), h.history["loss"]

    base_w, base_loss = trained()
    for kwargs in ({"sample_weight": np.ones(50)}, {"class_weight": {0: 1.0, 1: 1.0}}):
        w, loss = trained(**kwargs)
        np.testing.assert_allclose(loss, base_loss, rtol=1e-12)
        for a, b in zip(w, base_w):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # doubling one class's weight changes the trajectory
    w, loss = trained(class_weight={1: 2.0})
    assert not np.allclose(w[0], base_w[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"sample_weight": np.ones(7)}, "sample_weight"),
    ({"sample_weight": -np.ones(20)}, "sample_weight"),
    ({"sample_weight": np.full(20, np.nan)}, "sample_weight"),
    ({"class_weight": [1.0, 2.0]}, "class_weight"),
    ({"class_weight": {0: -1.0}}, "class_weight"),
    ({"class_weight": {"a": 1.0}}, "class_weight"),
])
def test_bad_weights_raise_and_change_nothing(kwargs, match):
    X, y = np.zeros((20, 2)), np.zeros(20)
    model = nk.Sequential([Dense(1, activation="sigmoid", input_dim=2)], seed=0)
    model.compile("sgd", "binary_crossentropy")
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(X, y, epochs=1, verbose=0, **kwargs)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_sample_weight_with_validation_split_weighs_the_training_rows():
    rng = np.random.default_rng(3)
    X, t = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    weights = rng.uniform(0.5, 2.0, size=16)

    def trained(X, t, w, **kwargs):
        model = nk.Sequential([Dense(1, input_dim=3)], dtype="float64", seed=3)
        model.compile(nk.optimizers.SGD(learning_rate=0.1), "mse")
        model.fit(X, t, epochs=2, batch_size=4, seed=1, verbose=0, sample_weight=w, **kwargs)
        return model.get_weights()

    split = trained(X, t, weights, validation_split=0.25)  # the last 4 rows validate
    head = trained(X[:12], t[:12], weights[:12])
    for a, b in zip(split, head):
        np.testing.assert_allclose(a, b, rtol=1e-13)
