"""Activation: y = f(x) for a named activation."""

from __future__ import annotations

from nnkit.layers.base import Layer
from nnkit.ops import ACTIVATION_NAMES


def check_activation(name, owner: str) -> str:
    """The canonical activation name for ``name`` (None means "linear"), or a ValueError."""
    if name is None:
        return "linear"
    if isinstance(name, str):
        key = name.lower().replace("-", "_")
        key = {"swish": "silu", "leakyrelu": "leaky_relu", "identity": "linear"}.get(key, key)
        if key in ACTIVATION_NAMES:
            return key
    raise ValueError(f"{owner}: unknown activation {name!r}; expected one of {list(ACTIVATION_NAMES)} or None")


class Activation(Layer):
    """Applies the activation ``name`` elementwise (softmax: over the last axis)."""

    def __init__(self, name, layer_name: str | None = None):
        super().__init__(layer_name)
        self.activation = check_activation(name, "Activation")
        self.emit_logits = False
        self._x = self._y = None

    def forward(self, x, training=False):
        name = "linear" if self.emit_logits else self.activation
        y = self.backend.ops.activation(x, name)
        if training:
            self._x, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        name = "linear" if self.emit_logits else self.activation
        return self.backend.ops.activation_backward(dy, self._x, self._y, name)

    def _clear_cache(self):
        self._x = self._y = None

    def get_config(self):
        return {"name": self.activation}
