"""The compiled training step: a Sequential of Dense layers trained in one @njit call per batch.

``make_train_step(model)`` returns ``step(xb, yb) -> (loss, out)`` running the forward pass, the
loss, the backward pass and the optimizer update without returning to Python (the same kernels
the per-layer path binds, composed in ``_jit.train_step``), or None where the model is not
eligible. On small networks per-step Python overhead, not arithmetic, is the cost, so this is
where the numba backend gains most; every buffer is allocated once per batch shape.
"""

from __future__ import annotations

import numpy as np

from nnkit._kernels.numba import _jit
from nnkit._kernels.numba.activations import CODES
from nnkit._kernels.numba.optim import adagrad_hyper, adam_hyper, rmsprop_hyper, sgd_hyper

LOSS_CODES = {
    "mse": _jit.MSE,
    "softmax_cross_entropy": _jit.SOFTMAX_CE,
    "sparse_softmax_cross_entropy": _jit.SPARSE_SOFTMAX_CE,
    "sigmoid_binary_cross_entropy": _jit.SIGMOID_BCE,
    "binary_cross_entropy": _jit.BCE,
    "categorical_cross_entropy": _jit.CCE,
    "sparse_categorical_cross_entropy": _jit.SPARSE_CCE,
}
SPARSE_LOSSES = (_jit.SPARSE_SOFTMAX_CE, _jit.SPARSE_CCE)


def _optimizer_code(optimizer):
    from nnkit import optimizers as opt

    # exact classes: a subclass may override _update, which this step would silently skip
    return {opt.SGD: _jit.SGD, opt.Adagrad: _jit.ADAGRAD, opt.RMSprop: _jit.RMSPROP,
            opt.Adam: _jit.ADAM, opt.AdamW: _jit.ADAMW}.get(type(optimizer))


def _hyper(code, o, T, lr, t):
    """The hyperparameters ``_jit._update`` reads for optimizer ``o`` at step t with rate lr."""
    if code == _jit.SGD:
        return sgd_hyper(T, lr, o.momentum, o.nesterov, o.weight_decay)
    if code == _jit.ADAGRAD:
        return adagrad_hyper(T, lr, t, o.lr_decay, o.weight_decay, o.eps)
    if code == _jit.RMSPROP:
        return rmsprop_hyper(T, lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.centered)
    return adam_hyper(T, lr, t, o.beta1, o.beta2, o.eps, o.weight_decay, code == _jit.ADAMW)


