"""Weight initializers, drawn on the host from a seeded PCG64 generator.

Drawing on the host (in float64, then cast) is what makes one seed give the same initial model on
every backend; the layer moves the array to its device once.
"""

from __future__ import annotations

import math

__all__ = ["get", "INITIALIZER_NAMES", "Constant", "RandomUniform", "RandomNormal"]


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    # a convolution kernel (kh, kw, c_in, c_out): each fan counts the receptive field, as Keras
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(rng, shape):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(rng, shape):
    """N(0, s^2), s = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_uniform(rng, shape):
    """U(-l, l), l = sqrt(6 / fan_in) (He et al. 2015, for ReLU)."""
    fan_in, _ = _fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def he_normal(rng, shape):
    """N(0, s^2), s = sqrt(2 / fan_in)."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


def orthogonal(rng, shape):
    """Q of the QR decomposition (diag(R) > 0) of a N(0, 1) matrix (Saxe et al. 2014): the rows of
    the (prod(shape[:-1]), shape[-1]) matrix, or its columns when fewer, are orthonormal.

    Q comes from Gram-Schmidt run twice per column (CGS2, orthogonal to rounding), on the host
    generator's array, as Keras's QR with its signs fixed gives."""
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    cols = shape[-1]
    q = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    for j in range(q.shape[1]):
        for _ in range(2):
            done = q[:, :j]
            q[:, j] -= done @ (done.T @ q[:, j])
        q[:, j] /= math.sqrt(float(q[:, j] @ q[:, j]))
    if rows < cols:
        q = q.T
    return q.reshape(shape)


def zeros(rng, shape):
    """All zeros."""
    return rng.uniform(0.0, 0.0, size=shape)


def ones(rng, shape):
    """All ones."""
    return rng.uniform(1.0, 1.0, size=shape)


def playground(rng, shape):
    """The TensorFlow Playground's weights: U(-0.5, 0.5)."""
    return rng.uniform(-0.5, 0.5, size=shape)


def playground_bias(rng, shape):
    """The TensorFlow Playground's biases: all 0.1."""
    return rng.uniform(0.1, 0.1, size=shape)


class Constant:
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, rng, shape):
        return rng.uniform(self.value, self.value, size=shape)


class RandomUniform:
    """U(low, high)."""

    def __init__(self, low: float = -0.05, high: float = 0.05):
        self.low, self.high = float(low), float(high)

    def __call__(self, rng, shape):
        return rng.uniform(self.low, self.high, size=shape)


class RandomNormal:
    """N(mean, stddev^2)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, rng, shape):
        return rng.normal(self.mean, self.stddev, size=shape)


_NAMED = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
    "playground": playground,
    "playground_bias": playground_bias,
}
INITIALIZER_NAMES = tuple(_NAMED)


def get(initializer):
    """An initializer from its name or a callable ``(rng, shape) -> host array``."""
    if callable(initializer):
        return initializer
    if isinstance(initializer, str) and initializer.lower() in _NAMED:
        return _NAMED[initializer.lower()]
    raise ValueError(f"initializer: unknown {initializer!r}; expected one of {list(INITIALIZER_NAMES)} "
                     "or a callable (rng, shape) -> array")
