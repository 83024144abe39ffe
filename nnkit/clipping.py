"""Gradient clipping for every optimizer: ``clipnorm``, ``clipvalue``, ``global_clipnorm``, as Keras 3.

- clipnorm=c: each gradient g becomes g c / max(||g||, c) (its own L2 norm at most c).
- global_clipnorm=c: every gradient is scaled by c / max(G, c), G the L2 norm of all of them
  together (torch.nn.utils.clip_grad_norm_ without its 1e-6 in the denominator).
- clipvalue=v: every entry is clipped to [-v, v].
Only one of clipnorm and global_clipnorm may be set; where clipvalue is set beside either, that one
applies and clipvalue does not (Keras 3's order). Clipping runs on the backend's arrays, after the
gradients are complete (regularizers and data-parallel reduction included), just before the update.
"""

from __future__ import annotations

import functools
import math

CLIP_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")


def _threshold(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}: expected None or a number > 0, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name}: expected None or a finite number > 0, got {value!r}")
    return x


def set_clipping(optimizer, clipnorm=None, clipvalue=None, global_clipnorm=None) -> None:
    """Check and store the three thresholds on ``optimizer``."""
    clipnorm = _threshold("clipnorm", clipnorm)
    clipvalue = _threshold("clipvalue", clipvalue)
    global_clipnorm = _threshold("global_clipnorm", global_clipnorm)
    if clipnorm is not None and global_clipnorm is not None:
        raise ValueError(f"Only one of clipnorm and global_clipnorm can be set; got clipnorm={clipnorm} "
                         f"and global_clipnorm={global_clipnorm}")
    optimizer.clipnorm, optimizer.clipvalue, optimizer.global_clipnorm = clipnorm, clipvalue, global_clipnorm


def clipping_config(optimizer) -> dict:
    """The thresholds that are set, for get_config."""
    return {k: getattr(optimizer, k, None) for k in CLIP_ARGUMENTS if getattr(optimizer, k, None) is not None}


def clips(optimizer) -> bool:
    """Whether ``optimizer`` changes gradients before its update."""
    return any(getattr(optimizer, k, None) is not None for k in CLIP_ARGUMENTS)


def accept_clipping_arguments(cls) -> None:
    """Let ``cls.__init__`` take clipnorm=, clipvalue=, global_clipnorm= beside its own arguments."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_takes_clipping", False):
        return

    @functools.wraps(init)
    def __init__(self, *args, clipnorm=None, clipvalue=None, global_clipnorm=None, **kwargs):
        init(self, *args, **kwargs)
        set_clipping(self, clipnorm, clipvalue, global_clipnorm)

    __init__._takes_clipping = True
    cls.__init__ = __init__


def _norm(g, xp):
    return xp.sqrt(xp.sum(g * g))


def clip_gradients(grads, xp, clipnorm=None, clipvalue=None, global_clipnorm=None) -> list:
    """The gradients ``grads`` (arrays of namespace ``xp``) clipped as the module docstring says."""
    if clipnorm is not None:
        out = []
        for g in grads:
            c = xp.asarray(clipnorm, dtype=g.dtype)
            out.append(g * (c / xp.maximum(_norm(g, xp), c)))
        return out
    if global_clipnorm is not None:
        if not grads:
            return []
        total = xp.sqrt(sum(xp.astype(xp.sum(g * g), xp.float64) for g in grads))
        c = xp.asarray(global_clipnorm, dtype=xp.float64)
        scale = c / xp.maximum(total, c)
        return [g * xp.astype(scale, g.dtype) for g in grads]
    if clipvalue is not None:
        return [xp.clip(g, -clipvalue, clipvalue) for g in grads]
    return list(grads)


def clip_parameter_gradients(optimizer, params, xp) -> None:
    """Replace the ``grad`` of every parameter that has one by its clipped value (no-op unclipped)."""
    if not clips(optimizer):
        return
    with_grad = [p for p in params if p.grad is not None]
    clipped = clip_gradients([p.grad for p in with_grad], xp, optimizer.clipnorm, optimizer.clipvalue,
                             optimizer.global_clipnorm)
    for p, g in zip(with_grad, clipped):
        p.grad = g
