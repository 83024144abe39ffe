"""Conv2D: y = f(conv(x, K) + b) on channels-last images, K of shape (kh, kw, c_in, filters)."""

from __future__ import annotations

from nnkit import initializers
from nnkit import regularizers as _regularizers
from nnkit.layers._checks import (CheckedLayer, check_image_shape, check_padding,
                                 check_positive_pair)
from nnkit.layers.activation import check_activation
from nnkit.layers.base import Parameter, normalize_shape
from nnkit.ops._geometry import window_geometry


class Conv2D(CheckedLayer):
    """A 2-D convolution (Keras' Conv2D): patches of the input times the kernel, plus a bias,
    through an activation; "same" pads as Keras/TensorFlow (the smaller half first).

    Parameters
    ----------
    filters: output channels.  kernel_size, strides, dilation_rate: an int or a pair.
    padding: "valid" or "same".  activation, use_bias, kernel_initializer, bias_initializer,
    kernel_regularizer: as Dense.  input_shape: (height, width, channels), to build without data.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, input_shape=None,
                 name: str | None = None):
        super().__init__(name)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = check_positive_pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = check_positive_pair(strides, "strides", "Conv2D")
        self.dilation_rate = check_positive_pair(dilation_rate, "dilation_rate", "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.activation = check_activation(activation, "Conv2D")
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._kernel_init = initializers.get(kernel_initializer)
        self._bias_init = initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.requested_input_dim = None if input_shape is None else normalize_shape(input_shape, "Conv2D")
        if self.requested_input_dim is not None:
            check_image_shape(self.requested_input_dim, "Conv2D")
        self.window = self.kernel_size + self.strides + self.dilation_rate
        self.pads = None
        self.W = self.b = None

    def _build(self, input_shape, rng):
        h, w, c = check_image_shape(input_shape, "Conv2D")
        if self.requested_input_dim is not None and tuple(self.requested_input_dim) != (h, w, c):
            raise ValueError(f"Conv2D: input_shape={self.requested_input_dim} but the layer receives "
                             f"samples of shape {(h, w, c)}")
        (ho, wo), self.pads = window_geometry(h, w, self.window, self.padding)
        if ho < 1 or wo < 1:
            kh, kw, _, _, dh, dw = self.window
            raise ValueError(f"Conv2D: the kernel {kh}x{kw} (dilated to {(kh - 1) * dh + 1}x"
                             f"{(kw - 1) * dw + 1}) is larger than the input {h}x{w} with padding "
                             f"{self.padding!r} (input shape {(h, w, c)})")
        be = self.backend
        shape = self.kernel_size + (c, self.filters)
        self.W = Parameter(be.asarray(self._kernel_init(rng, shape), dtype=self.dtype),
                           f"{self.name}/kernel", self.kernel_regularizer)
        if self.use_bias:
            self.b = Parameter(be.asarray(self._bias_init(rng, (self.filters,)), dtype=self.dtype),
                               f"{self.name}/bias")
        return (ho, wo, self.filters)

    def _forward(self, x, training=False):
        ops = self.backend.ops
        y, tape = ops.conv2d_activation(x, self.W.value, None if self.b is None else self.b.value,
                                        self.window, self.pads, self.activation)

        def backward(dy, need_dx=True):
            dx, dk, db = ops.conv2d_activation_backward(dy, tape, self.W.value, self.window, self.pads,
                                                        self.activation, self.use_bias, need_dx)
            self.W.inc_grad(dk)
            if self.use_bias:
                self.b.inc_grad(db)
            return dx

        return y, backward

    def parameters(self):
        return [self.W, self.b] if self.use_bias else [self.W]

    def get_config(self):
        reg = self.kernel_regularizer
        init = lambda v, d: v if isinstance(v, str) else d  # noqa: E731
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate), "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": init(self.kernel_initializer, "glorot_uniform"),
                "bias_initializer": init(self.bias_initializer, "zeros"),
                "kernel_regularizer": None if reg is None else reg.get_config(),
                "input_shape": None if self.requested_input_dim is None else list(self.requested_input_dim)}
