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
from numba import njit, types
from numba.extending import overload

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


# Gate nonlinearities the compiler can vectorise: float32 takes a rational tanh (no exp, so the
# gate loop runs in SIMD lanes: 3.7 -> 0.5 ms for W6's 32 steps), float64 the exact one-exp forms
# above (float64 results stay at rounding level against the generic ops and torch).
_TANH_CLIP = 7.90531110763549805  # beyond it the float32 rational is +-1 to rounding
# Eigen's float32 tanh: x P(x^2) / Q(x^2); max error 2.6e-7 measured over [-20, 20]
_TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
           1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
_TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


@_jit
def _tanh_rational(x):
    """tanh(x) ~ x P(x^2) / Q(x^2) on x clipped to +-_TANH_CLIP (NaN passes through the clip)."""
    T = type(x)
    c = T(_TANH_CLIP)
    x = c if x > c else (-c if x < -c else x)
    x2 = x * x
    p = T(_TANH_P[0])
    for a in _TANH_P[1:]:
        p = p * x2 + T(a)
    q = T(_TANH_Q[0])
    for b in _TANH_Q[1:]:
        q = q * x2 + T(b)
    return x * p / q


def _vtanh(x):
    """tanh(x) in a gate loop (dispatched on the dtype at compile time)."""


def _vsigmoid(x):
    """sigmoid(x) in a gate loop (dispatched on the dtype at compile time)."""


@overload(_vtanh, jit_options={"fastmath": FASTMATH})
def _vtanh_for(x):
    if x == types.float32:
        return lambda x: _tanh_rational(x)
    return lambda x: _tanh(x)


@overload(_vsigmoid, jit_options={"fastmath": FASTMATH})
def _vsigmoid_for(x):
    if x == types.float32:
        return lambda x: type(x)(0.5) + type(x)(0.5) * _tanh_rational(type(x)(0.5) * x)
    return lambda x: _sigmoid(x)


# -- the big products, on the BLAS the loops use ----------------------------------------------
@_jit
def matmul(a, b, out):
    """out = a @ b (C-contiguous 2-D arrays)."""
    np.dot(a, b, out)


@_jit
def matmul_tn(a, b, out):
    """out = a^T @ b (the weight gradients)."""
    np.dot(a.T, b, out)


@_jit
def _cuts(t, cut):
    """Whether truncated BPTT stops the gradient between step t - 1 and step t."""
    return cut > 0 and t % cut == 0


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
def _own(dhs, first, t, zero):
    """Step t's own state gradient: ``dhs`` holds those of steps first, first + 1, ... (the
    earlier ones are zero: ``first`` = T - 1 for a layer that outputs its last state alone)."""
    return dhs[t - first] if t >= first else zero


@_jit
def simple_rnn_backward(dhs, first, hs, zs, ut, dz, carry, zero, code, cut):
    """dz[t] = f'(zs[t]) (dh_t + dz[t+1] @ U^T), dh_t = dhs[t - first] (zero before ``first``), from
    the last step back; ``ut`` is U^T; the term carried to step t - 1 is zero where t is a multiple
    of ``cut`` (0: never)."""
    steps, n, units = hs.shape
    for t in range(steps - 1, -1, -1):
        d = dz[t]
        z, h, dh = zs[t], hs[t], _own(dhs, first, t, zero)
        for i in range(n):
            for j in range(units):
                g = dh[i, j]
                if t < steps - 1:
                    g += carry[i, j]
                d[i, j] = _act_grad(g, z[i, j], h[i, j], code)
        if t > 0:
            if _cuts(t, cut):
                carry[:, :] = 0.0
            else:
                np.dot(d, ut, carry)


