"""Activation kernels for CuPy: bias + activation forward, and activation backward with the
bias-gradient column sum, one pass each (activations.cu).

Each function has its op's signature (nnkit/ops/activations.py) and falls back to the generic op
for what the .cu does not cover: softmax (a row-wise op), non-float or mixed dtypes, non-CuPy
arrays and shapes the fused kernel does not take.
"""

from __future__ import annotations

import numpy as np

from nnkit.ops import activations as generic

from . import _loader

SOURCE = "activations.cu"
# the enum of activations.cu; softmax has none: it is row-wise and stays generic
ACTIVATION_IDS = {
    "step": 0, "linear": 1, "sigmoid": 2, "tanh": 3, "relu": 4,
    "leaky_relu": 5, "elu": 6, "softplus": 7, "gelu": 8, "silu": 9,
}
TEMPLATES = ("activation_forward", "bias_activation_forward", "activation_backward",
             "bias_activation_backward")
BIAS_GRAD_ROWS = 16  # NNKIT_BIAS_GRAD_ROWS of activations.cu


def _group(name: str) -> tuple[str, ...]:
    """The name expressions of one activation: compiled together when it is first used."""
    act = ACTIVATION_IDS[name]
    return tuple(f"nnkit::{t}<{c}, {act}>" for t in TEMPLATES for c in ("float", "double"))


GROUPS = {name: _loader.register(SOURCE, _group(name)) for name in ACTIVATION_IDS}
def _kernel(template: str, ctype: str, name: str):
    """The kernel nnkit::template<ctype, ACT> of activation ``name`` on the current device."""
    return _loader.function(SOURCE, GROUPS[name], f"nnkit::{template}<{ctype}, {ACTIVATION_IDS[name]}>")


def _forward(x, name, ctype):
    """y = f(x) by activation_forward."""
    x = _loader.contiguous(x)
    y = _loader.empty_like(x)
    _loader.launch_elementwise(_kernel("activation_forward", ctype, name), x.size, (x, y, np.int64(x.size)))
    return y


def _backward(dy, x, y, name, ctype):
    """dx = dy * f'(x) by activation_backward."""
    dy, x, y = _loader.contiguous(dy), _loader.contiguous(x), _loader.contiguous(y)
    dx = _loader.empty_like(dy)
    _loader.launch_elementwise(_kernel("activation_backward", ctype, name), dy.size,
                               (dy, x, y, dx, np.int64(dy.size)))
    return dx


def _fused(name) -> bool:
    """Whether activations.cu has the activation called ``name`` (all but softmax)."""
    return isinstance(name, str) and name in ACTIVATION_IDS


def activation(x, name, *, xp):
    """y = f(x) for the activation called ``name``, one CUDA pass (softmax: the generic op)."""
    ctype = _loader.c_type(x)
    if ctype is None or not _fused(name) or name == "linear":
        return generic.activation(x, name, xp=xp)
    return _forward(x, name, ctype)


def activation_backward(dy, x, y, name, *, xp):
    """dx = dy * f'(x) for the activation called ``name``, one CUDA pass (softmax: generic)."""
    ctype = _loader.c_type(dy, x, y)
    if (ctype is None or not _fused(name) or name == "linear"
            or not dy.shape == x.shape == y.shape):
        return generic.activation_backward(dy, x, y, name, xp=xp)
    return _backward(dy, x, y, name, ctype)


def bias_activation(z, b, name, *, xp):
    """a = z + b (into z's buffer), y = f(a) in one CUDA pass; returns (a, y). ``b`` may be None
    (no bias)."""
    if b is None:
        return z, activation(z, name, xp=xp)
    ctype = _loader.c_type(z, b)
    if (ctype is None or not _fused(name) or z.ndim < 1 or z.size == 0
            or b.shape != (z.shape[-1],)):
        return generic.bias_activation(z, b, name, xp=xp)
    z, b = _loader.contiguous(z), _loader.contiguous(b)
    a = z  # in place: the op lets a kernel write a into z, which its callers no longer need
    y = a if name == "linear" else _loader.empty_like(z)  # linear: y is a, as in the generic op
    _loader.launch_elementwise(_kernel("bias_activation_forward", ctype, name), z.size,
                               (z, b, a, y, np.int64(z.size), np.int64(z.shape[-1])))
    return a, y


def bias_activation_backward(dy, a, y, name, with_bias=True, *, xp):
    """da = dy * f'(a), db = sum over rows of da (None without a bias), in one CUDA pass."""
    if not with_bias:
        return activation_backward(dy, a, y, name, xp=xp), None
    ctype = _loader.c_type(dy, a, y)
    if (ctype is None or not _fused(name) or dy.ndim != 2 or dy.size == 0
            or not dy.shape == a.shape == y.shape or dy.shape[0] >= 2**31):
        return generic.bias_activation_backward(dy, a, y, name, with_bias, xp=xp)
    n, m = dy.shape
    dy, a, y = _loader.contiguous(dy), _loader.contiguous(a), _loader.contiguous(y)
    da = dy if name == "linear" else _loader.empty_like(dy)  # linear: da is dy, as in the generic op
    db = _loader.empty((m,), dy.dtype)
    kernel = _kernel("bias_activation_backward", ctype, name)
    kernel(((m + 31) // 32,), (32, BIAS_GRAD_ROWS), (dy, a, y, da, db, np.int32(n), np.int32(m)))
    return da, db


def _make_forward(name):
    """The kernel of the op ``name``: y = f(x), signature (x, *, xp)."""
    def kernel(x, *, xp):
        ctype = _loader.c_type(x)
        if ctype is None:
            return generic.ACTIVATIONS[name][0](x, xp=xp)
        return _forward(x, name, ctype)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"{name} in one CUDA pass; the generic op: {generic.ACTIVATIONS[name][0].__doc__}"
    return kernel


def _make_backward(name):
    """The kernel of the op ``name``_backward: dx = dy f'(x), signature (dy, x, y, *, xp)."""
    def kernel(dy, x, y, *, xp):
        ctype = _loader.c_type(dy, x, y)
        if ctype is None or not dy.shape == x.shape == y.shape:
            return generic.ACTIVATIONS[name][1](dy, x, y, xp=xp)
        return _backward(dy, x, y, name, ctype)

    kernel.__name__ = kernel.__qualname__ = f"{name}_backward"
    kernel.__doc__ = (f"{name}_backward in one CUDA pass; the generic op: "
                      f"{generic.ACTIVATIONS[name][1].__doc__}")
    return kernel


# Each activation is also its own op; its kernel runs the same CUDA code as activation(x, name),
# so both give bit-identical results, as they do on the generic path. linear is the identity and
# stays generic.
_SINGLE = [n for n in ACTIVATION_IDS if n != "linear"]
KERNELS = {
    "activation": activation,
    "activation_backward": activation_backward,
    "bias_activation": bias_activation,
    "bias_activation_backward": bias_activation_backward,
    **{name: _make_forward(name) for name in _SINGLE},
    **{f"{name}_backward": _make_backward(name) for name in _SINGLE},
}
