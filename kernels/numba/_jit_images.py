"""The @njit bodies of the image kernels: the patches' adjoint, pooling, batch norm.

Self-contained (they call nothing in other files), so Numba's on-disk cache, keyed on this file,
never keeps a stale body. Images are channels-last (n, h, w, c), C-contiguous; loops run with the
channel innermost, so every inner loop reads and writes consecutive memory. Statistics accumulate
in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nnkit._kernels.numba._jit import FASTMATH, relu_scalar

_jit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)


@_jit
def patches_backward(dp, kh, kw, sh, sw, dh, dw, top, left, dx):
    """dx = 0, then each dp entry added to the pixel its patch entry was read from (through 1-D
    pixel views: indexing the 4-D arrays in the inner loop ran 4x slower, unvectorised)."""
    n, h, w, c = dx.shape
    ho, wo = dp.shape[1], dp.shape[2]
    dx[...] = 0
    for m in range(n):
        for i in range(ho):
            for j in range(wo):
                src = dp[m, i, j]
                for a in range(kh):
                    r = i * sh + a * dh - top
                    if r < 0 or r >= h:
                        continue
                    for b in range(kw):
                        s = j * sw + b * dw - left
                        if s < 0 or s >= w:
                            continue
                        dst = dx[m, r, s]
                        col = (a * kw + b) * c
                        for k in range(c):
                            dst[k] += src[col + k]


@_jit
def bias_relu_rows(z, bias, has_bias, relu):
    """z = f(z + b) in place, row by row (f: relu or the identity)."""
    for i in range(z.shape[0]):
        row = z[i]
        if has_bias:
            for q in range(row.shape[0]):
                row[q] += bias[q]
        if relu:
            for q in range(row.shape[0]):
                row[q] = relu_scalar(row[q])


@_jit
def relu_backward_rows(dy, y, da, db):
    """da = dy where y > 0 (relu's a > 0), else 0, and db = its column sums, in one pass."""
    T = dy.dtype.type
    acc = np.zeros(dy.shape[1], dtype=dy.dtype)
    for i in range(dy.shape[0]):
        g, yr, out = dy[i], y[i], da[i]
        for q in range(g.shape[0]):
            v = g[q] * T(yr[q] > T(0.0))
            out[q] = v
            acc[q] += v
    db[:] = acc


@_jit
def max_pool(x, ph, pw, sh, sw, top, left, y, idx):
    """y = the window's first maximum (NaN wins), idx = its tap a pw + b; the padding never wins."""
    n, h, w, c = x.shape
    ho, wo = y.shape[1], y.shape[2]
    for m in range(n):
        for i in range(ho):
            for j in range(wo):
                out, arg = y[m, i, j], idx[m, i, j]
                first = True
                for a in range(ph):
                    r = i * sh + a - top
                    if r < 0 or r >= h:
                        continue
                    for b in range(pw):
                        s = j * sw + b - left
                        if s < 0 or s >= w:
                            continue
                        t, pixel = a * pw + b, x[m, r, s]
                        if first:
                            for k in range(c):
                                out[k] = pixel[k]
                                arg[k] = t
                            first = False
                            continue
                        for k in range(c):
                            v, best = pixel[k], out[k]
                            if v > best or (v != v and best == best):
                                out[k] = v
                                arg[k] = t


@_jit
def max_pool_backward(dy, idx, ph, pw, sh, sw, top, left, dx):
    """dx = 0, then each window adds dy to its pixels where the pixel's tap is the window's
    winner, a window row at a time (a gather per window: scattering by the index ran 4x slower)."""
    ho, wo = dy.shape[1], dy.shape[2]
    n, h, w, c = dx.shape
    T = dx.dtype.type
    dx[...] = 0
    for m in range(n):
        for i in range(ho):
            for a in range(ph):
                r = i * sh + a - top
                if 0 <= r < h:
                    for j in range(wo):
                        g, arg = dy[m, i, j], idx[m, i, j]
                        for s in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                            t, d = a * pw + s - (j * sw - left), dx[m, r, s]
                            for k in range(c):
                                d[k] += g[k] if arg[k] == t else T(0.0)


@_jit
def avg_pool(x, ph, pw, sh, sw, top, left, y):
    """y = the mean over the window's real pixels."""
    n, h, w, c = x.shape
    ho, wo = y.shape[1], y.shape[2]
    T = x.dtype.type
    for m in range(n):
        for i in range(ho):
            r0, r1 = max(i * sh - top, 0), min(i * sh - top + ph, h)
            for j in range(wo):
                s0, s1 = max(j * sw - left, 0), min(j * sw - left + pw, w)
                inv = T(1.0) / T((r1 - r0) * (s1 - s0))
                for k in range(c):
                    y[m, i, j, k] = 0
                for r in range(r0, r1):
                    for s in range(s0, s1):
                        for k in range(c):
                            y[m, i, j, k] += x[m, r, s, k]
                for k in range(c):
                    y[m, i, j, k] *= inv


@_jit
def avg_pool_backward(dy, ph, pw, sh, sw, top, left, dx):
    """dx = 0, then dy / (the window's real pixel count) added to each of its real pixels."""
    n, h, w, c = dx.shape
    ho, wo = dy.shape[1], dy.shape[2]
    T = dy.dtype.type
    dx[...] = 0
    for m in range(n):
        for i in range(ho):
            r0, r1 = max(i * sh - top, 0), min(i * sh - top + ph, h)
            for j in range(wo):
                s0, s1 = max(j * sw - left, 0), min(j * sw - left + pw, w)
                inv = T(1.0) / T((r1 - r0) * (s1 - s0))
                for r in range(r0, r1):
                    for s in range(s0, s1):
                        for k in range(c):
                            dx[m, r, s, k] += dy[m, i, j, k] * inv


@_jit
def batch_norm(x, gamma, beta, epsilon, has_gamma, has_beta, y, xhat, inv_std, mean, var):
    """Batch statistics of the rows of x (m, c), xhat and y = gamma xhat + beta in one call."""
    m, c = x.shape
    T = x.dtype.type
    acc = np.zeros(c, dtype=np.float64)
    for r in range(m):
        for k in range(c):
            acc[k] += x[r, k]
    for k in range(c):
        mean[k] = acc[k] / m
        acc[k] = 0.0
    for r in range(m):
        for k in range(c):
            d = np.float64(x[r, k] - mean[k])
            acc[k] += d * d
    for k in range(c):
        var[k] = acc[k] / m
        inv_std[k] = T(1.0) / np.sqrt(var[k] + T(epsilon))
    for r in range(m):
        for k in range(c):
            v = (x[r, k] - mean[k]) * inv_std[k]
            xhat[r, k] = v
            if has_gamma:
                v = v * gamma[k]
            if has_beta:
                v = v + beta[k]
            y[r, k] = v


@_jit
def batch_norm_backward(dy, xhat, inv_std, gamma, has_gamma, dx, dgamma, dbeta):
    """dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv_std (dy - dbeta/m - xhat dgamma/m)."""
    m, c = dy.shape
    T = dy.dtype.type
    sb = np.zeros(c, dtype=np.float64)
    sg = np.zeros(c, dtype=np.float64)
    for r in range(m):
        for k in range(c):
            sb[k] += dy[r, k]
            sg[k] += dy[r, k] * xhat[r, k]
    scale = np.empty(c, dtype=dy.dtype)
    for k in range(c):
        dbeta[k] = sb[k]
        dgamma[k] = sg[k]
        scale[k] = inv_std[k] * gamma[k] if has_gamma else inv_std[k]
    inv_m = T(1.0 / m)
    for r in range(m):
        for k in range(c):
            dx[r, k] = scale[k] * (dy[r, k] - dbeta[k] * inv_m - xhat[r, k] * (dgamma[k] * inv_m))
