"""Declare-and-check (chainer's pattern): an op case says how to make its inputs, what the
result should be and how its gradient is taken; the checks in test_op_cases.py run every case
against its reference, along a random direction for the backward, on every kernel table and for
dtype preservation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class OpCase:
    """One op on one kind of input.

    op: the op's name in nnkit.ops.GENERIC_OPS.
    make: (rng, dtype) -> (args, kwargs) on the host; float arrays in ``dtype``.
    reference: (*args, **kwargs) -> the expected primary result, in float64, written without nnkit.
    primary: the op's result -> the array the reference gives (the op's first output, say).
    vjp: (ops, args, kwargs, result, dy) -> the gradients of sum(primary * dy) with respect to the
        ``wrt`` arguments, by the op's backward; None for an op without one.
    wrt: the differentiable arguments, by position.
    mutates: the arguments an in-place op updates (compared instead of its return value).
    """

    name: str
    op: str
    make: Callable
    reference: Callable
    primary: Callable = staticmethod(lambda result: result)
    vjp: Callable | None = None
    wrt: tuple = ()
    mutates: tuple = field(default=())

    def __repr__(self):
        return self.name


def to_backend(backend, args):
    """The args as arrays of ``backend`` (copies), scalars and strings left as they are."""
    return [backend.asarray(np.array(a, copy=True)) if isinstance(a, np.ndarray) else a for a in args]


def host_outputs(backend, case, args, result):
    """The arrays an op's run produced, as NumPy: the mutated args, else its outputs flattened."""
    if case.mutates:
        return [backend.to_numpy(args[i]) for i in case.mutates]
    outputs = result if isinstance(result, tuple) else (result,)
    return [backend.to_numpy(o) for o in outputs if o is not None]


def run(backend, case, args, kwargs, generic=False):
    """(backend args, result) of the case's op on ``backend`` (its kernel or, with ``generic``,
    the generic op bound to the backend's namespace)."""
    from nnkit.ops import GENERIC_OPS

    dev = to_backend(backend, args)
    fn = GENERIC_OPS[case.op] if generic else getattr(backend.ops, case.op).func
    return dev, fn(*dev, **kwargs, xp=backend.xp)


def directional_error(case, ops, args, kwargs, rng, eps=1e-6) -> float:
    """|analytic - numeric| / max(|analytic| + |numeric|, 1e-12) of the derivative of
    L = sum(primary(op(args)) * dy) along a random unit direction v over the ``wrt`` arguments
    (chainer's check_backward: two evaluations instead of two per entry)."""
    fn = getattr(ops, case.op)
    result = fn(*args, **kwargs)
    dy = rng.normal(size=np.shape(case.primary(result)))
    grads = case.vjp(ops, args, kwargs, result, dy)
    directions = [rng.normal(size=np.shape(args[i])) for i in case.wrt]
    norm = np.sqrt(sum(float((v * v).sum()) for v in directions))
    directions = [v / norm for v in directions]
    analytic = sum(float((np.asarray(g) * v).sum()) for g, v in zip(grads, directions))

    def objective(sign):
        moved = list(args)
        for i, v in zip(case.wrt, directions):
            moved[i] = args[i] + sign * eps * v
        return float((np.asarray(case.primary(fn(*moved, **kwargs))) * dy).sum())

    numeric = (objective(1.0) - objective(-1.0)) / (2 * eps)
    return abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-12)
