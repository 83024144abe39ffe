"""The convolutional workload's trainers: nnkit, PyTorch (channels-first, eager, as PyTorch users
write it) and JAX (``lax.conv_general_dilated`` under jit, NHWC).

Every library starts from the workload's weights: PyTorch's are transposed to its layouts and its
first Dense's rows permuted to its (c, h, w) Flatten.
"""

from __future__ import annotations

import numpy as np

from nnkit.bench.peer_jax import JaxTrainer
from nnkit.bench.peer_torch import TorchTrainer
from nnkit.bench.trainers import NnkitTrainer
from nnkit.bench.workload_cnn import ConvWorkload

__all__ = ["make_cnn_trainer", "CnnNnkitTrainer", "CnnTorchTrainer", "CnnJaxTrainer"]


def _nnkit_layers(wl: ConvWorkload):
    import nnkit as nk

    L = nk.layers
    layers = []
    for i, f in enumerate(wl.filters):
        layers += [L.Conv2D(f, wl.kernel, activation="relu", input_shape=wl.image if i == 0 else None),
                   L.MaxPool2D(2)]
    layers.append(L.Flatten())
    for i, units in enumerate(wl.dense):
        layers.append(L.Dense(units, activation="softmax" if i == len(wl.dense) - 1 else "relu"))
    return layers


class CnnNnkitTrainer(NnkitTrainer):
    """nnkit's Sequential of the workload's layers, trained by ``model.fit``."""

    def _model(self, nk, workload, seed):
        model = nk.Sequential(_nnkit_layers(workload), backend=self.backend, dtype="float32", seed=seed)
        model.build(workload.image)
        return model


def _flatten_permutation(wl: ConvWorkload):
    """perm with torch_row = nnkit_row[perm]: nnkit flattens (h, w, c), PyTorch (c, h, w)."""
    stages, _ = wl.stages()
    _, _, _, c, ho, wo = stages[-1]
    h, w = ho // 2, wo // 2
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


class CnnTorchTrainer(TorchTrainer):
    """torch.nn Conv2d/MaxPool2d/Linear in NCHW, as PyTorch users write it; torch.optim.SGD."""

    def __init__(self, workload: ConvWorkload, X, y, *, seed=0, device="cpu"):
        self._start(workload, device)
        torch = self.torch
        weights = workload.initial_weights(seed)
        modules, c = [], workload.image[2]
        tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        for i, f in enumerate(workload.filters):
            conv = torch.nn.Conv2d(c, f, workload.kernel)
            with torch.no_grad():
                conv.weight.copy_(tensor(weights[2 * i].transpose(3, 2, 0, 1)))
                conv.bias.copy_(tensor(weights[2 * i + 1]))
            modules += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
            c = f
        modules.append(torch.nn.Flatten())
        k = 2 * len(workload.filters)
        perm = _flatten_permutation(workload)
        for j, (n_in, n_out) in enumerate(workload.layers):
            lin = torch.nn.Linear(n_in, n_out)
            W = weights[k + 2 * j]
            with torch.no_grad():
                lin.weight.copy_(tensor((W[perm] if j == 0 else W).T))
                lin.bias.copy_(tensor(weights[k + 2 * j + 1]))
            modules.append(lin)
            if j < len(workload.layers) - 1:
                modules.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*modules).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=workload.lr, momentum=workload.momentum)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self._data(X.transpose(0, 3, 1, 2).astype(np.float32), y, seed)

    def get_weights(self) -> list:
        out, first_dense = [], True
        perm = np.argsort(_flatten_permutation(self.workload))
        for m in self.model:
            if isinstance(m, self.torch.nn.Conv2d):
                out += [m.weight.detach().cpu().numpy().transpose(2, 3, 1, 0).copy(),
                        m.bias.detach().cpu().numpy().copy()]
            elif isinstance(m, self.torch.nn.Linear):
                W = m.weight.detach().cpu().numpy().T
                out += [(W[perm] if first_dense else W).copy(), m.bias.detach().cpu().numpy().copy()]
                first_dense = False
        return out


def _make_jax_step(wl: ConvWorkload):
    import functools

    import jax
    import jax.numpy as jnp
    from jax import lax

    n_conv, lr, mu = len(wl.filters), wl.lr, wl.momentum

    def loss_fn(params, x, t):
        h = x
        for K, b in params[:n_conv]:
            h = lax.conv_general_dilated(h, K, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            h = jax.nn.relu(h + b)
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = jnp.reshape(h, (h.shape[0], -1))
        for i, (W, b) in enumerate(params[n_conv:]):
            h = h @ W + b
            if i < len(params) - n_conv - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.sum(jnp.take_along_axis(logp, t[:, None], axis=1)) / x.shape[0]

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, velocity, x, t):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, t)
        velocity = jax.tree_util.tree_map(lambda v, g: mu * v + g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocity)
        return params, velocity, loss

    return step


class CnnJaxTrainer(JaxTrainer):
    """The whole step as one jit call, NHWC as nnkit, fed NumPy batches."""

    @staticmethod
    def _make_step(workload):
        return _make_jax_step(workload)


def make_cnn_trainer(label: str, workload: ConvWorkload, X, y, seed: int = 0):
    """The trainer called ``label`` for a convolutional workload."""
    if label.startswith("nnkit-"):
        return CnnNnkitTrainer(workload, X, y, backend=label[len("nnkit-"):], seed=seed)
    if label in ("torch-cpu", "torch-cuda"):
        return CnnTorchTrainer(workload, X, y, seed=seed, device=label[len("torch-"):])
    if label == "jax":
        return CnnJaxTrainer(workload, X, y, seed=seed)
    raise ValueError(f"library: {label!r} does not run the convolutional workload {workload.name}")
