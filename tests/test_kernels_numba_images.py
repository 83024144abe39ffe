"""The numba image kernels against their generic ops: average pooling and batch norm, float32
and float64, strides and both paddings; fallbacks keep the op (Conv2D, the patches' adjoint
and max pooling: tests/test_kernels_host_images.py, with the numpy kernels)."""

import numpy as np
import pytest

from conftest import tolerance
from nnkit.ops import GENERIC_OPS
from nnkit.ops._geometry import window_geometry

numba = pytest.importorskip("numba")
from nnkit._kernels.numba import KERNELS  # noqa: E402

IMAGE_OPS = ["conv2d_activation", "conv2d_activation_backward", "conv_patches_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
             "avg_pool2d_backward", "batch_norm", "batch_norm_backward"]
# (n, h, w, c), window (kh, kw, sh, sw, dh, dw), padding
POOLS = [((2, 6, 6, 3), (2, 2, 2, 2, 1, 1), "valid"), ((2, 7, 7, 2), (3, 3, 2, 2, 1, 1), "same"),
         ((1, 5, 7, 2), (3, 2, 2, 1, 1, 1), "same"), ((2, 5, 5, 1), (3, 3, 1, 1, 1, 1), "same")]


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype)
    assert np.asarray(actual).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def test_the_image_kernels_are_bound_with_their_ops_names():
    import inspect

    for name in IMAGE_OPS:
        assert KERNELS[name].__name__ == name
        assert inspect.signature(KERNELS[name]) == inspect.signature(GENERIC_OPS[name])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,window,padding", POOLS)
def test_avg_pooling_matches_generic(rng, dtype, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    y = KERNELS["avg_pool2d"](x, window, pads, xp=np)
    close(y, GENERIC_OPS["avg_pool2d"](x, window, pads, xp=np), dtype)
    dy = rng.normal(size=y.shape).astype(dtype)
    close(KERNELS["avg_pool2d_backward"](dy, shape, window, pads, xp=np),
          GENERIC_OPS["avg_pool2d_backward"](dy, shape, window, pads, xp=np), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 3), (17, 5), (3, 4, 5, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_generic(rng, dtype, shape, affine):
    x = rng.normal(3.0, 2.0, size=shape).astype(dtype)
    c = shape[-1]
    gamma = rng.normal(size=c).astype(dtype) if affine else None
    beta = rng.normal(size=c).astype(dtype) if affine else None
    got = KERNELS["batch_norm"](x, gamma, beta, 1e-3, xp=np)
    want = GENERIC_OPS["batch_norm"](x, gamma, beta, 1e-3, xp=np)
    for a, b in zip(got, want):
        close(a, b, dtype, 10)
    dy = rng.normal(size=shape).astype(dtype)
    got = KERNELS["batch_norm_backward"](dy, want[1], want[2], gamma, xp=np)
    ref = GENERIC_OPS["batch_norm_backward"](dy, want[1], want[2], gamma, xp=np)
    for a, b in zip(got, ref):
        close(a, b, dtype, 30)


def test_batch_norm_falls_back_for_mixed_dtypes(rng):
    x32 = rng.normal(size=(5, 3)).astype(np.float32)
    got = KERNELS["batch_norm"](x32, np.ones(3), None, 1e-3, xp=np)  # float64 gamma: the generic op
    want = GENERIC_OPS["batch_norm"](x32, np.ones(3), None, 1e-3, xp=np)
    np.testing.assert_array_equal(got[0], want[0])
