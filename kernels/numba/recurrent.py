"""Recurrent kernels: SimpleRNN, LSTM and GRU forward and backward, each time loop one compiled call.

Each wrapper has its generic op's signature (nnkit/ops/recurrent.py). It turns the batch-major
sequence time-major once, projects every step's input with one matmul, and runs the whole
recurrence in one @njit call (``_jit_recurrent``); the weight gradients are one matmul each over
all steps. The states it returns are time-major arrays seen batch-major (a transposed view), which
the backward takes back without a copy. Scratch buffers are allocated once per shape and thread,
results come from a pool (``_reusable``). Anything else (other namespaces, integer or mixed dtypes,
other activations) runs the generic op.

Every product here, the projections and weight gradients included, runs on one BLAS: SciPy's
OpenBLAS, the one np.dot inside @njit binds (``_jit_recurrent.matmul``), never NumPy's. With
NumPy's pool for the big products and SciPy's for the per-step ones, each pool's idle threads
spin while the other works, and on 2 cores a W6 step took 9-38 ms; with SciPy's pinned to one
thread (the loops single-threaded) 6.3-6.7 ms; with one pool of two threads for all 5.3-6.2 ms
(Zen 5, load 1.7, one run, medians of 10 epochs).
"""

from __future__ import annotations

import functools
import sys
import threading

import numpy as np

from nnkit.ops import recurrent as _generic
from nnkit._kernels.numba import _jit_recurrent as _jit
from nnkit._kernels._arrays import FLOAT_DTYPES

ACTIVATION_CODES = {"linear": _jit.LINEAR, "sigmoid": _jit.SIGMOID, "tanh": _jit.TANH, "relu": _jit.RELU}
_local = threading.local()


def _scratch(name: str, shape: tuple, dtype):
    """A buffer kept per (name, shape, dtype) and thread: its contents are garbage on return."""
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    key = (name, shape, dtype)
    a = buffers.get(key)
    if a is None:
        a = buffers[key] = np.empty(shape, dtype=dtype)
    return a


def _zeros(shape: tuple, dtype):
    """A block of zeros kept per (shape, dtype) and thread: the kernels only read it."""
    a = _scratch("zeros", shape, dtype)
    a[...] = 0  # cheap (one (N, units) block) and safe should anything have written it
    return a


_POOL_DEPTH = 4  # arrays kept per (name, shape, dtype) and thread; beyond, a fresh one each call


def _refs_of_unused() -> int:
    """sys.getrefcount of a pooled array nobody else holds, seen from a loop over its pool as in
    _reusable (3 on CPython 3.11: the pool, the loop variable, the call's argument), measured
    rather than assumed, since interpreters count borrowed references differently."""
    for a in [np.empty(0)]:
        return sys.getrefcount(a)


_UNUSED_REFS = _refs_of_unused()


def _reusable(name: str, shape: tuple, dtype):
    """An array for a result (the states the backward takes back) that no one holds any more: a
    pooled one whose only reference is the pool's (views of it count, they hold it as their base),
    else a new one. A 4 MB np.empty costs its page faults on every first touch, 1-2 ms of W6's
    step, because glibc hands freed blocks that large back to the OS (PERF.md item 8)."""
    pools = getattr(_local, "pools", None)
    if pools is None:
        pools = _local.pools = {}
    pool = pools.setdefault((name, shape, dtype), [])
    for a in pool:
        if sys.getrefcount(a) <= _UNUSED_REFS:
            return a
    a = np.empty(shape, dtype=dtype)
    if len(pool) < _POOL_DEPTH:
        pool.append(a)
    return a


def _takes(*arrays) -> bool:
    """Whether every array is a float NumPy array of the first one's dtype, 2-D/3-D and not empty."""
    first = arrays[0]
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in FLOAT_DTYPES or a.dtype != first.dtype or a.size == 0:
            return False
    return True


def _swapped(a):
    """(N, T, F) <-> (T, N, F): the view with the batch and time axes swapped, whatever the layout
    (time-major results seen batch-major, or batch-major input to copy from or into)."""
    return a.transpose(1, 0, 2)


def _time_major(a):
    """(N, T, F) -> a C-contiguous (T, N, F): a view where ``a`` is one already seen batch-major."""
    view = _swapped(a)
    return view if view.flags.c_contiguous else np.ascontiguousarray(view)


def _fits(dhs, hs) -> bool:
    """Whether ``dhs`` has the shape the kernels index it by: the states' (N, T, u), or (N, u)."""
    n, steps, units = hs.shape
    return dhs.shape == (n, steps, units) or dhs.shape == (n, units)


