"""The CUDA image kernels (kernels/cuda/images.cu) against their generic ops, float32 and float64,
on the CPU emulator (and a GPU where one is usable): patches and their adjoint, pooling, batch norm."""

import numpy as np
import pytest

import array_api_compat.numpy as np_xp

import test_kernels_cuda as cuda_tests
from conftest import tolerance
from nnkit._kernels.cuda import KERNELS
from nnkit._kernels.cuda import images as cuda_images
from nnkit.ops import GENERIC_OPS
from nnkit.ops._geometry import window_geometry

emulator = cuda_tests.emulator
GEOMETRIES = [((2, 7, 7, 3), (3, 3, 1, 1, 1, 1), "valid"), ((3, 8, 7, 2), (3, 2, 2, 1, 1, 1), "same"),
              ((2, 9, 9, 1), (3, 3, 1, 1, 2, 2), "same"), ((1, 6, 5, 4), (2, 4, 2, 2, 1, 1), "same"),
              ((2, 9, 8, 2), (3, 3, 2, 2, 2, 2), "valid")]
POOLS = [((2, 6, 6, 3), (2, 2, 2, 2, 1, 1), "valid"), ((2, 7, 7, 2), (3, 3, 2, 2, 1, 1), "same"),
         ((1, 5, 7, 2), (3, 2, 2, 1, 1, 1), "same"), ((2, 5, 5, 1), (3, 3, 1, 1, 1, 1), "same")]


@pytest.fixture(params=["emulated", "gpu"])
def device(request, monkeypatch):
    cuda_images._kernels.clear()
    yield from cuda_tests.device.__wrapped__(request, monkeypatch)
    cuda_images._kernels.clear()


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype)
    assert np.asarray(actual).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


@pytest.mark.parametrize("shape,window,padding", GEOMETRIES)
def test_patches_and_adjoint_match_generic(device, dtype, rng, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    for fill in (0.0, -np.inf):
        got = device.get(KERNELS["conv_patches"](device.put(x), window, pads, fill, xp=device.xp))
        np.testing.assert_array_equal(got, GENERIC_OPS["conv_patches"](x, window, pads, fill, xp=np_xp))
    dp = rng.normal(size=got.shape).astype(dtype)
    close(device.get(KERNELS["conv_patches_backward"](device.put(dp), shape, window, pads, xp=device.xp)),
          GENERIC_OPS["conv_patches_backward"](dp, shape, window, pads, xp=np_xp), dtype, 10)
    assert ran("patches", "patches_backward")


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_conv2d_activation_matches_generic(device, dtype, rng, activation):
    shape, window, padding = (2, 7, 6, 3), (3, 3, 2, 1, 1, 1), "same"
    x = rng.normal(size=shape).astype(dtype)
    kernel = rng.normal(size=(3, 3, 3, 4)).astype(dtype)
    bias = rng.normal(size=4).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    y, tape = KERNELS["conv2d_activation"](device.put(x), device.put(kernel), device.put(bias), window, pads,
                                           activation, xp=device.xp)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](x, kernel, bias, window, pads, activation, xp=np_xp)
    close(device.get(y), y_ref, dtype, 10)
    dy = rng.normal(size=y_ref.shape).astype(dtype)
    got = KERNELS["conv2d_activation_backward"](device.put(dy), tape, device.put(kernel), window, pads, activation,
                                                xp=device.xp)
    want = GENERIC_OPS["conv2d_activation_backward"](dy, tape_ref, kernel, window, pads, activation, xp=np_xp)
    for a, b in zip(got, want):
        close(device.get(a), b, dtype, 30)
    assert ran("patches", "patches_backward")


def ran(*templates):
    """Whether the .cu kernels ran (the wrappers did not fall back to the generic ops)."""
    names = {k.split("::")[1].split("<")[0] for k in cuda_images._kernels}
    return set(templates) <= names


@pytest.mark.parametrize("shape,window,padding", POOLS)
def test_pooling_matches_generic(device, dtype, rng, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    y, idx = KERNELS["max_pool2d"](device.put(x), window, pads, xp=device.xp)
    y_ref, idx_ref = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np_xp)
    np.testing.assert_array_equal(device.get(y), y_ref)
    np.testing.assert_array_equal(device.get(idx), idx_ref)
    dy = rng.normal(size=y_ref.shape).astype(dtype)
    close(device.get(KERNELS["max_pool2d_backward"](device.put(dy), idx, shape, window, pads, xp=device.xp)),
          GENERIC_OPS["max_pool2d_backward"](dy, idx_ref, shape, window, pads, xp=np_xp), dtype)
    close(device.get(KERNELS["avg_pool2d"](device.put(x), window, pads, xp=device.xp)),
          GENERIC_OPS["avg_pool2d"](x, window, pads, xp=np_xp), dtype)
    close(device.get(KERNELS["avg_pool2d_backward"](device.put(dy), shape, window, pads, xp=device.xp)),
          GENERIC_OPS["avg_pool2d_backward"](dy, shape, window, pads, xp=np_xp), dtype)
    assert ran("max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward")


@pytest.mark.parametrize("shape", [(1, 3), (300, 5), (3, 4, 5, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_generic(device, dtype, rng, shape, affine):
    x = rng.normal(3.0, 2.0, size=shape).astype(dtype)
    c = shape[-1]
    gamma = rng.normal(size=c).astype(dtype) if affine else None
    beta = rng.normal(size=c).astype(dtype) if affine else None
    put = lambda a: None if a is None else device.put(a)  # noqa: E731
    got = KERNELS["batch_norm"](device.put(x), put(gamma), put(beta), 1e-3, xp=device.xp)
    want = GENERIC_OPS["batch_norm"](x, gamma, beta, 1e-3, xp=np_xp)
    for a, b in zip(got, want):
        close(device.get(a), b, dtype, 10)
    dy = rng.normal(size=shape).astype(dtype)
    got = KERNELS["batch_norm_backward"](device.put(dy), device.put(want[1]), device.put(want[2]), put(gamma),
                                         xp=device.xp)
    for a, b in zip(got, GENERIC_OPS["batch_norm_backward"](dy, want[1], want[2], gamma, xp=np_xp)):
        close(device.get(a), b, dtype, 30)
    assert ran("batch_norm_stats", "batch_norm_apply", "batch_norm_sums", "batch_norm_backward")
