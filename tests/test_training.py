"""compile / fit / evaluate / predict on every training backend: accuracy targets, the three
kinds of gradient descent, callbacks, History."""

import math

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense, Dropout


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return nk.datasets.digits(return_split=True, seed=0)


def test_digits_reaches_96_percent(train_backend, digits):
    X_train, y_train, X_test, y_test = digits
    model = nk.Sequential([Dense(64, activation="relu", input_dim=64), Dense(64, activation="relu"),
                           Dense(10, activation="softmax")], backend=train_backend, seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(X_train, y_train, epochs=40, batch_size=32, verbose=0, seed=0)
    assert len(history.history["loss"]) == 40
    result = model.evaluate(X_test, y_test)
    assert result["accuracy"] >= 0.96, result
    assert history.history["loss"][-1] < history.history["loss"][0] / 5


def test_spiral_learned_by_small_tanh_network(train_backend):
    X, y = nk.datasets.playground("spiral", 500, noise=0.0, seed=0, labels="01")
    model = nk.Sequential([Dense(16, activation="tanh", input_dim=2), Dense(16, activation="tanh"),
                           Dense(1, activation="sigmoid")], backend=train_backend, seed=0)
    model.compile(nk.optimizers.Adam(lr=0.01), "binary_crossentropy", ["accuracy"])
    model.fit(X, y, epochs=250, batch_size=10, verbose=0, seed=0)
    assert model.evaluate(X, y)["accuracy"] >= 0.95


@pytest.mark.parametrize("batch_size,steps_per_epoch", [(1, 30), (7, 5), (30, 1), (1000, 1)])
def test_stochastic_minibatch_and_full_batch(batch_size, steps_per_epoch, rng):
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    model = nk.Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(nk.optimizers.SGD(lr=0.01), "mse")
    model.fit(X, y, epochs=2, batch_size=batch_size, verbose=0)
    assert model.optimizer.iterations == 2 * steps_per_epoch


def test_full_batch_gradient_descent_equals_hand_computed_step(rng):
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    model = nk.Sequential([Dense(1, input_dim=3)], dtype="float64", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1), "mse")
    W, b = model.get_weights() if model.built else (None, None)
    model.build()
    W, b = model.get_weights()
    model.fit(X, y, epochs=1, batch_size=20, shuffle=False, verbose=0)
    err = X @ W + b - y  # E = 1/N sum 1/2 err^2 -> dE/dW = X^T err / N
    np.testing.assert_allclose(model.get_weights()[0], W - 0.1 * X.T @ err / 20, rtol=1e-12)
    np.testing.assert_allclose(model.get_weights()[1], b - 0.1 * err.mean(0), rtol=1e-12)


