"""The host image kernels (the numpy and the numba families) against their generic ops: Conv2D,
the patches' adjoint and max pooling, float32 and float64, strides, dilations and both paddings;
ties, NaNs, fallbacks and the kept arrays (nnkit._kernels._scratch) they write into."""

import importlib
import inspect

import numpy as np
import pytest

from conftest import tolerance
from nnkit.ops import GENERIC_OPS
from nnkit.ops._geometry import window_geometry

FAMILIES = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
HOST_OPS = ["conv2d_activation", "conv2d_activation_backward", "conv_patches_backward", "max_pool2d",
            "max_pool2d_backward"]
# (n, h, w, c), window (kh, kw, sh, sw, dh, dw), padding
GEOMETRIES = [((2, 7, 7, 3), (3, 3, 1, 1, 1, 1), "valid"), ((3, 8, 7, 2), (3, 2, 2, 1, 1, 1), "same"),
              ((2, 9, 9, 1), (3, 3, 1, 1, 2, 2), "same"), ((1, 6, 5, 4), (2, 4, 2, 2, 1, 1), "same"),
              ((2, 9, 8, 2), (3, 3, 2, 2, 2, 2), "valid")]
# disjoint windows (stride = pool, stride > pool, an odd size some pixels of which no window
# reads), overlapping ones and "same" padding
POOLS = [((2, 6, 6, 3), (2, 2, 2, 2, 1, 1), "valid"), ((2, 7, 7, 2), (3, 3, 2, 2, 1, 1), "same"),
         ((1, 5, 7, 2), (3, 2, 2, 1, 1, 1), "same"), ((2, 5, 5, 1), (3, 3, 1, 1, 1, 1), "same"),
         ((2, 11, 11, 4), (2, 2, 2, 2, 1, 1), "valid"), ((2, 7, 7, 2), (2, 2, 2, 2, 1, 1), "same"),
         ((2, 8, 9, 3), (2, 2, 3, 3, 1, 1), "valid")]


@pytest.fixture(params=FAMILIES)
def kernels(request):
    return importlib.import_module(f"nnkit._kernels.{request.param}").KERNELS


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype)
    assert np.asarray(actual).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def test_the_host_image_kernels_are_bound_with_their_ops_names(kernels):
    for name in HOST_OPS:
        assert kernels[name].__name__ == name
        assert inspect.signature(kernels[name]) == inspect.signature(GENERIC_OPS[name])


def test_the_numpy_backend_binds_the_numpy_kernels():
    import nnkit as nk
    from nnkit._kernels.numpy import KERNELS

    be = nk.get_backend("numpy")
    assert set(KERNELS) == set(HOST_OPS) and dict(be.kernels) == KERNELS
    assert be.ops.max_pool2d.func is KERNELS["max_pool2d"] and be.train_step_factory is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,window,padding", GEOMETRIES)
