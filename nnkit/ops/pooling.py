"""Pooling over windows of channels-last images (n, h, w, c), through conv_patches.

A window is (ph, pw, sh, sw, 1, 1), pads (top, bottom, left, right) as in nnkit.ops.conv.
"""

from __future__ import annotations

import math

from nnkit.ops.conv import conv_patches, conv_patches_backward


def _windows(x, window, pads, fill, xp):
    """The patches of x as (n, ho, wo, ph pw, c)."""
    p = conv_patches(x, window, pads, fill, xp=xp)
    n, ho, wo, _ = p.shape
    return xp.reshape(p, (n, ho, wo, window[0] * window[1], x.shape[3]))


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c))."""
    p5 = _windows(x, window, pads, -math.inf, xp)
    return xp.max(p5, axis=3), xp.argmax(p5, axis=3)


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap)."""
    n, ho, wo, c = dy.shape
    taps = window[0] * window[1]
    hit = xp.reshape(idx, (n, ho, wo, 1, c)) == xp.reshape(xp.arange(taps, dtype=idx.dtype), (1, 1, 1, taps, 1))
    dp = xp.where(hit, xp.reshape(dy, (n, ho, wo, 1, c)), 0.0)
    return conv_patches_backward(xp.reshape(dp, (n, ho, wo, taps * c)), x_shape, window, pads, xp=xp)


def _counts(x_shape, window, pads, dtype, xp):
    """How many real (unpadded) pixels each window holds, (1, ho, wo, 1); a number without pads."""
    if not any(pads):
        return float(window[0] * window[1])
    ones = xp.ones((1, x_shape[1], x_shape[2], 1), dtype=dtype)
    return xp.sum(_windows(ones, window, pads, 0.0, xp), axis=3)


def avg_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = mean of x over the window's real pixels (padding is not counted)."""
    p5 = _windows(x, window, pads, 0.0, xp)
    return xp.sum(p5, axis=3) / _counts(tuple(x.shape), window, pads, x.dtype, xp)


def avg_pool2d_backward(dy, x_shape, window, pads, *, xp):
    """dx = the sum over the windows holding a pixel of dy / (the window's real pixel count)."""
    n, ho, wo, c = dy.shape
    taps = window[0] * window[1]
    g = dy / _counts(x_shape, window, pads, dy.dtype, xp)
    dp = xp.reshape(g, (n, ho, wo, 1, c)) * xp.ones((1, 1, 1, taps, 1), dtype=dy.dtype)
    return conv_patches_backward(xp.reshape(dp, (n, ho, wo, taps * c)), x_shape, window, pads, xp=xp)


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