def test_history_loss_is_mean_of_batch_losses(rng):
    X, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    model = nk.Sequential([Dense(1, input_dim=2)], dtype="float64", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.0), "mse")  # lr 0: the weights stay, the loss is exact
    history = model.fit(X, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    W, b = model.get_weights()
    losses = [0.5 * ((X[s:s + 4] @ W + b - y[s:s + 4]) ** 2).sum() / len(X[s:s + 4]) for s in (0, 4, 8)]
    assert math.isclose(history.history["loss"][0], np.mean(losses), rel_tol=1e-12)


def test_validation_split_takes_last_rows_and_metrics(rng):
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    model = nk.Sequential([Dense(8, activation="relu", input_dim=3), Dense(2, activation="softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(X, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    expected = model.evaluate(X[40:], y[40:])
    assert math.isclose(history.history["val_loss"][-1], expected["loss"], rel_tol=1e-5)
    assert math.isclose(history.history["val_accuracy"][-1], expected["accuracy"], rel_tol=1e-6)


def test_seeded_fit_is_reproducible(train_backend, rng):
    X, y = rng.normal(size=(40, 4)), rng.normal(size=(40, 2))

    def run():
        m = nk.Sequential([Dense(8, activation="tanh", input_dim=4), Dropout(0.3), Dense(2)],
                          backend=train_backend, seed=3)
        m.compile(nk.optimizers.Adam(lr=0.01), "mse")
        m.fit(X, y, epochs=3, batch_size=8, verbose=0, seed=11)
        return m.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_backends_train_to_the_same_weights_float64(train_backend, rng):
    X = rng.normal(size=(64, 5))
    y = rng.integers(0, 3, size=64)

    def train(be):
        m = nk.Sequential([Dense(16, activation="relu", input_dim=5), Dense(8, activation="tanh"),
                           Dense(3, activation="softmax")], backend=be, dtype="float64", seed=7)
        m.compile(nk.optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True), "sparse_categorical_crossentropy")
        m.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=1)
        return m.get_weights()

    for a, b in zip(train("numpy"), train(train_backend)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_early_stopping_restores_best_weights_exactly(rng):
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    Xv, yv = rng.normal(size=(20, 3)), rng.normal(size=(20, 1)) + 5.0
    seen = []
    model = nk.Sequential([Dense(16, activation="tanh", input_dim=3), Dense(1)], seed=0)
    model.compile(nk.optimizers.SGD(lr=0.05, momentum=0.9), "mse")
    record = nk.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append((logs["val_loss"], model.get_weights())))
    stop = nk.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X, y, epochs=40, batch_size=8, validation_data=(Xv, yv), callbacks=[record, stop],
                        verbose=0, seed=0)
    best_loss, best_weights = min(seen, key=lambda s: s[0])
    assert len(history.history["loss"]) < 40 and stop.stopped_epoch is not None
    for a, b in zip(model.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)
    assert math.isclose(model.evaluate(Xv, yv)["loss"], best_loss, rel_tol=1e-6)


def test_terminate_on_nan_names_epoch_and_batch(rng, capsys):
    X, y = rng.normal(size=(40, 3)) * 100, rng.normal(size=(40, 1)) * 100
    model = nk.Sequential([Dense(32, activation="relu", input_dim=3), Dense(1)], seed=0)
    model.compile(nk.optimizers.SGD(lr=10.0), "mse")
    stop = nk.TerminateOnNaN()
    with np.errstate(all="ignore"):
        history = model.fit(X, y, epochs=50, batch_size=4, callbacks=[stop], verbose=0, seed=0)
    assert stop.message is not None and "epoch 1, batch 3" in stop.message
    assert len(history.history.get("loss", [])) < 50  # the diverged epoch is not logged
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the last finite weights
    assert "TerminateOnNaN" in capsys.readouterr().out


def test_learning_rate_scheduler_and_checkpoint(tmp_path, rng):
    X, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    model = nk.Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1), "mse")
    path = tmp_path / "ckpt-{epoch}.nnk"
    history = model.fit(X, y, epochs=3, verbose=0, callbacks=[
        nk.LearningRateScheduler(lambda epoch: 0.1 * 0.5**epoch), nk.ModelCheckpoint(str(path))])
    assert history.history["lr"] == [0.1, 0.05, 0.025]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1.nnk", "ckpt-2.nnk", "ckpt-3.nnk"]
    again = nk.load_model(tmp_path / "ckpt-3.nnk")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_progress_one_line_per_epoch_when_not_a_terminal(rng, capsys):
    X, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    model = nk.Sequential([Dense(1, input_dim=2)], seed=0)
    model.compile("sgd", "mse", ["mae"])
    model.fit(X, y, epochs=3, verbose=1)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch")]
    assert len(lines) == 3 and "loss:" in lines[0] and "mae:" in lines[0]
    model.fit(X, y, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_returns_numpy_in_batches(train_backend, rng):
    X = rng.normal(size=(600, 4))
    model = nk.Sequential([Dense(3, activation="softmax", input_dim=4)], backend=train_backend, seed=0)
    model.compile("sgd", "categorical_crossentropy")
    out = model.predict(X, batch_size=256)
    assert isinstance(out, np.ndarray) and out.shape == (600, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(X, batch_size=600), rtol=1e-6)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)


