"""Dense: y = f(x @ W + b), W of shape (in, out)."""

from __future__ import annotations

from nnkit import initializers
from nnkit import regularizers as _regularizers
from nnkit import validation
from nnkit.layers.base import Layer, Parameter
from nnkit.layers.activation import check_activation


class Dense(Layer):
    """A fully connected layer: y = f(x @ W + b).

    Parameters
    ----------
    units: width of the output.
    activation: an activation name (see ``nnkit.ops.ACTIVATION_NAMES``) or None (linear).
    use_bias: whether to add b (the lecture's network "with" or "without bias").
    kernel_initializer, bias_initializer: names or callables ``(rng, shape) -> array``.
    kernel_regularizer: None, "l1", "l2", "elastic_net" or a regularizer object, applied to W.
    input_dim: width of the input, to build without data.
    input_shape: Keras's form of it, a one-element tuple (d,) (or an int), instead of input_dim.
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, input_dim: int | None = None, name: str | None = None,
                 input_shape=None):
        super().__init__(name)
        if input_shape is not None:
            if input_dim is not None:
                raise ValueError("Dense: pass input_dim or input_shape, not both")
            shape = (input_shape,) if isinstance(input_shape, int) and not isinstance(input_shape, bool) \
                else tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
            if shape is None or len(shape) != 1:
                raise ValueError(f"Dense: input_shape must be (features,), got {input_shape!r}")
            input_dim = shape[0]
        self.units = validation.integer("units", units, 1, owner="Dense")
        self.activation = check_activation(activation, "Dense")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._kernel_init = initializers.get(kernel_initializer)
        self._bias_init = initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        if input_dim is not None:
            input_dim = validation.integer("input_dim", input_dim, 1, owner="Dense")
        self.requested_input_dim = input_dim
        self.W = None
        self.b = None

    def _parameter_plan(self, input_shape):
        return ((input_shape[0] + 1) * self.units, (self.units,)) if len(input_shape) == 1 else None

    def _build(self, input_shape, rng):
        n_in = input_shape[-1]  # on N-D samples Dense acts on the last axis, as Keras
        if self.requested_input_dim is not None and self.requested_input_dim != n_in:
            raise ValueError(f"Dense: input_dim={self.requested_input_dim} but the layer receives "
                             f"{n_in} features")
        be = self.backend
        validation.check_allocation(f"Dense {self.name!r}", (n_in + 1, self.units), 8)  # drawn in float64
        w = self._kernel_init(rng, (n_in, self.units))
        self.W = Parameter(be.asarray(w, dtype=self.dtype), f"{self.name}/W", self.kernel_regularizer)
        if self.use_bias:
            b = self._bias_init(rng, (self.units,))
            self.b = Parameter(be.asarray(b, dtype=self.dtype), f"{self.name}/b")
        return tuple(input_shape[:-1]) + (self.units,)

    # a model fusing this layer's activation into its loss asks it for the logits z + b
    can_emit_logits = True

    def _forward(self, x, training=False, logits=False):
        if x.ndim > 2:  # N-D samples: the same map on the last axis of every row
            xp = self.backend.xp
            y, backward2 = self._forward(xp.reshape(x, (-1, x.shape[-1])), training, logits)

            def backward(dy, need_dx=True):
                dx = backward2(xp.reshape(dy, (-1, self.units)), need_dx)
                return None if dx is None else xp.reshape(dx, tuple(x.shape))

            return xp.reshape(y, tuple(x.shape[:-1]) + (self.units,)), backward
        ops = self.backend.ops
        W, b = self.W, self.b
        w = W.value
        name = "linear" if logits else self.activation
        # the GEMM into its output buffer (a step's own on a device), then a = z + b in z's buffer
        a, y = ops.bias_activation(ops.affine(x, w, None), None if b is None else b.value, name)

        def backward(dy, need_dx=True):
            da, db = ops.bias_activation_backward(dy, a, y, name, b is not None)
            dx, dw, _ = ops.affine_backward(da, x, w, False, need_dx)
            W.inc_grad(dw)
            if b is not None:
                b.inc_grad(db)
            return dx

        return y, backward

    def parameters(self):
        return [self.W, self.b] if self.use_bias else [self.W]

    def get_config(self):
        reg = self.kernel_regularizer
        return {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer if isinstance(self.kernel_initializer, str) else "glorot_uniform",
            "bias_initializer": self.bias_initializer if isinstance(self.bias_initializer, str) else "zeros",
            "kernel_regularizer": None if reg is None else reg.get_config(),
            "input_dim": self.requested_input_dim,
        }
