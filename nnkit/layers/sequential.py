"""Sequential: layers run forward in order and backward in reverse; also the trainable model."""

from __future__ import annotations

from nnkit import validation
from nnkit.backend import get_backend, host_rng
from nnkit.layers.base import Layer, flatten_parameters, normalize_shape
from nnkit.model import Model


class Sequential(Layer, Model):
    """A stack of layers, each feeding the next.

    Parameters
    ----------
    layers: the layers, first to last.
    backend: "numpy" | "numba" | "cupy" | "auto" | an array-API namespace | None (the default).
    dtype: "float32" (default) or "float64".
    seed: seed of the host generator the initial weights are drawn from (one seed, one model,
        on every backend).

    A model whose first layer knows its input (``input_dim``/``input_shape``) is built here, as
    Keras builds one, so count_params, summary and get_weights work before fit; a layer added
    later rebuilds it from the seed, giving the weights a model built whole would have.
    """

    def __init__(self, layers=None, backend=None, dtype="float32", seed=None, name: str | None = None):
        Layer.__init__(self, name or "sequential")
        Model.__init__(self)
        self.layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)
        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        self.seed = validation.seed(seed)
        self.flat_buffers = []  # the parameters' values and gradients, one FlatBuffer per dtype
        self._built_at_construction = False
        if self.layers and getattr(self.layers[0], "requested_input_dim", None) is not None:
            self.build()
            self._built_at_construction = True

    def add(self, layer: Layer) -> None:
        """Append a layer (before the model is built)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential: expected a Layer, got {type(layer).__name__}")
        if self.built and not getattr(self, "_built_at_construction", False):
            raise ValueError("Sequential: cannot add a layer to a built model")
        if getattr(layer, "return_state", False):  # its output is a tuple: the chain carries one array
            raise ValueError(f"Sequential: {type(layer).__name__} {layer.name!r} has return_state=True, whose "
                             f"output (output, states...) a Sequential cannot pass on; call the layer on its own")
        self.layers.append(layer)
        if self.built:  # built only because the first layer knew its input: build it again whole
            self.build()

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape=None, backend=None, dtype=None, rng=None):
        """Create every layer's parameters for samples of ``input_shape`` (an int is a width).

        Without ``input_shape`` the first layer's ``input_dim`` is used.
        """
        if not self.layers:
            raise ValueError("Sequential: the model has no layers")
        if input_shape is None:
            input_shape = getattr(self.layers[0], "requested_input_dim", None)
            if input_shape is None:
                raise ValueError("Sequential.build: input_shape is needed (the first layer has no input_dim)")
        if backend is not None:
            self.backend = get_backend(backend)
        if dtype is not None:
            self.dtype = self.backend.dtype(dtype)
        dtype_name = self.backend.dtype_name(self.dtype)
        rng = host_rng(self.seed if rng is None else rng)
        shape = self.input_shape = normalize_shape(input_shape, "Sequential.build")
        names = set()
        validation.check_plan(self.layers, shape)  # before anything is allocated
        with validation.allocation_limit():  # all layers' parameters together must fit
            for i, layer in enumerate(self.layers):
                if layer.name in names:
                    layer.name = f"{layer.name}_{i}"
                names.add(layer.name)
                shape = layer.build(shape, self.backend, dtype_name, rng)
        self.output_shape = shape
        self.built = True
        self.flat_buffers = flatten_parameters(self.parameters(), self.backend)
        self._on_built()
        return shape

    # -- running ------------------------------------------------------------------------------
    def _forward(self, x, training=False, logits=False):
        """(y, backward): the layers' forwards in order, their closures in reverse (thinc's chain);
        ``logits``: the last layer hands out its logits (a loss fused with its activation)."""
        backprops = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x, backprop = layer._forward(x, training, logits=True) if logits and i == last \
                else layer._forward(x, training)
            backprops.append(backprop)

        def backward(dy, need_dx=True):
            for backprop in reversed(backprops[1:]):
                dy = backprop(dy, True)
            return backprops[0](dy, need_dx)

        return x, backward

    def forward(self, x, training: bool = False):
        """y = f_L(... f_1(x)); in training the backward closure is kept for ``backward``."""
        y, backprop = self._forward(self._check_input(x, "x"), training)
        self._backprop = backprop if training else None
        return y

    def backward(self, dy, need_dx: bool = True):
        """Set every Parameter.grad from dy = d loss / d output; return d loss / d input."""
        if self._backprop is None:
            raise ValueError("Sequential.backward: call forward(x, training=True) first")
        dy = self._check_output_gradient(dy)
        self.zero_grad()
        return self._backprop(dy, need_dx)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def _move(self, backend):
        for layer in self.layers:
            layer._move(backend)
        old = self.backend
        self.backend = backend
        self.dtype = backend.dtype(old.dtype_name(self.dtype))
        self._backprop = None
        self.flat_buffers = flatten_parameters(self.parameters(), backend)

    def get_config(self):
        from nnkit.layers import layer_to_config

        return {"layers": [layer_to_config(layer) for layer in self.layers]}

    def summary(self, print_fn=None):
        """Print the model's table as Keras does: one row per layer (name and type, output shape
        with the batch as None, parameter count), the totals, and the step the last fit ran
        (compiled or per-layer) and why. With ``print_fn`` the table goes to ``print_fn(text)``
        instead and is returned."""
        rule, thick = "_" * 65, "=" * 65
        lines = [f'Model: "{self.name}"', rule, f"{'Layer (type)':<29}{'Output Shape':<24}{'Param #':>12}", thick]
        total = 0
        for i, layer in enumerate(self.layers):
            count = sum(int(p.value.size) for p in layer.parameters()) if layer.built else 0
            total += count
            shape = "?" if layer.output_shape is None else str((None,) + tuple(layer.output_shape))
            lines.append(f"{f'{layer.name} ({type(layer).__name__})':<29}{shape:<24}{count:>12,}")
            lines.append(thick if i == len(self.layers) - 1 else "")
        lines += [f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", rule]
        lines.append("step: chosen by the first fit" if self.step_path is None else "step: %s (%s)" % self.step_path)
        if not self.built:
            lines.insert(1, "(not built: call build(input_dim) or give the first layer input_dim)")
        text = "\n".join(lines)
        if print_fn is None:
            print(text)
            return None
        print_fn(text)
        return text

    def __repr__(self):
        return f"Sequential({self.layers!r}, backend={self.backend.name!r})"
