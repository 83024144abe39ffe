"""The simulated device generator: Philox on the CPU, results handed out as device arrays."""

from __future__ import annotations

import numpy as _np

from . import _wrap, ndarray

__all__ = ["Generator", "default_rng", "seed", "rand", "randn", "random", "uniform", "normal",
           "randint", "permutation", "shuffle", "RandomState"]


class Generator:
    def __init__(self, seed=None):
        self._g = _np.random.Generator(_np.random.Philox(seed))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._g, name)

        def draw(*args, **kwargs):
            out = kwargs.get("out")
            if isinstance(out, ndarray):
                from .cuda import graph

                kwargs["out"] = out._a
                if graph.capturing():  # the draw is recorded; each replay draws afresh
                    graph.record(method, args, kwargs)
                    return out
                method(*args, **kwargs)
                return out
            return _wrap(method(*args, **kwargs))

        return draw


def default_rng(seed=None) -> Generator:
    return Generator(seed)


class RandomState(Generator):
    def rand(self, *shape, dtype=float):
        return _wrap(self._g.random(shape, dtype=dtype))

    def randn(self, *shape, dtype=float):
        return _wrap(self._g.standard_normal(shape, dtype=dtype))

    def randint(self, low, high=None, size=None, dtype=int):
        return _wrap(self._g.integers(low, high, size=size, dtype=dtype))

    def random_sample(self, size=None, dtype=float):
        return _wrap(self._g.random(size, dtype=dtype))

    random = random_sample

    def shuffle(self, a):
        self._g.shuffle(a._a)


_state = RandomState()


def seed(value=None):
    global _state
    _state = RandomState(value)


def rand(*shape, dtype=float):
    return _state.rand(*shape, dtype=dtype)


def randn(*shape, dtype=float):
    return _state.randn(*shape, dtype=dtype)


def random(size=None, dtype=float):
    return _state.random(size, dtype=dtype)


def uniform(low=0.0, high=1.0, size=None, dtype=float):
    return _wrap(_state._g.uniform(low, high, size).astype(dtype))


def normal(loc=0.0, scale=1.0, size=None, dtype=float):
    return _wrap(_state._g.normal(loc, scale, size).astype(dtype))


def randint(low, high=None, size=None, dtype=int):
    return _state.randint(low, high, size, dtype)


def permutation(n):
    return _wrap(_state._g.permutation(n._a if isinstance(n, ndarray) else n))


def shuffle(a):
    _state.shuffle(a)
