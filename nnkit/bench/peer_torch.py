"""PyTorch eager peer: torch.nn + torch.optim, the usual training loop.

Threads: as many as NumPy's BLAS uses (threadpoolctl), so both libraries get the same cores.
"""

from __future__ import annotations

import numpy as np

from nnkit.bench.trainers import epoch_orders
from nnkit.bench.workloads import Workload

__all__ = ["TorchTrainer", "blas_threads"]


def blas_threads(default: int = 2) -> int:
    """Threads of NumPy's BLAS pool, the count every library is given."""
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        return max(counts) if counts else default
    except Exception:  # threadpoolctl missing or unable to inspect: keep the default
        return default


class TorchTrainer:
    """torch.nn.Sequential of Linear layers, torch.optim.SGD, eager mode, on CPU or CUDA."""

    library = "torch"

    def __init__(self, workload: Workload, X, y, *, seed=0, device="cpu"):
        import torch

        self.torch = torch
        self.workload = workload
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch-cuda: torch.cuda.is_available() is False")
        if self.device.type == "cpu":
            torch.set_num_threads(blas_threads())
        self.label = f"torch-{self.device.type}"
        self.version = torch.__version__
        weights = workload.initial_weights(seed)
        modules = []
        for i, (n_in, n_out) in enumerate(workload.layers):
            lin = torch.nn.Linear(n_in, n_out)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[2 * i].T)))
                lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
            modules.append(lin)
            if i < len(workload.layers) - 1:
                modules.append(torch.nn.Tanh() if workload.hidden == "tanh" else torch.nn.ReLU())
        self.model = torch.nn.Sequential(*modules).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=workload.lr, momentum=workload.momentum)
        if workload.loss == "binary_crossentropy":
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        elif workload.loss == "sparse_categorical_crossentropy":
            self.loss_fn = torch.nn.CrossEntropyLoss()
        else:
            # nnkit's MSE: 1/N sum_n 1/2 ||out_n - t_n||^2 (torch's MSELoss averages over units too)
            self.loss_fn = lambda out, t: 0.5 * ((out - t) ** 2).sum(dim=1).mean()
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device)
        self.y = torch.from_numpy(np.ascontiguousarray(y)).to(self.device)
        self.steps_per_epoch = X.shape[0] // workload.batch
        self.rng = np.random.default_rng(seed)

    def run_epochs(self, epochs: int, shuffle: bool = True) -> float:
        torch, B = self.torch, self.workload.batch
        model, opt, loss_fn = self.model, self.opt, self.loss_fn
        loss_value = 0.0
        for _ in range(epochs):
            order = epoch_orders(self.X.shape[0], self.rng, shuffle)
            if order is None:
                X, y = self.X, self.y
            else:
                idx = torch.from_numpy(order).to(self.device)
                X, y = self.X[idx], self.y[idx]
            total = None
            for start in range(0, self.steps_per_epoch * B, B):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[start:start + B]), y[start:start + B])
                loss.backward()
                opt.step()
                total = loss.detach() if total is None else total + loss.detach()
            loss_value = float(total) / self.steps_per_epoch
        return loss_value

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def get_weights(self) -> list:
        out = []
        for m in self.model:
            if isinstance(m, self.torch.nn.Linear):
                out.append(m.weight.detach().cpu().numpy().T.copy())
                out.append(m.bias.detach().cpu().numpy().copy())
        return out

    def describe(self) -> dict:
        return {"threads": self.torch.get_num_threads(), "device": str(self.device)}
