"""Training on the cupy backend stays on the device: counted on the simulated GPU.

These tests need the simulated CuPy of tests/_simulated_gpu, which counts every host <-> device
transfer; tests/test_simulated_gpu.py runs them (real CuPy has no such counter).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnkit as nk

pytestmark = pytest.mark.skipif(os.environ.get("NNKIT_SIMULATED_GPU") != "1",
                                reason="counts transfers on the simulated GPU: run by test_simulated_gpu.py")


@pytest.fixture
def cupy():
    import cupy

    cupy.reset_transfers()
    return cupy


def _model():
    model = nk.Sequential([nk.layers.Dense(32, activation="relu", input_dim=20),
                           nk.layers.Dropout(0.2),
                           nk.layers.Dense(4, activation="softmax")], backend="cupy", seed=3)
    model.build(20)
    model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def _data(n=96):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 20)), rng.integers(0, 4, size=n)


def _fit_transfers(cupy, model, X, y, **kwargs):
    cupy.reset_transfers()
    model.fit(X, y, verbose=0, seed=0, **kwargs)
    return dict(cupy.transfers)


def test_cupy_fit_moves_the_data_once_and_reads_back_once_per_epoch(cupy):
    X, y = _data()
    model = _model()
    epochs = 3
    # 6 and 24 batches an epoch: the transfers must not depend on the number of batches
    coarse = _fit_transfers(cupy, model, X, y, epochs=epochs, batch_size=16)
    fine = _fit_transfers(cupy, model, X, y, epochs=epochs, batch_size=4)
    assert coarse == fine
    # to the device: X and y once, then one shuffled order per epoch
    assert coarse["to_device"] == 2 + epochs
    # to the host: 2 reads checking the input (finite X, the label range in one), then per epoch
    # the loss and the metric's sum
    assert coarse["to_host"] == 2 + epochs * 2
    unshuffled = _fit_transfers(cupy, model, X, y, epochs=epochs, batch_size=16, shuffle=False)
    assert unshuffled["to_device"] == 2


def test_cupy_fit_takes_device_arrays_without_a_copy_to_the_device(cupy):
    X, y = _data()
    X_dev, y_dev = cupy.asarray(X), cupy.asarray(y)
    counts = _fit_transfers(cupy, _model(), X_dev, y_dev, epochs=2, batch_size=8, shuffle=False)
    assert counts["to_device"] == 0


def test_cupy_evaluate_and_predict_read_back_once(cupy):
    X, y = _data(200)
    model = _model()
    cupy.reset_transfers()  # building moved the initial weights (drawn on the host) once
    result = model.evaluate(X, y, batch_size=16)  # 13 batches
    assert set(result) == {"loss", "accuracy"}
    evaluated = dict(cupy.transfers)
    assert evaluated == {"to_device": 2, "to_host": 2 + 2}  # input checks (finite X, the label range); the loss and metric sums
    cupy.reset_transfers()
    out = model.predict(X, batch_size=16)
    assert isinstance(out, np.ndarray) and out.shape == (200, 4)
    assert cupy.transfers["to_device"] == 1
    assert cupy.transfers["to_host"] <= 2  # the finite check and the outputs, not one per batch


def test_cupy_simulation_keeps_cupys_rules(cupy):
    """The simulation is only useful if it refuses what a GPU refuses."""
    host = np.arange(6.0).reshape(2, 3)
    dev = cupy.asarray(host)
    host[0, 0] = 99.0
    assert float(dev[0, 0]) == 0.0  # asarray copied: host writes never reach the device
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(dev)
    with pytest.raises(TypeError):
        dev + host
    with pytest.raises(TypeError):
        cupy.concatenate([dev, host])
    np.testing.assert_array_equal(dev.get()[1], host[1])
    assert type(dev.sum()) is cupy.ndarray and dev.sum().shape == ()


@pytest.fixture
def small_device(monkeypatch):
    """``small_device(nbytes)``: the device has nbytes free from now on (the test's data sets are
    larger than 40% of it; the rest holds the batches and activations)."""
    from cupy.cuda import device

    def shrink(nbytes=32_000):
        monkeypatch.setitem(device.MEMORY, "free", device.free_now(nbytes))

    return shrink


def _twin_models(dtype="float64"):
    models = []
    for _ in range(2):
        model = nk.Sequential([nk.layers.Dense(16, activation="tanh", input_dim=20),
                               nk.layers.Dense(4, activation="softmax")], backend="cupy", dtype=dtype, seed=5)
        model.build(20)
        model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
        models.append(model)
    return models


def test_cupy_fit_stages_a_data_set_too_large_for_the_device(cupy, monkeypatch):
    X, y = _data(96)  # 15,360 bytes of features
    resident, staged = _twin_models()
    h_resident = resident.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=1, validation_split=0.25)
    from cupy.cuda import device

    monkeypatch.setitem(device.MEMORY, "free", device.free_now(32_000))
    cupy.reset_transfers()
    h_staged = staged.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=1, validation_split=0.25)
    # 72 training rows in 5 batches and 24 validation rows in 1, each batch's X and y moved once;
    # checked on the host, so nothing comes back but the epoch's loss, metric and validation sums
    assert cupy.transfers == {"to_device": 3 * (5 + 1) * 2, "to_host": 3 * (2 + 2)}
    # the same shuffles and the same arithmetic: the same model, whichever side holds the data
    for w_staged, w_resident in zip(staged.get_weights(), resident.get_weights()):
        np.testing.assert_array_equal(w_staged, w_resident)
    assert h_staged.history == h_resident.history


def test_cupy_evaluate_and_predict_stage_large_data_batch_by_batch(cupy, small_device):
    X, y = _data(200)  # 33,600 bytes on the device: over 40% of 64 kB
    model, _ = _twin_models()
    small_device(64_000)
    cupy.reset_transfers()
    result = model.evaluate(X, y, batch_size=64)  # 4 batches
    assert cupy.transfers == {"to_device": 4 * 2, "to_host": 2}
    cupy.reset_transfers()
    out = model.predict(X, batch_size=64)
    assert cupy.transfers == {"to_device": 4, "to_host": 1}
    from cupy.cuda import device

    device.MEMORY["free"] = 16 << 30  # everything fits again: the same numbers from device-resident data
    assert model.evaluate(X, y, batch_size=64) == result
    np.testing.assert_array_equal(model.predict(X, batch_size=64), out)


def test_cupy_staged_data_is_checked_before_training(cupy, small_device):
    X, y = _data(96)
    model, _ = _twin_models()
    small_device(32_000)
    before = model.get_weights()
    cupy.reset_transfers()
    X[5, 3] = np.nan
    with pytest.raises(ValueError, match="X: contains NaN"):
        model.fit(X, y, epochs=1, verbose=0)
    X[5, 3] = 0.0
    y[7] = 4
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        model.fit(X, y, epochs=1, verbose=0)
    assert cupy.transfers["to_device"] == 0
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_the_simulation_counts_launches_and_allocations_as_a_gpu_would_take_them(cupy):
    a = cupy.ones((4, 3))
    cupy.reset_transfers()
    b = a + 1.0  # one kernel into a new buffer
    assert cupy.calls == {"kernels": 1, "allocations": 1, "graph_launches": 0}
    _ = b.T, b.reshape(3, 4), b[1:]  # views: nothing launched, nothing allocated
    c = cupy.empty((4, 3))  # a buffer, no kernel
    assert cupy.calls == {"kernels": 1, "allocations": 2, "graph_launches": 0}
    cupy.add(a, b, out=c)
    c[...] = 0.0
    cupy.copyto(c, b)
    assert cupy.calls == {"kernels": 4, "allocations": 2, "graph_launches": 0}
    stream = cupy.cuda.Stream(non_blocking=False)
    with stream:
        stream.begin_capture()
        cupy.add(a, b, out=c)
        c *= 2.0
        graph = stream.end_capture()
    assert cupy.calls["kernels"] == 4  # recorded, not run
    graph.launch(stream)
    assert cupy.calls == {"kernels": 4, "allocations": 2, "graph_launches": 1}
    np.testing.assert_array_equal(c.get(), 2 * (1.0 + 2.0) * np.ones((4, 3)))
