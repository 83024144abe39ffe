"""Dropout kernels: the mask and the scaled output in one pass, and the masked gradient."""

from __future__ import annotations

import numpy as np

from nnkit.ops import layers as _generic
from nnkit._kernels.numba import _jit
from nnkit._kernels._arrays import all_plain
from nnkit._kernels.numba._threads import use_parallel


def dropout(x, u, rate, *, xp):
    """Inverted dropout: mask = (u >= rate) / (1 - rate), y = x * mask; returns (y, mask)."""
    if not all_plain(x, u):
        return _generic.dropout(x, u, rate, xp=xp)
    T = x.dtype.type
    y = np.empty_like(x)
    mask = np.empty_like(x)
    args = (x.reshape(-1), u.reshape(-1), T(rate), T(1.0 / (1.0 - rate)), y.reshape(-1), mask.reshape(-1))
    if use_parallel("elementwise", x.size):
        _jit.dropout_parallel(*args)
    else:
        _jit.dropout_serial(*args)
    return y, mask


def dropout_backward(dy, mask, *, xp):
    """dx = dy * mask."""
    if not all_plain(dy, mask):
        return _generic.dropout_backward(dy, mask, xp=xp)
    dx = np.empty_like(dy)
    args = (dy.reshape(-1), mask.reshape(-1), dx.reshape(-1))
    if use_parallel("elementwise", dy.size):
        _jit.multiply_parallel(*args)
    else:
        _jit.multiply_serial(*args)
    return dx


KERNELS = {"dropout": dropout, "dropout_backward": dropout_backward}
