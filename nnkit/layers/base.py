"""Layer and Parameter: the protocol every layer follows.

A layer is built for an input width on a backend, runs ``forward(x, training)`` keeping what its
backward needs, and ``backward(dy)`` fills each Parameter's ``grad`` and returns ``dx``.
"""

from __future__ import annotations

import itertools

from nnkit.backend import Backend, get_backend

_ids = itertools.count()


class Parameter:
    """A trainable array with its gradient: ``value``, ``grad``, ``name``, ``regularizer``."""

    __slots__ = ("value", "grad", "name", "regularizer", "id")

    def __init__(self, value, name: str, regularizer=None):
        self.value = value
        self.grad = None
        self.name = name
        self.regularizer = regularizer
        self.id = next(_ids)

    @property
    def shape(self):
        return tuple(self.value.shape)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape})"


class Layer:
    """Base class: subclasses implement ``_build(n_in)``, ``forward`` and ``backward``."""

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__.lower()
        self.backend: Backend | None = None
        self.dtype = None
        self.input_dim: int | None = None
        self.output_dim: int | None = None
        self.built = False

    # -- building -----------------------------------------------------------------------------
    def build(self, input_dim: int, backend=None, dtype="float32", rng=None) -> int:
        """Create the parameters for inputs of width ``input_dim``; returns the output width."""
        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        self.input_dim = int(input_dim)
        self.output_dim = int(self._build(self.input_dim, rng))
        self.built = True
        return self.output_dim

    def _build(self, input_dim: int, rng) -> int:
        return input_dim

    # -- running ------------------------------------------------------------------------------
    def forward(self, x, training: bool = False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def __call__(self, x, training: bool = False):
        return self.forward(x, training=training)

    # -- configuration ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        return {}

    def _move(self, backend: Backend) -> None:
        """Move every parameter to ``backend`` (values through the host)."""
        old = self.backend
        for p in self.parameters():
            p.value = backend.asarray(old.to_numpy(p.value))
            p.grad = None
        self.backend = backend
        self.dtype = backend.dtype(old.dtype_name(self.dtype))
        self._clear_cache()

    def _clear_cache(self) -> None:
        pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
