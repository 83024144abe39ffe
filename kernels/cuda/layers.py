"""Layer kernels for CuPy: dropout's mask and scale in one pass over CuPy's device uniforms
(layers.cu), and the affine map's GEMMs writing into their output buffers (cuBLAS through
``cupy.matmul(..., out=)``), so a training step's buffers can be its own (_loader.StepBuffers)."""

from __future__ import annotations

import numpy as np

from nnkit.ops import layers as generic
from nnkit.ops import linear as generic_linear

from . import _loader

SOURCE = "layers.cu"
GROUP = _loader.register(SOURCE, [f"nnkit::dropout<{c}>" for c in ("float", "double")])


def dropout(x, u, rate, *, xp):
    """Inverted dropout: mask = (u >= rate) / (1 - rate), y = x * mask; returns (y, mask).

    ``u`` holds uniform [0, 1) numbers the backend drew with CuPy's device generator; one pass
    writes both the mask (kept for the backward) and y.
    """
    ctype = _loader.c_type(x, u)
    if ctype is None or u.shape != x.shape or not _loader.is_number(rate):
        return generic.dropout(x, u, rate, xp=xp)
    kernel = _loader.function(SOURCE, GROUP, f"nnkit::dropout<{ctype}>")
    x, u = _loader.contiguous(x), _loader.contiguous(u)
    y, mask = _loader.empty_like(x), _loader.empty_like(x)
    real = _loader.REAL[ctype]
    _loader.launch_elementwise(kernel, x.size, (x, u, y, mask, np.int64(x.size), real(rate),
                                                real(1.0 / (1.0 - rate))))
    return y, mask


def _matmul(a, b):
    """a @ b into a buffer of ``_loader.empty`` (a step's own, when it has them)."""
    out = _loader.empty((a.shape[0], b.shape[1]), a.dtype)
    return _loader.cupy().matmul(a, b, out=out)


def affine(x, w, b, *, xp):
    """y = x @ W + b, W of shape (in, out): the GEMM into its output buffer, b added in place."""
    ctype = _loader.c_type(x, w) if b is None else _loader.c_type(x, w, b)
    if ctype is None or x.ndim != 2 or w.ndim != 2:
        return generic_linear.affine(x, w, b, xp=xp)
    y = _matmul(x, w)
    if b is not None:
        y += b
    return y


def affine_backward(dy, x, w, with_bias=True, need_dx=True, *, xp):
    """dx = dy @ W^T (None unless need_dx), dW = x^T @ dy, db = sum over rows of dy: each into its
    output buffer."""
    ctype = _loader.c_type(dy, x, w)
    if ctype is None or not dy.ndim == x.ndim == w.ndim == 2:
        return generic_linear.affine_backward(dy, x, w, with_bias, need_dx, xp=xp)
    dw = _matmul(x.T, dy)
    db = _loader.cupy().sum(dy, axis=0, out=_loader.empty((dy.shape[1],), dy.dtype)) if with_bias else None
    dx = _matmul(dy, w.T) if need_dx else None
    return dx, dw, db


KERNELS = {"dropout": dropout, "affine": affine, "affine_backward": affine_backward}