def _own_gradients(dhs, steps):
    """(dhs time-major, the first step it covers): (T, N, u) at 0 from the ops' (N, T, u), or
    (1, N, u) at T - 1 from a 2-D dhs, the last state's gradient alone (the kernels read the
    earlier steps' own gradients as zero)."""
    if dhs.ndim == 2:
        return np.ascontiguousarray(dhs)[None], steps - 1
    return _time_major(dhs), 0


def _transposed(w):
    """w^T for a product: the F-ordered view of a C-ordered w (BLAS takes it as it is; a
    transposed copy of U cost W6's backward 0.08 ms against under 0.02 for the view), else a copy."""
    return w.T if w.flags.c_contiguous else np.ascontiguousarray(w.T)


def _project(x_tm, kernel, bias):
    """zx = X W + b for every step at once: (T, N, F) -> (T, N, G), into a pooled array."""
    steps, n, features = x_tm.shape
    z = _reusable("zx", (steps, n, kernel.shape[1]), x_tm.dtype)
    z2 = z.reshape(steps * n, kernel.shape[1])
    _jit.matmul(x_tm.reshape(steps * n, features), np.ascontiguousarray(kernel), z2)
    z2 += bias
    return z


def _rows_tn(a_tm, d_tm):
    """a^T d over every row of two (T, N, .) arrays: a weight gradient, one matmul."""
    steps, n = d_tm.shape[:2]
    out = np.empty((a_tm.shape[2], d_tm.shape[2]), dtype=d_tm.dtype)
    _jit.matmul_tn(a_tm.reshape(steps * n, a_tm.shape[2]), d_tm.reshape(steps * n, d_tm.shape[2]), out)
    return out


def _recurrent_grad(hs_tm, dz_tm):
    """dU = sum over t >= 1 of h_(t-1)^T dz_t (h_(-1) = 0), one matmul."""
    if dz_tm.shape[0] > 1:
        return _rows_tn(hs_tm[:-1], dz_tm[1:])
    return np.zeros((hs_tm.shape[2], dz_tm.shape[2]), dtype=dz_tm.dtype)


def _input_grad(dz_tm, kernel):
    """dx = dz W^T for every step, one matmul, seen batch-major (N, T, F)."""
    steps, n, width = dz_tm.shape
    dx = np.empty((steps * n, kernel.shape[0]), dtype=dz_tm.dtype)
    _jit.matmul(dz_tm.reshape(steps * n, width), np.ascontiguousarray(kernel.T), dx)
    return _swapped(dx.reshape(steps, n, kernel.shape[0]))


def _bias_grad(dz_tm):
    """db = the sum of the pre-activation gradients over every step and row."""
    return dz_tm.reshape(-1, dz_tm.shape[2]).sum(axis=0)


def _weight_grads(x_tm, hs_tm, dz_tm, kernel, need_dx):
    """(dx, dW, dU, db) from the pre-activation gradients of every step, one matmul each."""
    dx = _input_grad(dz_tm, kernel) if need_dx else None
    return dx, _rows_tn(x_tm, dz_tm), _recurrent_grad(hs_tm, dz_tm), _bias_grad(dz_tm)


# -- SimpleRNN ----------------------------------------------------------------------------------
def simple_rnn_forward(x, kernel, recurrent_kernel, bias, activation, *, xp):
    """h_t = f(x_t W + h_(t-1) U + b), h_(-1) = 0; returns (hs, zs): states and pre-activations."""
    code = ACTIVATION_CODES.get(activation)
    if code is None or x.ndim != 3 or not _takes(x, kernel, recurrent_kernel, bias):
        return _generic.simple_rnn_forward(x, kernel, recurrent_kernel, bias, activation, xp=xp)
    zx = _project(_time_major(x), kernel, bias)
    hs, zs = _reusable("hs", zx.shape, zx.dtype), _reusable("zs", zx.shape, zx.dtype)
    _jit.simple_rnn_forward(zx, recurrent_kernel, hs, zs, code)
    return _swapped(hs), _swapped(zs)


