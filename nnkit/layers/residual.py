"""Residual: y = x + f(x), the skip connection that cures vanishing gradients (He et al. 2016)."""

from __future__ import annotations

from nnkit.layers.base import Layer


class Residual(Layer):
    """Wraps a layer or a list of layers f whose output has the input's shape: y = x + f(x)."""

    def __init__(self, layer_or_layers, name: str | None = None):
        super().__init__(name)
        from nnkit.layers.sequential import Sequential

        layers = layer_or_layers if isinstance(layer_or_layers, (list, tuple)) else [layer_or_layers]
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual: expected layers, got {type(layer).__name__}")
        self.inner = Sequential(list(layers))

    def _build(self, input_shape, rng):
        out = self.inner.build(input_shape, self.backend, self.backend.dtype_name(self.dtype), rng)
        for p in self.inner.parameters():  # names stay unique in the enclosing model
            p.name = f"{self.name}/{p.name}"
        if tuple(out) != tuple(input_shape):
            raise ValueError(f"Residual: the wrapped layers map shape {tuple(input_shape)} to {tuple(out)}; "
                             "y = x + f(x) needs them equal")
        return input_shape

    def _forward(self, x, training=False):
        fx, inner_backward = self.inner._forward(x, training)

        def backward(dy, need_dx=True):
            return dy + inner_backward(dy, True)

        return x + fx, backward

    def parameters(self):
        return self.inner.parameters()

    def _move(self, backend):
        self.inner._move(backend)
        self.backend = backend
        self.dtype = self.inner.dtype

    def get_config(self):
        return {"layers": self.inner.get_config()["layers"]}
