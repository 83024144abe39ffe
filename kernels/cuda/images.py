"""Image kernels for CuPy (images.cu): patch extraction and its adjoint, max/avg pooling and
their backward, batch norm forward and backward; Conv2D's matmuls stay in cuBLAS through CuPy.

Anything the kernels do not take (non-CuPy arrays, mixed or non-float dtypes, shapes that are not
images) goes to the generic op.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import conv as generic_conv
from nnkit.ops.conv import _conv2d_activation_backward_composed, _conv2d_activation_composed
from nnkit.ops import normalization as generic_norm
from nnkit.ops import pooling as generic_pool

from . import _loader
from . import activations as _activations

SOURCE = "images.cu"
TEMPLATES = ("patches", "patches_backward", "max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward",
             "batch_norm_stats", "batch_norm_apply", "batch_norm_sums", "batch_norm_backward")
GROUP = _loader.register(SOURCE, [f"nnkit::{t}<{c}>" for t in TEMPLATES for c in ("float", "double")])
_kernels: dict = {}
BN_THREADS = 256  # a power of two: batch_norm_stats' and batch_norm_sums' tree reduction


def _kernel(template: str, ctype: str):
    expression = f"nnkit::{template}<{ctype}>"
    kernel = _kernels.get(expression)
    if kernel is None:
        kernel = _kernels[expression] = _loader.function(SOURCE, GROUP, expression)
    return kernel


def _image_type(*arrays):
    """The C type where every array is a 4-D CuPy image of one float dtype, else None."""
    ctype = _loader.c_type(*arrays)
    return ctype if ctype is not None and all(a.ndim == 4 and a.size > 0 for a in arrays) else None


def _ints(*values):
    return tuple(np.int32(v) for v in values)


def _out_hw(h, w, window, pads):
    kh, kw, sh, sw, dh, dw = window
    top, bottom, left, right = pads
    return (h + top + bottom - (kh - 1) * dh - 1) // sh + 1, (w + left + right - (kw - 1) * dw - 1) // sw + 1


def _launch(template, ctype, size, args):
    _loader.launch_elementwise(_kernel(template, ctype), size, args)


def conv_patches(x, window, pads, fill=0.0, *, xp):
    """P[n, i, j, (a kw + b) c + k] = X[n, i sh + a dh, j sw + b dw, k] with X = x padded by
    ``pads`` with ``fill``; P is (n, ho, wo, kh kw c)."""
    ctype = _image_type(x)
    if ctype is None or not _loader.is_number(fill):
        return generic_conv.conv_patches(x, window, pads, fill, xp=xp)
    kh, kw, sh, sw, dh, dw = window
    n, h, w, c = x.shape
    ho, wo = _out_hw(h, w, window, pads)
    x = _loader.contiguous(x)
    out = _loader.cupy().empty((n, ho, wo, kh * kw * c), dtype=x.dtype)
    _launch("patches", ctype, out.size, (x, out, np.int64(out.size)) + _ints(h, w, c, ho, wo, kh, kw, sh, sw, dh, dw,
                                                                               pads[0], pads[2])
            + (_loader.REAL[ctype](fill),))
    return out


def conv_patches_backward(dp, x_shape, window, pads, *, xp):
    """The adjoint of conv_patches: dx[n, y, x, k] = sum of dP over the patch entries read from
    pixel (y, x) (entries read from the padding are dropped)."""
    ctype = _image_type(dp)
    if ctype is None:
        return generic_conv.conv_patches_backward(dp, x_shape, window, pads, xp=xp)
    kh, kw, sh, sw, dh, dw = window
    n, h, w, c = x_shape
    dp = _loader.contiguous(dp)
    dx = _loader.cupy().empty(tuple(x_shape), dtype=dp.dtype)
    _launch("patches_backward", ctype, dx.size, (dp, dx, np.int64(dx.size))
            + _ints(h, w, c, dp.shape[1], dp.shape[2], kh, kw, sh, sw, dh, dw, pads[0], pads[2]))
    return dx


def _pool_args(x_shape, out_shape, window, pads):
    n, h, w, c = x_shape
    return _ints(h, w, c, out_shape[1], out_shape[2], window[0], window[1], window[2], window[3], pads[0], pads[2])


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c))."""
    ctype = _image_type(x)
    if ctype is None:
        return generic_pool.max_pool2d(x, window, pads, xp=xp)
    cp = _loader.cupy()
    n, h, w, c = x.shape
    x = _loader.contiguous(x)
    shape = (n,) + _out_hw(h, w, window, pads) + (c,)
    y, idx = cp.empty(shape, dtype=x.dtype), cp.empty(shape, dtype=np.int64)
    _launch("max_pool", ctype, y.size, (x, y, idx, np.int64(y.size)) + _pool_args(x.shape, shape, window, pads))
    return y, idx


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap)."""
    ctype = _image_type(dy)
    cp = _loader.cupy()
    if ctype is None or not isinstance(idx, cp.ndarray) or idx.dtype != np.int64 or idx.shape != dy.shape:
        return generic_pool.max_pool2d_backward(dy, idx, x_shape, window, pads, xp=xp)
    dy, idx = _loader.contiguous(dy), _loader.contiguous(idx)
    dx = cp.empty(tuple(x_shape), dtype=dy.dtype)
    _launch("max_pool_backward", ctype, dx.size, (dy, idx, dx, np.int64(dx.size))
            + _pool_args(x_shape, dy.shape, window, pads))
    return dx


def avg_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = mean of x over the window's real pixels (padding is not counted)."""
    ctype = _image_type(x)
    if ctype is None:
        return generic_pool.avg_pool2d(x, window, pads, xp=xp)
    n, h, w, c = x.shape
    x = _loader.contiguous(x)
    shape = (n,) + _out_hw(h, w, window, pads) + (c,)
    y = _loader.cupy().empty(shape, dtype=x.dtype)
    _launch("avg_pool", ctype, y.size, (x, y, np.int64(y.size)) + _pool_args(x.shape, shape, window, pads))
    return y


