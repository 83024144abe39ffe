"""Optimizer kernels for CuPy: every update in one pass over a parameter, in place (optim.cu).

Hyperparameters are combined on the host in double exactly as the generic ops combine their
Python floats (nnkit/ops/optim.py), then handed to the kernel in the parameter's precision, so
float32 parameters stay float32. Non-contiguous or non-CuPy state goes to the generic op, which
updates it in place as well.
"""

from __future__ import annotations

import math

import numpy as np

from nnkit.ops import optim as generic

from . import _loader

SOURCE = "optim.cu"
GROUP = _loader.register(SOURCE, [
    f"nnkit::{template}<{c}>"
    for template in ("sgd_update", "adagrad_update", "rmsprop_update", "adam_update", "adam_advance",
                     "adam_update_on_device")
    for c in ("float", "double")
])
# the flags of optim.cu
HAS_WEIGHT_DECAY, HAS_MOMENTUM, NESTEROV, CENTERED, DECOUPLED = 1, 2, 4, 8, 16
def _kernel(template: str, ctype: str):
    """The kernel nnkit::template<ctype> of optim.cu, on the current device."""
    return _loader.function(SOURCE, GROUP, f"nnkit::{template}<{ctype}>")


def _in_place_ok(w, g, *state) -> str | None:
    """The C type when every array is CuPy, of one float dtype and shape, state and W contiguous."""
    ctype = _loader.c_type(w, g, *state)
    if ctype is None or any(s.shape != w.shape for s in (g, *state)):
        return None
    if not all(a.flags.c_contiguous for a in (w, *state)):
        return None  # the kernel writes through flat indices
    return ctype


def sgd_update(w, g, v, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, xp):
    """SGD as torch.optim.SGD: g' = g + wd W; V = mu V + g'; W -= lr (g' + mu V) with Nesterov,
    else W -= lr V (W -= lr g' without momentum); one CUDA pass."""
    ctype = _in_place_ok(w, g, v)
    if ctype is None or not _loader.is_number(lr, momentum, weight_decay):
        return generic.sgd_update(w, g, v, lr=lr, momentum=momentum, nesterov=nesterov,
                                  weight_decay=weight_decay, xp=xp)
    real = _loader.REAL[ctype]
    flags = ((HAS_WEIGHT_DECAY if weight_decay else 0) | (HAS_MOMENTUM if momentum else 0)
             | (NESTEROV if momentum and nesterov else 0))
    _loader.launch_elementwise(_kernel("sgd_update", ctype), w.size, (
        w, _loader.contiguous(g), v, np.int64(w.size), real(lr), real(momentum), real(weight_decay),
        np.int32(flags)))


def adagrad_update(w, g, s, *, lr, step, lr_decay=0.0, weight_decay=0.0, eps=1e-10, xp):
    """Adagrad: g' = g + wd W; S += g'^2; W -= lr / (1 + (t - 1) decay) g' / (sqrt(S) + eps);
    one CUDA pass."""
    ctype = _in_place_ok(w, g, s)
    if ctype is None or not _loader.is_number(lr, step, lr_decay, weight_decay, eps):
        return generic.adagrad_update(w, g, s, lr=lr, step=step, lr_decay=lr_decay,
                                      weight_decay=weight_decay, eps=eps, xp=xp)
    real = _loader.REAL[ctype]
    clr = lr / (1.0 + (step - 1) * lr_decay)
    flags = HAS_WEIGHT_DECAY if weight_decay else 0
    _loader.launch_elementwise(_kernel("adagrad_update", ctype), w.size, (
        w, _loader.contiguous(g), s, np.int64(w.size), real(clr), real(eps), real(weight_decay),
        np.int32(flags)))


def rmsprop_update(w, g, sq, buf, g_avg, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                   momentum=0.0, centered=False, xp):
    """RMSprop: S = alpha S + (1 - alpha) g'^2; D = sqrt(S - G^2) + eps when centered, else
    sqrt(S) + eps; with momentum B = mu B + g'/D, W -= lr B; else W -= lr g'/D; one CUDA pass."""
    ctype = _in_place_ok(w, g, sq, buf, g_avg)
    if ctype is None or not _loader.is_number(lr, alpha, eps, weight_decay, momentum):
        return generic.rmsprop_update(w, g, sq, buf, g_avg, lr=lr, alpha=alpha, eps=eps,
                                      weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, xp=xp)
    real = _loader.REAL[ctype]
    flags = ((HAS_WEIGHT_DECAY if weight_decay else 0) | (HAS_MOMENTUM if momentum else 0)
             | (CENTERED if centered else 0))
    _loader.launch_elementwise(_kernel("rmsprop_update", ctype), w.size, (
        w, _loader.contiguous(g), sq, buf, g_avg, np.int64(w.size), real(lr), real(alpha),
        real(1.0 - alpha), real(eps), real(weight_decay), real(momentum), np.int32(flags)))


