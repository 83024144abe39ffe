"""Hidden waits for the device, counted by the simulated GPU (cupy.syncs(): synchronisations and
reads to the host), and kernels loaded per device on its node of several GPUs."""

from __future__ import annotations

import numpy as np
import pytest
from test_cupy_device_residency import cupy, pytestmark  # noqa: F401  (simulated GPU only; counts reset)

import nnkit as nk


def _model(backend="cupy", lr=0.01, loss="sparse_categorical_crossentropy", units=4, seed=3, dtype="float64"):
    model = nk.Sequential([nk.layers.Dense(16, activation="tanh", input_dim=10),
                           nk.layers.Dense(units, activation="softmax" if units > 1 else None)],
                          backend=backend, dtype=dtype, seed=seed)
    model.compile(nk.optimizers.SGD(lr=lr, momentum=0.9), loss)
    model.build(10)
    return model


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 10)), rng.integers(0, 4, size=n)


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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_on_batch_of_host_arrays_waits_once_for_its_loss(cupy, dtype):
    X, y = _data(32)
    host, device = _model(dtype=dtype), _model(dtype=dtype)
    cupy.reset_transfers()
    loss = host.train_on_batch(X, y)
    # checked on the host before moving: x and y go up once each, the loss comes back once
    assert cupy.syncs() == 1 and cupy.transfers == {"to_device": 2, "to_host": 1}
    xd, yd = cupy.asarray(X.astype(dtype)), cupy.asarray(y)
    cupy.reset_transfers()
    loss_d = device.train_on_batch(xd, yd)
    # device arrays are checked where they are: finite x, the labels' range (one read), the loss
    assert cupy.syncs() == 3 and cupy.transfers["to_device"] == 0
    assert loss == loss_d
    for a, b in zip(host.get_weights(), device.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_on_batch_of_host_arrays_converts_them_as_the_device_would(cupy):
    X, y = _data(32)
    models = []
    for _ in range(2):
        m = nk.Sequential([nk.layers.Dense(8, activation="relu", input_dim=10), nk.layers.Dense(4, activation="softmax")],
                          backend="cupy", dtype="float32", seed=1)
        m.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy")
        models.append(m)
    host, device = models
    first = host.train_on_batch(X, y.astype(np.int32))  # float64 features, int32 labels
    assert first == device.train_on_batch(cupy.asarray(X.astype(np.float32)), cupy.asarray(y))
    for a, b in zip(host.get_weights(), device.get_weights()):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_adds_no_wait_for_the_device_per_batch(cupy):
    X, y = _data(40 * 4)  # 40 batches of 4
    plain, watched = _model(), _model()
    cupy.reset_transfers()
    plain.fit(X, y, epochs=2, batch_size=4, verbose=0, seed=0, shuffle=False)
    without = cupy.syncs()
    cupy.reset_transfers()
    watched.fit(X, y, epochs=2, batch_size=4, verbose=0, seed=0, shuffle=False, callbacks=[nk.TerminateOnNaN()])
    assert cupy.syncs() == without  # the divergence guard checks the epoch's loss sum, read anyway
    for a, b in zip(watched.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


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