def avg_pool2d_backward(dy, x_shape, window, pads, *, xp):
    """dx = the sum over the windows holding a pixel of dy / (the window's real pixel count)."""
    ctype = _image_type(dy)
    if ctype is None:
        return generic_pool.avg_pool2d_backward(dy, x_shape, window, pads, xp=xp)
    dy = _loader.contiguous(dy)
    dx = _loader.cupy().empty(tuple(x_shape), dtype=dy.dtype)
    _launch("avg_pool_backward", ctype, dx.size, (dy, dx, np.int64(dx.size)) + _pool_args(x_shape, dy.shape, window, pads))
    return dx


def _features(x, *vectors):
    """The C type where x is a CuPy array of >= 2 axes and every vector given is (c,) of its dtype."""
    ctype = _loader.c_type(x, *[v for v in vectors if v is not None])
    if ctype is None or x.ndim < 2 or x.size == 0:
        return None
    c = x.shape[-1]
    return ctype if all(v is None or v.shape == (c,) for v in vectors) else None


def batch_norm(x, gamma, beta, epsilon, *, xp):
    """Training mode: mu = mean x, var = mean (x - mu)^2 (biased), xhat = (x - mu) / sqrt(var + eps),
    y = gamma xhat + beta; returns (y, xhat, inv_std, mu, var). ``gamma``/``beta`` may be None."""
    ctype = _features(x, gamma, beta)
    if ctype is None or not _loader.is_number(epsilon):
        return generic_norm.batch_norm(x, gamma, beta, epsilon, xp=xp)
    cp = _loader.cupy()
    c = x.shape[-1]
    m = x.size // c
    x = _loader.contiguous(x)
    mean, var, inv_std = (cp.empty((c,), dtype=x.dtype) for _ in range(3))
    real = _loader.REAL[ctype]
    _kernel("batch_norm_stats", ctype)((c,), (BN_THREADS,), (x, mean, var, inv_std, np.int64(m), np.int32(c),
                                                            real(epsilon)))
    y, xhat = cp.empty_like(x), cp.empty_like(x)
    _launch("batch_norm_apply", ctype, x.size, (x, mean, inv_std, mean if gamma is None else _loader.contiguous(gamma),
                                                mean if beta is None else _loader.contiguous(beta), y, xhat,
                                                np.int64(x.size), np.int32(c), np.int32(gamma is not None),
                                                np.int32(beta is not None)))
    return y, xhat, inv_std, mean, var


def batch_norm_backward(dy, xhat, inv_std, gamma, *, xp):
    """dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv_std (dy - dbeta/m - xhat dgamma/m)
    over the m rows; returns (dx, dgamma, dbeta)."""
    ctype = _features(dy, inv_std, gamma)
    if ctype is None or _loader.c_type(dy, xhat) is None or xhat.shape != dy.shape or inv_std is None:
        return generic_norm.batch_norm_backward(dy, xhat, inv_std, gamma, xp=xp)
    cp = _loader.cupy()
    c = dy.shape[-1]
    m = dy.size // c
    dy, xhat = _loader.contiguous(dy), _loader.contiguous(xhat)
    dgamma, dbeta = cp.empty((c,), dtype=dy.dtype), cp.empty((c,), dtype=dy.dtype)
    _kernel("batch_norm_sums", ctype)((c,), (BN_THREADS,), (dy, xhat, dgamma, dbeta, np.int64(m), np.int32(c)))
    dx = cp.empty_like(dy)
    _launch("batch_norm_backward", ctype, dy.size, (dy, xhat, inv_std, inv_std if gamma is None else gamma, dgamma,
                                                    dbeta, dx, np.int64(dy.size), np.int32(c),
                                                    _loader.REAL[ctype](1.0 / m), np.int32(gamma is not None)))
    return dx, dgamma, dbeta


def conv2d_activation(x, kernel, bias, window, pads, activation, *, xp):
    """Conv2D's forward, y = f(P(x) K + b): this family's patches and epilogue around cuBLAS."""
    return _conv2d_activation_composed(x, kernel, bias, window, pads, activation, conv_patches,
                                       _activations.bias_activation, xp)


def conv2d_activation_backward(dy, tape, kernel, window, pads, activation, with_bias=True, need_dx=True,
                               *, xp):
    """Conv2D's backward from conv2d_activation's tape, with this family's epilogue and adjoint."""
    return _conv2d_activation_backward_composed(
        dy, tape, kernel, window, pads, activation, with_bias, need_dx, conv_patches_backward,
        _activations.bias_activation_backward, xp)


KERNELS = {f.__name__: f for f in (conv_patches, conv_patches_backward, conv2d_activation,
                                    conv2d_activation_backward, max_pool2d, max_pool2d_backward,
                                    avg_pool2d, avg_pool2d_backward, batch_norm, batch_norm_backward)}