def simple_rnn_backward(dhs, x, hs, zs, kernel, recurrent_kernel, activation, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of simple_rnn_forward: dz_t = f'(z_t) (dh_t + dz_(t+1) U^T), the carried term cut at
    multiples of ``bptt_steps``; returns (dx, dW, dU, db)."""
    code = ACTIVATION_CODES.get(activation)
    if code is None or x.ndim != 3 or not _takes(dhs, x, hs, zs, kernel, recurrent_kernel) or not _fits(dhs, hs):
        return _generic.simple_rnn_backward(dhs, x, hs, zs, kernel, recurrent_kernel, activation, need_dx,
                                            bptt_steps, xp=xp)
    (dhs_tm, first), hs_tm, zs_tm = _own_gradients(dhs, x.shape[1]), _time_major(hs), _time_major(zs)
    dz = _reusable("dz", zs_tm.shape, zs_tm.dtype)
    shape = hs_tm.shape[1:]
    _jit.simple_rnn_backward(dhs_tm, first, hs_tm, zs_tm, _transposed(recurrent_kernel), dz,
                             _scratch("carry", shape, dhs.dtype), _zeros(shape, dhs.dtype), code, bptt_steps or 0)
    return _weight_grads(_time_major(x), hs_tm, dz, kernel, need_dx)


# -- LSTM ---------------------------------------------------------------------------------------
# Every step multiplies [x_t, h_(t-1)] (N, F + u) by [W; U] (F + u, 4u) in one GEMM, the input
# projection included, and the forward leaves every step's [x_t, h_(t-1)] in one (T + 1, N, F + u)
# buffer whose last u columns, shifted a step, are the states it returns (a view); the backward
# finds that buffer again as the states' base and gets dW and dU together as one GEMM over all
# N T rows, [X H_prev]^T dZ. Against a projection GEMM, its bias pass, a time-major copy of x and
# the two weight-gradient products, W6's step went from 5.35 to 4.88 ms (nnkit bench, Zen 5, load
# 0.4-1.1, PyTorch 4.65 and 4.64 ms in the same runs).
# Measured and left out: the two halves of the batch on two threads (rows never mix through
# time), each step's products on one-thread BLAS in the feature-major orientation OpenBLAS runs
# fastest (26 against 38 us forward, 23 against 32 us backward per step for half of W6's batch):
# its gate loops, 32 rows long in 64-wide rows, ran 2-10x slower per cell than these, and under a
# busy machine the half that shared a core with other work held the other back (W6 5.5-9.5 ms
# against 5.4-8.2 ms for this code, alternating, load 1.5-1.9); the same layouts over the whole
# batch with two-thread BLAS were no faster either (W6 5.3-5.9 against 4.8-6.1 ms, alternating,
# load ~2: the backward's extra transposes ate the forward's gain). A parallel gate loop inside the
# time loop (numba prange) ran 3 ms (workqueue) to 250 ms (OpenMP, next to OpenBLAS's threads).
def _lstm_operand_shape(x, units):
    n, steps, features = x.shape
    return (steps + 1, n, features + units)


def lstm_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The LSTM over a sequence: z_t = x_t W + h_(t-1) U + b, then lstm_cell; returns
    (hs, cs, gates), each (N, T, .)."""
    if x.ndim != 3 or not _takes(x, kernel, recurrent_kernel, bias):
        return _generic.lstm_forward(x, kernel, recurrent_kernel, bias, xp=xp)
    n, steps, features = x.shape
    width = kernel.shape[1]
    units = width // 4
    a = _reusable("lstm_operand", _lstm_operand_shape(x, units), x.dtype)
    a[:steps, :, :features] = _swapped(x)
    a[0, :, features:] = 0  # h_(-1)
    cs = _reusable("cs", (steps, n, units), x.dtype)
    gates = _reusable("gates", (steps, n, width), x.dtype)
    wu = np.concatenate([kernel, recurrent_kernel], out=_scratch("wu", (features + units, width), x.dtype))
    _jit.lstm_forward(a, wu, np.ascontiguousarray(bias), cs, gates, _scratch("z", (n, width), x.dtype),
                      _zeros((n, units), x.dtype), 0, n)
    return _swapped(a[1:, :, features:]), _swapped(cs), _swapped(gates)


def _lstm_operand(x, hs):
    """[x_t, h_(t-1)] of every step, (T + 1, N, F + u): the forward's own buffer where ``hs`` is
    its view (the x columns written again from ``x``, the one given here), else a new one."""
    n, steps, features = x.shape
    units = hs.shape[2]
    shape = _lstm_operand_shape(x, units)
    a = hs.base
    if not (type(a) is np.ndarray and a.shape == shape and a.dtype == hs.dtype and a.flags.c_contiguous
            and hs.strides == (a.strides[1], a.strides[0], a.strides[2])
            and hs.__array_interface__["data"][0] == a[1:, :, features:].__array_interface__["data"][0]):
        a = np.empty(shape, dtype=hs.dtype)
        a[0, :, features:] = 0
        a[1:, :, features:] = _swapped(hs)
    a[:steps, :, :features] = _swapped(x)
    return a


def lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, dc_last=None,
                  *, xp):
    """BPTT of lstm_forward: dh_t = dhs_t + dz_(t+1) U^T, dc carried through the cells (from
    ``dc_last`` or zero), both cut at multiples of ``bptt_steps``; returns (dx, dW, dU, db)."""
    if x.ndim != 3 or not _takes(dhs, x, hs, cs, gates, kernel, recurrent_kernel) or not _fits(dhs, hs) \
            or (dc_last is not None and not (_takes(dhs, dc_last) and dc_last.shape == hs[:, -1].shape)):
        return _generic.lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx, bptt_steps,
                                      dc_last, xp=xp)
    (dhs_tm, first), cs_tm, gates_tm = _own_gradients(dhs, x.shape[1]), _time_major(cs), _time_major(gates)
    dz = _reusable("dz", gates_tm.shape, gates_tm.dtype)
    shape = cs_tm.shape[1:]
    carry, dc = _scratch("carry", shape, dhs.dtype), _scratch("dc", shape, dhs.dtype)
    dc[...] = 0 if dc_last is None else dc_last
    _jit.lstm_backward(dhs_tm, first, cs_tm, gates_tm, _transposed(recurrent_kernel), dz, carry, dc,
                       _zeros(shape, dhs.dtype), bptt_steps or 0)
    a = _lstm_operand(x, hs)
    dwu = _rows_tn(a[:dz.shape[0]], dz)  # [dW; dU] in one product
    features = x.shape[2]
    dx = _input_grad(dz, kernel) if need_dx else None
    return dx, dwu[:features], dwu[features:], _bias_grad(dz)


