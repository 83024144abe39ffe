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
    # to the host: 3 reads checking the input (finite X, label range), then per epoch the loss and
    # the metric's sum
    assert coarse["to_host"] == 3 + epochs * 2
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
    assert evaluated == {"to_device": 2, "to_host": 3 + 2}  # input checks; the loss and metric sums
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
