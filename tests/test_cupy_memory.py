"""The cupy backend's data set on a device of limited memory, on the simulated GPU (whose mem_info
shrinks with every allocation and which raises OutOfMemoryError past its capacity).

fit moves a data set whole when its device bytes (features in the model's dtype, int64 labels)
take at most 40% of the free memory, and then holds it and one shuffled copy, never more.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnkit as nk
from nnkit._cupy_data import device_nbytes

pytestmark = pytest.mark.skipif(os.environ.get("NNKIT_SIMULATED_GPU") != "1",
                                reason="counts device memory on the simulated GPU: run by test_simulated_gpu.py")
FEATURES = 20
ROW_BYTES = FEATURES * 4 + 8  # float32 features and an int64 label on the device
FREE = 2_000_000


@pytest.fixture
def cupy(monkeypatch):
    import cupy
    from cupy.cuda import device

    monkeypatch.setitem(device.MEMORY, "free", device.MEMORY["free"])  # restored after the test
    cupy.reset_transfers()
    return cupy


def _model(dtype="float32"):
    model = nk.Sequential([nk.layers.Dense(16, activation="relu", input_dim=FEATURES),
                           nk.layers.Dense(4, activation="softmax")], backend="cupy", dtype=dtype, seed=0)
    model.compile(nk.optimizers.SGD(lr=1e-3, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    model.build(FEATURES)
    return model


def _pixels(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, FEATURES), dtype=np.uint8), rng.integers(0, 4, size=n).astype(np.int8)


def _shrink(nbytes):
    from cupy.cuda import device

    device.MEMORY["free"] = device.free_now(nbytes)


def test_simulated_mem_info_shrinks_with_allocations_and_the_pool_keeps_freed_blocks(cupy):
    device = cupy.cuda.Device()
    pool = cupy.get_default_memory_pool()
    _shrink(1_000_000)
    assert device.mem_info[0] == 1_000_000
    a = cupy.zeros(50_000, dtype=cupy.float64)  # 400,000 bytes
    view = a[10:20].reshape(2, 5)  # views take nothing more
    assert device.mem_info[0] == 600_000 and pool.used_bytes() - pool.free_bytes() >= 400_000
    del a, view
    assert device.mem_info[0] == 600_000 and pool.free_bytes() == 400_000  # cached by the pool
    pool.free_all_blocks()
    assert device.mem_info[0] == 1_000_000
    with pytest.raises(cupy.cuda.memory.OutOfMemoryError):
        cupy.empty(1_000_001, dtype=cupy.uint8)
    assert device.mem_info[0] == 1_000_000  # a refused allocation takes nothing


def test_device_bytes_count_the_dtype_on_the_device():
    X, y = _pixels(100)
    model = nk.Sequential([nk.layers.Dense(4, activation="softmax", input_dim=FEATURES)], dtype="float64",
                          seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert device_nbytes(model, (X, y)) == 100 * (FEATURES * 8 + 8)  # float64 features, int64 labels
    assert X.nbytes + y.nbytes == 100 * (FEATURES + 1)  # 8x less on the host
    model32 = nk.Sequential([nk.layers.Dense(4, input_dim=FEATURES)], dtype="float32", seed=0)
    model32.compile("sgd", "mse")
    targets = np.zeros((100, 4), dtype=np.float64)
    assert device_nbytes(model32, (X, targets)) == 100 * FEATURES * 4 + 100 * 4 * 4
    assert device_nbytes(model32, (X, None)) == 100 * FEATURES * 4


def _fit_placement(cupy, n, epochs=2):
    X, y = _pixels(n)
    model = _model()
    _shrink(FREE)
    cupy.reset_transfers()
    history = model.fit(X, y, epochs=epochs, batch_size=512, verbose=0, seed=0)
    batches = -(-n // 512)
    resident = cupy.transfers["to_device"] == 2 + epochs  # X and y once, a permutation per epoch
    staged = cupy.transfers["to_device"] == 2 * batches * epochs  # each batch's X and y
    assert resident != staged, cupy.transfers
    return ("device" if resident else "host"), history, model


def test_data_just_under_the_limit_trains_on_the_device_with_one_shuffled_copy(cupy):
    n = int(0.97 * 0.4 * FREE / ROW_BYTES)  # uint8 on the host: a quarter of its device bytes
    pool = cupy.get_default_memory_pool()
    where, history, model = _fit_placement(cupy, n)
    assert where == "device"
    assert np.isfinite(history.history["loss"]).all()
    # the pool's peak: the data, one shuffled copy, the epoch's permutation (int64, 8 of a row's 88
    # bytes) and the model's working set, below the three copies (116% of the free memory, an
    # OutOfMemoryError) of a shuffle made while the previous epoch's copy is alive
    assert 2.0 * n * ROW_BYTES < pool.total_bytes() <= 2.3 * n * ROW_BYTES


def test_data_just_over_the_limit_is_staged_batch_by_batch(cupy):
    n = int(1.03 * 0.4 * FREE / ROW_BYTES)  # its host bytes (21 per row) would fit 40% easily
    assert n * (FEATURES + 1) < 0.4 * FREE
    where, history, _ = _fit_placement(cupy, n)
    assert where == "host"
    assert np.isfinite(history.history["loss"]).all()


def test_staged_and_resident_fits_of_uint8_data_train_the_same_model(cupy):
    X, y = _pixels(600, seed=4)
    resident, staged = _model("float64"), _model("float64")
    h_resident = resident.fit(X, y, epochs=2, batch_size=64, verbose=0, seed=3)
    _shrink(80_000)  # 600 rows take 100,800 bytes as float64 features and int64 labels: over 40%
    cupy.reset_transfers()
    h_staged = staged.fit(X, y, epochs=2, batch_size=64, verbose=0, seed=3)
    assert cupy.transfers["to_device"] == 2 * 10 * 2  # staged: 10 batches of X and y, 2 epochs
    assert h_staged.history == h_resident.history
    for a, b in zip(staged.get_weights(), resident.get_weights()):
        np.testing.assert_array_equal(a, b)
