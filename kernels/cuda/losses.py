"""Loss kernels for CuPy: softmax + cross-entropy and sigmoid + BCE (one block per row, or one
pass with block partials), and MSE, each returning (0-d loss, gradient) like its op (losses.cu).

A loss never leaves the device: it is a 0-d CuPy array, summed from per-row or per-block partials
in a fixed order. Anything the kernels do not take (non-CuPy arrays, mixed or non-float dtypes,
targets of another shape) goes to the generic op.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import losses as generic

from . import _loader

SOURCE = "losses.cu"
LABEL_TYPES = {np.dtype("int32"): "int", np.dtype("int64"): "long long"}
GROUP = _loader.register(SOURCE, [
    f"nnkit::{template}<{c}>"
    for template in ("softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error",
                     "sum_partials")
    for c in ("float", "double")
] + [f"nnkit::sparse_softmax_cross_entropy<{c}, {label}>"
     for c in ("float", "double") for label in ("int", "long long")])
def _kernel(expression: str):
    """The kernel of losses.cu called ``expression``, on the current device."""
    return _loader.function(SOURCE, GROUP, expression)


def _total(partial, ctype: str, scale: float):
    """scale * sum(partial) as a 0-d array, by one block, on the device."""
    out = _loader.empty((), partial.dtype)
    _kernel(f"nnkit::sum_partials<{ctype}>")(
        (1,), (_loader.THREADS,), (partial, out, np.int64(partial.size), _loader.REAL[ctype](scale)))
    return out


def _rowwise_ok(logits) -> bool:
    """Whether one block per row of ``logits`` applies: a non-empty (n, m) matrix."""
    return logits.ndim == 2 and logits.size > 0 and logits.shape[1] < 2**31


def softmax_cross_entropy(logits, target, *, xp):
    """CE of softmax(z): E = 1/N sum_n sum_j t_nj (logsumexp(z_n) - z_nj);
    dE/dz = (softmax(z) sum_j t_nj - t) / N; one block per row, stable for logits of +-1000."""
    ctype = _loader.c_type(logits, target)
    if ctype is None or not _rowwise_ok(logits) or target.shape != logits.shape:
        return generic.softmax_cross_entropy(logits, target, xp=xp)
    n, m = logits.shape
    logits, target = _loader.contiguous(logits), _loader.contiguous(target)
    grad = _loader.empty_like(logits)
    rows = _loader.empty((n,), logits.dtype)
    real = _loader.REAL[ctype]
    _kernel(f"nnkit::softmax_cross_entropy<{ctype}>")(
        (n,), (_loader.row_threads(m),), (logits, target, grad, rows, np.int32(m), real(1.0 / n)))
    return _total(rows, ctype, 1.0 / n), grad


def sparse_softmax_cross_entropy(logits, labels, *, xp):
    """Softmax cross-entropy with integer labels: E = 1/N sum_n (logsumexp(z_n) - z_(n, label_n));
    one block per row, labels never expanded to one-hot."""
    ctype = _loader.c_type(logits)
    cp = _loader.cupy() if ctype else None
    if (ctype is None or not _rowwise_ok(logits) or not isinstance(labels, cp.ndarray)
            or labels.dtype.kind not in "iu" or labels.size != logits.shape[0]):
        return generic.sparse_softmax_cross_entropy(logits, labels, xp=xp)
    n, m = logits.shape
    if labels.dtype not in LABEL_TYPES:
        labels = labels.astype(np.int64)  # uint8 ... uint64: the kernel reads int or long long
    labels = _loader.contiguous(labels.reshape(-1))
    logits = _loader.contiguous(logits)
    grad = _loader.empty_like(logits)
    rows = _loader.empty((n,), logits.dtype)
    real = _loader.REAL[ctype]
    _kernel(f"nnkit::sparse_softmax_cross_entropy<{ctype}, {LABEL_TYPES[labels.dtype]}>")(
        (n,), (_loader.row_threads(m),), (logits, labels, grad, rows, np.int32(m), real(1.0 / n)))
    return _total(rows, ctype, 1.0 / n), grad


def _pointwise(template, pred, target, ctype, scale):
    """(scale/N sum of per-element terms, gradient) by a grid-stride kernel and sum_partials."""
    n = pred.shape[0]
    pred, target = _loader.contiguous(pred), _loader.contiguous(target)
    grad = _loader.empty_like(pred)
    grid = _loader.blocks(pred.size)
    partial = _loader.empty((grid,), pred.dtype)
    _kernel(f"nnkit::{template}<{ctype}>")(
        (grid,), (_loader.THREADS,),
        (pred, target, grad, partial, np.int64(pred.size), _loader.REAL[ctype](1.0 / n)))
    return _total(partial, ctype, scale / n), grad


def sigmoid_binary_cross_entropy(logits, target, *, xp):
    """BCE on logits z: E = 1/N sum [max(z, 0) - z t + log1p(exp(-|z|))]; dE/dz = (sigmoid(z) - t)/N;
    one pass, finite for logits of +-1000."""
    ctype = _loader.c_type(logits, target)
    if ctype is None or logits.ndim < 1 or logits.size == 0 or target.shape != logits.shape:
        return generic.sigmoid_binary_cross_entropy(logits, target, xp=xp)
    return _pointwise("sigmoid_binary_cross_entropy", logits, target, ctype, 1.0)


def mse(pred, target, *, xp):
    """E = 1/N sum_n 1/2 ||pred_n - target_n||^2; dE/dpred = (pred - target)/N; one pass."""
    ctype = _loader.c_type(pred, target)
    if ctype is None or pred.ndim < 1 or pred.size == 0 or target.shape != pred.shape:
        return generic.mse(pred, target, xp=xp)
    return _pointwise("mean_squared_error", pred, target, ctype, 0.5)


KERNELS = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "sparse_softmax_cross_entropy": sparse_softmax_cross_entropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
    "mse": mse,
}
