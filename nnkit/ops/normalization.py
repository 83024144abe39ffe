"""Batch normalization over the last axis (every other axis is a batch axis)."""

from __future__ import annotations


def batch_norm(x, gamma, beta, epsilon, *, xp):
    """Training mode: mu = mean x, var = mean (x - mu)^2 (biased), xhat = (x - mu) / sqrt(var + eps),
    y = gamma xhat + beta; returns (y, xhat, inv_std, mu, var). ``gamma``/``beta`` may be None."""
    c = x.shape[-1]
    x2 = xp.reshape(x, (-1, c))
    m = x2.shape[0]
    mu = xp.sum(x2, axis=0) * (1.0 / m)
    d = x2 - mu
    var = xp.sum(d * d, axis=0) * (1.0 / m)
    inv_std = 1.0 / xp.sqrt(var + epsilon)
    xhat = d * inv_std
    y = xhat if gamma is None else xhat * gamma
    if beta is not None:
        y = y + beta
    return xp.reshape(y, x.shape), xp.reshape(xhat, x.shape), inv_std, mu, var


def batch_norm_backward(dy, xhat, inv_std, gamma, *, xp):
    """dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv_std (dy - dbeta/m - xhat dgamma/m)
    over the m rows; returns (dx, dgamma, dbeta)."""
    c = dy.shape[-1]
    dy2 = xp.reshape(dy, (-1, c))
    xh2 = xp.reshape(xhat, (-1, c))
    m = dy2.shape[0]
    dbeta = xp.sum(dy2, axis=0)
    dgamma = xp.sum(dy2 * xh2, axis=0)
    scale = inv_std if gamma is None else gamma * inv_std
    dx = scale * (dy2 - dbeta * (1.0 / m) - xh2 * (dgamma * (1.0 / m)))
    return xp.reshape(dx, dy.shape), dgamma, dbeta


def batch_norm_inference(x, mean, var, gamma, beta, epsilon, *, xp):
    """Inference mode: y = gamma (x - mean) / sqrt(var + eps) + beta with the moving statistics."""
    scale = 1.0 / xp.sqrt(var + epsilon)
    if gamma is not None:
        scale = scale * gamma
    y = (x - mean) * scale
    return y if beta is None else y + beta


def batch_norm_inference_backward(dy, x, mean, var, gamma, epsilon, *, xp):
    """The backward of batch_norm_inference, the statistics held fixed: s = 1 / sqrt(var + eps),
    dx = gamma s dy, dgamma = sum dy (x - mean) s, dbeta = sum dy; returns (dx, dgamma, dbeta)."""
    c = dy.shape[-1]
    inv_std = 1.0 / xp.sqrt(var + epsilon)
    dy2 = xp.reshape(dy, (-1, c))
    dgamma = xp.sum(dy2 * ((xp.reshape(x, (-1, c)) - mean) * inv_std), axis=0)
    dx = dy * (inv_std if gamma is None else gamma * inv_std)
    return dx, dgamma, xp.sum(dy2, axis=0)


def moving_average(average, value, momentum, *, xp):
    """average' = momentum average + (1 - momentum) value."""
    return average * momentum + value * (1.0 - momentum)
