"""W5, the convolutional workload (fp32): architecture, data, initial weights and GEMM FLOPs.

W5: 28x28x1 input, Conv2D(32, 3, relu) - MaxPool2D(2) - Conv2D(64, 3, relu) - MaxPool2D(2) -
Flatten - Dense(128, relu) - Dense(10) softmax + sparse CE, batch 64, SGD momentum 0.9, fp32,
synthetic data. The weights are in nnkit's layout (kernels (kh, kw, c_in, filters), Dense W
(in, out), the Flatten in (h, w, c) order); nnkit.bench.peer_cnn trains it in every library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ConvWorkload", "W5"]

@dataclass(frozen=True)
class ConvWorkload:
    """Conv2D(3x3, valid, relu) + MaxPool2D(2) stages, then Dense layers, softmax + sparse CE."""

    name: str
    image: tuple  # (h, w, c)
    filters: tuple  # per conv stage
    dense: tuple  # widths of the Dense layers after the Flatten, the last one the classes
    batch: int
    lr: float
    momentum: float
    n_batches: int
    quick_batches: int
    description: str
    loss: str = "sparse_categorical_crossentropy"
    kind: str = "cnn"
    kernel: int = 3

    def supports(self, label: str) -> bool:
        return label != "numpy-hand"  # the hand-written step is a fully connected one

    def stages(self):
        """(h, w, c_in, filters, conv output h, w) per conv stage, then the flattened width."""
        h, w, c = self.image
        out = []
        for f in self.filters:
            ho, wo = h - self.kernel + 1, w - self.kernel + 1
            out.append((h, w, c, f, ho, wo))
            h, w, c = ho // 2, wo // 2, f
        return out, h * w * c

    @property
    def layers(self) -> list[tuple[int, int]]:
        """(in, out) of each Dense layer."""
        flat = self.stages()[1]
        widths = (flat,) + tuple(self.dense)
        return list(zip(widths[:-1], widths[1:]))

    @property
    def widths(self) -> tuple:
        return (math.prod(self.image),) + tuple(self.dense)

    @property
    def architecture(self) -> str:
        h, w, c = self.image
        convs = "-".join(f"C{f}-P" for f in self.filters)
        return f"CNN {h}x{w}x{c} {convs}-" + "-".join(map(str, self.dense))

    def scale(self) -> dict:
        """nnkit.brain's scale: each conv output (ho wo filters units of fan-in k k c_in), then
        the Dense layers; pooling computes no weighted sum."""
        from nnkit import brain

        stages, _ = self.stages()
        units = [(ho * wo * f, self.kernel ** 2 * c) for _, _, c, f, ho, wo in stages]
        return brain.network_scale(f"this {self.architecture}", units + [(b, a) for a, b in self.layers])

    @property
    def weights(self) -> int:
        convs = sum(self.kernel ** 2 * c * f for _, _, c, f, _, _ in self.stages()[0])
        return convs + sum(a * b for a, b in self.layers)

    def flops_per_step(self) -> int:
        """Executed GEMM FLOPs: forward, the weight gradients (the same count) and the input
        gradients of every layer but the first (n ho wo k k c f MACs per conv)."""
        n = self.batch
        convs = [2 * n * ho * wo * self.kernel ** 2 * c * f for _, _, c, f, ho, wo in self.stages()[0]]
        dense = [2 * n * a * b for a, b in self.layers]
        fwd = sum(convs) + sum(dense)
        return 2 * fwd + fwd - convs[0]

    def macs_per_step(self) -> int:
        return self.flops_per_step() // 2

    def make_data(self, n_batches: int, seed: int = 0):
        """(X float32 (n, h, w, c) ~ U[0, 1), y int64 labels), n whole batches."""
        n = n_batches * self.batch
        rng = np.random.default_rng(seed)
        X = rng.random((n,) + tuple(self.image), dtype=np.float32)
        return X, rng.integers(0, self.dense[-1], size=n).astype(np.int64)

    def initial_weights(self, seed: int = 0) -> list[np.ndarray]:
        """[K1, b1, K2, b2, W3, b3, W4, b4] float32, Glorot-uniform (Keras' fans) from PCG64(seed)."""
        rng = np.random.Generator(np.random.PCG64(seed))
        out = []
        shapes = [(self.kernel, self.kernel, c, f) for _, _, c, f, _, _ in self.stages()[0]] + self.layers
        for shape in shapes:
            receptive = math.prod(shape[:-2])
            limit = math.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
            out.append(rng.uniform(-limit, limit, size=shape).astype(np.float32))
            out.append(np.zeros(shape[-1], dtype=np.float32))
        return out

    def summary(self) -> str:
        return f"{self.name}: {self.description}"


W5 = ConvWorkload("W5", (28, 28, 1), (32, 64), (128, 10), 64, 0.01, 0.9, 16, 4,
                  "MNIST-shaped CNN Conv(32,3)-Pool-Conv(64,3)-Pool-128-10 ReLU, softmax + CE, "
                  "batch 64, SGD momentum 0.9")
