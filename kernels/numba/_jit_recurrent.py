"""The @njit bodies of the recurrent kernels: each runs a whole time loop in one call.

They live in a file of their own and call nothing outside it, so Numba's on-disk cache (keyed on
this file) is invalidated exactly when they change. Arrays are time-major ``(T, N, .)`` and
C-contiguous, so every step's slice is one contiguous (N, .) block that BLAS takes without a copy;
the input projection of every step (``zx``, bias included) comes in computed by one matmul, and
each step runs the recurrent matmul into a scratch buffer, then the fused gate loop. Arithmetic
stays in the arrays' dtype (constants cast with ``T = type(x)``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# fast-math without "nnan"/"ninf" (as _jit.py): NaN still propagates
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_jit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)

# SimpleRNN activations the kernels take (others run the generic ops)
LINEAR, SIGMOID, TANH, RELU = range(4)


@_jit
def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow, as nnkit.ops.activations.sigmoid."""
    T = type(x)
    e = math.exp(-abs(x))
    r = T(1.0) / (T(1.0) + e)
    return r if x >= T(0.0) else e * r


@_jit
def _tanh(x):
    """tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): one exp, where libm's tanh costs ~6x
    more (17 against 2.6 ns measured in float32); the absolute error stays at rounding level."""
    T = type(x)
    e = math.exp(T(-2.0) * abs(x))
    t = (T(1.0) - e) / (T(1.0) + e)
    return t if x >= T(0.0) else -t


@_jit
def _act(x, code):
    T = type(x)
    if code == TANH:
        return _tanh(x)
    if code == SIGMOID:
        return _sigmoid(x)
    if code == RELU:
        return T(0.0) if x <= T(0.0) else x
    return x


@_jit
def _act_grad(dy, x, y, code):
    T = type(x)
    if code == TANH:
        return dy * (T(1.0) - y * y)
    if code == SIGMOID:
        return dy * y * (T(1.0) - y)
    if code == RELU:
        return dy if x > T(0.0) else T(0.0)
    return dy


# -- SimpleRNN ----------------------------------------------------------------------------------
@_jit
def simple_rnn_forward(zx, u, hs, zs, code):
    """zs[t] = zx[t] + hs[t-1] @ U, hs[t] = f(zs[t]) for every t (hs[-1] = 0)."""
    steps, n, units = zx.shape
    for t in range(steps):
        z = zs[t]
        if t == 0:
            z[:, :] = zx[0]
        else:
            np.dot(hs[t - 1], u, z)
            z += zx[t]
        h = hs[t]
        for i in range(n):
            for j in range(units):
                h[i, j] = _act(z[i, j], code)


@_jit
def simple_rnn_backward(dhs, hs, zs, ut, dz, carry, code):
    """dz[t] = f'(zs[t]) (dhs[t] + dz[t+1] @ U^T), from the last step back; ``ut`` is U^T."""
    steps, n, units = dhs.shape
    for t in range(steps - 1, -1, -1):
        d = dz[t]
        z, h, dh = zs[t], hs[t], dhs[t]
        for i in range(n):
            for j in range(units):
                g = dh[i, j]
                if t < steps - 1:
                    g += carry[i, j]
                d[i, j] = _act_grad(g, z[i, j], h[i, j], code)
        if t > 0:
            np.dot(d, ut, carry)


# -- LSTM ---------------------------------------------------------------------------------------
@_jit
def lstm_forward(gates, u, hs, cs, zbuf):
    """``gates`` comes holding zx: gates[t] += hs[t-1] @ U (through ``zbuf``), then i, f, o =
    sigmoid, g = tanh in place, cs[t] = f cs[t-1] + i g, hs[t] = o tanh(cs[t])."""
    steps, n, width = gates.shape
    units = width // 4
    for t in range(steps):
        z = gates[t]
        if t > 0:
            np.dot(hs[t - 1], u, zbuf)
            z += zbuf
        c, h = cs[t], hs[t]
        for r in range(n):
            for j in range(units):
                ig = _sigmoid(z[r, j])
                fg = _sigmoid(z[r, units + j])
                gg = _tanh(z[r, 2 * units + j])
                og = _sigmoid(z[r, 3 * units + j])
                c_prev = cs[t - 1, r, j] if t > 0 else type(ig)(0.0)
                cv = fg * c_prev + ig * gg
                c[r, j] = cv
                h[r, j] = og * _tanh(cv)
                z[r, j] = ig
                z[r, units + j] = fg
                z[r, 2 * units + j] = gg
                z[r, 3 * units + j] = og


