"""Weight penalties: L1 (l sum |W|), L2 (l sum W^2) and the elastic net (both), with gradients.

The training loop adds ``penalty`` to the loss and ``gradient`` to ``p.grad`` for every Parameter
whose ``regularizer`` is set. Note L2's gradient is 2 l W, so L2(l) under plain SGD is torch's
``weight_decay = 2 l`` (weight decay adds wd W to the gradient, the gradient of wd/2 sum W^2).
"""

from __future__ import annotations

import math

from nnkit._config import Configurable, split_config
from nnkit.backend import get_backend
from nnkit.ops.losses import elastic_net_penalty

__all__ = ["Regularizer", "L1", "L2", "ElasticNet", "from_config", "get"]


def _strength(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}: expected a non-negative number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name}: expected a finite non-negative number, got {value!r}")
    return x


class Regularizer(Configurable):
    """A penalty P(W) = l1 sum |W| + l2 sum W^2 on one weight array (subclasses fix l1, l2)."""

    l1: float = 0.0
    l2: float = 0.0

    def penalty_and_gradient(self, w, backend):
        """(P, dP/dW) on ``backend``: P a 0-d array (never read on the host here), dP/dW like W."""
        backend = get_backend(backend)
        return backend.ops.elastic_net_penalty(w, self.l1, self.l2)

    def __call__(self, w, backend=None) -> float:
        """P(W) as a Python float; without a backend the array's own namespace computes it."""
        if backend is None:
            from array_api_compat import array_namespace

            penalty, _ = elastic_net_penalty(w, self.l1, self.l2, xp=array_namespace(w))
        else:
            penalty, _ = self.penalty_and_gradient(w, backend)
        return float(penalty)

    def _args(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}



class L1(Regularizer):
    """P = l sum |W|; dP/dW = l sign(W) (0 at W = 0). Drives weights to exactly zero (sparsity).

    Parameters
    ----------
    l: the penalty's strength.
    """

    def __init__(self, l: float = 0.01):  # noqa: E741 -- the field's name for the strength
        self.l = self.l1 = _strength("l", l)

    def _args(self) -> dict:
        return {"l": self.l}


class L2(Regularizer):
    """P = l sum W^2; dP/dW = 2 l W. Shrinks every weight towards zero in proportion to its size.

    Parameters
    ----------
    l: the penalty's strength.
    """

    def __init__(self, l: float = 0.01):  # noqa: E741
        self.l = self.l2 = _strength("l", l)

    def _args(self) -> dict:
        return {"l": self.l}


class ElasticNet(Regularizer):
    """P = l1 sum |W| + l2 sum W^2; dP/dW = l1 sign(W) + 2 l2 W.

    Parameters
    ----------
    l1: strength of the L1 part.
    l2: strength of the L2 part.
    """

    def __init__(self, l1: float = 0.01, l2: float = 0.01):
        self.l1 = _strength("l1", l1)
        self.l2 = _strength("l2", l2)


_BY_NAME = {"l1": L1, "l2": L2, "elastic_net": ElasticNet, "elasticnet": ElasticNet}
_BY_CLASS = {cls.__name__: cls for cls in (L1, L2, ElasticNet)}


def from_config(config: dict) -> Regularizer:
    """The regularizer that ``config`` (from ``get_config()``, with its ``"class"``) describes."""
    cls, args = split_config(config, _BY_CLASS)
    return cls(**args)


def get(obj) -> Regularizer | None:
    """A regularizer from a name ("l1", "l2", "elastic_net"/"elasticnet", default strengths),
    an instance (returned as is), a ``get_config()`` dict, or None (no penalty)."""
    if obj is None or isinstance(obj, Regularizer):
        return obj
    if isinstance(obj, str):
        key = obj.lower()
        if key not in _BY_NAME:
            raise ValueError(f"regularizer: unknown name {obj!r}; expected one of {sorted(_BY_NAME)} or None")
        return _BY_NAME[key]()
    if isinstance(obj, dict):
        return from_config(obj)
    raise TypeError(f"regularizer: expected a name, a Regularizer, a config dict or None, got {type(obj).__name__}")

