"""Image kernels: the adjoint of patch extraction (Conv2D's matmuls stay in NumPy's BLAS, on the
contiguous patch matrix), pooling forward/backward and batch norm forward/backward, each one
compiled call.

Patch extraction itself stays the generic op: its kh kw strided copies (np.stack of slices) ran
faster than a compiled loop, measured on (64, 13, 13, 32) with 3x3 windows, 0.44-0.53 ms against
2.8-3.1 ms (and 0.8-0.9 ms for a per-channel loop), and on (64, 28, 28, 1) 0.18 against 0.9 ms.
A fresh np.empty for the 8.9 MB patch matrix cost nothing over reusing one (0.91 against
0.90 ms per extraction): glibc hands the freed block back, so no per-shape buffers are kept.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import conv as _conv
from nnkit.ops import normalization as _norm
from nnkit.ops import pooling as _pool
from nnkit._kernels.numba import _jit_images as _jit
from nnkit._kernels.numba._arrays import all_plain, is_plain


def _out_hw(h, w, window, pads):
    kh, kw, sh, sw, dh, dw = window
    top, bottom, left, right = pads
    return (h + top + bottom - (kh - 1) * dh - 1) // sh + 1, (w + left + right - (kw - 1) * dw - 1) // sw + 1


def _image(a):
    return is_plain(a) and a.ndim == 4


def conv_patches_backward(dp, x_shape, window, pads, *, xp):
    """The adjoint of conv_patches: dx[n, y, x, k] = sum of dP over the patch entries read from
    pixel (y, x) (entries read from the padding are dropped)."""
    if not _image(dp):
        return _conv.conv_patches_backward(dp, x_shape, window, pads, xp=xp)
    kh, kw, sh, sw, dh, dw = window
    dx = np.empty(tuple(x_shape), dtype=dp.dtype)
    _jit.patches_backward(dp, kh, kw, sh, sw, dh, dw, pads[0], pads[2], dx)
    return dx


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c))."""
    if not _image(x):
        return _pool.max_pool2d(x, window, pads, xp=xp)
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, window, pads)
    y = np.empty((n, ho, wo, c), dtype=x.dtype)
    idx = np.empty((n, ho, wo, c), dtype=np.int64)
    _jit.max_pool(x, window[0], window[1], window[2], window[3], pads[0], pads[2], y, idx)
    return y, idx


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap)."""
    if not (_image(dy) and type(idx) is np.ndarray and idx.dtype == np.int64
            and idx.flags.c_contiguous and idx.shape == dy.shape):
        return _pool.max_pool2d_backward(dy, idx, x_shape, window, pads, xp=xp)
    dx = np.empty(tuple(x_shape), dtype=dy.dtype)
    _jit.max_pool_backward(dy, idx, window[1], window[2], window[3], pads[0], pads[2], dx)
    return dx


def avg_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = mean of x over the window's real pixels (padding is not counted)."""
    if not _image(x):
        return _pool.avg_pool2d(x, window, pads, xp=xp)
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, window, pads)
    y = np.empty((n, ho, wo, c), dtype=x.dtype)
    _jit.avg_pool(x, window[0], window[1], window[2], window[3], pads[0], pads[2], y)
    return y


def avg_pool2d_backward(dy, x_shape, window, pads, *, xp):
    """dx = the sum over the windows holding a pixel of dy / (the window's real pixel count)."""
    if not _image(dy):
        return _pool.avg_pool2d_backward(dy, x_shape, window, pads, xp=xp)
    dx = np.empty(tuple(x_shape), dtype=dy.dtype)
    _jit.avg_pool_backward(dy, window[0], window[1], window[2], window[3], pads[0], pads[2], dx)
    return dx


def _vector(v, c, dtype):
    return v is None or (is_plain(v) and v.shape == (c,) and v.dtype == dtype)


def batch_norm(x, gamma, beta, epsilon, *, xp):
    """Training mode: mu = mean x, var = mean (x - mu)^2 (biased), xhat = (x - mu) / sqrt(var + eps),
    y = gamma xhat + beta; returns (y, xhat, inv_std, mu, var). ``gamma``/``beta`` may be None."""
    if not (is_plain(x) and x.ndim >= 2 and _vector(gamma, x.shape[-1], x.dtype)
            and _vector(beta, x.shape[-1], x.dtype)):
        return _norm.batch_norm(x, gamma, beta, epsilon, xp=xp)
    c = x.shape[-1]
    x2 = x.reshape(-1, c)
    y, xhat = np.empty_like(x), np.empty_like(x)
    inv_std, mean, var = (np.empty(c, dtype=x.dtype) for _ in range(3))
    dummy = np.empty(0, dtype=x.dtype)
    _jit.batch_norm(x2, dummy if gamma is None else gamma, dummy if beta is None else beta,
                    float(epsilon), gamma is not None, beta is not None, y.reshape(-1, c),
                    xhat.reshape(-1, c), inv_std, mean, var)
    return y, xhat, inv_std, mean, var


def batch_norm_backward(dy, xhat, inv_std, gamma, *, xp):
    """dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv_std (dy - dbeta/m - xhat dgamma/m)
    over the m rows; returns (dx, dgamma, dbeta)."""
    c = dy.shape[-1] if dy.ndim else 0
    if not (all_plain(dy, xhat) and dy.ndim >= 2 and _vector(inv_std, c, dy.dtype) and inv_std is not None
            and _vector(gamma, c, dy.dtype)):
        return _norm.batch_norm_backward(dy, xhat, inv_std, gamma, xp=xp)
    dx = np.empty_like(dy)
    dgamma, dbeta = np.empty(c, dtype=dy.dtype), np.empty(c, dtype=dy.dtype)
    _jit.batch_norm_backward(dy.reshape(-1, c), xhat.reshape(-1, c), inv_std,
                             np.empty(0, dtype=dy.dtype) if gamma is None else gamma, gamma is not None,
                             dx.reshape(-1, c), dgamma, dbeta)
    return dx, dgamma, dbeta


KERNELS = {f.__name__: f for f in (conv_patches_backward, max_pool2d, max_pool2d_backward,
                                    avg_pool2d, avg_pool2d_backward, batch_norm, batch_norm_backward)}
