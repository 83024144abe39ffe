"""The hand-written NumPy training step: what a careful NumPy user writes without a library.

It is the yardstick for nnkit's per-step overhead (time outside BLAS): on W1 nnkit's NumPy
backend must stay within 1.5x of it. Activations and their derivatives are computed in place
and the derivative comes from the output (tanh' = 1 - y^2, relu' = [y > 0]), so the step does
the GEMMs plus the fewest elementwise passes, and nothing else.
"""

from __future__ import annotations

import numpy as np

from nnkit.bench.trainers import EpochLoop
from nnkit.bench.workloads import Workload

__all__ = ["NumpyHandTrainer"]


class NumpyHandTrainer(EpochLoop):
    """W1-W4 by hand: forward, the fused output loss, backward, SGD (torch.optim's momentum)."""

    library = "numpy"
    label = "numpy-hand"

    def __init__(self, workload: Workload, X, y, *, seed=0):
        self.workload = workload
        self.version = np.__version__
        weights = workload.initial_weights(seed)
        self.W = [np.ascontiguousarray(w) for w in weights[0::2]]
        self.b = [np.ascontiguousarray(b) for b in weights[1::2]]
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.y = np.ascontiguousarray(y)
        self.steps_per_epoch = X.shape[0] // workload.batch
        self.rng = np.random.default_rng(seed)

    def _loss_and_grad(self, z, t):
        """(loss, dE/dz) of the output logits z: the fused sigmoid+BCE, softmax+CE, or MSE."""
        n = z.shape[0]
        loss_name = self.workload.loss
        if loss_name == "binary_crossentropy":
            # E = mean(log(1 + e^z) - z t), dE/dz = (sigmoid(z) - t) / n
            loss = (np.logaddexp(0, z) - z * t).sum() / n
            d = 1 / (1 + np.exp(-z))  # exp overflows to inf for z < -88: sigmoid is then 0
            d -= t
            d /= n
            return loss, d
        if loss_name == "sparse_categorical_crossentropy":
            # E = mean(logsumexp(z) - z_label), dE/dz = (softmax(z) - onehot) / n
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            rows = np.arange(n)
            loss = (np.log(s[:, 0]) - z[rows, t]).sum() / n
            e /= s
            e[rows, t] -= 1
            e /= n
            return loss, e
        # E = 1/n sum 1/2 ||z - t||^2, dE/dz = (z - t) / n
        diff = z - t
        return 0.5 * np.vdot(diff, diff) / n, diff / n

    def step(self, x, t):
        """One forward-backward-update on the batch (x, t); returns the batch loss."""
        W, b, wl = self.W, self.b, self.workload
        hidden_tanh = wl.hidden == "tanh"
        acts = [x]
        h = x
        last = len(W) - 1
        for i in range(len(W)):
            z = h @ W[i]
            z += b[i]
            if i < last:
                if hidden_tanh:
                    np.tanh(z, out=z)
                else:
                    np.maximum(z, 0, out=z)
            acts.append(z)
            h = z
        loss, d = self._loss_and_grad(h, t)
        lr, mu = wl.lr, wl.momentum
        for i in range(last, -1, -1):
            gW = acts[i].T @ d
            gb = d.sum(axis=0)
            if i > 0:
                d = d @ W[i].T  # before W[i] changes
                a = acts[i]
                if hidden_tanh:
                    d *= 1 - a * a
                else:
                    d *= a > 0
            if mu:
                self.vW[i] *= mu
                self.vW[i] += gW
                self.vb[i] *= mu
                self.vb[i] += gb
                gW, gb = self.vW[i], self.vb[i]
            W[i] -= lr * gW
            b[i] -= lr * gb
        return loss

    def _train_batch(self, xb, yb):
        return self.step(xb, yb)

    def sync(self) -> None:
        pass

    def get_weights(self) -> list:
        return [a.copy() for pair in zip(self.W, self.b) for a in pair]

    def describe(self) -> dict:
        return {}