def test_patches_adjoint_matches_generic(kernels, rng, dtype, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    assert "conv_patches" not in kernels  # the Conv2D kernels copy their own (_host_conv.patch_matrix)
    dp = rng.normal(size=GENERIC_OPS["conv_patches"](x, window, pads, xp=np).shape).astype(dtype)
    close(kernels["conv_patches_backward"](dp, shape, window, pads, xp=np),
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
def test_conv2d_activation_matches_generic(kernels, rng, dtype, shape, window, padding, activation, use_bias):
    x, kernel, bias, pads = conv_case(rng, dtype, shape, window, padding, use_bias=use_bias)
    y, tape = kernels["conv2d_activation"](x, kernel, bias, window, pads, activation, xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](x, kernel, bias, window, pads, activation, xp=np)
    close(y, y_ref, dtype, 10)
    assert y.shape == y_ref.shape == shape[:1] + y.shape[1:3] + (3,)
    dy = rng.normal(size=y.shape).astype(dtype)
    for need_dx in (True, False):
        got = kernels["conv2d_activation_backward"](dy, tape, kernel, window, pads, activation, use_bias, need_dx,
                                                    xp=np)
        want = GENERIC_OPS["conv2d_activation_backward"](dy, tape_ref, kernel, window, pads, activation, use_bias,
                                                         need_dx, xp=np)
        for a, b in zip(got, want):
            assert (a is None) == (b is None)
            if b is not None:
                close(a, b, dtype, 30)
        assert (got[0] is None) == (not need_dx) and (got[2] is None) == (not use_bias)


def test_conv2d_activation_falls_back_for_views_and_mixed_dtypes(kernels, rng):
    x, kernel, bias, pads = conv_case(rng, "float64", (2, 7, 7, 6), (3, 3, 1, 1, 1, 1), "valid")
    xv, kv = x[..., ::2], kernel[:, :, ::2]  # strided views
    y, tape = kernels["conv2d_activation"](xv, kv, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](xv, kv, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    np.testing.assert_array_equal(y, y_ref)
    # a fused tape with a strided (or float32) dy still gives the generic op's gradients
    y, tape = kernels["conv2d_activation"](x, kernel, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    y_ref, tape_ref = GENERIC_OPS["conv2d_activation"](x, kernel, bias, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
    for dy in (rng.normal(size=y.shape + (2,))[..., 0], rng.normal(size=y.shape).astype(np.float32)):
        got = kernels["conv2d_activation_backward"](dy, tape, kernel, (3, 3, 1, 1, 1, 1), pads, "relu", xp=np)
        want = GENERIC_OPS["conv2d_activation_backward"](dy, tape_ref, kernel, (3, 3, 1, 1, 1, 1), pads, "relu",
                                                         xp=np)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,window,padding", POOLS)
def test_max_pooling_matches_generic(kernels, rng, dtype, shape, window, padding):
    x = rng.normal(size=shape).astype(dtype)
    x[0, :2, :2, 0] = 0.0  # ties (relu leaves many zeros): the first maximum wins
    _, pads = window_geometry(shape[1], shape[2], window, padding)
    y, idx = kernels["max_pool2d"](x, window, pads, xp=np)
    y_ref, idx_ref = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    dy = rng.normal(size=y.shape).astype(dtype)
    close(kernels["max_pool2d_backward"](dy, idx, shape, window, pads, xp=np),
          GENERIC_OPS["max_pool2d_backward"](dy, idx_ref, shape, window, pads, xp=np), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_ties_pick_the_first_and_the_first_nan_wins(kernels, dtype):
    x = np.zeros((1, 4, 6, 2), dtype=dtype)
    x[0, 1, 1, 0] = np.nan  # window (0, 0): a NaN at its last tap
    x[0, 0, 3, 0] = x[0, 1, 2, 0] = np.nan  # window (0, 1): two NaNs, the first at tap 1
    x[0, 2, 4, 1], x[0, 3, 5, 1] = 5.0, 5.0  # window (1, 2): a tie of 5s at taps 0 and 3
    window, pads = (2, 2, 2, 2, 1, 1), (0, 0, 0, 0)
    for op in (kernels["max_pool2d"], GENERIC_OPS["max_pool2d"]):
        y, idx = op(x, window, pads, xp=np)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 3
        assert np.isnan(y[0, 0, 1, 0]) and idx[0, 0, 1, 0] == 1
        assert y[0, 1, 2, 1] == 5.0 and idx[0, 1, 2, 1] == 0
        assert np.count_nonzero(idx) == 2  # every all-zero window routes to its first tap
        dy = np.arange(1.0, 1.0 + y.size, dtype=dtype).reshape(y.shape)
        dx = kernels["max_pool2d_backward"](dy, idx, x.shape, window, pads, xp=np)
        assert dx[0, 1, 1, 0] == dy[0, 0, 0, 0] and dx[0, 0, 3, 0] == dy[0, 0, 1, 0] and dx[0, 1, 2, 0] == 0
        assert dx[0, 2, 4, 1] == dy[0, 1, 2, 1] and dx[0, 3, 5, 1] == 0
        np.testing.assert_array_equal(dx.sum(axis=(1, 2)), dy.sum(axis=(1, 2)))  # all of dy, once


def test_max_pool_kernels_fall_back_for_views(kernels, rng):
    x = rng.normal(size=(2, 6, 6, 4))[..., ::2]  # a strided view
    window, pads = (2, 2, 2, 2, 1, 1), (0, 0, 0, 0)
    y, idx = GENERIC_OPS["max_pool2d"](x, window, pads, xp=np)
    np.testing.assert_array_equal(kernels["max_pool2d"](x, window, pads, xp=np)[0], y)
    dy = rng.normal(size=(2, 3, 3, 4))[..., ::2]
    np.testing.assert_array_equal(kernels["max_pool2d_backward"](dy, idx, x.shape, window, pads, xp=np),
                                  GENERIC_OPS["max_pool2d_backward"](dy, idx, x.shape, window, pads, xp=np))


@pytest.mark.parametrize("window", [(2, 2, 1, 1, 1, 1), (2, 2, 2, 2, 1, 1)])
def test_pooled_outputs_a_caller_keeps_are_not_overwritten(kernels, rng, window):
    x = rng.normal(size=(8, 40, 40, 16)).astype(np.float32)  # outputs above _scratch.MIN_BYTES
    pads = (0, 0, 0, 0)
    first, idx = kernels["max_pool2d"](x, window, pads, xp=np)
    kept, kept_idx = first.copy(), idx.copy()
    second, idx2 = kernels["max_pool2d"](-x, window, pads, xp=np)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(idx, kept_idx)
    assert not np.shares_memory(first, second) and not np.shares_memory(idx, idx2)
    dx = kernels["max_pool2d_backward"](first, idx, x.shape, window, pads, xp=np)
    kept_dx = dx.copy()
    kernels["max_pool2d_backward"](second, idx2, x.shape, window, pads, xp=np)
    np.testing.assert_array_equal(dx, kept_dx)


def test_scratch_arrays_are_reused_only_once_nothing_holds_them():
    from nnkit._kernels import _scratch

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
    from nnkit._kernels import _scratch

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
