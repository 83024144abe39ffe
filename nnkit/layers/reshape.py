"""Reshape: each sample to ``target_shape`` (one entry may be -1, inferred)."""

from __future__ import annotations

import math

from nnkit.layers._checks import CheckedLayer


class Reshape(CheckedLayer):
    """(n, *input_shape) -> (n, *target_shape), the same values in the same (C) order."""

    def __init__(self, target_shape, name: str | None = None):
        super().__init__(name)
        try:
            shape = tuple(target_shape)
        except TypeError:
            shape = (target_shape,)
        if (not shape or any(isinstance(d, bool) or not isinstance(d, int) or (d < 1 and d != -1) for d in shape)
                or shape.count(-1) > 1):
            raise ValueError(f"Reshape: target_shape must hold positive ints (one may be -1), got {target_shape!r}")
        self.target_shape = shape

    def _build(self, input_shape, rng):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(shape) != size:
            raise ValueError(f"Reshape: cannot reshape samples of shape {tuple(input_shape)} ({size} values) "
                             f"to {self.target_shape}")
        return shape

    def _forward(self, x, training=False):
        xp = self.backend.xp
        n = x.shape[0]

        def backward(dy, need_dx=True):
            return xp.reshape(dy, (n,) + tuple(self.input_shape)) if need_dx else None

        return xp.reshape(x, (n,) + tuple(self.output_shape)), backward

    def get_config(self):
        return {"target_shape": list(self.target_shape)}
