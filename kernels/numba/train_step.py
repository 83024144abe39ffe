"""Compiled training steps for a Sequential of Dense, Maxout, Activation, Dropout, Flatten and
Residual layers.

``make_train_step(model)`` returns ``step(xb, yb) -> (loss, out)`` running the forward pass, the
loss, the backward pass and the optimizer update, or None where the per-layer path runs instead.
The model is read through its step table (``model.step_table()``) and the optimizer's public
state API, never through layer classes or private attributes. Small networks (at most
``MAX_MACS_PER_SAMPLE``) get one @njit call per batch: there per-step Python overhead, not
arithmetic, is the cost. A plain Dense stack gets ``TableStep``, one step per (loss, optimizer,
dtype, activation family: the common ones, or any) walking a table of its layers, so a new
architecture compiles nothing; the others
(Dropout, Maxout, Residual, penalties) get ``CompiledStep``, code generated for the model's
layers, loss and optimizer (``_stepgen``), so only those compile. Bigger ones get
``LayeredStep``: np.matmul with the compiled epilogues (Residual and Maxout: the former only).
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

# Whether a plain Dense stack gets TableStep (a new architecture compiles nothing) instead of the
# step generated for it. Its layer epilogues loop per activation (K.layer_forward and
# K.layer_backward), so it runs as fast as the generated step: measured under the cpu lock,
# float32, SGD, one process interleaved, median of 11 blocks (us per step, table / generated):
# W1 7.01 / 7.51, W2 26.9 / 27.8; first fit of a new architecture on a warm cache 0.35-0.5 s
# against 3.3-3.5 s. Cold (empty NUMBA_CACHE_DIR), the first fit of a 2-8-8-1 tanh / sigmoid-BCE
# model: 3.27 s (median of 5; 4.71 s while the epilogues held the other activations' loops).
# The generated step remains for what the table does not hold (Dropout,
# Maxout, Residual blocks, kernel penalties).
PREFER_TABLE_STEP = True


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
    """(the step's spec (see ``_stepgen``), None) when ``model`` can run a compiled step, else
    (None, why): the model's step table (``model.step_table()``: Dense and Maxout layers with the
    Activation, Dropout, Flatten and Residual layers around them, plain L1/L2 kernel penalties) on
    the numba backend's host arrays, in float32 or float64, with a loss and an optimizer update
    the step implements."""
    table = model.step_table()
    if table.why is not None:
        return None, table.why
    groups, skips, loss = table.groups, table.skips, table.loss_op
    if np.dtype(model.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return None, f"the dtype {model.dtype} (the step takes float32 and float64)"
    if any(getattr(model.optimizer, k, None) is not None for k in ("clipnorm", "clipvalue", "global_clipnorm")):
        return None, "gradient clipping, which the compiled update does not do"
    optimizer = None if model.optimizer is None else model.optimizer.fused_update
    if loss not in LOSSES:
        return None, f"the loss op {loss!r}, which the step does not implement"
    if optimizer is None:
        return None, f"the optimizer {type(model.optimizer).__name__}, whose update the step does not implement"
    for p in model.parameters():
        v = p.value
        if type(v) is not np.ndarray or v.dtype != model.dtype or not v.flags.c_contiguous \
                or not v.flags.writeable:
            return None, f"the parameter {p.name!r} is not a writeable C-contiguous array of the model's dtype"
    codes = tuple(CODES["linear" if activation == "maxout" else activation]
                  for _, activation, _ in groups)
    biases = tuple(dense.b is not None for dense, _, _ in groups)
    pieces = tuple(dense.pieces if activation == "maxout" else 0 for dense, activation, _ in groups)
    drops = tuple(len(dropouts) for _, _, dropouts in groups)
    regs = tuple(dense.W.regularizer is not None for dense, _, _ in groups)
    kernel = "adam" if optimizer == "adamw" else optimizer
    return (codes, biases, drops, regs, tuple(skips), pieces, loss, optimizer, kernel,
            _stepgen.OPTIMIZERS[kernel][1]), None


class CompiledStep:
    """``step(xb, yb) -> (loss, out)``: one whole training step of ``model`` in one compiled call;
    ``out`` is what the layer stack returns (logits where the model fuses its output activation),
    in a buffer reused by the next batch."""

    path = "one call generated for its layers (Dropout, Maxout, Residual or penalties)"

    def __init__(self, model, spec):
        codes, biases, drops, regs, skips, pieces, loss, optimizer, kernel, n_states = spec
        self.model = model
        table = model.step_table()
        groups, self.skips = table.groups, table.skips
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
        opt.to(model.backend)
        for p in self.params:
            if p.grad is None or p.grad.shape != p.value.shape or p.grad.dtype != self.dtype \
                    or not p.grad.flags.c_contiguous or not p.grad.flags.writeable:
                p.grad = np.zeros_like(p.value)
        self.grads = [p.grad for p in self.params]
        flats = getattr(model, "flat_buffers", None)
        self.flat_list = flats if flats and all(p.flat is not None for p in self.params) else None
        names = opt.state_names[:self.n_states]
        self.states = tuple(opt.state_of(p, np)[name] for p in self.params for name in names)
        self.state_version = opt.state_version
        self.buffers.clear()

    def _stale(self):
        if self.optimizer.state_version != self.state_version:
            return True
        if self.flat_list is not None:  # views of flat buffers stay put while the buffers do
            return self.model.flat_buffers is not self.flat_list
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
        """Each dropout's uniforms for this batch, in layer order, from its model's stream
        (read per step: fit reseeds by replacing it)."""
        for layer, u in zip(self.dropouts, self.uniforms[n]):
            (layer.backend.rng if layer.stream is None else layer.stream).random(dtype=self.T, out=u)

    def _hyperparameters(self):
        opt = self.optimizer
        lr_setting = opt.lr
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


class TableStep(CompiledStep):
    """The one-call step of a plain Dense stack (no Dropout, Maxout, Residual or penalty) whose
    parameters live in one flat buffer: the compiled step walks a table of the layers (see
    ``_stepgen.TABLE_STEP``), one module per (loss, optimizer) and whether a layer's activation
    is one of the less common ones (``_jit.layer_forward_any``), compiled once per dtype, so a new
    architecture compiles nothing; each layer's update runs on its slice of the buffer."""

    path = "one call walking a table of its Dense layers (compiled once per loss and optimizer)"

    def __init__(self, model, spec):
        codes, biases, _, _, _, _, loss, optimizer, kernel, n_states = spec
        self.model, self.optimizer, self.opt_name = model, model.optimizer, optimizer
        self.params = model.parameters()
        self.layers = [dense for dense, _, _ in model.step_table().groups]
        self.dtype = np.dtype(model.dtype)
        self.T = self.dtype.type
        self.sparse = loss.startswith("sparse_")
        self.n_states = n_states
        any_activation = any(code not in _jit.COMMON_CODES for code in codes)
        self.step = _stepgen.load_table_step(loss, kernel, any_activation).step
        self.codes, self.biases = codes, biases
        self.buffers, self.entries = {}, {}
        self.hp = self.hp_key = None
        self.no_bias = np.empty((0,), dtype=self.dtype)
        self._bind()

    def _bind(self):
        """The flat buffer, the optimizer's flat state and the layer table."""
        (self.flat,) = self.model.flat_buffers
        opt = self.optimizer
        opt.to(self.model.backend)
        arrays = opt.flat_states(self.flat, self.params, np)
        self.states = tuple(arrays[name] for name in opt.state_names[:self.n_states])
        self.state_version = opt.state_version
        rows = []
        for dense, code in zip(self.layers, self.codes):
            k, m = dense.W.shape
            rows.append((k, m, code, dense.W.span[0], -1 if dense.b is None else dense.b.span[0]))
        self.table = np.array(rows, dtype=np.int64)
        self.buffers.clear()

    def _stale(self):
        flats = self.model.flat_buffers
        return (len(flats) != 1 or flats[0] is not self.flat
                or self.optimizer.state_version != self.state_version)

    def _args_for(self, n):
        """(a, y, d) buffers for a batch of n rows, and the output: a view of the last layer's."""
        args = self.buffers.get(n)
        if args is None:
            size = n * int(self.table[:, 1].sum())
            a, y, d = (np.empty((size,), dtype=self.dtype) for _ in range(3))
            m, code = int(self.table[-1, 1]), int(self.table[-1, 2])
            tail = (self.table, self.flat.value, self.flat.grad) + self.states + (a, y, d, self.no_bias)
            out = a if code == _jit.LINEAR else y  # a linear layer hands on its products
            args = self.buffers[n] = (tail, out[size - n * m:].reshape(n, m))
        return args

    def __call__(self, xb, yb):
        xb, y = self._inputs(xb, yb)
        n = xb.shape[0]
        tail, out = self._args_for(n)
        hp, t = self._hyperparameters()
        entry = self.entries.get(n)
        if entry is None:
            entry = self.entries[n] = _entry_point(self.step, (xb, y, hp) + tail)
        loss = entry(xb, y, hp, *tail)
        self.optimizer.iterations = t
        return self.T(loss), out


