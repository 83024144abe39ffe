"""Dropout: zero a fraction ``rate`` of the inputs in training and scale the rest by 1/(1 - rate)."""

from __future__ import annotations

from nnkit import validation
from nnkit.layers.base import Layer


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014); the identity at inference."""

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name)
        try:
            self.rate = validation.number("rate", rate, low=0.0, high=1.0, high_open=True, owner="Dropout")
        except TypeError as exc:
            raise ValueError(str(exc)) from None

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