# -- GRU ----------------------------------------------------------------------------------------
def gru_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The GRU over a sequence (bias (2, 3u): input and recurrent biases); returns (hs, gates)."""
    if x.ndim != 3 or bias.ndim != 2 or not _takes(x, kernel, recurrent_kernel, bias):
        return _generic.gru_forward(x, kernel, recurrent_kernel, bias, xp=xp)
    zx = _project(_time_major(x), kernel, bias[0])
    steps, n, width = zx.shape
    units = width // 3
    hs = _reusable("hs", (steps, n, units), x.dtype)
    gates = _reusable("gates", (steps, n, 4 * units), x.dtype)
    zh = _scratch("zh", (n, width), x.dtype)
    _jit.gru_forward(zx, recurrent_kernel, np.ascontiguousarray(bias[1]), hs, gates, zh,
                     _zeros((n, units), x.dtype))
    return _swapped(hs), _swapped(gates)


def gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of gru_forward: dh_(t-1) = dh_t z_t + dzh_t U^T, cut at multiples of ``bptt_steps``;
    returns (dx, dW, dU, db (2, 3u))."""
    if x.ndim != 3 or not _takes(dhs, x, hs, gates, kernel, recurrent_kernel) or not _fits(dhs, hs):
        return _generic.gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx, bptt_steps, xp=xp)
    (dhs_tm, first), hs_tm, gates_tm = _own_gradients(dhs, x.shape[1]), _time_major(hs), _time_major(gates)
    steps, n, units = hs_tm.shape
    dzx = _reusable("dzx", (steps, n, 3 * units), dhs.dtype)
    dzh = _reusable("dzh", dzx.shape, dhs.dtype)
    carry, direct = _scratch("carry", (n, units), dhs.dtype), _scratch("direct", (n, units), dhs.dtype)
    _jit.gru_backward(dhs_tm, first, hs_tm, gates_tm, _transposed(recurrent_kernel), dzx, dzh, carry,
                      direct, _zeros((n, units), dhs.dtype), bptt_steps or 0)
    # dW from the input side's dzx, dU from the recurrent side's dzh: one product each
    dx = _input_grad(dzx, kernel) if need_dx else None
    db = np.stack([_bias_grad(dzx), _bias_grad(dzh)])
    return dx, _rows_tn(_time_major(x), dzx), _recurrent_grad(hs_tm, dzh), db


# -- Embedding ----------------------------------------------------------------------------------
def embedding_backward(dy, tokens, input_dim, *, xp):
    """dtable[v] = sum of dy[n, t] over the (n, t) with tokens[n, t] = v, as one scatter-add."""
    if type(dy) is not np.ndarray or dy.dtype not in FLOAT_DTYPES or dy.ndim != 3 \
            or type(tokens) is not np.ndarray or tokens.dtype.kind not in "iu":
        return _generic.embedding_backward(dy, tokens, input_dim, xp=xp)
    out = np.zeros((input_dim, dy.shape[2]), dtype=dy.dtype)
    _jit.embedding_backward(np.ascontiguousarray(dy).reshape(-1, dy.shape[2]),
                            np.ascontiguousarray(tokens).reshape(-1), out)
    return out


KERNELS = {
    "simple_rnn_forward": simple_rnn_forward, "simple_rnn_backward": simple_rnn_backward,
    "lstm_forward": lstm_forward, "lstm_backward": lstm_backward,
    "gru_forward": gru_forward, "gru_backward": gru_backward,
    "embedding_backward": embedding_backward,
}
