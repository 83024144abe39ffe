"""Optimizer kernels: each update is one pass over a parameter, in place, with the generic ops'
signatures and torch.optim's rules. Hyperparameters are cast to the parameter's dtype once per
call (the generic ops' Python floats do the same under NumPy's promotion rules)."""

from __future__ import annotations

import math

from nnkit.ops import optim as _generic
from nnkit._kernels.numba import _jit
from nnkit._kernels._arrays import all_plain
from nnkit._kernels.numba._threads import use_parallel


def _flat(*arrays):
    return tuple(a.reshape(-1) for a in arrays)


def _writable(*arrays):
    return all(a.flags.writeable for a in arrays)


def sgd_hyper(T, lr, momentum, nesterov, weight_decay):
    """The hyperparameters of one SGD step in the dtype T, in the kernel's order."""
    return T(lr), T(momentum), bool(nesterov), T(weight_decay)


def adagrad_hyper(T, lr, step, lr_decay, weight_decay, eps):
    return T(lr / (1.0 + (step - 1) * lr_decay)), T(weight_decay), T(eps)


def rmsprop_hyper(T, lr, alpha, eps, weight_decay, momentum, centered):
    return T(lr), T(alpha), T(1.0 - alpha), T(eps), T(weight_decay), T(momentum), bool(centered)


def adam_hyper(T, lr, step, beta1, beta2, eps, weight_decay, decoupled):
    """step size lr/(1 - b1^t), sqrt(1 - b2^t), the betas and 1 - betas, eps, coupled weight
    decay, and AdamW's factor 1 - lr wd."""
    coupled = 0.0 if decoupled else weight_decay
    factor = 1.0 - lr * weight_decay if decoupled and weight_decay else 1.0
    return (T(lr / (1.0 - beta1**step)), T(math.sqrt(1.0 - beta2**step)), T(beta1), T(1.0 - beta1),
            T(beta2), T(1.0 - beta2), T(eps), T(coupled), T(factor))


def sgd_update(w, g, v, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, xp):
    """SGD as torch.optim.SGD: g' = g + wd W; V = mu V + g'; W -= lr (g' + mu V) with Nesterov,
    else W -= lr V (W -= lr g' without momentum)."""
    if not all_plain(w, g, v) or not _writable(w, v):
        return _generic.sgd_update(w, g, v, lr=lr, momentum=momentum, nesterov=nesterov,
                                   weight_decay=weight_decay, xp=xp)
    kernel = _jit.sgd_parallel if use_parallel("optimizer", w.size) else _jit.sgd_serial
    kernel(*_flat(w, g, v), *sgd_hyper(w.dtype.type, lr, momentum, nesterov, weight_decay))


def adagrad_update(w, g, s, *, lr, step, lr_decay=0.0, weight_decay=0.0, eps=1e-10, xp):
    """Adagrad: g' = g + wd W; S += g'^2; W -= lr / (1 + (t - 1) decay) g' / (sqrt(S) + eps)."""
    if not all_plain(w, g, s) or not _writable(w, s):
        return _generic.adagrad_update(w, g, s, lr=lr, step=step, lr_decay=lr_decay,
                                       weight_decay=weight_decay, eps=eps, xp=xp)
    kernel = _jit.adagrad_parallel if use_parallel("optimizer", w.size) else _jit.adagrad_serial
    kernel(*_flat(w, g, s), *adagrad_hyper(w.dtype.type, lr, step, lr_decay, weight_decay, eps))


def rmsprop_update(w, g, sq, buf, g_avg, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                   momentum=0.0, centered=False, xp):
    """RMSprop: S = alpha S + (1 - alpha) g'^2; D = sqrt(S - G^2) + eps when centered, else
    sqrt(S) + eps; with momentum B = mu B + g'/D, W -= lr B; else W -= lr g'/D."""
    if not all_plain(w, g, sq, buf, g_avg) or not _writable(w, sq, buf, g_avg):
        return _generic.rmsprop_update(w, g, sq, buf, g_avg, lr=lr, alpha=alpha, eps=eps,
                                       weight_decay=weight_decay, momentum=momentum,
                                       centered=centered, xp=xp)
    kernel = _jit.rmsprop_parallel if use_parallel("optimizer", w.size) else _jit.rmsprop_serial
    kernel(*_flat(w, g, sq, buf, g_avg),
           *rmsprop_hyper(w.dtype.type, lr, alpha, eps, weight_decay, momentum, centered))


def _adam(w, g, m, v, lr, step, beta1, beta2, eps, weight_decay, decoupled):
    kernel = _jit.adam_parallel if use_parallel("optimizer", w.size) else _jit.adam_serial
    kernel(*_flat(w, g, m, v),
           *adam_hyper(w.dtype.type, lr, step, beta1, beta2, eps, weight_decay, decoupled))


def adam_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, xp):
    """Adam as torch.optim.Adam: g' = g + wd W; M = b1 M + (1 - b1) g'; V = b2 V + (1 - b2) g'^2;
    W -= lr / (1 - b1^t) M / (sqrt(V) / sqrt(1 - b2^t) + eps)."""
    if not all_plain(w, g, m, v) or not _writable(w, m, v):
        return _generic.adam_update(w, g, m, v, lr=lr, step=step, beta1=beta1, beta2=beta2,
                                    eps=eps, weight_decay=weight_decay, xp=xp)
    _adam(w, g, m, v, lr, step, beta1, beta2, eps, weight_decay, False)


def adamw_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, xp):
    """AdamW as torch.optim.AdamW: W *= 1 - lr wd, then Adam's step on g."""
    if not all_plain(w, g, m, v) or not _writable(w, m, v):
        return _generic.adamw_update(w, g, m, v, lr=lr, step=step, beta1=beta1, beta2=beta2,
                                     eps=eps, weight_decay=weight_decay, xp=xp)
    _adam(w, g, m, v, lr, step, beta1, beta2, eps, weight_decay, True)


KERNELS = {fn.__name__: fn for fn in (sgd_update, adagrad_update, rmsprop_update, adam_update,
                                      adamw_update)}
