"""Compiled training steps for a Sequential of Dense, Maxout, Activation, Dropout, Flatten and
Residual layers.

``make_train_step(model)`` returns ``step(xb, yb) -> (loss, out)`` running the forward pass, the
loss, the backward pass and the optimizer update, or None where the per-layer path runs instead.
The step's code is generated for the model's activations, loss and optimizer (``_stepgen``), so
only those compile. Small networks (at most ``MAX_MACS_PER_SAMPLE``) get ``CompiledStep``, one
@njit call per batch: there per-step Python overhead, not arithmetic, is the cost. Bigger ones
get ``LayeredStep``: np.matmul with the compiled epilogues (Residual and Maxout: the former only).
Every buffer is allocated once per batch shape; none is handed to users except ``out``, which the
next step overwrites. Dropout's uniforms are drawn into a buffer with the backend's generator
(``rng.random(out=...)``), the same stream as the per-layer path's ``backend.random_uniform``, so
both train to the same weights.
Kernel regularizers (L1, L2, ElasticNet) add their penalty to the loss and its gradient to dW
before the update, as the per-layer path does.
"""

from __future__ import annotations

import numpy as np

from nnkit._kernels.numba import _jit, _stepgen
from nnkit._kernels.numba.activations import CODES
from nnkit._kernels.numba.optim import adagrad_hyper, adam_hyper, rmsprop_hyper, sgd_hyper

# the fused loss ops the step implements (each a kernel of _jit.py with the op's name)
LOSSES = ("mse", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
          "sigmoid_binary_cross_entropy", "binary_cross_entropy", "categorical_cross_entropy",
          "sparse_categorical_cross_entropy")

# Multiply-adds per sample above which LayeredStep runs instead of the one-call CompiledStep: its
# np.matmul calls NumPy's own OpenBLAS, while np.dot inside @njit calls SciPy's, a second 2-thread
# pool (PERF.md item 9), and per-step Python overhead no longer matters. Measured per step,
# float32, relu + softmax CE, SGD momentum, one process per variant, best of 4 (us, one-call /
# layered): 64-128-64-10 (17k MACs) b32 42 / 57, b128 149 / 158; 128-256-128-10 (67k) b64
# 246 / 258; 784-128-10 (102k) b128 403 / 409; 256-256-256-10 (134k) b64 407 / 422, b128
# 665 / 690; 784-256-256-10 (W3, 269k) b32 454 / 449, b128 1050 / 1089 (in fit() with metrics
# 1313 / 1419). The one-call step never lost up to W3; above it they tie within noise
# (784-512-512-10 b128 2715 / 2909, 1024-1024-1024-10 b128 9634 / 9741), so bigger nets keep the
# one BLAS pool the rest of the process uses.
MAX_MACS_PER_SAMPLE = 300_000


def _optimizer_name(optimizer):
    from nnkit import optimizers as opt

    # exact classes: a subclass may override _update, which this step would silently skip
    return {opt.SGD: "sgd", opt.Adagrad: "adagrad", opt.RMSprop: "rmsprop", opt.Adam: "adam",
            opt.AdamW: "adamw"}.get(type(optimizer))


def _hyper(name, o, T, lr, t):
    """The hyperparameters the optimizer kernel takes for ``o`` at step t with rate lr."""
    if name == "sgd":
        return sgd_hyper(T, lr, o.momentum, o.nesterov, o.weight_decay)
    if name == "adagrad":
        return adagrad_hyper(T, lr, t, o.lr_decay, o.weight_decay, o.eps)
    if name == "rmsprop":
        return rmsprop_hyper(T, lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.centered)
    return adam_hyper(T, lr, t, o.beta1, o.beta2, o.eps, o.weight_decay, name == "adamw")


