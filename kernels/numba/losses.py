"""Loss kernels: loss and gradient in one pass over the rows, with the generic ops' signatures.

The loss is summed in float64 and returned as a scalar of the input's dtype, as the generic ops
return it; the fused losses on logits are stable for logits of +-1000.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import losses as _generic
from nnkit._kernels.numba import _jit
from nnkit._kernels._arrays import all_plain, is_plain


def _dense(kernel, generic, pred, target, xp):
    if pred.ndim != 2 or not all_plain(pred, target):
        return generic(pred, target, xp=xp)
    grad = np.empty_like(pred)
    loss = kernel(pred, target, grad)
    return pred.dtype.type(loss), grad


def _sparse(kernel, generic, pred, labels, xp):
    if (pred.ndim != 2 or not is_plain(pred) or type(labels) is not np.ndarray
            or labels.dtype.kind not in "iu" or labels.shape != (pred.shape[0],)):
        return generic(pred, labels, xp=xp)
    grad = np.empty_like(pred)
    loss = kernel(pred, np.ascontiguousarray(labels), grad)
    return pred.dtype.type(loss), grad


def mse(pred, target, *, xp):
    """E = 1/N sum_n 1/2 ||pred_n - target_n||^2; dE/dpred = (pred - target)/N."""
    return _dense(_jit.mse, _generic.mse, pred, target, xp)


def binary_cross_entropy(prob, target, *, xp):
    """E = -1/N sum [t log p + (1 - t) log(1 - p)], p clipped; dE/dp = (p - t) / (p (1 - p)) / N."""
    return _dense(_jit.binary_cross_entropy, _generic.binary_cross_entropy, prob, target, xp)


def sigmoid_binary_cross_entropy(logits, target, *, xp):
    """E = 1/N sum [max(z, 0) - z t + log1p(exp(-|z|))]; dE/dz = (sigmoid(z) - t)/N."""
    return _dense(_jit.sigmoid_binary_cross_entropy, _generic.sigmoid_binary_cross_entropy,
                  logits, target, xp)


def categorical_cross_entropy(prob, target, *, xp):
    """E = -1/N sum_n sum_j t_nj log p_nj, p clipped to [eps, 1]; dE/dp = -t / p / N."""
    return _dense(_jit.categorical_cross_entropy, _generic.categorical_cross_entropy, prob, target, xp)


def softmax_cross_entropy(logits, target, *, xp):
    """E = 1/N sum_n sum_j t_nj (logsumexp(z_n) - z_nj); dE/dz = (softmax(z) sum_j t_nj - t) / N."""
    return _dense(_jit.softmax_cross_entropy, _generic.softmax_cross_entropy, logits, target, xp)


def sparse_categorical_cross_entropy(prob, labels, *, xp):
    """E = -1/N sum_n log p_(n, label_n), p clipped; dE/dp = -onehot / p / N."""
    return _sparse(_jit.sparse_categorical_cross_entropy, _generic.sparse_categorical_cross_entropy,
                   prob, labels, xp)


def sparse_softmax_cross_entropy(logits, labels, *, xp):
    """E = 1/N sum_n (logsumexp(z_n) - z_(n, label_n)); dE/dz = (softmax(z) - onehot) / N."""
    return _sparse(_jit.sparse_softmax_cross_entropy, _generic.sparse_softmax_cross_entropy,
                   logits, labels, xp)


KERNELS = {fn.__name__: fn for fn in (
    mse, binary_cross_entropy, sigmoid_binary_cross_entropy, categorical_cross_entropy,
    softmax_cross_entropy, sparse_categorical_cross_entropy, sparse_softmax_cross_entropy)}
