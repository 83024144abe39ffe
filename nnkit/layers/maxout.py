"""Maxout: y_j = max_k (x @ W_k + b_k)_j over ``pieces`` affine pieces (Goodfellow et al. 2013)."""

from __future__ import annotations

from nnkit import initializers
from nnkit import validation
from nnkit.layers.base import Layer, Parameter


class Maxout(Layer):
    """The lecture's max(w1^T x + b1, w2^T x + b2), generalised to ``pieces`` pieces per unit."""

    def __init__(self, units: int, pieces: int = 2, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name: str | None = None):
        super().__init__(name)
        self.units = validation.integer("units", units, 1, owner="Maxout")
        self.pieces = validation.integer("pieces", pieces, 1, owner="Maxout")
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._kernel_init = initializers.get(kernel_initializer)
        self._bias_init = initializers.get(bias_initializer)
        self.W = self.b = None

    def _parameter_plan(self, input_shape):
        if len(input_shape) != 1:
            return None
        return (input_shape[0] + 1) * self.units * self.pieces, (self.units,)

    def _build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f"Maxout: expects inputs of shape (n, features), got {tuple(input_shape)}")
        width = self.units * self.pieces
        be = self.backend
        validation.check_allocation(f"Maxout {self.name!r}", (input_shape[0] + 1, width), 8)  # drawn in float64
        self.W = Parameter(be.asarray(self._kernel_init(rng, (input_shape[0], width)), dtype=self.dtype),
                           f"{self.name}/W")
        self.b = Parameter(be.asarray(self._bias_init(rng, (width,)), dtype=self.dtype), f"{self.name}/b")
        return (self.units,)

    def _forward(self, x, training=False):
        ops, pieces = self.backend.ops, self.pieces
        W, b = self.W, self.b
        w = W.value
        y, idx = ops.maxout(ops.affine(x, w, b.value), pieces)

        def backward(dy, need_dx=True):
            dx, dw, db = ops.affine_backward(ops.maxout_backward(dy, idx, pieces), x, w, True, need_dx)
            W.inc_grad(dw)
            b.inc_grad(db)
            return dx

        return y, backward

    def parameters(self):
        return [self.W, self.b]

    def get_config(self):
        init = lambda v, d: v if isinstance(v, str) else d  # noqa: E731
        return {"units": self.units, "pieces": self.pieces,
                "kernel_initializer": init(self.kernel_initializer, "glorot_uniform"),
                "bias_initializer": init(self.bias_initializer, "zeros")}
