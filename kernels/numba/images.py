"""Image kernels: Conv2D's forward and backward (the patch matrix times the kernel in NumPy's
BLAS, with bias + relu fused in place and relu's backward fused with the bias gradient), the
adjoint of patch extraction, pooling forward/backward and batch norm forward/backward, each one
compiled call.

Patch extraction stays NumPy copies into a kept array (_host_conv.patch_matrix: one copy of the
windows' view, or the taps stacked where c = 1): the stack alone ran faster than a compiled loop,
measured on (64, 13, 13, 32) with 3x3 windows, 0.44-0.53 ms against 2.8-3.1 ms (and 0.8-0.9 ms
for a per-channel loop), and on (64, 28, 28, 1) 0.18 against 0.9 ms. Direct convolution loops (no patch matrix) lost too, even on W5's first
layer (3x3x1, 9 columns): 2.5 ms forward against 0.36 ms for patches + GEMM + epilogue, and
0.62-0.68 ms for the kernel gradient against 0.29-0.33 ms in BLAS. A fresh np.empty for the 8.9 MB
patch matrix cost nothing over reusing one in a loop of extractions (0.91 against 0.90 ms), but
inside a training step the fresh arrays page-faulted (_scratch.py): the large arrays here come
from the _scratch pool.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import conv as _conv
from nnkit.ops import normalization as _norm
from nnkit.ops import pooling as _pool
from nnkit._kernels import _host_conv as _host
from nnkit._kernels import _scratch
from nnkit._kernels._arrays import all_plain, is_plain
from nnkit._kernels._host_conv import is_image as _image
from nnkit._kernels._host_conv import is_vector as _vector
from nnkit._kernels._host_conv import out_hw as _out_hw
from nnkit._kernels.numba import _jit_images as _jit
from nnkit._kernels.numba import activations as _activations


def conv_patches_backward(dp, x_shape, window, pads, *, xp):
    """The adjoint of conv_patches: dx[n, y, x, k] = sum of dP over the patch entries read from
    pixel (y, x) (entries read from the padding are dropped)."""
    if not _image(dp):
        return _conv.conv_patches_backward(dp, x_shape, window, pads, xp=xp)
    kh, kw, sh, sw, dh, dw = window
    dx = _scratch.empty(x_shape, dp.dtype)
    _jit.patches_backward(dp, kh, kw, sh, sw, dh, dw, pads[0], pads[2], dx)
    return dx


# Conv2D's epilogues here: bias + relu in place and relu's backward with the bias gradient, compiled
_FAMILY = _host.Epilogues(_jit.bias_relu_rows, _jit.relu_backward_rows, conv_patches_backward,
                          _activations.bias_activation, _activations.bias_activation_backward)


conv2d_activation, conv2d_activation_backward = _host.conv_kernels(_FAMILY)


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c))."""
    if not _image(x):
        return _pool.max_pool2d(x, window, pads, xp=xp)
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, window, pads)
    y, idx = _scratch.empty((n, ho, wo, c), x.dtype), _scratch.empty((n, ho, wo, c), np.int64)
    _jit.max_pool(x, window[0], window[1], window[2], window[3], pads[0], pads[2], y, idx)
    return y, idx


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap)."""
    if not (_image(dy) and type(idx) is np.ndarray and idx.dtype == np.int64
            and idx.flags.c_contiguous and idx.shape == dy.shape):
        return _pool.max_pool2d_backward(dy, idx, x_shape, window, pads, xp=xp)
    dx = _scratch.empty(x_shape, dy.dtype)
    _jit.max_pool_backward(dy, idx, window[0], window[1], window[2], window[3], pads[0], pads[2], dx)
    return dx


def avg_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = mean of x over the window's real pixels (padding is not counted)."""
    if not _image(x):
        return _pool.avg_pool2d(x, window, pads, xp=xp)
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, window, pads)
    y = _scratch.empty((n, ho, wo, c), x.dtype)
    _jit.avg_pool(x, window[0], window[1], window[2], window[3], pads[0], pads[2], y)
    return y


def avg_pool2d_backward(dy, x_shape, window, pads, *, xp):
    """dx = the sum over the windows holding a pixel of dy / (the window's real pixel count)."""
    if not _image(dy):
        return _pool.avg_pool2d_backward(dy, x_shape, window, pads, xp=xp)
    dx = _scratch.empty(x_shape, dy.dtype)
    _jit.avg_pool_backward(dy, window[0], window[1], window[2], window[3], pads[0], pads[2], dx)
    return dx


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


KERNELS = {f.__name__: f for f in (conv2d_activation, conv2d_activation_backward, conv_patches_backward, max_pool2d, max_pool2d_backward,
                                    avg_pool2d, avg_pool2d_backward, batch_norm, batch_norm_backward)}
