"""Recurrent kernels for CuPy: the LSTM's and GRU's cells fused, one launch per time step each way
(recurrent.cu).

The sequence ops run the generic time loop (nnkit/ops/recurrent.py) with these cells: the input
projection of every step is one cuBLAS matmul, each step one recurrent matmul and one fused cell
launch, the weight gradients one matmul each. Each cell has its op's signature and falls back to
the generic op for non-CuPy arrays, mixed or integer dtypes and shapes it does not take.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import recurrent as _generic

from . import _loader

SOURCE = "recurrent.cu"
TEMPLATES = ("lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward", "gru_cell_backward")
GROUP = _loader.register(SOURCE, [f"nnkit::{t}<{c}>" for t in TEMPLATES for c in ("float", "double")])
_kernels: dict = {}


def _kernel(template: str, ctype: str):
    key = (template, ctype)
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _kernels[key] = _loader.function(SOURCE, GROUP, f"nnkit::{template}<{ctype}>")
    return kernel


def _launch(template, ctype, n, units, arrays):
    _loader.launch_elementwise(_kernel(template, ctype), n * units,
                               tuple(arrays) + (np.int64(n), np.int64(units)))


def _state_shape(a, units_times: int, like) -> bool:
    """Whether ``a`` is (n, units_times * u) for the (n, u) array ``like``."""
    return a.ndim == 2 and like.ndim == 2 and a.shape == (like.shape[0], units_times * like.shape[1])


def lstm_cell(z, c_prev, *, xp):
    """i, f, o = sigmoid(z_i, z_f, z_o), g = tanh(z_c), c = f c_prev + i g, h = o tanh(c);
    returns (h, c, gates) with gates = [i, f, g, o] of shape (N, 4u)."""
    ctype = _loader.c_type(z, c_prev)
    if ctype is None or not _state_shape(z, 4, c_prev):
        return _generic.lstm_cell(z, c_prev, xp=xp)
    cp = _loader.cupy()
    z, c_prev = _loader.contiguous(z), _loader.contiguous(c_prev)
    h, c, gates = cp.empty_like(c_prev), cp.empty_like(c_prev), cp.empty_like(z)
    _launch("lstm_cell_forward", ctype, *c_prev.shape, (z, c_prev, h, c, gates))
    return h, c, gates


def lstm_cell_backward(dh, dc, gates, c_prev, c, *, xp):
    """The cell's backward from dh and the carried dc: dc' = dc + dh o (1 - tanh(c)^2),
    dz = [dc' g i(1-i), dc' c_prev f(1-f), dc' i (1-g^2), dh tanh(c) o(1-o)]; returns (dz, dc' f)."""
    ctype = _loader.c_type(dh, dc, gates, c_prev, c)
    if ctype is None or not _state_shape(gates, 4, c) or not dh.shape == dc.shape == c_prev.shape == c.shape:
        return _generic.lstm_cell_backward(dh, dc, gates, c_prev, c, xp=xp)
    cp = _loader.cupy()
    arrays = [_loader.contiguous(a) for a in (dh, dc, gates, c_prev, c)]
    dz, dc_prev = cp.empty_like(arrays[2]), cp.empty_like(arrays[4])
    _launch("lstm_cell_backward", ctype, *c.shape, arrays + [dz, dc_prev])
    return dz, dc_prev


def gru_cell(zx, zh, h_prev, *, xp):
    """z = sigmoid(zx_z + zh_z), r = sigmoid(zx_r + zh_r), hh = tanh(zx_h + r zh_h),
    h = z h_prev + (1 - z) hh, with zx = x W + b_0 and zh = h_prev U + b_1;
    returns (h, gates) with gates = [z, r, hh, zh_h] of shape (N, 4u)."""
    ctype = _loader.c_type(zx, zh, h_prev)
    if ctype is None or not _state_shape(zx, 3, h_prev) or zh.shape != zx.shape:
        return _generic.gru_cell(zx, zh, h_prev, xp=xp)
    cp = _loader.cupy()
    zx, zh, h_prev = (_loader.contiguous(a) for a in (zx, zh, h_prev))
    n, units = h_prev.shape
    h, gates = cp.empty_like(h_prev), cp.empty((n, 4 * units), dtype=h_prev.dtype)
    _launch("gru_cell_forward", ctype, n, units, (zx, zh, h_prev, h, gates))
    return h, gates


def gru_cell_backward(dh, gates, h_prev, *, xp):
    """The cell's backward: da_h = dh (1 - z)(1 - hh^2), da_z = dh (h_prev - hh) z(1-z),
    da_r = da_h zh_h r(1-r); returns (dzx = [da_z, da_r, da_h], dzh = [da_z, da_r, da_h r], dh z)."""
    ctype = _loader.c_type(dh, gates, h_prev)
    if ctype is None or not _state_shape(gates, 4, h_prev) or dh.shape != h_prev.shape:
        return _generic.gru_cell_backward(dh, gates, h_prev, xp=xp)
    cp = _loader.cupy()
    dh, gates, h_prev = (_loader.contiguous(a) for a in (dh, gates, h_prev))
    n, units = h_prev.shape
    dzx, dzh = (cp.empty((n, 3 * units), dtype=dh.dtype) for _ in range(2))
    direct = cp.empty_like(dh)
    _launch("gru_cell_backward", ctype, n, units, (dh, gates, h_prev, dzx, dzh, direct))
    return dzx, dzh, direct


def lstm_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The LSTM over a sequence: z_t = x_t W + h_(t-1) U + b, then lstm_cell; returns
    (hs, cs, gates), each (N, T, .)."""
    return _generic._lstm_forward(x, kernel, recurrent_kernel, bias, lstm_cell, xp)


def lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, dc_last=None,
                  *, xp):
    """BPTT of lstm_forward: dh_t = dhs_t + dz_(t+1) U^T, dc carried through the cells (from
    ``dc_last`` or zero), both cut at multiples of ``bptt_steps``; returns (dx, dW, dU, db)."""
    return _generic._lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx,
                                  lstm_cell_backward, xp, bptt_steps, dc_last)


def gru_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The GRU over a sequence (bias (2, 3u): input and recurrent biases); returns (hs, gates)."""
    return _generic._gru_forward(x, kernel, recurrent_kernel, bias, gru_cell, xp)


def gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of gru_forward: dh_(t-1) = dh_t z_t + dzh_t U^T, cut at multiples of ``bptt_steps``;
    returns (dx, dW, dU, db (2, 3u))."""
    return _generic._gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx, gru_cell_backward, xp,
                                  bptt_steps)


KERNELS = {
    "lstm_cell": lstm_cell, "lstm_cell_backward": lstm_cell_backward,
    "gru_cell": gru_cell, "gru_cell_backward": gru_cell_backward,
    "lstm_forward": lstm_forward, "lstm_backward": lstm_backward,
    "gru_forward": gru_forward, "gru_backward": gru_backward,
}
