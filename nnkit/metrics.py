"""Metrics: each returns the sum over a batch's samples, so an epoch's value is sum / samples."""

from __future__ import annotations

__all__ = ["Metric", "get", "METRIC_NAMES"]


class Metric:
    """A named per-sample score; ``batch_sum(out, target, logits, xp)`` is its sum over the batch."""

    name = "metric"
    on_outputs = False  # True: needs the model's outputs (probabilities), never logits
    # the targets it compares with: "labels" (integer classes, a sparse loss's), "dense" (the
    # outputs' shape), or None (a metric of the user's own: not checked)
    targets = None

    def batch_sum(self, out, target, logits, xp):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class BinaryAccuracy(Metric):
    """Fraction of outputs on the right side of 0.5 (0 for logits), averaged over output units."""

    name = "accuracy"
    targets = "dense"

    def batch_sum(self, out, target, logits, xp):
        threshold = 0.0 if logits else 0.5
        hit = (out >= threshold) == (target >= 0.5)
        return xp.sum(xp.astype(hit, out.dtype)) / out.shape[-1]


class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the one-hot target's class."""

    name = "accuracy"
    targets = "dense"

    def batch_sum(self, out, target, logits, xp):
        hit = xp.argmax(out, axis=-1) == xp.argmax(target, axis=-1)
        return xp.sum(xp.astype(hit, out.dtype))


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label."""

    name = "accuracy"
    targets = "labels"

    def batch_sum(self, out, target, logits, xp):
        hit = xp.argmax(out, axis=-1) == target
        return xp.sum(xp.astype(hit, out.dtype))


class MeanSquaredErrorMetric(Metric):
    """mean over samples and units of (out - target)^2."""

    name = "mse"
    on_outputs = True
    targets = "dense"

    def batch_sum(self, out, target, logits, xp):
        diff = out - target
        return xp.sum(diff * diff) / out.shape[-1]


class MeanAbsoluteError(Metric):
    """mean over samples and units of |out - target|."""

    name = "mae"
    on_outputs = True
    targets = "dense"

    def batch_sum(self, out, target, logits, xp):
        return xp.sum(xp.abs(out - target)) / out.shape[-1]


METRIC_NAMES = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                "mse", "mae")


def get(metric, loss=None) -> Metric:
    """A metric from its name or an instance; "accuracy" follows the loss as in Keras."""
    if isinstance(metric, Metric):
        return metric
    key = metric.lower() if isinstance(metric, str) else None
    if key in ("accuracy", "acc"):
        from nnkit import losses

        if isinstance(loss, losses.SparseCategoricalCrossEntropy):
            return SparseCategoricalAccuracy()
        if isinstance(loss, losses.CategoricalCrossEntropy):
            return CategoricalAccuracy()
        return BinaryAccuracy()
    table = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
             "sparse_categorical_accuracy": SparseCategoricalAccuracy,
             "mse": MeanSquaredErrorMetric, "mean_squared_error": MeanSquaredErrorMetric,
             "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}
    if key in table:
        m = table[key]()
        if key.endswith("accuracy"):
            m.name = key
        return m
    raise ValueError(f"metrics: unknown metric {metric!r}; expected one of {list(METRIC_NAMES)}")
