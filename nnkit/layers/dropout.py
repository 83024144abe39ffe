"""Dropout: zero a fraction ``rate`` of the inputs in training and scale the rest by 1/(1 - rate)."""

from __future__ import annotations

from nnkit.layers.base import Layer


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014); the identity at inference."""

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def _forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, _identity
        ops = self.backend.ops
        y, mask = ops.dropout(x, self.random_uniform(tuple(x.shape), x.dtype), self.rate)

        def backward(dy, need_dx=True):
            return ops.dropout_backward(dy, mask)

        return y, backward

    def get_config(self):
        return {"rate": self.rate}


def _identity(dy, need_dx=True):
    return dy
