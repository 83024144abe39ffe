"""Layer and Parameter: the protocol every layer follows.

A layer is built for an input shape on a backend. Its ``_forward(x, training)`` returns the output
and a backward closure ``backward(dy, need_dx=True) -> dx`` over what the forward computed
(thinc's pattern): the closure adds each parameter's gradient to ``Parameter.grad``
(``inc_grad``) and returns d loss / d input. Combinators (Sequential, Residual) compose the
closures. The stateful ``forward``/``backward`` of the public API are a thin shell over it: forward
keeps the last training closure, backward zeroes the layer's gradients and calls it.
"""

from __future__ import annotations

import itertools

from nnkit.backend import Backend, get_backend, host_rng

_ids = itertools.count()


def normalize_shape(shape, owner: str) -> tuple:
    """``shape`` as a tuple of positive ints (an int is a one-dimensional shape)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{owner}: input shape must be an int or a tuple of ints, got {shape!r}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"{owner}: input shape must hold positive ints, got {shape!r}")
    return shape


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

    def inc_grad(self, g) -> None:
        """grad = grad + g (g itself where there is no gradient yet)."""
        self.grad = g if self.grad is None else self.grad + g

    def zero_grad(self) -> None:
        """Forget the gradient (the next inc_grad sets it)."""
        self.grad = None

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape})"


class Layer:
    """Base class: subclasses implement ``_build(input_shape, rng)`` and ``_forward(x, training)``.

    A layer written with the stateful pair (``forward`` keeping its cache, ``backward`` reading
    it) still composes: the base ``_forward`` runs its ``forward`` and hands out its ``backward``.
    """

    # (n_global, lo, hi) while data-parallel training runs this layer on rows lo:hi of global
    # batches of n_global rows (nnkit.distributed sets it), else None
    global_rows = None

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__.lower()
        self.backend: Backend | None = None
        self.dtype = None
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.built = False
        self._backprop = None  # the closure of the last forward in training, for backward()

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape, backend=None, dtype="float32", rng=None) -> tuple:
        """Create the parameters for samples of shape ``input_shape`` (an int is a width);
        returns the shape of one output sample. ``rng`` is the host generator of initial weights."""
        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        self.input_shape = normalize_shape(input_shape, type(self).__name__)
        self.output_shape = tuple(self._build(self.input_shape, host_rng(rng)))
        self.built = True
        return self.output_shape

    def _build(self, input_shape: tuple, rng) -> tuple:
        return input_shape

    @property
    def input_dim(self):
        return None if self.input_shape is None else self.input_shape[-1]

    @property
    def output_dim(self):
        return None if self.output_shape is None else self.output_shape[-1]

    # -- running ------------------------------------------------------------------------------
    def _forward(self, x, training: bool = False):
        """(y, backward): the output and the closure ``backward(dy, need_dx=True) -> dx`` that adds
        d loss / d parameter to each parameter's grad and returns d loss / d input (None where
        ``need_dx`` is False and the layer can skip it)."""
        if type(self).forward is Layer.forward:
            raise NotImplementedError(f"{type(self).__name__}: a layer implements _forward(x, training)")
        return self.forward(x, training), self.backward  # a layer of the stateful pair

    def forward(self, x, training: bool = False):
        """y = f(x); in training the backward closure is kept for ``backward``."""
        y, backprop = self._forward(x, training)
        self._backprop = backprop if training else None
        return y

    def backward(self, dy, need_dx: bool = True):
        """Set each parameter's ``grad`` from ``dy`` = d loss / d output of the last
        ``forward(x, training=True)``; return d loss / d input."""
        if self._backprop is None:
            raise ValueError(f"{type(self).__name__}.backward: call forward(x, training=True) first")
        for p in self.parameters():
            p.zero_grad()
        return self._backprop(dy, need_dx)

    def parameters(self) -> list[Parameter]:
        return []

    def random_uniform(self, shape, dtype, row_axis: int = 0):
        """Uniform [0, 1) numbers of ``shape``, whose axis ``row_axis`` runs over the batch's rows,
        from the backend's generator. In data-parallel training every rank draws the numbers of
        the whole global batch and keeps its own rows, so N ranks draw what one rank would."""
        if self.global_rows is None:
            return self.backend.random_uniform(shape, dtype)
        n, lo, hi = self.global_rows
        whole = tuple(shape[:row_axis]) + (n,) + tuple(shape[row_axis + 1:])
        u = self.backend.random_uniform(whole, dtype)
        return u[(slice(None),) * row_axis + (slice(lo, hi),)]

    def sublayers(self):
        """This layer and every layer inside it (a Sequential's layers, a Residual's block)."""
        yield self
        for child in getattr(self, "layers", None) or ():
            yield from child.sublayers()
        inner = getattr(self, "inner", None)
        if inner is not None:
            yield from inner.sublayers()

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
        self._backprop = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
