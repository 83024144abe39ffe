"""Embedding: integer tokens (N, T) -> rows of a trainable table (N, T, output_dim)."""

from __future__ import annotations

from nnkit import initializers, validation
from nnkit.layers.base import Layer, Parameter

# Keras's default: U(-0.05, 0.05)
_DEFAULT_INIT = initializers.RandomUniform(-0.05, 0.05)


class Embedding(Layer):
    """y[n, t] = E[tokens[n, t]], E of shape (input_dim, output_dim); weights [embeddings].

    Tokens are integers in [0, input_dim); a model casts its input to its float dtype, so
    integer-valued floats are taken too. There is no gradient with respect to the tokens.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform", name=None):
        super().__init__(name)
        self.vocabulary = validation.integer("input_dim", input_dim, 1, "Embedding")
        self.width = validation.integer("output_dim", output_dim, 1, "Embedding")
        self.embeddings_initializer = embeddings_initializer
        self._init = _DEFAULT_INIT if embeddings_initializer == "uniform" else initializers.get(embeddings_initializer)
        self.embeddings = None

    def _build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f"Embedding: expects token ids of shape (n, timesteps), got sample shape "
                             f"{tuple(input_shape)}")
        table = self._init(rng, (self.vocabulary, self.width))
        self.embeddings = Parameter(self.backend.asarray(table, dtype=self.dtype), f"{self.name}/embeddings")
        return (input_shape[0], self.width)

    def parameters(self):
        return [self.embeddings]

    def check_input(self, x) -> None:
        """Refuse token ids the table cannot look up, naming the layer: not (n, timesteps), NaN,
        non-integers, ids outside [0, input_dim). A model checks its whole data set here once."""
        owner = f"Embedding {self.name!r}"
        if not self.built:
            raise ValueError(f"{owner}: build the layer (or its model) before calling it")
        if getattr(x, "ndim", None) != 2:
            raise ValueError(f"{owner}: expects token ids of shape (n, timesteps), got shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        xp = self.backend.xp
        if xp.isdtype(x.dtype, "real floating"):
            if not bool(xp.all(xp.isfinite(x))):
                raise ValueError(f"{owner}: token ids contain NaN or inf")
            if not bool(xp.all(x == xp.round(x))):
                raise ValueError(f"{owner}: token ids must be integers")
        elif not xp.isdtype(x.dtype, "integral"):
            raise TypeError(f"{owner}: token ids must be integers, got dtype {x.dtype}")
        if x.size and (int(xp.min(x)) < 0 or int(xp.max(x)) >= self.vocabulary):
            raise ValueError(f"{owner}: token ids must lie in [0, {self.vocabulary}), got range "
                             f"[{int(xp.min(x))}, {int(xp.max(x))}]")

    def _forward(self, x, training=False):
        """(y, backward): backward(dy, need_dx) adds the table's gradient and returns None."""
        ops, xp = self.backend.ops, self.backend.xp
        tokens = x if xp.isdtype(x.dtype, "integral") else xp.astype(x, xp.int64)
        y = ops.embedding(tokens, self.embeddings.value)

        def backward(dy, need_dx=True):
            self.embeddings.inc_grad(ops.embedding_backward(dy, tokens, self.vocabulary))
            return None

        return y, backward

    def forward(self, x, training=False):
        """The rows of the token ids ``x`` (checked first)."""
        self.check_input(x)
        return super().forward(x, training)

    def get_config(self):
        init = self.embeddings_initializer
        return {"input_dim": self.vocabulary, "output_dim": self.width,
                "embeddings_initializer": init if isinstance(init, str) else "uniform"}
