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
import math
import numbers

from nnkit.backend import Backend, get_backend, host_rng

_ids = itertools.count()


def normalize_shape(shape, owner: str) -> tuple:
    """``shape`` as a tuple of positive ints (an int is a one-dimensional shape)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{owner}: input shape must be an int or a tuple of ints, got {shape!r}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape):
        raise ValueError(f"{owner}: input shape must hold positive ints, got {shape!r}")
    return tuple(int(d) for d in shape)


class Parameter:
    """A trainable array with its gradient: ``value``, ``grad``, ``name``, ``regularizer``.

    In a built model ``value`` and ``grad`` are views into the model's flat buffers (see
    ``FlatBuffer``): assigning either copies into the view, so the buffers stay the truth.
    """

    __slots__ = ("_value", "_grad", "name", "regularizer", "id", "flat", "_span")

    def __init__(self, value, name: str, regularizer=None):
        self.flat = None  # the FlatBuffer holding value and grad, or None
        self._value = value
        self._grad = None
        self.name = name
        self.regularizer = regularizer
        self.id = next(_ids)

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, v) -> None:
        if self.flat is None:
            self._value = v
        else:
            self._value[...] = v

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, g) -> None:
        if self.flat is None:
            self._grad = g
        else:
            self._grad[...] = 0 if g is None else g

    @property
    def shape(self):
        return tuple(self._value.shape)

    @property
    def span(self):
        """(start, stop) of value and grad in the flat buffer's arrays, or None outside one."""
        return None if self.flat is None else self._span

    def inc_grad(self, g) -> None:
        """grad = grad + g (g itself where there is no gradient yet)."""
        if self.flat is not None:
            self._grad += g
        else:
            self._grad = g if self._grad is None else self._grad + g

    def zero_grad(self) -> None:
        """grad = 0 (None outside a flat buffer: the next inc_grad sets it)."""
        if self.flat is not None:
            self._grad[...] = 0
        else:
            self._grad = None

    def unbind(self) -> None:
        """Leave the flat buffer: value and grad become arrays of their own."""
        self.flat = None

    def __deepcopy__(self, memo):
        import copy

        new = Parameter.__new__(Parameter)
        memo[id(self)] = new
        new.name, new.regularizer, new.id = self.name, copy.deepcopy(self.regularizer, memo), self.id
        new.flat = copy.deepcopy(self.flat, memo)
        if new.flat is None:
            new._value, new._grad = copy.deepcopy(self._value, memo), copy.deepcopy(self._grad, memo)
        else:  # views into the copied buffers, as the original's are into its own
            new._span = self._span
            new._value, new._grad = new.flat.views(self._span, self.shape)
        return new

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape})"


class FlatBuffer:
    """The values and the gradients of parameters of one dtype, each in one flat array, so an
    optimizer updates all of them in one call and data-parallel training reduces the gradients in
    one Allreduce. ``reduction`` is the gradient buffer with one spare entry after it (a reduction
    may carry the loss there); ``grad`` is a view of all but that entry."""

    def __init__(self, params, backend):
        xp = backend.xp
        spans, offset = [], 0
        for p in params:
            size = math.prod(p.shape)
            spans.append((offset, offset + size))
            offset += size
        self.size = offset
        self.value = xp.zeros((offset,), dtype=params[0].value.dtype)
        self.reduction = xp.zeros((offset + 1,), dtype=params[0].value.dtype)
        self.grad = self.reduction[:offset]
        for p, span in zip(params, spans):
            value, grad = self.views(span, p.shape)
            value[...] = p.value
            if p.grad is not None:
                grad[...] = p.grad
            p.flat, p._span, p._value, p._grad = self, span, value, grad
        self.count = len(params)

    def views(self, span, shape):
        """(value, grad) of the parameter at ``span`` = (start, stop), of ``shape``."""
        lo, hi = span
        return self.value[lo:hi].reshape(shape), self.grad[lo:hi].reshape(shape)

    def holds(self, params) -> bool:
        """Whether ``params`` are exactly this buffer's parameters."""
        return len(params) == self.count and all(p.flat is self for p in params)


def flatten_parameters(params, backend) -> list:
    """One FlatBuffer per dtype of ``params`` (none where the backend's arrays have no views)."""
    for p in params:
        p.unbind()
    if not params or not backend.has_views:
        return []
    groups = {}
    for p in params:
        groups.setdefault(str(p.value.dtype), []).append(p)
    return [FlatBuffer(group, backend) for group in groups.values()]


class Layer:
    """Base class: subclasses implement ``_build(input_shape, rng)`` and ``_forward(x, training)``.

    A layer written with the stateful pair (``forward`` keeping its cache, ``backward`` reading
    it) still composes: the base ``_forward`` runs its ``forward`` and hands out its ``backward``.
    """

    # (n_global, lo, hi) while data-parallel training runs this layer on rows lo:hi of global
    # batches of n_global rows (nnkit.distributed sets it), else None
    global_rows = None
    # the random generator this layer draws from: its model's own stream (Model._set_stream);
    # None for a layer on its own, which draws from its backend's generator
    stream = None

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

    def _parameter_plan(self, input_shape):
        """(count of parameters, output shape) that building for ``input_shape`` would create,
        or None where the layer cannot tell without building; lets a model refuse a network too
        large for memory before it allocates anything (a layer without a ``_build`` of its own
        keeps the shape and creates nothing)."""
        return (0, tuple(input_shape)) if type(self)._build is Layer._build else None

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
            return self.backend.random_uniform(shape, dtype, self.stream)
        n, lo, hi = self.global_rows
        whole = tuple(shape[:row_axis]) + (n,) + tuple(shape[row_axis + 1:])
        u = self.backend.random_uniform(whole, dtype, self.stream)
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
            p.unbind()
            p.value = backend.asarray(old.to_numpy(p.value))
            p.grad = None
        self.backend = backend
        self.dtype = backend.dtype(old.dtype_name(self.dtype))
        self._backprop = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
