"""The numba image kernels against their generic ops: the patches' adjoint, pooling and
batch norm, float32 and float64, strides, dilations and both paddings; fallbacks keep the op."""

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
GEOMETRIES = [((2, 7, 7, 3), (3, 3, 1, 1, 1, 1), "valid"), ((3, 8, 7, 2), (3, 2, 2, 1, 1, 1), "same"),
              ((2, 9, 9, 1), (3, 3, 1, 1, 2, 2), "same"), ((1, 6, 5, 4), (2, 4, 2, 2, 1, 1), "same"),
              ((2, 9, 8, 2), (3, 3, 2, 2, 2, 2), "valid")]
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
@pytest.mark.parametrize("shape,window,padding", GEOMETRIES)
def test_patches_and_adjoint_match_generic(rng, dtype, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    assert "conv_patches" not in KERNELS  # the generic op's strided copies are faster (images.py)
    dp = rng.normal(size=GENERIC_OPS["conv_patches"](x, window, pads, xp=np).shape).astype(dtype)
    close(KERNELS["conv_patches_backward"](dp, shape, window, pads, xp=np),
          GENERIC_OPS["conv_patches_backward"](dp, shape, window, pads, xp=np), dtype, 10)


def conv_case(rng, dtype, shape, window, padding, filters=3, use_bias=True):
    x = rng.normal(size=shape).astype(dtype)
    kernel = rng.normal(size=window[:2] + (shape[3], filters)).astype(dtype)
    bias = rng.normal(size=filters).astype(dtype) if use_bias else None
    return x, kernel, bias, window_geometry(shape[1], shape[2], window, padding)[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,window,padding", GEOMETRIES)
@pytest.mark.parametrize("activation,use_bias", [("relu", True), ("relu", False), ("linear", True),
                                                 ("linear", False), ("tanh", True)])
def test_conv2d_activation_matches_generic(rng, dtype, shape, window, padding, activation, use_bias):
    x, kernel, bias, pads = conv_case(rng, dtype, shape, window, padding, use_bias=use_bias)
    y, tape = KERNELS["conv2d_activation"](x, kernel, bias, window, pads, activation, xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](x, kernel, bias, window, pads, activation, xp=np)
    close(y, y_ref, dtype, 10)
    assert y.shape == y_ref.shape == shape[:1] + y.shape[1:3] + (3,)
    dy = rng.normal(size=y.shape).astype(dtype)
    for need_dx in (True, False):
        got = KERNELS["conv2d_activation_backward"](dy, tape, kernel, window, pads, activation, use_bias, need_dx,
                                                    xp=np)
        want = GENERIC_OPS["conv2d_activation_backward"](dy, tape_ref, kernel, window, pads, activation, use_bias,
                                                         need_dx, xp=np)
        for a, b in zip(got, want):
            assert (a is None) == (b is None)
            if b is not None:
                close(a, b, dtype, 30)
        assert (got[0] is None) == (not need_dx) and (got[2] is None) == (not use_bias)


def test_conv2d_activation_falls_back_for_views_and_mixed_dtypes(rng):
    x, kernel, bias, pads = conv_case(rng, "float64", (2, 7, 7, 6), (3, 3, 1, 1, 1, 1), "valid")
    xv, kv = x[..., ::2], kernel[:, :, ::2]  # strided views
    y, tape = KERNELS["conv2d_activation"](xv, kv, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](xv, kv, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    np.testing.assert_array_equal(y, y_ref)
    # a fused tape with a strided (or float32) dy still gives the generic op's gradients
    y, tape = KERNELS["conv2d_activation"](x, kernel, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](x, kernel, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    for dy in (rng.normal(size=y.shape + (2,))[..., 0], rng.normal(size=y.shape).astype(np.float32)):
        got = KERNELS["conv2d_activation_backward"](dy, tape, kernel, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
        want = GENERIC_OPS["conv2d_activation_backward"](dy, tape_ref, kernel, (3, 3, 1, 1, 1, 1), pads, "relu",
                                                         xp=np)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,window,padding", POOLS)
def test_pooling_matches_generic(rng, dtype, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    y, idx = KERNELS["max_pool2d"](x, window, pads, xp=np)
    y_ref, idx_ref = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    dy = rng.normal(size=y.shape).astype(dtype)
    close(KERNELS["max_pool2d_backward"](dy, idx, shape, window, pads, xp=np),
          GENERIC_OPS["max_pool2d_backward"](dy, idx_ref, shape, window, pads, xp=np), dtype)
    close(KERNELS["avg_pool2d"](x, window, pads, xp=np), GENERIC_OPS["avg_pool2d"](x, window, pads, xp=np), dtype)
    close(KERNELS["avg_pool2d_backward"](dy, shape, window, pads, xp=np),
          GENERIC_OPS["avg_pool2d_backward"](dy, shape, window, pads, xp=np), dtype)


def test_max_pool_ties_pick_the_first_and_nan_wins(rng):
    x = np.zeros((1, 4, 4, 1))
    x[0, 1, 1, 0] = np.nan
    window, pads = (2, 2, 2, 2, 1, 1), (0, 0, 0, 0)
    y, idx = KERNELS["max_pool2d"](x, window, pads, xp=np)
    y_ref, idx_ref = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np)
    np.testing.assert_array_equal(idx, idx_ref)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y_ref[0, 0, 0, 0]) and idx[0, 0, 1, 0] == 0


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


def test_kernels_fall_back_for_views_and_mixed_dtypes(rng):
    x = rng.normal(size=(2, 6, 6, 4))[..., ::2]  # a strided view
    window, pads = (2, 2, 2, 2, 1, 1), (0, 0, 0, 0)
    y, idx = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np)
    np.testing.assert_array_equal(KERNELS["max_pool2d"](x, window, pads, xp=np)[0], y)
    dy = rng.normal(size=(2, 3, 3, 4))[..., ::2]
    np.testing.assert_array_equal(KERNELS["max_pool2d_backward"](dy, idx, x.shape, window, pads, xp=np),
                                  GENERIC_OPS["max_pool2d_backward"](dy, idx, x.shape, window, pads, xp=np))
    x32 = rng.normal(size=(5, 3)).astype(np.float32)
    got = KERNELS["batch_norm"](x32, np.ones(3), None, 1e-3, xp=np)  # float64 gamma: the generic op
    want = GENERIC_OPS["batch_norm"](x32, np.ones(3), None, 1e-3, xp=np)
    np.testing.assert_array_equal(got[0], want[0])


def test_scratch_arrays_are_reused_only_once_nothing_holds_them():
    from nnkit._kernels.numba import _scratch

    shape = (4, 128, 129)  # above MIN_BYTES in float32
    held = _scratch.empty(shape, np.float32)
    view = _scratch.empty(shape, np.float32).reshape(-1)  # a view keeps its base in use
    assert view.base is not held
    fresh = _scratch.empty(shape, np.float32)
    assert fresh is not held and fresh is not view.base
    address = fresh.__array_interface__["data"][0]
    del fresh
    again = _scratch.empty(shape, np.float32)
    assert again.__array_interface__["data"][0] == address
    assert _scratch.empty((3, 3), np.float32).base is None  # small arrays are plain np.empty


def test_scratch_keeps_no_more_than_its_byte_budget(monkeypatch):
    from nnkit._kernels.numba import _scratch

    _scratch.clear()
    monkeypatch.setattr(_scratch, "MAX_BYTES", 3 << 20)
    shape = (1 << 18,)  # 1 MiB in float32
    first = [_scratch.empty(shape, np.float32) for _ in range(4)]  # held at once: 3 fit the budget
    addresses = {a.__array_interface__["data"][0] for a in first}
    assert _scratch._kept[0] == 3 << 20
    del first
    again = [_scratch.empty(shape, np.float32) for _ in range(3)]
    assert {a.__array_interface__["data"][0] for a in again} <= addresses
    _scratch.clear()
    assert _scratch._kept[0] == 0


def test_pooled_outputs_a_caller_keeps_are_not_overwritten(rng):
    x = rng.normal(size=(8, 20, 20, 16)).astype(np.float32)  # outputs above _scratch.MIN_BYTES
    window, pads = (2, 2, 1, 1, 1, 1), (0, 0, 0, 0)
    first, _ = KERNELS["max_pool2d"](x, window, pads, xp=np)
    kept = first.copy()
    second, _ = KERNELS["max_pool2d"](-x, window, pads, xp=np)
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(first, second)
