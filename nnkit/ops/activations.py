"""Activation functions, each an ``f`` / ``f_backward`` pair written once on the array API.

Every backward takes ``(dy, x, y)``: the upstream gradient, the forward's input and its output,
and returns ``dx``; each uses whichever of ``x`` and ``y`` is cheaper.
"""

from __future__ import annotations

import math

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
LEAKY_SLOPE = 0.1
ELU_ALPHA = 1.0


def step(x, *, xp):
    """Heaviside step: y = 1 where x >= 0, else 0."""
    return xp.astype(x >= 0, x.dtype)


def step_backward(dy, x, y, *, xp):
    """dx = 0: the step is flat almost everywhere (the perceptron learns by the delta rule)."""
    return xp.zeros_like(dy)


def linear(x, *, xp):
    """Identity: y = x."""
    return x


def linear_backward(dy, x, y, *, xp):
    """dx = dy."""
    return dy


def sigmoid(x, *, xp):
    """Logistic sigmoid: y = 1 / (1 + exp(-x)), evaluated without overflow for any x."""
    e = xp.exp(-xp.abs(x))
    r = 1.0 / (1.0 + e)
    return xp.where(x >= 0, r, e * r)


def sigmoid_backward(dy, x, y, *, xp):
    """dx = dy * y * (1 - y)."""
    return dy * y * (1.0 - y)


def tanh(x, *, xp):
    """Hyperbolic tangent: y = tanh(x)."""
    return xp.tanh(x)


def tanh_backward(dy, x, y, *, xp):
    """dx = dy * (1 - y^2)."""
    return dy * (1.0 - y * y)


def relu(x, *, xp):
    """Rectified linear unit: y = max(0, x)."""
    return xp.maximum(x, 0.0)


def relu_backward(dy, x, y, *, xp):
    """dx = dy where x > 0, else 0."""
    return xp.where(x > 0, dy, 0.0)


def leaky_relu(x, *, xp):
    """The lecture's leaky ReLU: y = max(0.1 x, x)."""
    return xp.where(x > 0, x, LEAKY_SLOPE * x)


def leaky_relu_backward(dy, x, y, *, xp):
    """dx = dy where x > 0, else 0.1 dy."""
    return xp.where(x > 0, dy, LEAKY_SLOPE * dy)


def elu(x, *, xp):
    """Exponential linear unit (alpha 1): y = x for x >= 0, else exp(x) - 1."""
    return xp.where(x >= 0, x, xp.expm1(xp.minimum(x, 0.0)))


def elu_backward(dy, x, y, *, xp):
    """dx = dy for x >= 0, else dy * exp(x) = dy * (y + 1)."""
    return xp.where(x >= 0, dy, dy * (y + ELU_ALPHA))


def softplus(x, *, xp):
    """Softplus: y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_backward(dy, x, y, *, xp):
    """dx = dy * sigmoid(x)."""
    return dy * sigmoid(x, xp=xp)


def gelu(x, *, xp):
    """GELU, tanh form: y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    t = xp.tanh(_GELU_C * (x + _GELU_A * x * x * x))
    return 0.5 * x * (1.0 + t)


def gelu_backward(dy, x, y, *, xp):
    """dx = dy (1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)), t as in gelu."""
    x2 = x * x
    t = xp.tanh(_GELU_C * (x + _GELU_A * x2 * x))
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_A * x2))


def silu(x, *, xp):
    """Sigmoid linear unit (swish): y = x sigmoid(x)."""
    return x * sigmoid(x, xp=xp)


def silu_backward(dy, x, y, *, xp):
    """dx = dy s (1 + x (1 - s)), s = sigmoid(x)."""
    s = sigmoid(x, xp=xp)
    return dy * s * (1.0 + x * (1.0 - s))


def softmax(x, *, xp):
    """Softmax over the last axis: y_i = exp(x_i - max x) / sum_j exp(x_j - max x)."""
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def softmax_backward(dy, x, y, *, xp):
    """dx = y (dy - sum_j dy_j y_j)."""
    return y * (dy - xp.sum(dy * y, axis=-1, keepdims=True))


ACTIVATIONS = {
    "step": (step, step_backward),
    "linear": (linear, linear_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "elu": (elu, elu_backward),
    "softplus": (softplus, softplus_backward),
    "gelu": (gelu, gelu_backward),
    "silu": (silu, silu_backward),
    "softmax": (softmax, softmax_backward),
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)


def activation(x, name, *, xp):
    """y = f(x) for the activation called ``name``."""
    return ACTIVATIONS[name][0](x, xp=xp)


def activation_backward(dy, x, y, name, *, xp):
    """dx = dy * f'(x) for the activation called ``name`` (softmax: its Jacobian-vector product)."""
    return ACTIVATIONS[name][1](dy, x, y, xp=xp)


def bias_activation(z, b, name, *, xp):
    """a = z + b, y = f(a); returns (a, y). ``b`` may be None (no bias).

    Kernels may compute ``a`` in the buffer of ``z``: callers pass a ``z`` they no longer need.
    """
    a = z if b is None else z + b
    return a, ACTIVATIONS[name][0](a, xp=xp)


def bias_activation_backward(dy, a, y, name, with_bias=True, *, xp):
    """da = dy * f'(a), db = sum over rows of da (None without a bias); returns (da, db)."""
    da = ACTIVATIONS[name][1](dy, a, y, xp=xp)
    return da, (xp.sum(da, axis=0) if with_bias else None)
