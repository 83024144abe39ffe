"""Trainers: one reference workload trained by one library, an epoch at a time.

A trainer holds a network built from ``workload.initial_weights(seed)`` and the workload's data,
and ``run_epochs(epochs, shuffle)`` trains over every batch of the data ``epochs`` times (each
epoch in a fresh random order when ``shuffle``), reading the loss back once per epoch, as
``nnkit``'s fit does. ``sync()`` waits for queued device work; ``get_weights()`` returns NumPy
copies [W1, b1, ...] with W of shape (in, out), so libraries can be checked against each other.

Peers (the hand-written NumPy step, PyTorch, JAX) live in their own modules; ``make_trainer``
picks one by its label.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from nnkit.bench.workloads import Workload

__all__ = ["NnkitTrainer", "EpochLoop", "make_trainer", "PEER_LABELS", "peer_available", "nnkit_label"]

# peer label -> (module, class); the module is imported only when its peer runs
_PEERS = {
    "numpy-hand": ("nnkit.bench.peer_numpy_hand", "NumpyHandTrainer"),
    "torch-cpu": ("nnkit.bench.peer_torch", "TorchTrainer"),
    "torch-cuda": ("nnkit.bench.peer_torch", "TorchTrainer"),
    "jax": ("nnkit.bench.peer_jax", "JaxTrainer"),
}
PEER_LABELS = tuple(_PEERS)
_PEER_PACKAGES = {"numpy-hand": "numpy", "torch-cpu": "torch", "torch-cuda": "torch", "jax": "jax"}


def nnkit_label(backend: str) -> str:
    return f"nnkit-{backend}"


def peer_available(label: str) -> bool:
    """Whether the peer's library is installed (importable), without importing it."""
    return importlib.util.find_spec(_PEER_PACKAGES[label]) is not None


class NnkitTrainer:
    """nnkit's Sequential on one backend, trained by ``model.fit`` (the path users take)."""

    library = "nnkit"

    def __init__(self, workload: Workload, X, y, *, backend="numpy", seed=0):
        import nnkit as nk

        self.workload = workload
        self.backend = nk.get_backend(backend)
        self.label = nnkit_label(self.backend.name)
        self.version = nk.__version__
        self.model = self._model(nk, workload, seed)
        self.model.set_weights(workload.initial_weights(seed))
        self.model.compile(self._optimizer(nk, workload), workload.loss)
        # the data moves to the device once, so fit never copies it again
        self.X = self.backend.asarray(X, dtype="float32")
        self.y = self.backend.asarray(y)
        self.steps_per_epoch = X.shape[0] // workload.batch
        self._seed = seed

    def _model(self, nk, workload, seed):
        """The workload's network, built: here its Dense layers."""
        layers = []
        for i, (n_in, units) in enumerate(workload.layers):
            last = i == len(workload.layers) - 1
            activation = workload.output if last else workload.hidden
            layers.append(nk.layers.Dense(units, activation=None if activation == "linear" else activation,
                                          input_dim=n_in if i == 0 else None))
        model = nk.Sequential(layers, backend=self.backend, dtype="float32", seed=seed)
        model.build(workload.widths[0])
        return model

    def _optimizer(self, nk, workload):
        return nk.optimizers.SGD(lr=workload.lr, momentum=workload.momentum)

    def run_epochs(self, epochs: int, shuffle: bool = True) -> float:
        history = self.model.fit(self.X, self.y, epochs=epochs, batch_size=self.workload.batch,
                                 shuffle=shuffle, verbose=0, seed=None if shuffle else self._seed)
        return float(history.history["loss"][-1])

    def sync(self) -> None:
        self.backend.synchronize()

    def get_weights(self) -> list:
        return self.model.get_weights()

    def describe(self) -> dict:
        return {"kernels": sorted(self.backend.kernels),
                "compiled_step": self.backend.train_step_factory is not None}


def make_trainer(label: str, workload: Workload, X, y, seed: int = 0):
    """The trainer called ``label``: "nnkit-<backend>" or a peer in PEER_LABELS."""
    kind = getattr(workload, "kind", "mlp")
    if kind == "cnn":
        from nnkit.bench.peer_cnn import make_cnn_trainer

        return make_cnn_trainer(label, workload, X, y, seed)
    if kind == "sequence":  # nnkit.bench.recurrent has its own trainers
        from nnkit.bench.recurrent import make_sequence_trainer

        return make_sequence_trainer(label, workload, X, y, seed=seed)
    if label.startswith("nnkit-"):
        return NnkitTrainer(workload, X, y, backend=label[len("nnkit-"):], seed=seed)
    if label not in _PEERS:
        raise ValueError(f"library: expected nnkit-<backend> or one of {list(_PEERS)}, got {label!r}")
    module_name, class_name = _PEERS[label]
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = {"device": "cuda"} if label == "torch-cuda" else {}
    return cls(workload, X, y, seed=seed, **kwargs)


def epoch_orders(n: int, rng: np.random.Generator, shuffle: bool):
    """The row order of one epoch: a fresh permutation when shuffling, else None (as stored)."""
    return rng.permutation(n) if shuffle else None


class EpochLoop:
    """The timing loop every peer trainer shares (PyTorch, JAX, hand-written NumPy, any workload).

    ``run_epochs`` trains over the data's batches, each epoch in a fresh order, and reads the loss
    back once per epoch (a device scalar is never read per batch). A trainer sets ``workload``,
    ``X``, ``y`` (its library's arrays), ``rng`` and ``steps_per_epoch``, implements
    ``_train_batch(xb, yb) -> loss`` (one step; the loss may stay on its device) and may override
    ``_epoch_data(order)`` (how its arrays take a row order) and ``_mean_loss(losses)``.
    """

    def run_epochs(self, epochs: int, shuffle: bool = True) -> float:
        B = self.workload.batch
        loss = 0.0
        for _ in range(epochs):
            X, y = self._epoch_data(epoch_orders(self.X.shape[0], self.rng, shuffle))
            losses = [self._train_batch(X[start:start + B], y[start:start + B])
                      for start in range(0, self.steps_per_epoch * B, B)]
            loss = self._mean_loss(losses)
        return loss

    def _epoch_data(self, order):
        """(X, y) in the epoch's row order (None: as stored)."""
        return (self.X, self.y) if order is None else (self.X[order], self.y[order])

    def _mean_loss(self, losses) -> float:
        """The epoch's mean loss from its batches' losses, read back once."""
        return float(sum(losses)) / self.steps_per_epoch
