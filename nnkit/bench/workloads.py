"""The reference workloads W1-W4 (fp32): architecture, data, initial weights and GEMM FLOPs (W6, an
LSTM, lives in nnkit.bench.recurrent).

W5, the convolutional workload, lives in nnkit.bench.workload_cnn and joins WORKLOADS below.

Every library (nnkit on each backend, the hand-written NumPy step, PyTorch, JAX) trains the same
network from the same initial weights on the same batches, so their steps do the same arithmetic.
Executed GEMM FLOPs per step, for a batch of n and layers (in, out): forward 2 n in out per
layer; backward 2 n in out for dW per layer and 2 n in out for dX for every layer but the first
(the input needs no gradient). MACs = FLOPs / 2 = synaptic updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Workload", "WORKLOADS", "get_workload", "parse_workloads"]


@dataclass(frozen=True)
class Workload:
    """A fully connected network, its loss and optimizer, and its data."""

    name: str
    widths: tuple  # (n_in, hidden..., n_out)
    hidden: str  # activation of every hidden layer
    output: str  # activation of the output layer: "sigmoid", "softmax" or "linear"
    loss: str  # nnkit loss name
    batch: int
    lr: float
    momentum: float
    data: str  # "playground-circle", "digits", "mnist-like", "random-regression"
    n_batches: int  # batches per epoch in a full run
    quick_batches: int  # batches per epoch in a quick run
    description: str

    @property
    def layers(self) -> list[tuple[int, int]]:
        """(in, out) of each Dense layer."""
        return list(zip(self.widths[:-1], self.widths[1:]))

    @property
    def architecture(self) -> str:
        return "MLP " + "-".join(map(str, self.widths))

    def scale(self) -> dict:
        """nnkit.brain's neurons, inputs per neuron and synapses of this network."""
        from nnkit import brain

        return brain.scale(self.widths)

    @property
    def weights(self) -> int:
        """Weights (synapses), bias excluded: sum in x out."""
        return sum(a * b for a, b in self.layers)

    def flops_per_step(self) -> int:
        """Executed GEMM FLOPs of one step: 2 n (2 sum in out + sum over layers 2.. of in out)."""
        n = self.batch
        fwd = sum(2 * n * a * b for a, b in self.layers)
        dw = fwd
        dx = sum(2 * n * a * b for a, b in self.layers[1:])
        return fwd + dw + dx

    def macs_per_step(self) -> int:
        """MACs (synaptic updates) of one step: FLOPs / 2."""
        return self.flops_per_step() // 2

    def make_data(self, n_batches: int, seed: int = 0):
        """(X float32 (n_batches * batch, n_in), y): integer labels for softmax workloads,
        float32 (n, n_out) targets otherwise. Sizes are whole batches so every step has one shape."""
        n = n_batches * self.batch
        rng = np.random.default_rng(seed)
        if self.data == "playground-circle":
            from nnkit.datasets import playground

            X, y = playground("circle", n_samples=n, noise=0.0, seed=seed, labels="01")
            return X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)
        if self.data == "digits":
            from nnkit.datasets import digits

            X, y = digits()
            # tile the 1,797 digits when more batches are asked for than it holds
            idx = rng.permutation(np.resize(np.arange(len(X)), n))
            return np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])
        if self.data == "mnist-like":
            from nnkit.datasets import mnist_like

            return mnist_like(n, seed=seed)
        if self.data == "random-regression":
            X = rng.standard_normal((n, self.widths[0]), dtype=np.float32)
            Y = 0.1 * rng.standard_normal((n, self.widths[-1]), dtype=np.float32)
            return X, Y
        raise ValueError(f"workload {self.name}: unknown data {self.data!r}")

    def initial_weights(self, seed: int = 0) -> list[np.ndarray]:
        """[W1, b1, W2, b2, ...] float32, W (in, out) Glorot-uniform from PCG64(seed), b zeros."""
        rng = np.random.Generator(np.random.PCG64(seed))
        out = []
        for a, b in self.layers:
            limit = np.sqrt(6.0 / (a + b))
            out.append(rng.uniform(-limit, limit, size=(a, b)).astype(np.float32))
            out.append(np.zeros(b, dtype=np.float32))
        return out

    def summary(self) -> str:
        return f"{self.name}: {self.description}"

    def supports(self, label: str) -> bool:
        """Whether the library ``label`` runs this workload (every one runs the MLPs)."""
        return True


WORKLOADS = {
    "W1": Workload("W1", (2, 8, 8, 1), "tanh", "sigmoid", "binary_crossentropy", 10, 0.03, 0.0,
                   "playground-circle", 50, 50,
                   "Playground MLP 2-8-8-1 tanh, sigmoid + BCE, batch 10, SGD"),
    "W2": Workload("W2", (64, 128, 64, 10), "relu", "softmax", "sparse_categorical_crossentropy",
                   32, 0.01, 0.9, "digits", 44, 44,
                   "digits MLP 64-128-64-10 ReLU, softmax + CE, batch 32, SGD momentum 0.9"),
    "W3": Workload("W3", (784, 256, 256, 10), "relu", "softmax",
                   "sparse_categorical_crossentropy", 128, 0.01, 0.9, "mnist-like", 32, 16,
                   "MNIST-shaped MLP 784-256-256-10 ReLU, softmax + CE, batch 128, SGD momentum 0.9"),
    "W4": Workload("W4", (1024, 4096, 4096, 1024), "relu", "linear", "mse", 256, 1e-3, 0.0,
                   "random-regression", 4, 1,
                   "wide MLP 1024-4096-4096-1024 ReLU, MSE, batch 256, SGD"),
}
from nnkit.bench.workload_cnn import W5  # noqa: E402  (the convolutional workload)

WORKLOADS["W5"] = W5

from nnkit.bench.recurrent import W6  # noqa: E402  (the sequence workload, its own module)

WORKLOADS[W6.name] = W6


def get_workload(name) -> Workload:
    if isinstance(name, Workload):
        return name
    key = str(name).upper()
    if key not in WORKLOADS:
        raise ValueError(f"workload: expected one of {list(WORKLOADS)}, got {name!r}")
    return WORKLOADS[key]


def parse_workloads(text) -> list[Workload]:
    """"W1,W3" (or a list of names) -> [Workload, ...] in the order given; None means all."""
    if text is None:
        return list(WORKLOADS.values())
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip() for n in names if str(n).strip()]
    if not names:
        raise ValueError("workloads: expected names like W1,W2, got nothing")
    return [get_workload(n) for n in names]
