"""Hidden waits for the device, counted by the simulated GPU (cupy.syncs(): synchronisations and
reads to the host), and kernels loaded per device on its node of several GPUs."""

from __future__ import annotations

import numpy as np
import pytest
from test_cupy_device_residency import cupy, pytestmark  # noqa: F401  (simulated GPU only; counts reset)

import nnkit as nk
from nnkit._loss_watch import WINDOW


def _model(backend="cupy", lr=0.01, loss="sparse_categorical_crossentropy", units=4, seed=3):
    model = nk.Sequential([nk.layers.Dense(16, activation="tanh", input_dim=10),
                           nk.layers.Dense(units, activation="softmax" if units > 1 else None)],
                          backend=backend, dtype="float64", seed=seed)
    model.compile(nk.optimizers.SGD(lr=lr, momentum=0.9), loss)
    model.build(10)
    return model


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 10)), rng.integers(0, 4, size=n)


def test_train_on_batch_waits_for_the_device_twice_not_four_times(cupy):
    X, y = _data(32)
    model = _model()
    cupy.reset_transfers()
    loss = model.train_on_batch(X, y)
    # every check of the batch (finite x, the labels' least and greatest) in one read; the loss
    assert cupy.syncs() == 2 and isinstance(loss, float)
    twin = _model(backend="numpy")
    assert twin.train_on_batch(X, y) == pytest.approx(loss, rel=1e-12)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_train_on_batch_still_rejects_bad_batches_before_any_change(cupy):
    X, y = _data(32)
    model = _model()
    before = model.get_weights()
    bad_x = X.copy()
    bad_x[3, 2] = np.inf
    with pytest.raises(ValueError, match="x: contains NaN or inf"):
        model.train_on_batch(bad_x, y)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\) for 4 outputs, got range \[0, 7\]"):
        model.train_on_batch(X, np.where(y == 1, 7, y))
    with pytest.raises(ValueError, match="sparse labels must be integers"):
        model.train_on_batch(X, y + 0.5)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_reads_the_loss_once_per_window_not_every_batch(cupy):
    X, y = _data(40 * 4)  # 40 batches of 4: windows end at batch 32 and at the epoch's end
    plain, watched = _model(), _model()
    cupy.reset_transfers()
    plain.fit(X, y, epochs=2, batch_size=4, verbose=0, seed=0, shuffle=False)
    without = cupy.syncs()
    cupy.reset_transfers()
    stop = nk.TerminateOnNaN()
    watched.fit(X, y, epochs=2, batch_size=4, verbose=0, seed=0, shuffle=False, callbacks=[stop])
    assert cupy.syncs() - without == 2 * -(-40 // WINDOW)
    assert stop.message is None
    for a, b in zip(watched.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_names_the_first_bad_batch_as_on_the_host(cupy):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(400, 10)), rng.normal(size=(400, 1)) * 1e3
    stops = {}
    for backend in ("numpy", "cupy"):
        model = _model(backend, lr=5.0, loss="mse", units=1)  # diverges: the loss overflows
        stops[backend] = nk.TerminateOnNaN()
        with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
            model.fit(X, Y, epochs=3, batch_size=4, verbose=0, seed=0, shuffle=False, callbacks=[stops[backend]])
    assert stops["numpy"].message is not None and "at epoch 1, batch" in stops["numpy"].message
    assert stops["cupy"].message == stops["numpy"].message


def test_kernels_load_on_each_device_they_run_on(cupy):
    X, y = _data(64)
    on_0 = _model()
    on_0.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)  # kernels loaded on device 0
    with cupy.cuda.Device(1):
        on_1 = _model()
        on_1.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
        assert on_1.layers[0].parameters()[0].value.device.id == 1
    for a, b in zip(on_1.get_weights(), on_0.get_weights()):
        np.testing.assert_array_equal(a, b)