def _adam(w, g, m, v, ctype, lr, step, beta1, beta2, eps, weight_decay, flags):
    """Adam's step (AdamW's with DECOUPLED): step size and bias correction combined in double."""
    real = _loader.REAL[ctype]
    step_size = lr / (1.0 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    decay = 1.0 - lr * weight_decay
    _loader.launch_elementwise(_kernel("adam_update", ctype), w.size, (
        w, _loader.contiguous(g), m, v, np.int64(w.size), real(step_size), real(beta1),
        real(1.0 - beta1), real(beta2), real(1.0 - beta2), real(bias_correction2_sqrt), real(eps),
        real(weight_decay), real(decay), np.int32(flags)))


def adam_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, xp):
    """Adam as torch.optim.Adam: g' = g + wd W; M = b1 M + (1 - b1) g'; V = b2 V + (1 - b2) g'^2;
    W -= lr / (1 - b1^t) M / (sqrt(V) / sqrt(1 - b2^t) + eps); one CUDA pass."""
    ctype = _in_place_ok(w, g, m, v)
    if ctype is None or not _loader.is_number(lr, step, beta1, beta2, eps, weight_decay):
        return generic.adam_update(w, g, m, v, lr=lr, step=step, beta1=beta1, beta2=beta2, eps=eps,
                                   weight_decay=weight_decay, xp=xp)
    _adam(w, g, m, v, ctype, lr, step, beta1, beta2, eps, weight_decay,
          HAS_WEIGHT_DECAY if weight_decay else 0)


def adamw_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, xp):
    """AdamW as torch.optim.AdamW: W *= 1 - lr wd, then Adam's step on g; one CUDA pass."""
    ctype = _in_place_ok(w, g, m, v)
    if ctype is None or not _loader.is_number(lr, step, beta1, beta2, eps, weight_decay):
        return generic.adamw_update(w, g, m, v, lr=lr, step=step, beta1=beta1, beta2=beta2,
                                    eps=eps, weight_decay=weight_decay, xp=xp)
    _adam(w, g, m, v, ctype, lr, step, beta1, beta2, eps, weight_decay,
          DECOUPLED if weight_decay else 0)


def adam_state(lr: float, step: int = 0):
    """The device state of adam_update_on_device: [t, lr, step_size, bias_correction2_sqrt, decay]
    (float64); write its entry 1 between steps to change the learning rate."""
    state = _loader.cupy().zeros(5, dtype="float64")
    state[0], state[1] = float(step), float(lr)  # scalar fills, no host-to-device copy
    return state


def adam_update_on_device(w, g, m, v, state, *, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                          decoupled=False):
    """Adam's step (AdamW's when ``decoupled``) with t and lr in the device array ``state``
    (adam_state): t += 1, step size lr / (1 - b1^t) and sqrt(1 - b2^t) combined in double by one
    thread, then the update in place; two launches whose arguments never change from step to step,
    so they replay from a CUDA graph. The same arithmetic as adam_update(step=t)."""
    ctype = _in_place_ok(w, g, m, v)
    if ctype is None or _loader.c_type(state) != "double" or state.shape != (5,):
        raise TypeError("adam_update_on_device: expected CuPy arrays of one float dtype and shape, C-contiguous, "
                        "and a float64 state of 5 (adam_state)")
    real = _loader.REAL[ctype]
    _kernel("adam_advance", ctype)((1,), (1,), (state, np.float64(beta1), np.float64(beta2),
                                                 np.float64(weight_decay if decoupled else 0.0)))
    flags = (DECOUPLED if decoupled else HAS_WEIGHT_DECAY) if weight_decay else 0
    _loader.launch_elementwise(_kernel("adam_update_on_device", ctype), w.size, (
        w, _loader.contiguous(g), m, v, np.int64(w.size), state, real(beta1), real(1.0 - beta1), real(beta2),
        real(1.0 - beta2), real(eps), real(weight_decay), np.int32(flags)))


KERNELS = {
    "sgd_update": sgd_update,
    "adagrad_update": adagrad_update,
    "rmsprop_update": rmsprop_update,
    "adam_update": adam_update,
    "adamw_update": adamw_update,
}
