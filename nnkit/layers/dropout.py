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
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        u = self.random_uniform(tuple(x.shape), x.dtype)
        y, self._mask = self.backend.ops.dropout(x, u, self.rate)
        return y

    def backward(self, dy, need_dx=True):
        if self._mask is None:
            return dy
        return self.backend.ops.dropout_backward(dy, self._mask)

    def _clear_cache(self):
        self._mask = None

    def get_config(self):
        return {"rate": self.rate}
