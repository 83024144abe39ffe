"""W6, the recurrent workload: LSTM(128) over 32 steps of 32 features, batch 64, the last state into
Dense(10) softmax + sparse cross-entropy, Adam (torch's defaults, lr 1e-3), fp32, synthetic data.

Its trainers: nnkit (``model.fit``), PyTorch eager (``torch.nn.LSTM(batch_first=True)``) and JAX
(an LSTM cell under ``lax.scan``, the whole step one jit), from the same initial weights (Keras's
layout: kernel (F, 4u), recurrent_kernel (u, 4u), gates i, f, c, o; PyTorch's i, f, g, o is the
same order) on the same batches.

Executed GEMM FLOPs per step (n = 64, T = 32, F = 32, u = 128, G = 4u): forward 2 n T F G
(input projection) + 2 n T u G (recurrent) + 2 n u C (Dense); backward 2 n T F G (dW),
2 n T u G (dU), 2 n T u G (the state's gradient through U), 2 n u C twice (Dense dW, dX); the
sequence's input needs no gradient. About 0.94 GFLOP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SequenceWorkload", "W6", "make_sequence_trainer"]


@dataclass(frozen=True)
class SequenceWorkload:
    """An LSTM over a sequence, its last state classified by a softmax layer, trained by Adam."""

    name: str
    steps: int
    features: int
    units: int
    classes: int
    batch: int
    lr: float
    n_batches: int
    quick_batches: int
    description: str
    loss: str = "sparse_categorical_crossentropy"
    libraries: tuple = ("nnkit-numpy", "nnkit-numba", "nnkit-cupy", "torch-cpu", "torch-cuda", "jax")
    kind: str = "sequence"

    @property
    def widths(self) -> tuple:
        return (self.features, self.units, self.classes)

    @property
    def architecture(self) -> str:
        return f"LSTM({self.units}) T={self.steps} F={self.features}-{self.classes}"

    def scale(self) -> dict:
        """nnkit.brain's scale per time step: 4u gate units of fan-in F + u, then the Dense layer."""
        from nnkit import brain

        gates = (4 * self.units, self.features + self.units)
        return brain.network_scale(f"this {self.architecture}", [gates, (self.classes, self.units)])

    def supports(self, label: str) -> bool:
        """Whether ``label``'s library has a trainer for this workload (no hand-written NumPy LSTM)."""
        return label in self.libraries

    def flops_per_step(self) -> int:
        n, t, f, u, c = self.batch, self.steps, self.features, self.units, self.classes
        g = 4 * u
        forward = 2 * n * t * f * g + 2 * n * t * u * g + 2 * n * u * c
        backward = 2 * n * t * f * g + 2 * (2 * n * t * u * g) + 2 * (2 * n * u * c)
        return forward + backward

    def macs_per_step(self) -> int:
        return self.flops_per_step() // 2

    def make_data(self, n_batches: int, seed: int = 0):
        """(X float32 (n, T, F) standard normal, y int64 labels in [0, classes))."""
        n = n_batches * self.batch
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, self.steps, self.features), dtype=np.float32)
        y = rng.integers(0, self.classes, size=n).astype(np.int64)
        return X, y

    def initial_weights(self, seed: int = 0) -> list[np.ndarray]:
        """[kernel, recurrent_kernel, bias, W, b] float32: nnkit's LSTM(units) and Dense from seed."""
        model = self.nnkit_model("numpy", seed)
        return [w.astype(np.float32) for w in model.get_weights()]

    def nnkit_model(self, backend, seed: int = 0):
        import nnkit as nk

        model = nk.Sequential([nk.layers.LSTM(self.units), nk.layers.Dense(self.classes, activation="softmax")],
                              backend=backend, dtype="float32", seed=seed)
        model.build((self.steps, self.features))
        return model

    def summary(self) -> str:
        return f"{self.name}: {self.description}"


W6 = SequenceWorkload("W6", 32, 32, 128, 10, 64, 1e-3, 16, 4,
                      "LSTM(128) over T=32 steps of 32 features, last state - Dense(10) softmax + "
                      "sparse CE, batch 64, Adam, fp32, synthetic data")


# the trainers' bases (imported here, below W6: nnkit.bench.workloads imports W6 from this module)
from nnkit.bench.peer_jax import JaxEpochs  # noqa: E402
from nnkit.bench.peer_torch import TorchEpochs  # noqa: E402
from nnkit.bench.trainers import NnkitTrainer  # noqa: E402


class NnkitSequenceTrainer(NnkitTrainer):
    """nnkit's Sequential([LSTM, Dense]) on one backend, trained by ``model.fit`` (NnkitTrainer's
    loop; only the model differs)."""

    def _model(self, nk, workload, seed):
        return workload.nnkit_model(self.backend, seed)

    def _optimizer(self, nk, workload):
        return nk.optimizers.Adam(lr=workload.lr)

    def describe(self) -> dict:
        """Which LSTM ops ran as the backend's fused kernels (none: the generic ops, on numpy)."""
        fused = [n for n in ("lstm_forward", "lstm_backward") if n in self.backend.kernels]
        return {"lstm_kernels": fused, "fused": len(fused) == 2}


