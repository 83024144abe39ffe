"""Microbenchmarks: each fused numba kernel against its generic NumPy op, at several sizes, and
the serial against the parallel variant (the crossover _threads.PARALLEL_MIN_SIZE records).

Run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest
benchmarks/bench_kernels_numba.py --benchmark-only``; the first round of each case compiles.
"""

import numpy as np
import pytest

pytest.importorskip("numba")
pytest.importorskip("pytest_benchmark")
from nnkit._kernels.numba import KERNELS, _jit  # noqa: E402
from nnkit.ops import GENERIC_OPS  # noqa: E402

ROWWISE_SHAPES = [(10, 8), (32, 128), (128, 256), (256, 4096)]
FLAT_SIZES = [10_000, 1_000_000, 16_777_216]
IMPLS = ["numba", "numpy"]


def _op(impl, name):
    return (KERNELS if impl == "numba" else GENERIC_OPS)[name]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", ROWWISE_SHAPES, ids=str)
def test_bias_relu_forward(benchmark, impl, shape):
    rng = np.random.default_rng(0)
    z = rng.normal(size=shape).astype(np.float32)
    b = rng.normal(size=shape[1]).astype(np.float32)
    op = _op(impl, "bias_activation")
    benchmark(lambda: op(z.copy(), b, "relu", xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", ROWWISE_SHAPES, ids=str)
def test_relu_backward_with_bias_gradient(benchmark, impl, shape):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape).astype(np.float32)
    y, dy = np.maximum(a, 0), rng.normal(size=shape).astype(np.float32)
    op = _op(impl, "bias_activation_backward")
    benchmark(lambda: op(dy, a, y, "relu", True, xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", [(32, 10), (128, 10), (256, 1024)], ids=str)
def test_sparse_softmax_cross_entropy(benchmark, impl, shape):
    rng = np.random.default_rng(0)
    z = rng.normal(size=shape).astype(np.float32)
    labels = rng.integers(0, shape[1], size=shape[0])
    op = _op(impl, "sparse_softmax_cross_entropy")
    benchmark(lambda: op(z, labels, xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("size", FLAT_SIZES)
def test_adam_update(benchmark, impl, size):
    rng = np.random.default_rng(0)
    w, g, m = (rng.normal(size=size).astype(np.float32) for _ in range(3))
    v = np.abs(g)
    op = _op(impl, "adam_update")
    benchmark(lambda: op(w, g, m, v, lr=1e-3, step=10, xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("size", FLAT_SIZES)
def test_sgd_momentum_update(benchmark, impl, size):
    rng = np.random.default_rng(0)
    w, g, v = (rng.normal(size=size).astype(np.float32) for _ in range(3))
    op = _op(impl, "sgd_update")
    benchmark(lambda: op(w, g, v, lr=1e-3, momentum=0.9, xp=np))


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("size", FLAT_SIZES)
@pytest.mark.parametrize("after_blas", [False, True], ids=["alone", "after_blas"])
def test_sgd_serial_vs_parallel(benchmark, variant, size, after_blas):
    """The crossover, alone and right after a 2-thread GEMM (the training loop's situation)."""
    rng = np.random.default_rng(0)
    w, g, v = (rng.normal(size=size).astype(np.float32) for _ in range(3))
    a = rng.normal(size=(512, 512)).astype(np.float32)
    kernel = _jit.sgd_parallel if variant == "parallel" else _jit.sgd_serial
    T = np.float32

    def run():
        if after_blas:
            a @ a
        kernel(w, g, v, T(1e-3), T(0.9), False, T(0.0))

    benchmark(run)


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("shape", [(128, 256), (256, 4096)], ids=str)
@pytest.mark.parametrize("after_blas", [False, True], ids=["alone", "after_blas"])
def test_bias_relu_serial_vs_parallel(benchmark, variant, shape, after_blas):
    rng = np.random.default_rng(0)
    z = rng.normal(size=shape).astype(np.float32)
    x = rng.normal(size=(shape[0], 512)).astype(np.float32)
    w = rng.normal(size=(512, shape[1])).astype(np.float32)
    b, y = rng.normal(size=shape[1]).astype(np.float32), np.empty_like(z)
    kernel = _jit.bias_activation_parallel if variant == "parallel" else _jit.bias_activation_serial

    def run():
        zz = x @ w if after_blas else z
        kernel(zz, b, y, True, _jit.RELU)

    benchmark(run)


@pytest.mark.parametrize("path", ["one-call", "layered", "per-layer"])
@pytest.mark.parametrize("dropout", [None, 0.2], ids=["plain", "dropout"])
def test_train_step_64_128_64_10(benchmark, monkeypatch, path, dropout):
    """One training step of 64-128-[Dropout]-64-10, batch 32, float32, SGD momentum: the
    compiled steps against the per-layer path (one path per process gives steadier figures:
    the one-call step's np.dot and NumPy's matmul use two BLAS pools)."""
    import nnkit as nk
    from nnkit._kernels.numba import train_step

    layers = [nk.layers.Dense(128, activation="relu", input_dim=64)]
    layers += [nk.layers.Dropout(dropout)] if dropout is not None else []
    layers += [nk.layers.Dense(64, activation="relu"), nk.layers.Dense(10, activation="softmax")]
    model = nk.Sequential(layers, backend="numba", dtype="float32", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.01, momentum=0.9), "sparse_categorical_crossentropy")
    model.build(64)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=32)
    if path == "per-layer":
        Xb, yb = model.backend.asarray(X), model.backend.asarray(y)

        def step():
            model._train_step(Xb, yb)  # fit's per-layer step, on checked arrays
    else:
        monkeypatch.setattr(train_step, "MAX_MACS_PER_SAMPLE", 10**12 if path == "one-call" else 0)
        compiled = train_step.make_train_step(model)

        def step():
            compiled(X, y)
    step()
    benchmark(step)