def plan(model):
    """(loss code, activation codes, optimizer code) when ``model`` can run the compiled step,
    else None: a Sequential of Dense layers on the numba backend, in float32 or float64, with a
    loss and an optimizer the step implements."""
    from nnkit.layers.dense import Dense

    layers = getattr(model, "layers", None)
    if not layers or not getattr(model, "built", False) or model.backend.name != "numba":
        return None
    if any(type(layer) is not Dense for layer in layers):
        return None
    if np.dtype(model.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return None
    if model.loss is None or model.optimizer is None:
        return None
    loss_code = LOSS_CODES.get(model.loss.op_name(model._fused is not None))
    opt_code = _optimizer_code(model.optimizer)
    if loss_code is None or opt_code is None:
        return None
    codes = [CODES["linear"] if layer.emit_logits else CODES[layer.activation] for layer in layers]
    for p in model.parameters():
        v = p.value
        if type(v) is not np.ndarray or v.dtype != model.dtype or not v.flags.c_contiguous \
                or not v.flags.writeable:
            return None
    return loss_code, np.asarray(codes, dtype=np.int64), opt_code


class CompiledStep:
    """``step(xb, yb) -> (loss, out)``: one whole training step of ``model`` in one compiled call;
    ``out`` is what the layer stack returns (logits where the model fuses its output activation),
    in a buffer reused by the next batch."""

    def __init__(self, model, loss_code, codes, opt_code):
        self.model = model
        self.layers = list(model.layers)
        self.params = model.parameters()
        self.optimizer = model.optimizer
        self.loss_code = loss_code
        self.codes = codes
        self.opt_code = opt_code
        self.dtype = np.dtype(model.dtype)
        self.T = self.dtype.type
        self.sparse = loss_code in SPARSE_LOSSES
        self.no_labels = np.zeros(1, dtype=np.int64)
        self.no_target = np.zeros((1, 1), dtype=self.dtype)
        self.bias_index = np.asarray(self._bias_index(), dtype=np.int64)
        self.buffers = {}
        self.entries = {}
        self.hp = None
        self.hp_key = None
        self._bind()

    def _bias_index(self):
        index, k = [], 0
        for layer in self.layers:
            k += 1
            if layer.use_bias:
                index.append(k)
                k += 1
            else:
                index.append(-1)
        return index

    def _bind(self):
        """Views of the parameters, their gradients and the optimizer's state for the kernel."""
        opt, model = self.optimizer, self.model
        self.values = [p.value for p in self.params]
        for p in self.params:
            if p.id not in opt._state:
                opt._state[p.id] = opt._init_state(p.value, np)
            if p.grad is None or p.grad.shape != p.value.shape or p.grad.dtype != self.dtype \
                    or not p.grad.flags.c_contiguous or not p.grad.flags.writeable:
                p.grad = np.zeros_like(p.value)
        opt._backend = model.backend
        self.state_dict = opt._state
        names = opt._state_names
        empty = np.zeros(0, dtype=self.dtype)
        slots = [[], [], []]
        for p in self.params:
            state = opt._state[p.id]
            for i in range(3):
                slots[i].append(_flat(state[names[i]]) if i < len(names) else empty)
        self.weights = tuple(layer.W.value for layer in self.layers)
        self.weight_grads = tuple(layer.W.grad for layer in self.layers)
        self.flat_params = tuple(_flat(p.value) for p in self.params)
        self.flat_grads = tuple(_flat(p.grad) for p in self.params)
        self.states = tuple(tuple(s) for s in slots)

    def _stale(self):
        if self.optimizer._state is not self.state_dict:
            return True
        for p, v in zip(self.params, self.values):
            if p.value is not v:
                return True
        return False

    def _buffers_for(self, n):
        buffers = self.buffers.get(n)
        if buffers is None:
            pre, post, deltas = [], [], []
            for layer, code in zip(self.layers, self.codes):
                a = np.empty((n, layer.units), dtype=self.dtype)
                pre.append(a)
                post.append(a if code == _jit.LINEAR else np.empty_like(a))
                deltas.append(np.empty_like(a))
            buffers = self.buffers[n] = (tuple(pre), tuple(post), tuple(deltas))
        return buffers

    def _hyperparameters(self):
        opt = self.optimizer
        lr_setting = opt._lr
        t = opt.iterations + 1
        # SGD's and RMSprop's hyperparameters do not depend on the step: reuse them while the
        # rate is the same constant
        if self.hp is not None and self.opt_code in (_jit.SGD, _jit.RMSPROP) \
                and not callable(lr_setting) and lr_setting == self.hp_key:
            return self.hp, t
        lr = opt.current_lr
        self.hp = np.asarray(_hyper(self.opt_code, opt, self.T, lr, t), dtype=self.dtype)
        self.hp_key = lr_setting
        return self.hp, t

    def __call__(self, xb, yb):
        if self._stale():
            self._bind()
        if xb.dtype != self.dtype or not xb.flags.c_contiguous or not xb.flags.writeable:
            xb = np.array(xb, dtype=self.dtype, order="C")
        if self.sparse:
            labels, target = np.ascontiguousarray(yb, dtype=np.int64), self.no_target
        else:
            labels, target = self.no_labels, yb
            if yb.dtype != self.dtype or not yb.flags.c_contiguous or not yb.flags.writeable:
                target = np.array(yb, dtype=self.dtype, order="C")
        pre, post, deltas = self._buffers_for(xb.shape[0])
        hp, t = self._hyperparameters()
        args = (xb, labels, target, self.loss_code, self.opt_code, self.weights, self.weight_grads,
                pre, post, deltas, self.codes, self.bias_index, self.flat_params, self.flat_grads,
                self.states[0], self.states[1], self.states[2], hp)
        entry = self.entries.get(xb.shape[0])
        if entry is None:
            entry = self.entries[xb.shape[0]] = _entry_point(args)
        loss = entry(*args)
        self.optimizer.iterations = t
        return self.T(loss), post[-1]


def _flat(a):
    return a.reshape(-1)


def _entry_point(args):
    """The compiled step for these arguments, the loss and optimizer codes typed as literals.

    Compiling for an explicit signature makes Numba prune the branches of the losses and
    optimizers not in use (each model compiles only its own), and calling the entry point skips
    the dispatcher's type resolution on every step.
    """
    from numba import typeof, types

    sig = [typeof(a) for a in args]
    sig[3], sig[4] = types.literal(args[3]), types.literal(args[4])
    return _jit.train_step.compile(tuple(sig))


def make_train_step(model):
    """A compiled ``step(xb, yb) -> (loss, out)`` for ``model``, or None where the per-layer path
    must run (see ``plan``)."""
    found = plan(model)
    if found is None:
        return None
    return CompiledStep(model, *found)