def test_metrics_values(rng):
    model = nk.Sequential([Dense(2, activation="softmax", input_dim=2)], dtype="float64", seed=0)
    model.compile("sgd", "categorical_crossentropy", ["accuracy", "mse", "mae"])
    X = rng.normal(size=(30, 2))
    y = np.eye(2)[rng.integers(0, 2, 30)]
    result = model.evaluate(X, y)
    p = model.predict(X)
    assert math.isclose(result["accuracy"], np.mean(p.argmax(1) == y.argmax(1)))
    assert math.isclose(result["mse"], np.mean((p - y) ** 2), rel_tol=1e-12)
    assert math.isclose(result["mae"], np.mean(np.abs(p - y)), rel_tol=1e-12)
    assert math.isclose(result["loss"], -np.sum(y * np.log(p)) / 30, rel_tol=1e-9)


def test_regularized_loss_reported_with_penalty(rng):
    X, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    model = nk.Sequential([Dense(1, input_dim=2, kernel_regularizer=nk.regularizers.L2(0.5))],
                          dtype="float64", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.0), "mse")
    history = model.fit(X, y, epochs=1, batch_size=10, verbose=0)
    W, b = model.get_weights()
    expected = 0.5 * ((X @ W + b - y) ** 2).sum() / 10 + 0.5 * (W**2).sum()
    assert math.isclose(history.history["loss"][0], expected, rel_tol=1e-12)
    assert math.isclose(model.evaluate(X, y)["loss"], expected, rel_tol=1e-12)


def test_train_on_batch_equals_one_fit_step(rng):
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))

    def model():
        m = nk.Sequential([Dense(4, activation="tanh", input_dim=3, kernel_regularizer="l2"), Dense(2)],
                          dtype="float64", seed=0)
        m.compile(nk.optimizers.Adam(lr=0.01), "mse")
        return m

    a, b = model(), model()
    loss = a.train_on_batch(X, y)
    history = b.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert math.isclose(loss, history.history["loss"][0], rel_tol=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_warmup_runs_on_a_copy_and_leaves_the_model_and_its_stream_as_they_were(train_backend):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, size=40)

    def make():
        model = nk.Sequential([Dense(8, activation="relu", input_dim=4), nk.layers.Dropout(0.3),
                               Dense(3, activation="softmax")], backend=train_backend, dtype="float64", seed=6)
        model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(X, y, epochs=1, batch_size=8, verbose=0, seed=1)
        return model

    warmed, cold = make(), make()
    be = warmed.backend  # both models draw from this backend's one generator
    before = (warmed.get_weights(), warmed.optimizer.get_state(warmed.parameters()), warmed.optimizer.iterations)
    be.seed(7)
    expected = be.to_numpy(be.random_uniform((6,), "float64"))
    be.seed(7)
    seconds = warmed.warmup(batch_size=16)
    np.testing.assert_array_equal(be.to_numpy(be.random_uniform((6,), "float64")), expected)
    assert isinstance(seconds, float) and seconds >= 0.0
    for a, b in zip(warmed.get_weights(), before[0]):
        np.testing.assert_array_equal(a, b)
    state = warmed.optimizer.get_state(warmed.parameters())
    assert state.keys() == before[1].keys() and warmed.optimizer.iterations == before[2]
    for key in state:
        np.testing.assert_array_equal(state[key], before[1][key])
    # training goes on as if no warm-up had run
    for model in (warmed, cold):
        be.seed(9)
        model.fit(X, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(warmed.get_weights(), cold.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_warmup_needs_a_compiled_built_model_and_a_batch_size():
    model = nk.Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="compile"):
        model.warmup()
    model.compile("sgd", "mse")
    model.build(3)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            model.warmup(bad)
