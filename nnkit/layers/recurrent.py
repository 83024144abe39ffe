"""Recurrent layers over batch-major sequences (N, T, F): SimpleRNN, LSTM and GRU.

Each runs its whole sequence through one backend op (``simple_rnn_forward``, ``lstm_forward``,
``gru_forward``) and backpropagates through time with its ``*_backward`` op; the numba backend
compiles each of them into one call. Weights are Keras's: ``[kernel (F, G u), recurrent_kernel
(u, G u), bias]`` with G = 1, 4 (gates i, f, c, o) or 3 (gates z, r, h). The initial state is zero.

Every layer also takes
- ``return_state=True``: ``layer(x)`` returns (output, last h) (LSTM: (output, last h, last c)), as
  Keras; ``backward`` then takes a tuple of the same shape (None for a state with no gradient). A
  Sequential chains one array from layer to layer, so it refuses such a layer: call it on its own.
- ``bptt_steps=k``: truncated backpropagation through time, as a PyTorch loop that detaches the
  state every k steps (``h = h.detach()`` at t = k, 2k, ...): the forward is unchanged, the
  gradient of step t does not flow into step t - 1 where t is a multiple of k. None: full BPTT.
"""

from __future__ import annotations

from nnkit import initializers, validation
from nnkit.layers.activation import check_activation
from nnkit.layers.base import Layer, Parameter


