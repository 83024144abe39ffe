"""Pooling over windows of channels-last images (n, h, w, c), one strided slice per window tap.

A window is (ph, pw, sh, sw, 1, 1), pads (top, bottom, left, right) as in nnkit.ops.conv. Each
op loops over the ph pw taps with elementwise ops on (n, ho, wo, c) arrays: no patch tensor.
"""

from __future__ import annotations

import math

from nnkit.ops.conv import _pad
from nnkit.ops.conv import _taps as _tap_slices


def _taps(x, window, pads, fill, xp):
    """The padded input and, per window tap, its index into it (see conv._taps); (ho, wo)."""
    kh, kw, sh, sw, dh, dw = window
    n, h, w, c = x.shape
    top, bottom, left, right = pads
    out_hw = ((h + top + bottom - (kh - 1) * dh - 1) // sh + 1, (w + left + right - (kw - 1) * dw - 1) // sw + 1)
    return _pad(x, pads, fill, xp), _tap_slices(window, out_hw), out_hw


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c)); a NaN wins (the first NaN, as in the kernels)."""
    padded, taps, _ = _taps(x, window, pads, -math.inf, xp)
    views = [padded[tap] for tap in taps]
    best = views[0]
    for v in views[1:]:
        best = xp.maximum(best, v)  # NaN propagates (the standard's maximum)
    return best, _first_winner(views, best, xp)


def _first_winner(views, best, xp):
    """The first tap t whose value is the window's maximum (or a NaN): idx = sum over t < T-1 of
    prod_{s <= t} [tap s loses], from comparisons and integer sums only (a where per tap, whose
    random masks cost numpy a branch miss per element, ran 5x slower on W5's pooling); summed in
    int8 where the window allows, and tested for NaN only where the maximum holds one."""
    has_nan = bool(xp.any(best != best))
    acc = xp.int8 if len(views) <= 127 else xp.int64
    idx = xp.zeros(best.shape, dtype=acc)
    losing = None
    for v in views[:-1]:
        loses = xp.logical_and(v != best, v == v) if has_nan else v != best
        losing = loses if losing is None else xp.logical_and(losing, loses)
        idx = idx + xp.astype(losing, acc)
    return xp.astype(idx, xp.int64)


def _disjoint(window):
    """Whether no two taps of a window read the same pixel (each stride spans its window)."""
    kh, kw, sh, sw, dh, dw = window
    return sh > (kh - 1) * dh and sw > (kw - 1) * dw


def _scatter_taps(part, dy, x_shape, window, pads, xp):
    """dx = the sum over the window taps t of part(t) (shaped as dy) added where tap t reads;
    windows that do not overlap write each tap's part once, with no read-modify-write."""
    n, h, w, c = x_shape
    top, bottom, left, right = pads
    dpad = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=dy.dtype)
    disjoint = _disjoint(window)
    for t, tap in enumerate(_tap_slices(window, dy.shape[1:3])):
        dpad[tap] = part(t) if disjoint else dpad[tap] + part(t)
    return dpad[:, top:top + h, left:left + w, :]


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap), as
    dy [idx == t] per tap t (a product, not a where: a non-finite dy spreads over its window)."""
    return _scatter_taps(lambda t: dy * xp.astype(idx == t, dy.dtype), dy, x_shape, window, pads, xp)


def _counts(x_shape, window, pads, dtype, xp):
    """How many real (unpadded) pixels each window holds, (1, ho, wo, 1); a number without pads."""
    if not any(pads):
        return float(window[0] * window[1])
    ones = xp.ones((1, x_shape[1], x_shape[2], 1), dtype=dtype)
    padded, taps, _ = _taps(ones, window, pads, 0.0, xp)
    total = padded[taps[0]]
    for tap in taps[1:]:
        total = total + padded[tap]
    return total


def avg_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = mean of x over the window's real pixels (padding is not counted)."""
    padded, taps, _ = _taps(x, window, pads, 0.0, xp)
    total = padded[taps[0]]
    for tap in taps[1:]:
        total = total + padded[tap]
    return total / _counts(tuple(x.shape), window, pads, x.dtype, xp)


def avg_pool2d_backward(dy, x_shape, window, pads, *, xp):
    """dx = the sum over the windows holding a pixel of dy / (the window's real pixel count)."""
    g = dy / _counts(x_shape, window, pads, dy.dtype, xp)
    return _scatter_taps(lambda t: g, dy, x_shape, window, pads, xp)


def global_avg_pool2d(x, *, xp):
    """y[n, k] = mean over (h, w) of x[n, :, :, k]."""
    return xp.mean(x, axis=(1, 2))


def global_avg_pool2d_backward(dy, x_shape, *, xp):
    """dx[n, y, x, k] = dy[n, k] / (h w)."""
    n, h, w, c = x_shape
    return xp.zeros(x_shape, dtype=dy.dtype) + xp.reshape(dy, (n, 1, 1, c)) * (1.0 / (h * w))


def global_max_pool2d(x, *, xp):
    """y[n, k] = max over (h, w) of x[n, :, :, k]; returns (y, the flat index h*w of the first maximum)."""
    n, h, w, c = x.shape
    flat = xp.reshape(x, (n, h * w, c))
    return xp.max(flat, axis=1), xp.argmax(flat, axis=1)


def global_max_pool2d_backward(dy, idx, x_shape, *, xp):
    """dx = dy at each channel's first maximum, else 0."""
    n, h, w, c = x_shape
    hit = xp.reshape(idx, (n, 1, c)) == xp.reshape(xp.arange(h * w, dtype=idx.dtype), (1, h * w, 1))
    return xp.reshape(xp.where(hit, xp.reshape(dy, (n, 1, c)), 0.0), x_shape)