# -- LSTM ----------------------------------------------------------------------------------------
@_jit
def lstm_forward(a, wu, bias, cs, gates, zbuf, zero, r0, r1):
    """``a`` (T + 1, N, F + u) comes holding x_t in the first F columns of every block t < T and
    h_(-1) = 0 in the last u of block 0: z = a[t] @ [W; U] + b (a step's input and recurrent
    products as one GEMM, through ``zbuf``), then i, f, o = sigmoid, g = tanh into ``gates``,
    cs[t] = f cs[t-1] + i g, h_t = o tanh(cs[t]) into a[t + 1]'s last u columns; so a[:T] ends
    holding [x_t, h_(t-1)], every weight gradient's left operand. ``zero``: (N, u) zeros.
    It runs batch rows r0 to r1 (rows never mix through time); the wrapper passes 0, N: the loop
    over rows with bounds from arguments measured 1.45 against 1.70 ms for W6 with range(N)
    (LLVM's code for the gate loop differs; the backward measured the other way round)."""
    steps, width = gates.shape[0], gates.shape[2]
    units = width // 4
    features = a.shape[2] - units
    bi, bf, bc, bo = bias[:units], bias[units:2 * units], bias[2 * units:3 * units], bias[3 * units:]
    zrows = zbuf[r0:r1]
    for t in range(steps):
        np.dot(a[t][r0:r1], wu, zrows)
        c_prev = cs[t - 1] if t > 0 else zero
        g, c, nxt = gates[t], cs[t], a[t + 1]
        for r in range(r0, r1):
            # one view per gate block, so every access is x[j] with 0 <= j < units: the loop
            # vectorises (with offsets like z[units + j] it stayed scalar-speed)
            zr, gr = zbuf[r], g[r]
            zi, zf, zc, zo = zr[:units], zr[units:2 * units], zr[2 * units:3 * units], zr[3 * units:]
            gi, gf, gc, go = gr[:units], gr[units:2 * units], gr[2 * units:3 * units], gr[3 * units:]
            cp, cr, hr = c_prev[r], c[r], nxt[r][features:]
            for j in range(units):
                ig = _vsigmoid(zi[j] + bi[j])
                fg = _vsigmoid(zf[j] + bf[j])
                gg = _vtanh(zc[j] + bc[j])
                og = _vsigmoid(zo[j] + bo[j])
                cv = fg * cp[j] + ig * gg
                cr[j] = cv
                hr[j] = og * _vtanh(cv)
                gi[j] = ig
                gf[j] = fg
                gc[j] = gg
                go[j] = og


@_jit
def lstm_backward(dhs, first, cs, gates, ut, dz, carry, dc, zero, cut):
    """BPTT through the cells: dh = dh_t + dz[t+1] @ U^T (dh_t as in simple_rnn_backward), dc
    carried (``dc`` comes holding the last cell state's gradient); dz[t] the gates' pre-activation
    gradients (``ut`` is U^T; ``zero`` an (N, units) block of zeros). Both carries are cut at
    multiples of ``cut``."""
    steps, n, units = cs.shape
    carry[:, :] = 0.0
    for t in range(steps - 1, -1, -1):
        d, g, c, dh = dz[t], gates[t], cs[t], _own(dhs, first, t, zero)
        c_prev = cs[t - 1] if t > 0 else zero
        for r in range(n):
            dr, gr = d[r], g[r]
            di, df, dg, do = dr[:units], dr[units:2 * units], dr[2 * units:3 * units], dr[3 * units:]
            gi, gf, gc, go = gr[:units], gr[units:2 * units], gr[2 * units:3 * units], gr[3 * units:]
            cr, dhr, car, dcr, cp = c[r], dh[r], carry[r], dc[r], c_prev[r]
            for j in range(units):
                T = type(cr[j])
                ig, fg, gg, og = gi[j], gf[j], gc[j], go[j]
                tc = _vtanh(cr[j])
                dhv = dhr[j] + car[j]
                dct = dcr[j] + dhv * og * (T(1.0) - tc * tc)
                di[j] = dct * gg * ig * (T(1.0) - ig)
                df[j] = dct * cp[j] * fg * (T(1.0) - fg)
                dg[j] = dct * ig * (T(1.0) - gg * gg)
                do[j] = dhv * tc * og * (T(1.0) - og)
                dcr[j] = dct * fg
        if t > 0:
            if _cuts(t, cut):
                carry[:, :] = 0.0
                dc[:, :] = 0.0
            else:
                np.dot(d, ut, carry)


