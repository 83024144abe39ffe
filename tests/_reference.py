"""Naive NumPy references for every op, written independently of nnkit.ops."""

import math

import numpy as np


def sigmoid(x):
    return np.array([1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in x.ravel()]).reshape(x.shape)


ACTIVATIONS = {
    "step": lambda x: (x >= 0).astype(float),
    "linear": lambda x: x,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.maximum(0.1 * x, x),
    "elu": lambda x: np.where(x >= 0, x, np.exp(np.minimum(x, 0)) - 1.0),
    "softplus": lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0),
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * sigmoid(x),
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def mse(p, t):
    return 0.5 * ((p - t) ** 2).sum() / p.shape[0]


def bce(p, t, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / p.shape[0]


def cce(p, t, eps=1e-7):
    return -(t * np.log(np.clip(p, eps, 1))).sum() / p.shape[0]


def log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def softmax_ce(z, t):
    return -(t * log_softmax(z)).sum() / z.shape[0]


def sigmoid_bce(z, t):
    # log(1 + exp(-|z|)) computed via logaddexp, independent of the op's formula
    return (np.logaddexp(0, -np.abs(z)) + np.maximum(z, 0) - z * t).sum() / z.shape[0]


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of scalar f at x (float64)."""
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gf[i] = (fp - fm) / (2 * eps)
    return g
