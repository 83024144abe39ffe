"""The fused recurrent cells of recurrent.cu against the generic ops, on the CPU emulator (and a GPU
where one is usable), float32 and float64; and the CUDA sequence ops built on them."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import array_api_compat.numpy as np_xp

from conftest import tolerance
from nnkit.ops import GENERIC_OPS
from nnkit.ops import recurrent as generic
from nnkit._kernels.cuda import KERNELS
from nnkit._kernels.cuda import recurrent as cuda_recurrent
from test_kernels_cuda import device, emulator  # noqa: F401  (the fixtures)

CELLS = ("lstm_cell", "lstm_cell_backward", "gru_cell", "gru_cell_backward")
SEQUENCES = ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward")


@pytest.fixture
def cells(device):  # noqa: F811
    cuda_recurrent._kernels.clear()
    yield device
    cuda_recurrent._kernels.clear()


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


def test_recurrent_kernels_are_ops():
    for name in CELLS + SEQUENCES:
        assert KERNELS[name] is getattr(cuda_recurrent, name)
        assert inspect.signature(KERNELS[name]) == inspect.signature(GENERIC_OPS[name])


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (33, 40)])
def test_lstm_cell_and_backward_match_generic(cells, dtype, rng, shape):
    n, u = shape
    z = rng.normal(0, 3, size=(n, 4 * u)).astype(dtype)
    c_prev = rng.normal(size=(n, u)).astype(dtype)
    h, c, gates = KERNELS["lstm_cell"](cells.put(z), cells.put(c_prev), xp=cells.xp)
    ref = generic.lstm_cell(z, c_prev, xp=np_xp)
    for got, want in zip((h, c, gates), ref):
        close(cells.get(got), want, dtype)
        assert cells.get(got).dtype == np.dtype(dtype)
    dh, dc = (rng.normal(size=(n, u)).astype(dtype) for _ in range(2))
    got = KERNELS["lstm_cell_backward"](cells.put(dh), cells.put(dc), cells.put(ref[2]), cells.put(c_prev),
                                        cells.put(ref[1]), xp=cells.xp)
    want = generic.lstm_cell_backward(dh, dc, ref[2], c_prev, ref[1], xp=np_xp)
    for a, b in zip(got, want):
        close(cells.get(a), b, dtype, scale=10)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (33, 40)])
def test_gru_cell_and_backward_match_generic(cells, dtype, rng, shape):
    n, u = shape
    zx, zh = (rng.normal(0, 3, size=(n, 3 * u)).astype(dtype) for _ in range(2))
    h_prev = rng.normal(size=(n, u)).astype(dtype)
    h, gates = KERNELS["gru_cell"](cells.put(zx), cells.put(zh), cells.put(h_prev), xp=cells.xp)
    ref = generic.gru_cell(zx, zh, h_prev, xp=np_xp)
    close(cells.get(h), ref[0], dtype)
    close(cells.get(gates), ref[1], dtype)
    dh = rng.normal(size=(n, u)).astype(dtype)
    got = KERNELS["gru_cell_backward"](cells.put(dh), cells.put(ref[1]), cells.put(h_prev), xp=cells.xp)
    for a, b in zip(got, generic.gru_cell_backward(dh, ref[1], h_prev, xp=np_xp)):
        close(cells.get(a), b, dtype, scale=10)


def test_cells_keep_nan_and_fall_back_for_host_arrays(cells, rng):
    z = rng.normal(size=(2, 8))
    z[0, 0] = np.nan
    h, c, _ = KERNELS["lstm_cell"](cells.put(z), cells.put(np.zeros((2, 2))), xp=cells.xp)
    assert np.isnan(cells.get(h)[0, 0]) and np.all(np.isfinite(cells.get(h)[1]))
    h_host, _, _ = KERNELS["lstm_cell"](z, np.zeros((2, 2)), xp=np_xp)  # NumPy arrays: the generic op
    assert type(h_host) is np.ndarray
    np.testing.assert_array_equal(h_host, generic.lstm_cell(z, np.zeros((2, 2)), xp=np_xp)[0])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sequence_ops_with_fused_cells_match_generic(cells, dtype, rng, kind):
    n, steps, features, u = 5, 6, 3, 4
    g = 4 if kind == "lstm" else 3
    x = rng.normal(size=(n, steps, features)).astype(dtype)
    w, r = rng.normal(0, 0.5, (features, g * u)).astype(dtype), rng.normal(0, 0.5, (u, g * u)).astype(dtype)
    b = rng.normal(0, 0.5, (2, 3 * u) if kind == "gru" else (4 * u,)).astype(dtype)
    dhs = rng.normal(size=(n, steps, u)).astype(dtype)
    out = KERNELS[f"{kind}_forward"](*(cells.put(a) for a in (x, w, r, b)), xp=cells.xp)
    ref = getattr(generic, f"{kind}_forward")(x, w, r, b, xp=np_xp)
    for a, want in zip(out, ref):
        close(cells.get(a), want, dtype, scale=10)
    grads = KERNELS[f"{kind}_backward"](cells.put(dhs), cells.put(x), *out, cells.put(w), cells.put(r), True,
                                        xp=cells.xp)
    want = getattr(generic, f"{kind}_backward")(dhs, x, *ref, w, r, True, xp=np_xp)
    for a, b_ in zip(grads, want):
        close(cells.get(a), b_, dtype, scale=100)