# -- GRU ----------------------------------------------------------------------------------------
@_jit
def gru_forward(zx, u, b1, hs, gates, zh, zero):
    """zh = hs[t-1] @ U + b_1; z, r = sigmoid(zx + zh), hh = tanh(zx_h + r zh_h),
    hs[t] = z hs[t-1] + (1 - z) hh; gates[t] = [z, r, hh, zh_h] (``zero``: the state before t = 0)."""
    steps, n, width = zx.shape
    units = width // 3
    for t in range(steps):
        if t == 0:
            zh[:, :] = 0.0
            h_prev = zero
        else:
            np.dot(hs[t - 1], u, zh)
            h_prev = hs[t - 1]
        x, g, h = zx[t], gates[t], hs[t]
        for r in range(n):
            xr, zr, gr = x[r], zh[r], g[r]  # views per gate block, as in lstm_forward
            xz, xr_, xh = xr[:units], xr[units:2 * units], xr[2 * units:]
            hz, hr_, hh_ = zr[:units], zr[units:2 * units], zr[2 * units:]
            bz, br_, bh = b1[:units], b1[units:2 * units], b1[2 * units:]
            gz, gr_, gh, gi = gr[:units], gr[units:2 * units], gr[2 * units:3 * units], gr[3 * units:]
            hr, hp = h[r], h_prev[r]
            for j in range(units):
                T = type(xz[j])
                zg = _vsigmoid(xz[j] + hz[j] + bz[j])
                rg = _vsigmoid(xr_[j] + hr_[j] + br_[j])
                inner = hh_[j] + bh[j]
                hh = _vtanh(xh[j] + rg * inner)
                hr[j] = zg * hp[j] + (T(1.0) - zg) * hh
                gz[j] = zg
                gr_[j] = rg
                gh[j] = hh
                gi[j] = inner


@_jit
def gru_backward(dhs, first, hs, gates, ut, dzx, dzh, carry, direct, zero, cut):
    """BPTT through the cells: dh = dh_t + carry (dh_t as in simple_rnn_backward), then dzx[t],
    dzh[t] and carry = dh z + dzh[t] @ U^T, zero at multiples of ``cut`` (``ut`` is U^T; ``direct``
    is scratch for dh z)."""
    steps, n, units = hs.shape
    carry[:, :] = 0.0
    for t in range(steps - 1, -1, -1):
        g, dh, dx, dr = gates[t], _own(dhs, first, t, zero), dzx[t], dzh[t]
        h_prev = hs[t - 1] if t > 0 else zero
        for r in range(n):
            gr, dxr, drr = g[r], dx[r], dr[r]
            gz, gr_, gh, gi = gr[:units], gr[units:2 * units], gr[2 * units:3 * units], gr[3 * units:]
            xz, xr_, xh = dxr[:units], dxr[units:2 * units], dxr[2 * units:]
            rz, rr, rh = drr[:units], drr[units:2 * units], drr[2 * units:]
            dhr, car, dir_, hp = dh[r], carry[r], direct[r], h_prev[r]
            for j in range(units):
                T = type(gz[j])
                zg, rg, hh, inner = gz[j], gr_[j], gh[j], gi[j]
                dhv = dhr[j] + car[j]
                dah = dhv * (T(1.0) - zg) * (T(1.0) - hh * hh)
                daz = dhv * (hp[j] - hh) * zg * (T(1.0) - zg)
                dar = dah * inner * rg * (T(1.0) - rg)
                xz[j] = daz
                xr_[j] = dar
                xh[j] = dah
                rz[j] = daz
                rr[j] = dar
                rh[j] = dah * rg
                dir_[j] = dhv * zg
        if t > 0:
            if _cuts(t, cut):
                carry[:, :] = 0.0
            else:
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
