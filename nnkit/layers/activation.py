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

    # a model fusing this activation into its loss asks for its input, the logits
    can_emit_logits = True

    def _forward(self, x, training=False, logits=False):
        ops = self.backend.ops
        name = "linear" if logits else self.activation
        y = ops.activation(x, name)

        def backward(dy, need_dx=True):
            return ops.activation_backward(dy, x, y, name)

        return y, backward

    def get_config(self):
        return {"name": self.activation}