def plan(model):
    """The step's spec (see ``_stepgen``) when ``model`` can run a compiled step, else None: a
    Sequential of Dense and Maxout layers (see ``_groups`` for the Activation, Dropout, Flatten and
    Residual layers around them) on the numba backend, in float32 or float64, with a loss and an optimizer
    the step implements, and plain L1/L2 kernel regularizers."""
    layers = getattr(model, "layers", None)
    if not layers or not getattr(model, "built", False) or model.backend.name != "numba":
        return None
    program = _groups(layers, _logits_layer(model))
    if program is None:
        return None
    groups, skips = program
    if np.dtype(model.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return None
    if model.loss is None or model.optimizer is None:
        return None
    loss = model.loss.op_name(model._fused is not None)
    optimizer = _optimizer_name(model.optimizer)
    if loss not in LOSSES or optimizer is None:
        return None
    for p in model.parameters():
        v = p.value
        if type(v) is not np.ndarray or v.dtype != model.dtype or not v.flags.c_contiguous \
                or not v.flags.writeable:
            return None
    if not all(_plain_penalty(dense.W.regularizer)
               and (dense.b is None or dense.b.regularizer is None) for dense, _, _ in groups):
        return None
    codes = tuple(CODES["linear" if activation == "maxout" else activation]
                  for _, activation, _ in groups)
    biases = tuple(dense.b is not None for dense, _, _ in groups)
    pieces = tuple(dense.pieces if activation == "maxout" else 0 for dense, activation, _ in groups)
    drops = tuple(len(dropouts) for _, _, dropouts in groups)
    regs = tuple(dense.W.regularizer is not None for dense, _, _ in groups)
    kernel = "adam" if optimizer == "adamw" else optimizer
    return (codes, biases, drops, regs, tuple(skips), pieces, loss, optimizer, kernel,
            _stepgen.OPTIMIZERS[kernel][1])


def _plain_penalty(regularizer) -> bool:
    """None, or a regularizer whose penalty is the elastic net of its l1 and l2 (not overridden)."""
    from nnkit.regularizers import Regularizer

    return regularizer is None or (
        isinstance(regularizer, Regularizer)
        and type(regularizer).penalty_and_gradient is Regularizer.penalty_and_gradient)


def _emitted(layer, logits_layer) -> str:
    """The activation a Dense or Activation layer applies: linear where it hands out logits."""
    return "linear" if layer is logits_layer else layer.activation


def _logits_layer(model):
    """The output layer where the model hands its loss the logits, else None."""
    return model.layers[-1] if model._fused is not None else None


def _groups(layers, logits_layer=None):
    """(groups, skips) for a stack of Dense, Maxout, Activation, Dropout, Flatten and Residual
    layers that starts with a Dense, a Maxout or a Residual, else None. groups: [(Dense or Maxout,
    its activation ("maxout" for a Maxout), [the Dropout layers of rate > 0 after it])] in forward
    order; skips: [(first, last)] per Residual block, the indices of its first and last group: the
    block's input is added to the output of ``last``.

    An Activation right after a linear Dense (Keras' ``Dense(64), Activation("relu")``) is that
    Dense's activation: the per-layer path computes the same z + b, then f, and backwards the same
    f' and the same bias-gradient sum. A Flatten is left out: before the first Dense the step
    reshapes the batch itself (a view), and after a Dense its input is already flat. So is a rate-0
    Dropout, the identity, which draws no numbers in the per-layer path either. A Residual block
    holds such a stack (no Residual inside); after it comes a Dense or nothing, since an
    Activation or a Dropout there acts on the sum, not on the block's last Dense.
    """
    groups, skips = [], []
    if not _chain(layers, groups, skips, False, logits_layer) or not groups:
        return None
    return groups, skips


def _chain(layers, groups, skips, nested, logits_layer) -> bool:
    """Append ``layers`` to groups and skips (see ``_groups``); False where they do not fit."""
    from nnkit.layers.activation import Activation
    from nnkit.layers.dense import Dense
    from nnkit.layers.dropout import Dropout
    from nnkit.layers.flatten import Flatten
    from nnkit.layers.maxout import Maxout
    from nnkit.layers.residual import Residual

    open_group = bool(groups) and not (skips and skips[-1][1] == len(groups) - 1)
    for layer in layers:
        kind = type(layer)
        if kind is Flatten or (kind is Dropout and layer.rate == 0.0):
            continue
        if kind is Dense and len(layer.input_shape) != 1:
            return False  # a Dense acting on the last axis of images: the per-layer path
        if kind is Dense:
            groups.append((layer, _emitted(layer, logits_layer), []))
            open_group = True
        elif kind is Maxout:
            groups.append((layer, "maxout", []))
            open_group = True
        elif kind is Activation:
            if not open_group or groups[-1][2] or groups[-1][1] != "linear":
                return False  # after a dropout, another activation or a block: not one epilogue
            groups[-1] = (groups[-1][0], _emitted(layer, logits_layer), [])
        elif kind is Dropout:
            if not open_group:
                return False
            groups[-1][2].append(layer)
        elif kind is Residual and not nested:
            first = len(groups)
            if not _chain(layer.inner.layers, groups, skips, True, logits_layer) or len(groups) == first:
                return False
            if groups[first][0] is not _first_dense(layer.inner.layers):
                return False  # the block starts with a dropout or an activation, not a Dense
            skips.append((first, len(groups) - 1))
            open_group = False
        else:
            return False
    return True


def _first_dense(layers):
    """The first of ``layers`` that acts (not a Flatten or a rate-0 Dropout); None if none does."""
    from nnkit.layers.dropout import Dropout
    from nnkit.layers.flatten import Flatten

    for layer in layers:
        if type(layer) is Flatten or (type(layer) is Dropout and layer.rate == 0.0):
            continue
        return layer
    return None


class CompiledStep:
    """``step(xb, yb) -> (loss, out)``: one whole training step of ``model`` in one compiled call;
    ``out`` is what the layer stack returns (logits where the model fuses its output activation),
    in a buffer reused by the next batch."""

    def __init__(self, model, spec):
        codes, biases, drops, regs, skips, pieces, loss, optimizer, kernel, n_states = spec
        self.model = model
        groups, self.skips = _groups(model.layers, _logits_layer(model))
        self.layers = [dense for dense, _, _ in groups]
        self.dropouts = [d for _, _, dropouts in groups for d in dropouts]
        self.params = model.parameters()
        self.optimizer = model.optimizer
        self.codes, self.biases, self.opt_name, self.n_states = codes, biases, optimizer, n_states
        self.dtype = np.dtype(model.dtype)
        self.T = self.dtype.type
        self.sparse = loss.startswith("sparse_")
        self.drop_index = _stepgen.dropout_indices(drops)
        # (rate, scale) per dropout in the dtype, cast as the dropout kernel casts them; the rates
        # are read here, once per fit
        self.dr = np.array([v for d in self.dropouts for v in (d.rate, 1.0 / (1.0 - d.rate))],
                           dtype=self.dtype)
        # (l1, l2, 2 l2) per regularized kernel in the dtype, as the generic penalty op casts them
        self.regularizers = [dense.W.regularizer for dense in self.layers
                             if dense.W.regularizer is not None]
        self.rg = np.array([v for r in self.regularizers for v in (r.l1, r.l2, 2.0 * r.l2)],
                           dtype=self.dtype)
        self.drop_lead = (self.dr,) if self.dropouts else ()
        self.lead = self.drop_lead + ((self.rg,) if self.regularizers else ())
        self.pieces = pieces
        self.module = _stepgen.load_step((codes, biases, drops, regs, skips, pieces, loss, kernel,
                                          n_states))
        self.step = self.module.step
        self.loss_kernel = getattr(_jit, loss)
        self.opt_kernel = getattr(_jit, kernel + "_serial")
        self.buffers = {}
        self.outputs = {}
        self.uniforms = {}
        self.entries = {}
        self.hp = None
        self.hp_key = None
        self._bind()

    def _bind(self):
        """The parameters, their gradients and the optimizer's state, in the step's order."""
        opt, model = self.optimizer, self.model
        self.values = [p.value for p in self.params]
        for p in self.params:
            if p.id not in opt._state:
                opt._state[p.id] = opt._init_state(p.value, np)
            if p.grad is None or p.grad.shape != p.value.shape or p.grad.dtype != self.dtype \
                    or not p.grad.flags.c_contiguous or not p.grad.flags.writeable:
                p.grad = np.zeros_like(p.value)
        self.grads = [p.grad for p in self.params]
        opt._backend = model.backend
        self.state_dict = opt._state
        names = opt._state_names[:self.n_states]
        self.states = tuple(opt._state[p.id][name] for p in self.params for name in names)
        self.buffers.clear()

    def _stale(self):
        if self.optimizer._state is not self.state_dict:
            return True
        for p, v, g in zip(self.params, self.values, self.grads):
            if p.value is not v or p.grad is not g:
                return True
        return False

    def _args_for(self, n):
        """Everything the step takes after (x, labels or target, hp) for a batch of n rows."""
        args = self.buffers.get(n)
        if args is None:
            args, uniforms = [], []
            block_ends = {last for _, last in self.skips}
            for l, (layer, code, has_bias, index, pieces) in enumerate(zip(
                    self.layers, self.codes, self.biases, self.drop_index, self.pieces)):
                out = np.empty((n, layer.units), dtype=self.dtype)  # the shape a layer hands on
                if pieces:  # a: the pieces' products; y: their maxima
                    a, y = np.empty((n, layer.units * pieces), dtype=self.dtype), out
                else:
                    a = out
                    y = a if code == _jit.LINEAR else np.empty_like(a)
                args += [layer.W.value, layer.W.grad, a, y, np.empty_like(out)]
                if has_bias:
                    args += [layer.b.value, layer.b.grad]
                if pieces:  # the winning pieces, and the gradient at the pieces
                    args += [np.empty(out.shape, dtype=np.int64), np.empty_like(a)]
                for _ in index:
                    u, y = np.empty_like(out), np.empty_like(out)
                    args += [u, y]
                    uniforms.append(u)
                if l in block_ends:  # the block's sum, and the gradient at it
                    y = np.empty_like(out)
                    args += [y, np.empty_like(out)]
            self.outputs[n] = y
            self.uniforms[n] = uniforms
            args = self.buffers[n] = tuple(args) + self.states
        return args

    def _draw(self, n):
        """Each dropout's uniforms for this batch, in layer order, from its backend's generator
        (read per step: fit reseeds by replacing it)."""
        for layer, u in zip(self.dropouts, self.uniforms[n]):
            layer.backend.rng.random(dtype=self.T, out=u)

    def _hyperparameters(self):
        opt = self.optimizer
        lr_setting = opt._lr
        t = opt.iterations + 1
        # SGD's and RMSprop's hyperparameters do not depend on the step: reuse them while the
        # rate is the same constant
        if self.hp is not None and self.opt_name in ("sgd", "rmsprop") \
                and not callable(lr_setting) and lr_setting == self.hp_key:
            return self.hp, t
        lr = opt.current_lr
        self.hp_scalars = _hyper(self.opt_name, opt, self.T, lr, t)
        self.hp = np.asarray(self.hp_scalars, dtype=self.dtype)
        self.hp_key = lr_setting
        return self.hp, t

    def _inputs(self, xb, yb):
        if self._stale():
            self._bind()
        if xb.dtype != self.dtype or not xb.flags.c_contiguous or not xb.flags.writeable:
            xb = np.array(xb, dtype=self.dtype, order="C")
        if xb.ndim > 2:  # the model's leading Flatten
            xb = xb.reshape(xb.shape[0], -1)
        if self.sparse:
            y = yb if yb.dtype == np.int64 and yb.flags.c_contiguous \
                else np.ascontiguousarray(yb, dtype=np.int64)
        else:
            y = yb
            if yb.dtype != self.dtype or not yb.flags.c_contiguous or not yb.flags.writeable:
                y = np.array(yb, dtype=self.dtype, order="C")
        return xb, y

    def __call__(self, xb, yb):
        xb, y = self._inputs(xb, yb)
        n = xb.shape[0]
        rest = self._args_for(n)
        hp, t = self._hyperparameters()
        if self.dropouts:
            self._draw(n)
        entry = self.entries.get(n)
        if entry is None:
            entry = self.entries[n] = _entry_point(self.step, (xb, y, hp) + self.lead + rest)
        loss = entry(xb, y, hp, *self.lead, *rest)
        self.optimizer.iterations = t
        return self.T(loss), self.outputs[n]


class LayeredStep(CompiledStep):
    """The same step for bigger networks, driven from Python: the matrix products run through
    np.matmul (NumPy's own OpenBLAS, the one pool the rest of the process uses) into buffers
    allocated once per batch size, and each product's epilogue (bias + activation forward,
    activation backward + bias gradient), the loss and the updates run as compiled kernels. A
    dozen calls per step cost microseconds, nothing next to the products of such networks."""

    def _layers_for(self, n):
        """Per layer (W, dW, a, y, d, b, db, fwd, bwd, updates, out, fwd_extra, bwd_extra) for a
        batch of n rows; updates: the flat (parameter, gradient, *state) of each of the layer's
        parameters; out: what the layer hands the next one (its last dropout's output, else y);
        *_extra: the dropouts' arguments of its fwd and bwd."""
        layers = self.buffers.get(("layers", n))
        if layers is None:
            args, layers, k, q = self._args_for(n), [], 0, 0
            for l, has_bias in enumerate(self.biases):
                W, dW, a, y, d = args[k:k + 5]
                b, db = (args[k + 5], args[k + 6]) if has_bias else (a[0, :0], a[0, :0])
                k += 7 if has_bias else 5
                drop_args = args[k:k + 2 * len(self.drop_index[l])]
                k += len(drop_args)
                out = drop_args[-1] if drop_args else y
                fwd_extra = self.drop_lead + drop_args if drop_args else ()
                bwd_extra = self.drop_lead + drop_args[0::2] if drop_args else ()
                updates = []
                for w, g in ((W, dW), (b, db))[:1 + has_bias]:
                    state = self.states[q * self.n_states:(q + 1) * self.n_states]
                    updates.append(tuple(v.reshape(-1) for v in (w, g) + state))
                    q += 1
                layers.append((W, dW, a, y, d, b, db, getattr(self.module, f"fwd{l}"),
                               getattr(self.module, f"bwd{l}"), updates, out, fwd_extra,
                               bwd_extra))
            self.buffers[("layers", n)] = layers
        return layers

    def __call__(self, xb, yb):
        xb, y = self._inputs(xb, yb)
        n = xb.shape[0]
        layers = self._layers_for(n)
        _, t = self._hyperparameters()
        if self.dropouts:
            self._draw(n)
        hp = self.hp_scalars
        matmul = np.matmul
        inp = xb
        for W, _, a, y_l, _, b, _, fwd, _, _, out, fwd_extra, _ in layers:
            matmul(inp, W, out=a)
            fwd(a, b, y_l, *fwd_extra)
            inp = out
        loss = self.loss_kernel(out, y, layers[-1][4])
        update = self.opt_kernel
        penalties = []
        for l in range(len(layers) - 1, -1, -1):
            W, dW, a, y_l, d, b, db, _, bwd, updates, _, _, bwd_extra = layers[l]
            bwd(a, y_l, d, db, *bwd_extra)
            matmul((xb if l == 0 else layers[l - 1][10]).T, d, out=dW)
            if self.layers[l].W.regularizer is not None:  # before the update, as in the one-call step
                k = 3 * (len(self.regularizers) - 1 - len(penalties))
                penalties.append(_jit.elastic_net(W.reshape(-1), dW.reshape(-1), *self.rg[k:k + 3]))
            if l > 0:
                matmul(d, W.T, out=layers[l - 1][4])
            # the update runs once the gradients exist and the input gradient has used the old W
            for flat in updates:
                update(*flat, *hp)
        if penalties:
            in_order = penalties[::-1]  # summed in layer order, as the per-layer path sums them
            loss = loss + sum(in_order[1:], in_order[0])
        self.optimizer.iterations = t
        return self.T(loss), out


def _entry_point(step, args):
    """The compiled step for these argument types; calling it skips the dispatcher's type
    resolution on every step."""
    from numba import typeof

    return step.compile(tuple(typeof(a) for a in args))


def make_train_step(model):
    """A compiled ``step(xb, yb) -> (loss, out)`` for ``model``, or None where the per-layer path
    must run (see ``plan``)."""
    spec = plan(model)
    if spec is None:
        return None
    groups, skips = _groups(model.layers, _logits_layer(model))
    macs = sum(dense.W.value.size for dense, _, _ in groups)
    if macs <= MAX_MACS_PER_SAMPLE:
        return CompiledStep(model, spec)
    # big networks spend their time in the products, where the per-layer path runs as fast: the
    # layered step leaves Residual blocks and Maxout layers to it
    maxout = any(activation == "maxout" for _, activation, _ in groups)
    return None if skips or maxout else LayeredStep(model, spec)