class TorchSequenceTrainer(TorchEpochs):
    """torch.nn.LSTM(batch_first=True) + Linear, torch.optim.Adam, eager mode."""

    library = "torch"

    def __init__(self, workload, X, y, *, seed=0, device="cpu"):
        self._start(workload, device)
        torch = self.torch
        kernel, recurrent, bias, w, b = workload.initial_weights(seed)
        self.lstm = torch.nn.LSTM(workload.features, workload.units, batch_first=True)
        self.head = torch.nn.Linear(workload.units, workload.classes)
        with torch.no_grad():
            for name, value in (("weight_ih_l0", kernel.T), ("weight_hh_l0", recurrent.T),
                                ("bias_ih_l0", bias), ("bias_hh_l0", np.zeros_like(bias))):
                getattr(self.lstm, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
            self.head.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            self.head.bias.copy_(torch.from_numpy(b))
        # Keras's layout has one bias: torch's second stays at zero, or Adam would move the sum twice
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.lstm.to(self.device)
        self.head.to(self.device)
        self.params = [p for p in self.lstm.parameters() if p.requires_grad] + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=workload.lr)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self._data(X, y, seed)

    def _forward(self, xb):
        out, _ = self.lstm(xb)
        return self.head(out[:, -1, :])

    def get_weights(self) -> list:
        p = {n: v.detach().cpu().numpy() for n, v in self.lstm.named_parameters()}
        return [p["weight_ih_l0"].T.copy(), p["weight_hh_l0"].T.copy(), p["bias_ih_l0"] + p["bias_hh_l0"],
                self.head.weight.detach().cpu().numpy().T.copy(), self.head.bias.detach().cpu().numpy().copy()]


def _jax_step(workload):
    import functools

    import jax
    import jax.numpy as jnp

    u, lr, b1, b2, eps = workload.units, workload.lr, 0.9, 0.999, 1e-8

    def loss_fn(params, x, t):
        kernel, recurrent, bias, w, b = params
        zx = jnp.einsum("ntf,fg->tng", x, kernel) + bias  # every step's projection, one matmul

        def cell(carry, z):
            h, c = carry
            z = z + h @ recurrent
            i, f = jax.nn.sigmoid(z[:, :u]), jax.nn.sigmoid(z[:, u:2 * u])
            g, o = jnp.tanh(z[:, 2 * u:3 * u]), jax.nn.sigmoid(z[:, 3 * u:])
            c = f * c + i * g
            return (o * jnp.tanh(c), c), None

        zeros = jnp.zeros((x.shape[0], u), x.dtype)
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), zx)
        logp = jax.nn.log_softmax(h @ w + b, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, m, v, k, x, t):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, t)
        m = jax.tree_util.tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** k, 1 - b2 ** k  # torch.optim.Adam's bias corrections
        params = jax.tree_util.tree_map(lambda p, m_, v_: p - lr / c1 * m_ / (jnp.sqrt(v_) / jnp.sqrt(c2) + eps),
                                        params, m, v)
        return params, m, v, loss

    return step


class JaxSequenceTrainer(JaxEpochs):
    """The LSTM under ``lax.scan``, forward, backward and Adam in one jit call per step."""

    library = "jax"

    def __init__(self, workload, X, y, *, seed=0):
        self._start(workload, X, y, seed)
        jnp = self.jnp
        self.params = [jnp.asarray(a) for a in workload.initial_weights(seed)]
        self.m = [jnp.zeros_like(a) for a in self.params]
        self.v = [jnp.zeros_like(a) for a in self.params]
        self.k = 0
        self._step = _jax_step(workload)

    def _train_batch(self, xb, yb):
        self.k += 1
        self.params, self.m, self.v, loss = self._step(self.params, self.m, self.v, np.float32(self.k), xb, yb)
        return loss

    def get_weights(self) -> list:
        return [np.asarray(a).copy() for a in self.params]


def make_sequence_trainer(label: str, workload, X, y, seed: int = 0):
    """The trainer of ``label`` ("nnkit-<backend>", "torch-cpu", "torch-cuda", "jax") for ``workload``."""
    if not workload.supports(label):
        raise ValueError(f"{workload.name}: no {label} trainer; expected one of {list(workload.libraries)}")
    if label.startswith("nnkit-"):
        return NnkitSequenceTrainer(workload, X, y, backend=label[len("nnkit-"):], seed=seed)
    if label.startswith("torch-"):
        return TorchSequenceTrainer(workload, X, y, seed=seed, device=label[len("torch-"):])
    return JaxSequenceTrainer(workload, X, y, seed=seed)
