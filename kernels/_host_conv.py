"""Conv2D on host NumPy arrays, for the kernel families that run there (numpy, numba).

The patch matrix is copied from the input's windows straight into a kept array (the _scratch
pool), the products run in NumPy's BLAS into kept arrays, and each family brings its own
epilogues: ``bias_relu(z, b, has_bias, relu)`` (z = f(z + b) in place), ``relu_backward(dy, y, da,
db)`` (da = dy [y > 0] and db its column sums), its patches' adjoint, its bias + activation ops
for the activations the epilogues do not fuse and, optionally, ``input_gradient(da, kernel,
dy_shape, x_shape, window, pads)``: dx another way than P^T(da K^T) through the patches' adjoint.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnkit._kernels import _scratch
from nnkit._kernels._arrays import all_plain, is_plain
from nnkit.ops import conv as _conv
from nnkit.ops.conv import _conv2d_activation_backward_composed, _conv2d_activation_composed, _pad, _taps

# the activations the epilogues fuse (relu's derivative is read from y: a > 0 is y > 0)
FUSED = ("relu", "linear")

# what a family's conv kernels need of it
Epilogues = namedtuple("Epilogues", "bias_relu relu_backward patches_backward bias_activation "
                                    "bias_activation_backward input_gradient", defaults=(None,))


def out_hw(h, w, window, pads):
    """(ho, wo) of ``window`` over an (h, w) image padded by ``pads``."""
    kh, kw, sh, sw, dh, dw = window
    top, bottom, left, right = pads
    return (h + top + bottom - (kh - 1) * dh - 1) // sh + 1, (w + left + right - (kw - 1) * dw - 1) // sw + 1


def is_image(a):
    return is_plain(a) and a.ndim == 4


def is_vector(v, c, dtype):
    """None, or a plain (c,) array of ``dtype``."""
    return v is None or (is_plain(v) and v.shape == (c,) and v.dtype == dtype)


class ConvTape:
    """What the conv kernels keep for the backward: the patch matrix, y and x's shape."""

    __slots__ = ("p2", "y", "x_shape")

    def __init__(self, p2, y, x_shape):
        self.p2, self.y, self.x_shape = p2, y, x_shape


def patch_matrix(x, window, pads, out_size):
    """The generic op's patches as (n ho wo, kh kw c) in a kept array: one copy of the windows'
    view (sliding_window_view) where c > 1, the taps' slices stacked where c = 1 (on (64, 13, 13,
    32) 0.30 against 0.69 ms, on (64, 13, 13, 2) 0.19 against 0.50 ms; on W5's (64, 28, 28, 1)
    the stack won, 0.21 against 0.95 ms)."""
    kh, kw, sh, sw, dh, dw = window
    n, c = x.shape[0], x.shape[3]
    ho, wo = out_size
    out = _scratch.empty((n, ho, wo, kh, kw, c), x.dtype)
    padded = _pad(x, pads, 0.0, np)
    if c == 1:
        np.stack([padded[t] for t in _taps(window, out_size)], axis=3, out=out.reshape(n, ho, wo, kh * kw, c))
    else:
        span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        windows = sliding_window_view(padded, span, axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
        np.copyto(out, windows.transpose(0, 1, 2, 4, 5, 3))
    return out.reshape(-1, kh * kw * c)


def _conv2d_activation(x, kernel, bias, window, pads, activation, family, xp):
    """Conv2D's forward y = f(P(x) K + b) with ``family``'s Epilogues; returns (y, tape)."""
    if not (is_image(x) and is_plain(kernel) and kernel.ndim == 4 and kernel.dtype == x.dtype
            and kernel.shape[2] == x.shape[3] and is_vector(bias, kernel.shape[3], x.dtype)):
        return _conv.conv2d_activation(x, kernel, bias, window, pads, activation, xp=xp)
    if activation not in FUSED:
        return _conv2d_activation_composed(x, kernel, bias, window, pads, activation, _conv.conv_patches,
                                           family.bias_activation, xp)
    n, h, w, c = x.shape
    ho, wo = out_hw(h, w, window, pads)
    filters = kernel.shape[3]
    relu = activation == "relu"
    p2 = patch_matrix(x, window, pads, (ho, wo))
    z = np.matmul(p2, kernel.reshape(-1, filters), out=_scratch.empty((p2.shape[0], filters), x.dtype))
    if relu or bias is not None:
        family.bias_relu(z, np.empty(0, dtype=x.dtype) if bias is None else bias, bias is not None, relu)
    y = z.reshape(n, ho, wo, filters)
    return y, ConvTape(p2, y, x.shape)


def _composed_tape(tape):
    """The generic op's tape (patch matrix, a, y, x's shape) of a conv kernel's tape: a = y serves
    relu (whose derivative reads only a > 0) and the identity."""
    y2 = tape.y.reshape(tape.p2.shape[0], -1)
    return tape.p2, y2, y2, tape.x_shape


def _conv2d_activation_backward(dy, tape, kernel, window, pads, activation, with_bias, need_dx, family, xp):
    """Conv2D's backward from conv2d_activation's tape with ``family``'s Epilogues; returns
    (dx, dK, db)."""
    if isinstance(tape, ConvTape) and not all_plain(dy, tape.y):
        tape = _composed_tape(tape)
    if not isinstance(tape, ConvTape):
        return _conv2d_activation_backward_composed(
            dy, tape, kernel, window, pads, activation, with_bias, need_dx, family.patches_backward,
            family.bias_activation_backward, xp)
    n, ho, wo, filters = dy.shape
    k2 = kernel.reshape(-1, filters)
    dy2 = dy.reshape(-1, filters)
    if activation == "relu":
        da, db = _scratch.empty(dy2.shape, dy.dtype), np.empty(filters, dtype=dy.dtype)
        family.relu_backward(dy2, tape.y.reshape(-1, filters), da, db)
    else:
        da, db = dy2, dy2.sum(axis=0)
    dk = (tape.p2.T @ da).reshape(kernel.shape)
    dx = None
    if need_dx and family.input_gradient is not None:
        dx = family.input_gradient(da, kernel, dy.shape, tape.x_shape, window, pads)
    elif need_dx:
        dp = np.matmul(da, k2.T, out=_scratch.empty((da.shape[0], k2.shape[0]), dy.dtype))
        dx = family.patches_backward(dp.reshape(n, ho, wo, k2.shape[0]), tape.x_shape, window, pads, xp=xp)
    return dx, dk, db if with_bias else None


def conv_kernels(family):
    """Conv2D's kernel pair (conv2d_activation, conv2d_activation_backward) with ``family``'s
    Epilogues, each with its op's name, signature and docstring."""

    def conv2d_activation(x, kernel, bias, window, pads, activation, *, xp):
        return _conv2d_activation(x, kernel, bias, window, pads, activation, family, xp)

    def conv2d_activation_backward(dy, tape, kernel, window, pads, activation, with_bias=True, need_dx=True,
                                   *, xp):
        return _conv2d_activation_backward(dy, tape, kernel, window, pads, activation, with_bias, need_dx,
                                           family, xp)

    for kernel in (conv2d_activation, conv2d_activation_backward):
        kernel.__doc__ = getattr(_conv, kernel.__name__).__doc__
    return conv2d_activation, conv2d_activation_backward
