"""Flatten: (n, d1, d2, ...) -> (n, d1 * d2 * ...)."""

from __future__ import annotations

import math

from nnkit.layers.base import Layer


class Flatten(Layer):
    """Reshape each sample to a vector; the backward reshapes the gradient back."""

    def _build(self, input_shape, rng):
        self._shape = tuple(input_shape)
        return (math.prod(input_shape),)

    def _forward(self, x, training=False):
        xp = self.backend.xp

        def backward(dy, need_dx=True):
            return xp.reshape(dy, (dy.shape[0],) + self._shape)

        return xp.reshape(x, (x.shape[0], self.output_shape[0])), backward