class LayeredStep(CompiledStep):
    """The same step for bigger networks, driven from Python: the matrix products run through
    np.matmul (NumPy's own OpenBLAS, the one pool the rest of the process uses) into buffers
    allocated once per batch size, and each product's epilogue (bias + activation forward,
    activation backward + bias gradient), the loss and the updates run as compiled kernels. A
    dozen calls per step cost microseconds, nothing next to the products of such networks."""

    path = "np.matmul per layer with compiled epilogues (a big network)"

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


def refusal(model) -> str | None:
    """Why ``model`` runs no compiled step (None where it does)."""
    return plan(model)[1]


def make_train_step(model):
    """A compiled ``step(xb, yb) -> (loss, out)`` for ``model``, or None where the per-layer path
    must run (see ``plan``)."""
    spec, _ = plan(model)
    if spec is None:
        return None
    table = model.step_table()
    groups, skips = table.groups, table.skips
    macs = sum(dense.W.value.size for dense, _, _ in groups)
    if macs <= MAX_MACS_PER_SAMPLE:
        codes, biases, drops, regs, skips_, pieces = spec[:6]
        plain = not any(drops) and not any(regs) and not skips_ and not any(pieces)
        if PREFER_TABLE_STEP and plain and len(model.flat_buffers) == 1 \
                and model.flat_buffers[0].holds(model.parameters()):
            return TableStep(model, spec)
        return CompiledStep(model, spec)
    # big networks spend their time in the products, where the per-layer path runs as fast: the
    # layered step leaves Residual blocks and Maxout layers to it
    maxout = any(activation == "maxout" for _, activation, _ in groups)
    return None if skips or maxout else LayeredStep(model, spec)