def _initializer_name(value, default: str) -> str:
    return value if isinstance(value, str) else default


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: building, input checks, the stateful shell.

    A subclass sets ``GATES`` and implements ``_run(x) -> (hs, saved)``,
    ``_grads(dhs, x, hs, saved, need_dx, d_cell) -> (dx, dW, dU, db)`` and, where its state has more
    than h, ``_cell_state(saved)`` (the last c of an LSTM).
    """

    GATES = 1

    def __init__(self, units, return_sequences=False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", name=None,
                 return_state=False, bptt_steps=None):
        super().__init__(name)
        owner = type(self).__name__
        self.units = validation.integer("units", units, 1, owner)
        self.return_sequences = validation.flag("return_sequences", return_sequences, owner)
        self.return_state = validation.flag("return_state", return_state, owner)
        self.bptt_steps = None if bptt_steps is None else validation.integer("bptt_steps", bptt_steps, 1, owner)
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
        """(y, backward): y the last state (or every state), with return_state a tuple (y, h[, c]);
        backward(dy, need_dx) adds the weights' gradients to their grads and returns dx."""
        hs, saved = self._run(x)
        y = hs if self.return_sequences else hs[:, -1, :]
        params = (self.kernel, self.recurrent_kernel, self.bias)
        has_cell = type(self)._cell_state is not _Recurrent._cell_state

        def split(dy):
            """(d output, d last state or None, d last cell state or None), each checked: the
            kernels index them by the forward's shapes."""
            d_h = d_cell = None
            if self.return_state:
                dy, d_h, *rest = dy
                d_cell = rest[0] if rest else None
            self._check_gradient(dy, y, "the output")
            for d, name in ((d_h, "the last state"), (d_cell, "the last cell state")):
                if d is not None:
                    self._check_gradient(d, hs[:, -1, :], name)
            return dy, d_h, d_cell

        def backward(dy, need_dx=True):
            dy, d_h, d_cell = split(dy)
            dhs = self._step_gradients(dy, d_h, hs.shape)
            dx, *grads = self._grads(dhs, x, hs, saved, need_dx, d_cell)
            for p, g in zip(params, grads):
                p.inc_grad(g)
            return dx

        backward.split = split  # for backward(), to refuse a bad gradient before the grads are zeroed
        if not self.return_state:
            return y, backward
        states = (hs[:, -1, :], self._cell_state(saved)) if has_cell else (hs[:, -1, :],)
        return (y, *states), backward

    def backward(self, dy, need_dx: bool = True):
        """Layer.backward, with ``dy`` checked first: a bad one changes no gradient."""
        split = getattr(self._backprop, "split", None)
        if split is not None:
            split(dy)
        return super().backward(dy, need_dx)

    def _check_gradient(self, d, like, what) -> None:
        """Refuse a gradient whose shape is not that of what it is the gradient of (the kernels
        index it by the forward's shapes)."""
        if tuple(getattr(d, "shape", ())) != tuple(like.shape):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expects the gradient of {what} with shape "
                             f"{tuple(like.shape)}, got {tuple(getattr(d, 'shape', ()))}")

    def _step_gradients(self, dy, d_h, shape):
        """d loss / d the states, as the ops take it: every step's (N, T, u) where the layer
        outputs every step, else the last state's alone (N, u), the ops taking the earlier ones as
        zero (no (N, T, u) block of zeros built, copied and read back on every step); the last
        state's own gradient ``d_h`` (or None) added at the end."""
        if not self.return_sequences:
            return dy if d_h is None else dy + d_h
        if d_h is None:
            return dy
        xp = self.backend.xp
        n, steps, units = shape
        last = xp.reshape(dy[:, -1, :] + d_h, (n, 1, units))
        return xp.concat([dy[:, :-1, :], last], axis=1)

    def _cell_state(self, saved):
        """The last cell state of a layer whose state has more than h (None here)."""
        return None

    def forward(self, x, training=False):
        """y = the layer on x (checked first: a model checks its data once, before the chain)."""
        self.check_input(x)
        return super().forward(x, training)

    def get_config(self):
        return {
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "bptt_steps": self.bptt_steps,
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
    bptt_steps: truncated backpropagation through time (the module's docstring).
    """

    GATES = 1

    def __init__(self, units, activation="tanh", return_sequences=False, return_state=False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None, bptt_steps=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name, return_state, bptt_steps)
        self.activation = check_activation(activation, "SimpleRNN")
        if self.activation == "softmax":
            raise ValueError(f"SimpleRNN: activation must be an elementwise activation, got {activation!r}")

    def _run(self, x):
        hs, zs = self.backend.ops.simple_rnn_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                                     self.bias.value, self.activation)
        return hs, zs

    def _grads(self, dhs, x, hs, zs, need_dx, d_cell=None):
        return self.backend.ops.simple_rnn_backward(dhs, x, hs, zs, self.kernel.value, self.recurrent_kernel.value,
                                                    self.activation, need_dx, self.bptt_steps)

    def get_config(self):
        return {"activation": self.activation, **super().get_config()}


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), Keras's layout and gate order i, f, c, o:
    z = x_t W + h_(t-1) U + b; i, f, o = sigmoid; g = tanh; c_t = f c_(t-1) + i g; h_t = o tanh(c_t).

    unit_forget_bias: start the forget gate's bias at 1 (Jozefowicz et al. 2015), as Keras.
    return_state: ``layer(x)`` gives (output, last h, last c), as Keras; bptt_steps: truncated BPTT.
    """

    GATES = 4

    def __init__(self, units, return_sequences=False, unit_forget_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None, return_state=False, bptt_steps=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name, return_state, bptt_steps)
        self.unit_forget_bias = validation.flag("unit_forget_bias", unit_forget_bias, "LSTM")

    def _initial_bias(self, rng):
        bias = super()._initial_bias(rng)
        if self.unit_forget_bias:
            bias[self.units:2 * self.units] = 1.0
        return bias

    def _run(self, x):
        hs, cs, gates = self.backend.ops.lstm_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                                      self.bias.value)
        return hs, (cs, gates)

    def _cell_state(self, saved):
        return saved[0][:, -1, :]

    def _grads(self, dhs, x, hs, saved, need_dx, d_cell=None):
        cs, gates = saved
        return self.backend.ops.lstm_backward(dhs, x, hs, cs, gates, self.kernel.value,
                                              self.recurrent_kernel.value, need_dx, self.bptt_steps, d_cell)

    def get_config(self):
        return {"unit_forget_bias": self.unit_forget_bias, **super().get_config()}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras 3's layout and gate order z, r, h, the reset gate
    applied after the recurrent matmul (as Keras 3 and PyTorch): with zx = x_t W + b_0 and
    zh = h_(t-1) U + b_1, z, r = sigmoid(zx + zh), hh = tanh(zx_h + r zh_h),
    h_t = z h_(t-1) + (1 - z) hh. The bias is (2, 3 units): input and recurrent.
    reset_after=False: Keras 2's original formulation, the reset gate applied to h before the
    recurrent matmul, hh = tanh(x W_h + (r h_(t-1)) U_h + b_h), with one bias (3 units,).
    return_state: ``layer(x)`` gives (output, last h), as Keras; bptt_steps: truncated BPTT.
    """

    GATES = 3

    def __init__(self, units, return_sequences=False, reset_after=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", name=None, return_state=False, bptt_steps=None):
        super().__init__(units, return_sequences, kernel_initializer, recurrent_initializer,
                         bias_initializer, name, return_state, bptt_steps)
        self.reset_after = validation.flag("reset_after", reset_after, "GRU")

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _ops(self):
        """(forward, backward) of this GRU's formulation."""
        ops = self.backend.ops
        if self.reset_after:
            return ops.gru_forward, ops.gru_backward
        return ops.gru_reset_before_forward, ops.gru_reset_before_backward

    def _run(self, x):
        return self._ops()[0](x, self.kernel.value, self.recurrent_kernel.value, self.bias.value)

    def _grads(self, dhs, x, hs, gates, need_dx, d_cell=None):
        return self._ops()[1](dhs, x, hs, gates, self.kernel.value, self.recurrent_kernel.value, need_dx,
                              self.bptt_steps)

    def get_config(self):
        return {"reset_after": self.reset_after, **super().get_config()}
