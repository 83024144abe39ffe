"""Diagnostics: how the gradient flows through a network, layer by layer (vanishing gradients).

The lecture: with sigmoid, whose derivative is at most 1/4, the chain rule multiplies a small
factor once per layer, "thus the gradient becomes exponentially small the deeper the network";
its cures are ReLU and skip connections. ``GradientFlow`` records ||dE/dW|| of every weighted
layer per epoch into the History, and ``gradient_norms`` measures it once on a batch.
"""

from __future__ import annotations

from nnkit.callbacks import Callback

__all__ = ["GradientFlow", "weighted_layers", "gradient_norms", "first_last_ratio"]


def weighted_layers(model) -> list[tuple[str, object]]:
    """[(unique name, layer)] of every layer with a weight matrix W, input to output, looking
    inside Residual blocks and nested Sequentials."""
    found, seen = [], set()

    def walk(layer):
        inner = getattr(layer, "inner", None)
        children = getattr(layer, "layers", None) if inner is None else inner.layers
        if children is not None and getattr(layer, "W", None) is None:
            for child in children:
                walk(child)
            return
        if getattr(getattr(layer, "W", None), "value", None) is not None:
            name = layer.name
            i = 1
            while name in seen:  # Sequential dedups names per level; a Residual's "dense" may repeat
                name, i = f"{layer.name}#{i}", i + 1
            seen.add(name)
            found.append((name, layer))

    walk(model)
    return found


def _norm(g, xp):
    """||g||_F = sqrt(sum g^2), a 0-d array (left on the device)."""
    return xp.sqrt(xp.sum(g * g))


def first_last_ratio(norms: dict) -> float:
    """||dE/dW_first|| / ||dE/dW_last||: far below 1 when the gradient vanishes on its way back."""
    values = list(norms.values())
    if len(values) < 2:
        raise ValueError(f"first_last_ratio: needs at least two layers, got {len(values)}")
    return values[0] / values[-1] if values[-1] > 0 else float("inf")


def gradient_norms(model, X, y) -> dict:
    """{layer name: ||dE/dW||} of the model's compiled loss on (X, y), one forward and backward pass
    (the weights are not changed; each Parameter.grad is overwritten)."""
    model.loss_and_grad(X, y)
    xp = model.backend.xp
    return {name: float(_norm(layer.W.grad, xp)) for name, layer in weighted_layers(model)}


class GradientFlow(Callback):
    """Records ||dE/dW|| of every weighted layer per epoch: History keys ``grad_norm/<layer>`` and
    ``grad_norm_ratio`` (first layer / last layer).

    Parameters
    ----------
    reduce: "mean" averages each layer's norm over the epoch's batches; "last" takes the epoch's
        last batch (cheapest: its gradients are still in Parameter.grad at epoch end).

    Both of fit's steps, the compiled one and the per-layer one, leave the batch's gradients in
    Parameter.grad for the batch hooks.
    """

    def __init__(self, reduce: str = "mean"):
        if reduce not in ("mean", "last"):
            raise ValueError(f"GradientFlow: reduce must be 'mean' or 'last', got {reduce!r}")
        self.reduce = reduce
        self.layers: list = []
        self.norms: dict[str, list[float]] = {}
        self._sums = None
        self._count = 0

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError("GradientFlow: the model is not built")
        self.layers = weighted_layers(self.model)
        if not self.layers:
            raise ValueError("GradientFlow: the model has no layer with weights")
        self.norms = {name: [] for name, _ in self.layers}

    def on_epoch_begin(self, epoch, logs=None):
        self._sums, self._count = None, 0

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        if self.reduce == "last":
            return
        xp = self.model.backend.xp
        # sums stay on the device: one read-back per epoch
        norms = [_norm(layer.W.grad, xp) for _, layer in self.layers]
        self._sums = norms if self._sums is None else [s + v for s, v in zip(self._sums, norms)]
        self._count += 1

    def on_epoch_end(self, epoch, logs=None):
        xp = self.model.backend.xp
        if self.reduce == "last" or self._sums is None:
            values = [float(_norm(layer.W.grad, xp)) if layer.W.grad is not None else float("nan")
                      for _, layer in self.layers]
        else:
            values = [float(s) / self._count for s in self._sums]
        current = dict(zip((name for name, _ in self.layers), values))
        for name, value in current.items():
            self.norms[name].append(value)
            if logs is not None:
                logs[f"grad_norm/{name}"] = value
        if logs is not None and len(values) > 1:
            logs["grad_norm_ratio"] = first_last_ratio(current)