@_jit
def lstm_backward(dhs, cs, gates, ut, dz, carry, dc):
    """BPTT through the cells: dh = dhs[t] + dz[t+1] @ U^T, dc carried; dz[t] the gates'
    pre-activation gradients (``ut`` is U^T)."""
    steps, n, units = dhs.shape
    for t in range(steps - 1, -1, -1):
        d, g, c, dh = dz[t], gates[t], cs[t], dhs[t]
        for r in range(n):
            for j in range(units):
                T = type(c[r, j])
                ig, fg = g[r, j], g[r, units + j]
                gg, og = g[r, 2 * units + j], g[r, 3 * units + j]
                tc = _tanh(c[r, j])
                dhv = dh[r, j]
                if t < steps - 1:
                    dhv += carry[r, j]
                else:
                    dc[r, j] = T(0.0)
                dct = dc[r, j] + dhv * og * (T(1.0) - tc * tc)
                c_prev = cs[t - 1, r, j] if t > 0 else T(0.0)
                d[r, j] = dct * gg * ig * (T(1.0) - ig)
                d[r, units + j] = dct * c_prev * fg * (T(1.0) - fg)
                d[r, 2 * units + j] = dct * ig * (T(1.0) - gg * gg)
                d[r, 3 * units + j] = dhv * tc * og * (T(1.0) - og)
                dc[r, j] = dct * fg
        if t > 0:
            np.dot(d, ut, carry)


# -- GRU ----------------------------------------------------------------------------------------
@_jit
def gru_forward(zx, u, b1, hs, gates, zh):
    """zh = hs[t-1] @ U + b_1; z, r = sigmoid(zx + zh), hh = tanh(zx_h + r zh_h),
    hs[t] = z hs[t-1] + (1 - z) hh; gates[t] = [z, r, hh, zh_h]."""
    steps, n, width = zx.shape
    units = width // 3
    for t in range(steps):
        if t == 0:
            for r in range(n):
                zh[r, :] = b1
        else:
            np.dot(hs[t - 1], u, zh)
            for r in range(n):
                zh[r, :] += b1
        x, g, h = zx[t], gates[t], hs[t]
        for r in range(n):
            for j in range(units):
                T = type(x[r, j])
                zg = _sigmoid(x[r, j] + zh[r, j])
                rg = _sigmoid(x[r, units + j] + zh[r, units + j])
                inner = zh[r, 2 * units + j]
                hh = _tanh(x[r, 2 * units + j] + rg * inner)
                h_prev = hs[t - 1, r, j] if t > 0 else T(0.0)
                h[r, j] = zg * h_prev + (T(1.0) - zg) * hh
                g[r, j] = zg
                g[r, units + j] = rg
                g[r, 2 * units + j] = hh
                g[r, 3 * units + j] = inner


@_jit
def gru_backward(dhs, hs, gates, ut, dzx, dzh, carry, direct):
    """BPTT through the cells: dh = dhs[t] + carry, then dzx[t], dzh[t] and
    carry = dh z + dzh[t] @ U^T (``ut`` is U^T; ``direct`` is scratch for dh z)."""
    steps, n, units = dhs.shape
    for t in range(steps - 1, -1, -1):
        g, dh, dx, dr = gates[t], dhs[t], dzx[t], dzh[t]
        for r in range(n):
            for j in range(units):
                T = type(g[r, j])
                zg, rg = g[r, j], g[r, units + j]
                hh, inner = g[r, 2 * units + j], g[r, 3 * units + j]
                dhv = dh[r, j]
                if t < steps - 1:
                    dhv += carry[r, j]
                h_prev = hs[t - 1, r, j] if t > 0 else T(0.0)
                dah = dhv * (T(1.0) - zg) * (T(1.0) - hh * hh)
                daz = dhv * (h_prev - hh) * zg * (T(1.0) - zg)
                dar = dah * inner * rg * (T(1.0) - rg)
                dx[r, j] = daz
                dx[r, units + j] = dar
                dx[r, 2 * units + j] = dah
                dr[r, j] = daz
                dr[r, units + j] = dar
                dr[r, 2 * units + j] = dah * rg
                direct[r, j] = dhv * zg
        if t > 0:
            np.dot(dr, ut, carry)
            carry += direct


# -- Embedding ----------------------------------------------------------------------------------
@_jit
def embedding_backward(dy, tokens, out):
    """out[v] += dy[k] for every flat position k with tokens[k] = v (a scatter-add)."""
    for k in range(tokens.shape[0]):
        v = tokens[k]
        if 0 <= v < out.shape[0]:
            out[v, :] += dy[k, :]
