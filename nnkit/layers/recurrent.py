"""Recurrent layers over batch-major sequences (N, T, F): SimpleRNN, LSTM and GRU.

Each runs its whole sequence through one backend op (``simple_rnn_forward``, ``lstm_forward``,
``gru_forward``) and backpropagates through time with its ``*_backward`` op; the numba backend
compiles each of them into one call. Weights are Keras's: ``[kernel (F, G u), recurrent_kernel
(u, G u), bias]`` with G = 1, 4 (gates i, f, c, o) or 3 (gates z, r, h). The initial state is zero.
"""

from __future__ import annotations

from nnkit import initializers
from nnkit.layers.activation import check_activation
from nnkit.layers.base import Layer, Parameter


def _positive_int(value, what: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive int, got {value!r}")
    return value


def _initializer_name(value, default: str) -> str:
    return value if isinstance(value, str) else default


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: building, input checks, the stateful shell.

    A subclass sets ``GATES`` and implements ``_run(x) -> (hs, saved)`` and
    ``_grads(dhs, x, hs, saved, need_dx) -> (dx, dW, dU, db)``.
    """

    GATES = 1

    def __init__(self, units, return_sequences=False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", name=None):
        super().__init__(name)
        owner = type(self).__name__
        self.units = _positive_int(units, "units", owner)
        if not isinstance(return_sequences, bool):
            raise TypeError(f"{owner}: return_sequences must be True or False, got {return_sequences!r}")
        self.return_sequences = return_sequences
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self._inits = [initializers.get(i) for i in (kernel_initializer, recurrent_initializer, bias_initializer)]
        self.kernel = self.recurrent_kernel = self.bias = None

    # -- building -----------------------------------------------------------------------------
    def _bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def _initial_bias(self, rng):
        return self._inits[2](rng, self._bias_shape())

    def _build(self, input_shape, rng):
        owner = type(self).__name__
        if len(input_shape) != 2:
            raise ValueError(f"{owner}: expects sequences of shape (n, timesteps, features), got sample "
                             f"shape {tuple(input_shape)}")
        steps, features = input_shape
        width = self.GATES * self.units
        be, dtype = self.backend, self.dtype
        kernel = self._inits[0](rng, (features, width))
        recurrent = self._inits[1](rng, (self.units, width))
        bias = self._initial_bias(rng)
        self.kernel = Parameter(be.asarray(kernel, dtype=dtype), f"{self.name}/kernel")
        self.recurrent_kernel = Parameter(be.asarray(recurrent, dtype=dtype), f"{self.name}/recurrent_kernel")
        self.bias = Parameter(be.asarray(bias, dtype=dtype), f"{self.name}/bias")
        return (steps, self.units) if self.return_sequences else (self.units,)

    def parameters(self):
        return [self.kernel, self.recurrent_kernel, self.bias]

    # -- running ------------------------------------------------------------------------------
    def check_input(self, x) -> None:
        """Refuse what the layer cannot run: not (n, timesteps, features), another width, NaN."""
        owner = f"{type(self).__name__} {self.name!r}"
        if not self.built:
            raise ValueError(f"{owner}: build the layer (or its model) before calling it")
        if getattr(x, "ndim", None) != 3:
            raise ValueError(f"{owner}: expects x of shape (n, timesteps, features), got shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        if x.shape[2] != self.kernel.shape[0]:
            raise ValueError(f"{owner}: expects {self.kernel.shape[0]} features per step, got {x.shape[2]}")
        if x.shape[1] < 1 or x.shape[0] < 1:
            raise ValueError(f"{owner}: expects at least one sample and one step, got shape {tuple(x.shape)}")
        xp = self.backend.xp
        if not bool(xp.all(xp.isfinite(x))):
            raise ValueError(f"{owner}: x contains NaN or inf")

    def _forward(self, x, training=False):
        """(y, backward): y the last state (or every state); backward(dy, need_dx) adds the weights'
        gradients to their grads and returns dx."""
        xp = self.backend.xp
        hs, saved = self._run(x)
        y = hs if self.return_sequences else hs[:, -1, :]
        params = (self.kernel, self.recurrent_kernel, self.bias)

        def backward(dy, need_dx=True):
            if self.return_sequences:
                dhs = dy
            else:
                n, steps, units = hs.shape
                earlier = xp.zeros((n, steps - 1, units), dtype=dy.dtype)
                dhs = xp.concat([earlier, xp.reshape(dy, (n, 1, units))], axis=1)
            dx, *grads = self._grads(dhs, x, hs, saved, need_dx)
            for p, g in zip(params, grads):
                p.inc_grad(g)
            return dx

        return y, backward

    def forward(self, x, training=False):
        """y = the layer on x (checked first: a model checks its data once, before the chain)."""
        self.check_input(x)
        return super().forward(x, training)

    def get_config(self):
        return {
            "units": self.units,
            "return_sequences": self.return_sequences,
            "kernel_initializer": _initializer_name(self.kernel_initializer, "glorot_uniform"),
            "recurrent_initializer": _initializer_name(self.recurrent_initializer, "orthogonal"),
            "bias_initializer": _initializer_name(self.bias_initializer, "zeros"),
        }


class SimpleRNN(_Recurrent):
    """h_t = f(x_t W + h_(t-1) U + b), h_(-1) = 0 (Elman's network, Keras's SimpleRNN).

    Parameters
    ----------
    units: width of the state.
    activation: the state's activation (default tanh; any elementwise activation name).
    return_sequences: output every step's state (N, T, units) instead of the last (N, units).
    return_state: also return the last state: ``layer(x)`` gives (output, state) and
        ``backward`` takes (d output, d state). A Sequential takes one output: use it outside one.
    """

    GATES = 1

    def __init__(self, units, activation="tanh", return_sequences=False, return_state=False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name)
        self.activation = check_activation(activation, "SimpleRNN")
        if self.activation == "softmax":
            raise ValueError(f"SimpleRNN: activation must be an elementwise activation, got {activation!r}")
        if not isinstance(return_state, bool):
            raise TypeError(f"SimpleRNN: return_state must be True or False, got {return_state!r}")
        self.return_state = return_state

    def _run(self, x):
        hs, zs = self.backend.ops.simple_rnn_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                                     self.bias.value, self.activation)
        return hs, zs

    def _grads(self, dhs, x, hs, zs, need_dx):
        return self.backend.ops.simple_rnn_backward(dhs, x, hs, zs, self.kernel.value,
                                                    self.recurrent_kernel.value, self.activation, need_dx)

    def _forward(self, x, training=False):
        y, backward = super()._forward(x, training)
        if not self.return_state:
            return y, backward
        xp = self.backend.xp
        state = y[:, -1, :] if self.return_sequences else y

        def backward_with_state(dy, need_dx=True):
            dy, dstate = dy
            if self.return_sequences:
                n, steps, units = dy.shape
                last = xp.reshape(dy[:, -1, :] + dstate, (n, 1, units))
                dy = xp.concat([dy[:, :-1, :], last], axis=1)
            else:
                dy = dy + dstate
            return backward(dy, need_dx)

        return (y, state), backward_with_state

    def get_config(self):
        return {"activation": self.activation, "return_state": self.return_state, **super().get_config()}


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), Keras's layout and gate order i, f, c, o:
    z = x_t W + h_(t-1) U + b; i, f, o = sigmoid; g = tanh; c_t = f c_(t-1) + i g; h_t = o tanh(c_t).

    unit_forget_bias: start the forget gate's bias at 1 (Jozefowicz et al. 2015), as Keras.
    """

    GATES = 4

    def __init__(self, units, return_sequences=False, unit_forget_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name)
        if not isinstance(unit_forget_bias, bool):
            raise TypeError(f"LSTM: unit_forget_bias must be True or False, got {unit_forget_bias!r}")
        self.unit_forget_bias = unit_forget_bias

    def _initial_bias(self, rng):
        bias = super()._initial_bias(rng)
        if self.unit_forget_bias:
            bias[self.units:2 * self.units] = 1.0
        return bias

    def _run(self, x):
        hs, cs, gates = self.backend.ops.lstm_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                                      self.bias.value)
        return hs, (cs, gates)

    def _grads(self, dhs, x, hs, saved, need_dx):
        cs, gates = saved
        return self.backend.ops.lstm_backward(dhs, x, hs, cs, gates, self.kernel.value,
                                              self.recurrent_kernel.value, need_dx)

    def get_config(self):
        return {"unit_forget_bias": self.unit_forget_bias, **super().get_config()}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras 3's layout and gate order z, r, h, the reset gate
    applied after the recurrent matmul (as Keras 3 and PyTorch): with zx = x_t W + b_0 and
    zh = h_(t-1) U + b_1, z, r = sigmoid(zx + zh), hh = tanh(zx_h + r zh_h),
    h_t = z h_(t-1) + (1 - z) hh. The bias is (2, 3 units): input and recurrent.
    """

    GATES = 3

    def __init__(self, units, return_sequences=False, reset_after=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name)
        if reset_after is not True:
            raise ValueError(f"GRU: only reset_after=True (Keras 3's and PyTorch's GRU) is implemented, "
                             f"got {reset_after!r}")
        self.reset_after = True

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _run(self, x):
        hs, gates = self.backend.ops.gru_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                                 self.bias.value)
        return hs, gates

    def _grads(self, dhs, x, hs, gates, need_dx):
        return self.backend.ops.gru_backward(dhs, x, hs, gates, self.kernel.value,
                                             self.recurrent_kernel.value, need_dx)

    def get_config(self):
        return {"reset_after": self.reset_after, **super().get_config()}
