"""Loss objects: each the mean over samples of a per-sample loss summed over output units.

Inside a model a loss runs on the model's backend and, where the output layer's activation is its
canonical partner (softmax with categorical cross-entropy, sigmoid with binary cross-entropy),
the two are fused into one op on the logits. Used alone, a loss takes the namespace of its inputs.
"""

from __future__ import annotations

__all__ = ["Loss", "MeanSquaredError", "BinaryCrossEntropy", "CategoricalCrossEntropy",
           "SparseCategoricalCrossEntropy", "get", "LOSS_NAMES"]


class Loss:
    """Base class: ``loss(pred, target) -> float``, ``loss.gradient(pred, target) -> array``."""

    name = "loss"
    op = None            # the backend op on probabilities / outputs
    logits_op = None     # the fused backend op on logits
    fused_activation = None  # the output activation whose logits ``logits_op`` takes
    sparse = False       # targets are integer class labels

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def op_name(self, logits: bool) -> str:
        """The backend op computing (loss, gradient) on logits or on the layer's output."""
        return self.logits_op if (logits or self.from_logits) and self.logits_op else self.op

    def compute(self, pred, target, backend, logits: bool = False):
        """(0-d loss array, d loss / d pred) on ``backend``."""
        return getattr(backend.ops, self.op_name(logits))(pred, target)

    def _standalone(self, pred, target):
        from array_api_compat import array_namespace

        from nnkit.ops import GENERIC_OPS

        xp = array_namespace(pred, target)
        return GENERIC_OPS[self.op_name(False)](pred, target, xp=xp)

    def __call__(self, pred, target) -> float:
        return float(self._standalone(pred, target)[0])

    def gradient(self, pred, target):
        """d loss / d pred, in the namespace of ``pred``."""
        return self._standalone(pred, target)[1]

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class MeanSquaredError(Loss):
    """E = 1/N sum_n 1/2 ||out_n - target_n||^2, the lecture's E_total."""

    name = "mse"
    op = "mse"

    def __init__(self):
        super().__init__(False)

    def get_config(self):
        return {"class": type(self).__name__}


class BinaryCrossEntropy(Loss):
    """E = -1/N sum [t log p + (1 - t) log(1 - p)] with targets t in [0, 1]."""

    name = "binary_crossentropy"
    op = "binary_cross_entropy"
    logits_op = "sigmoid_binary_cross_entropy"
    fused_activation = "sigmoid"


class CategoricalCrossEntropy(Loss):
    """E = -1/N sum_n sum_j t_nj log p_nj with one-hot (or probability) targets."""

    name = "categorical_crossentropy"
    op = "categorical_cross_entropy"
    logits_op = "softmax_cross_entropy"
    fused_activation = "softmax"


class SparseCategoricalCrossEntropy(Loss):
    """E = -1/N sum_n log p_(n, label_n) with integer labels."""

    name = "sparse_categorical_crossentropy"
    op = "sparse_categorical_cross_entropy"
    logits_op = "sparse_softmax_cross_entropy"
    fused_activation = "softmax"
    sparse = True


_NAMED = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "binary_crossentropy": BinaryCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "categorical_cross_entropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossEntropy,
    "sparse_categorical_cross_entropy": SparseCategoricalCrossEntropy,
}
LOSS_NAMES = tuple(_NAMED)
_CLASSES = {cls.__name__: cls for cls in set(_NAMED.values())}


def get(loss) -> Loss:
    """A loss from its name, its config dict or an instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in _NAMED:
        return _NAMED[loss.lower()]()
    if isinstance(loss, dict) and loss.get("class") in _CLASSES:
        cls = _CLASSES[loss["class"]]
        return cls() if cls is MeanSquaredError else cls(from_logits=loss.get("from_logits", False))
    raise ValueError(f"loss: unknown {loss!r}; expected one of {list(LOSS_NAMES)} or a nnkit.losses.Loss")
