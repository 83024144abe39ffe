"""Activation kernels: bias + activation forward, activation backward with the bias gradient,
and every named activation, each with its generic op's signature (``xp`` is ignored)."""

from __future__ import annotations

import numpy as np

from nnkit.ops import activations as _generic
from nnkit._kernels.numba import _jit
from nnkit._kernels._arrays import all_plain, as_rows, is_plain
from nnkit._kernels.numba._threads import use_parallel

CODES = {name: i for i, name in enumerate(_generic.ACTIVATION_NAMES)}
assert CODES["softmax"] == _jit.SOFTMAX and CODES["relu"] == _jit.RELU  # the codes _jit.py uses


def bias_activation(z, b, name, *, xp):
    """a = z + b, y = f(a); returns (a, y). ``a`` is computed in the buffer of ``z``."""
    code = CODES.get(name)
    if code is None or z.ndim != 2 or not is_plain(z) or not z.flags.writeable or (
            b is not None and (not is_plain(b) or b.dtype != z.dtype or b.shape != (z.shape[1],))):
        return _generic.bias_activation(z, b, name, xp=xp)
    y = z if code == _jit.LINEAR else np.empty_like(z)
    has_bias = b is not None
    bias = b if has_bias else z[0, :0]
    if use_parallel("rowwise", z.size):
        _jit.bias_activation_parallel(z, bias, y, has_bias, code)
    else:
        _jit.bias_activation_serial(z, bias, y, has_bias, code)
    return z, y


def bias_activation_backward(dy, a, y, name, with_bias=True, *, xp):
    """da = dy * f'(a), db = sum over rows of da (None without a bias), in one pass."""
    code = CODES.get(name)
    if code is None or a.ndim != 2 or not all_plain(a, dy, y):
        return _generic.bias_activation_backward(dy, a, y, name, with_bias, xp=xp)
    if code == _jit.LINEAR:
        da = dy  # as the generic op: linear_backward returns dy itself
        if not with_bias:
            return da, None
        db = np.empty(a.shape[1], dtype=a.dtype)
        _jit.column_sum(da, db)
        return da, db
    da = np.empty_like(a)
    if use_parallel("rowwise", a.size):
        _jit.bias_activation_backward_parallel(dy, a, y, da, code)
        db = None
        if with_bias:
            db = np.empty(a.shape[1], dtype=a.dtype)
            _jit.column_sum(da, db)
        return da, db
    db = np.empty(a.shape[1], dtype=a.dtype) if with_bias else a[0, :0]
    _jit.bias_activation_backward_serial(dy, a, y, da, db, with_bias, code)
    return da, (db if with_bias else None)


def activation(x, name, *, xp):
    """y = f(x) for the activation called ``name``."""
    code = CODES.get(name)
    if code is None or x.ndim < 1 or not is_plain(x):
        return _generic.activation(x, name, xp=xp)
    if code == _jit.LINEAR:
        return x
    y = np.empty_like(x)
    x2, y2 = as_rows(x), as_rows(y)
    if use_parallel("rowwise", x.size):
        _jit.activation_parallel(x2, y2, code)
    else:
        _jit.activation_serial(x2, y2, code)
    return y


def activation_backward(dy, x, y, name, *, xp):
    """dx = dy * f'(x) for the activation called ``name`` (softmax: its Jacobian-vector product)."""
    code = CODES.get(name)
    if code is None or x.ndim < 1 or not all_plain(x, dy, y):
        return _generic.activation_backward(dy, x, y, name, xp=xp)
    if code == _jit.LINEAR:
        return dy
    dx = np.empty_like(x)
    args = (as_rows(dy), as_rows(x), as_rows(y), as_rows(dx), code)
    if use_parallel("rowwise", x.size):
        _jit.activation_backward_parallel(*args)
    else:
        _jit.activation_backward_serial(*args)
    return dx


def _named(name):
    """The kernels of one named activation: ``f(x, *, xp)`` and ``f_backward(dy, x, y, *, xp)``."""
    generic_forward, generic_backward = _generic.ACTIVATIONS[name]

    def forward(x, *, xp):
        return activation(x, name, xp=xp)

    def backward(dy, x, y, *, xp):
        return activation_backward(dy, x, y, name, xp=xp)

    for fn, generic in ((forward, generic_forward), (backward, generic_backward)):
        fn.__name__ = fn.__qualname__ = generic.__name__
        fn.__doc__ = generic.__doc__
    return forward, backward


NAMED = {}
for _name in _generic.ACTIVATION_NAMES:
    _forward, _backward = _named(_name)
    NAMED[_forward.__name__] = _forward
    NAMED[_backward.__name__] = _backward

KERNELS = {
    "bias_activation": bias_activation,
    "bias_activation_backward": bias_activation_backward,
    "activation": activation,
    "activation_backward": activation_backward,
    **NAMED,
}
