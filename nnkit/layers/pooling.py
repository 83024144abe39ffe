"""Pooling layers on channels-last images: MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D."""

from __future__ import annotations

from nnkit.layers._checks import (CheckedLayer, check_image_shape, check_padding,
                                 check_positive_pair)
from nnkit.ops._geometry import window_geometry


class _Pool2D(CheckedLayer):
    """A pool_size window moved by strides (default: pool_size) with "valid" or "same" padding."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name: str | None = None):
        super().__init__(name)
        owner = type(self).__name__
        self.pool_size = check_positive_pair(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else check_positive_pair(strides, "strides", owner)
        self.padding = check_padding(padding, owner)
        self.window = self.pool_size + self.strides + (1, 1)
        self.pads = None

    def _build(self, input_shape, rng):
        owner = type(self).__name__
        h, w, c = check_image_shape(input_shape, owner)
        (ho, wo), self.pads = window_geometry(h, w, self.window, self.padding)
        if ho < 1 or wo < 1:
            raise ValueError(f"{owner}: the pool window {self.pool_size[0]}x{self.pool_size[1]} is "
                             f"larger than the input {h}x{w} with padding {self.padding!r} (input "
                             f"shape {(h, w, c)})")
        return (ho, wo, c)

    def get_config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding}


class MaxPool2D(_Pool2D):
    """y = the maximum over each window (padding never wins); the gradient goes to the first maximum."""

    def _forward(self, x, training=False):
        ops = self.backend.ops
        y, idx = ops.max_pool2d(x, self.window, self.pads)
        x_shape = tuple(x.shape)

        def backward(dy, need_dx=True):
            return ops.max_pool2d_backward(dy, idx, x_shape, self.window, self.pads) if need_dx else None

        return y, backward


class AvgPool2D(_Pool2D):
    """y = the mean over each window's real pixels ("same": the padding is not counted)."""

    def _forward(self, x, training=False):
        ops = self.backend.ops
        x_shape = tuple(x.shape)

        def backward(dy, need_dx=True):
            return ops.avg_pool2d_backward(dy, x_shape, self.window, self.pads) if need_dx else None

        return ops.avg_pool2d(x, self.window, self.pads), backward


class GlobalAvgPool2D(CheckedLayer):
    """y[n, k] = the mean of channel k over the image."""

    def _build(self, input_shape, rng):
        return (check_image_shape(input_shape, "GlobalAvgPool2D")[2],)

    def _forward(self, x, training=False):
        ops = self.backend.ops
        x_shape = tuple(x.shape)

        def backward(dy, need_dx=True):
            return ops.global_avg_pool2d_backward(dy, x_shape) if need_dx else None

        return ops.global_avg_pool2d(x), backward


class GlobalMaxPool2D(CheckedLayer):
    """y[n, k] = the maximum of channel k over the image."""

    def _build(self, input_shape, rng):
        return (check_image_shape(input_shape, "GlobalMaxPool2D")[2],)

    def _forward(self, x, training=False):
        ops = self.backend.ops
        y, idx = ops.global_max_pool2d(x)
        x_shape = tuple(x.shape)

        def backward(dy, need_dx=True):
            return ops.global_max_pool2d_backward(dy, idx, x_shape) if need_dx else None

        return y, backward
