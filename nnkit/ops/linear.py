"""The affine map of a Dense layer and its backward."""

from __future__ import annotations


def affine(x, w, b, *, xp):
    """y = x @ W + b, with W of shape (in, out); ``b`` may be None."""
    y = xp.matmul(x, w)
    return y if b is None else y + b


def affine_backward(dy, x, w, with_bias=True, need_dx=True, *, xp):
    """dx = dy @ W^T (None unless need_dx), dW = x^T @ dy, db = sum over rows of dy."""
    dw = xp.matmul(x.T, dy)
    db = xp.sum(dy, axis=0) if with_bias else None
    dx = xp.matmul(dy, w.T) if need_dx else None
    return dx, dw, db
