"""Loss functions: each returns (loss, d loss / d pred) in one pass.

Every loss is the mean over the N samples (rows) of a per-sample loss summed over output units,
so the gradient carries the factor 1/N. The loss is a 0-d array: reading it is the caller's
choice, so a device never has to wait on the host inside a training step.
"""

from __future__ import annotations

PROB_EPS = 1e-7  # probabilities are clipped to [eps, 1 - eps] before a log, as Keras does


def mse(pred, target, *, xp):
    """E = 1/N sum_n 1/2 ||pred_n - target_n||^2 (the lecture's E_total); dE/dpred = (pred - target)/N."""
    n = pred.shape[0]
    diff = pred - target
    return xp.sum(diff * diff) * (0.5 / n), diff * (1.0 / n)


def binary_cross_entropy(prob, target, *, xp):
    """E = -1/N sum [t log p + (1 - t) log(1 - p)], p clipped to [eps, 1 - eps];
    dE/dp = (p - t) / (p (1 - p)) / N."""
    n = prob.shape[0]
    p = xp.clip(prob, PROB_EPS, 1.0 - PROB_EPS)
    loss = -xp.sum(target * xp.log(p) + (1.0 - target) * xp.log(1.0 - p)) * (1.0 / n)
    return loss, (p - target) / (p * (1.0 - p)) * (1.0 / n)


def sigmoid_binary_cross_entropy(logits, target, *, xp):
    """BCE on logits z: E = 1/N sum [log(1 + exp(z)) - z t]; dE/dz = (sigmoid(z) - t)/N.

    Finite for any finite z (logits of +-1000 included): log(1 + exp(z)) is logaddexp(0, z), and
    the sigmoid is taken as (1 + tanh(z/2))/2, neither of which overflows.
    """
    n = logits.shape[0]
    loss = xp.sum(xp.logaddexp(0.0, logits) - logits * target) * (1.0 / n)
    sig = 0.5 * xp.tanh(0.5 * logits) + 0.5
    return loss, (sig - target) * (1.0 / n)


def categorical_cross_entropy(prob, target, *, xp):
    """E = -1/N sum_n sum_j t_nj log p_nj, p clipped to [eps, 1]; dE/dp = -t / p / N."""
    n = prob.shape[0]
    p = xp.clip(prob, PROB_EPS, 1.0)
    return -xp.sum(target * xp.log(p)) * (1.0 / n), -(target / p) * (1.0 / n)


def softmax_cross_entropy(logits, target, *, xp):
    """CE of softmax(z): E = 1/N sum_n sum_j t_nj (logsumexp(z_n) - z_nj);
    dE/dz = (softmax(z) sum_j t_nj - t) / N. Stable for logits of +-1000."""
    n = logits.shape[0]
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    e = xp.exp(shifted)
    s = xp.sum(e, axis=-1, keepdims=True)
    t_sum = xp.sum(target, axis=-1, keepdims=True)
    loss = xp.sum(target * (xp.log(s) - shifted)) * (1.0 / n)
    return loss, (e / s * t_sum - target) * (1.0 / n)


def one_hot(labels, n_classes, dtype, *, xp):
    """t_nj = 1 where labels_n == j, else 0."""
    classes = xp.arange(n_classes)  # the default integer dtype: small label dtypes never wrap
    return xp.astype(xp.reshape(labels, (-1, 1)) == xp.reshape(classes, (1, -1)), dtype)


def sparse_categorical_cross_entropy(prob, labels, *, xp):
    """Categorical cross-entropy with integer labels: E = -1/N sum_n log p_(n, label_n)."""
    return categorical_cross_entropy(prob, one_hot(labels, prob.shape[-1], prob.dtype, xp=xp), xp=xp)


def sparse_softmax_cross_entropy(logits, labels, *, xp):
    """Softmax cross-entropy with integer labels: E = 1/N sum_n (logsumexp(z_n) - z_(n, label_n))."""
    return softmax_cross_entropy(logits, one_hot(labels, logits.shape[-1], logits.dtype, xp=xp), xp=xp)


def elastic_net_penalty(w, l1, l2, *, xp):
    """P = l1 sum |W| + l2 sum W^2; dP/dW = l1 sign(W) + 2 l2 W; returns (P, dP/dW)."""
    penalty = l1 * xp.sum(xp.abs(w)) + l2 * xp.sum(w * w)
    return penalty, l1 * xp.sign(w) + (2.0 * l2) * w
