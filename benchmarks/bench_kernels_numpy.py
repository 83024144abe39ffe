"""Microbenchmarks: the numpy backend's image kernels against their generic ops on W5's shapes
(batch 64: the first Conv2D on (28, 28, 1), the second on (13, 13, 32), the poolings after them).

Run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest
benchmarks/bench_kernels_numpy.py --benchmark-only``. A loop of one op reuses its freed arrays;
inside a training step the generic ops' fresh arrays page-fault as well (kernels/numpy/images.py),
so ``nnkit bench --workloads W5`` shows more of the difference than these do.
"""

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
from nnkit._kernels.numpy import KERNELS  # noqa: E402
from nnkit.ops import GENERIC_OPS  # noqa: E402

IMPLS = ["kernel", "generic"]
WINDOW_3X3, POOL_2X2, NO_PADS = (3, 3, 1, 1, 1, 1), (2, 2, 2, 2, 1, 1), (0, 0, 0, 0)
CONVS = {"conv1": ((64, 28, 28, 1), 32), "conv2": ((64, 13, 13, 32), 64)}
POOLS = {"pool1": (64, 26, 26, 32), "pool2": (64, 11, 11, 64)}


def _op(impl, name):
    return (KERNELS if impl == "kernel" else GENERIC_OPS)[name]


def _conv_case(layer):
    shape, filters = CONVS[layer]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    kernel = (rng.normal(size=(3, 3, shape[3], filters)) * 0.1).astype(np.float32)
    return x, kernel, np.zeros(filters, np.float32)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", list(CONVS))
def test_conv2d_relu_forward(benchmark, impl, layer):
    x, kernel, bias = _conv_case(layer)
    op = _op(impl, "conv2d_activation")
    benchmark(lambda: op(x, kernel, bias, WINDOW_3X3, NO_PADS, "relu", xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", list(CONVS))
def test_conv2d_relu_backward(benchmark, impl, layer):
    x, kernel, bias = _conv_case(layer)
    y, tape = _op(impl, "conv2d_activation")(x, kernel, bias, WINDOW_3X3, NO_PADS, "relu", xp=np)
    dy = np.random.default_rng(1).normal(size=y.shape).astype(np.float32)
    op = _op(impl, "conv2d_activation_backward")
    need_dx = layer != "conv1"  # as in W5: the first layer's input gradient is not needed
    benchmark(lambda: op(dy, tape, kernel, WINDOW_3X3, NO_PADS, "relu", True, need_dx, xp=np))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", list(POOLS))
def test_max_pool_forward_and_backward(benchmark, impl, layer):
    x = np.maximum(np.random.default_rng(0).normal(size=POOLS[layer]), 0).astype(np.float32)  # relu's ties
    forward, backward = _op(impl, "max_pool2d"), _op(impl, "max_pool2d_backward")
    y, _ = forward(x, POOL_2X2, NO_PADS, xp=np)
    dy = np.random.default_rng(1).normal(size=y.shape).astype(np.float32)

    def step():
        _, idx = forward(x, POOL_2X2, NO_PADS, xp=np)
        return backward(dy, idx, x.shape, POOL_2X2, NO_PADS, xp=np)

    benchmark(step)
