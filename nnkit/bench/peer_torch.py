"""PyTorch eager peer: torch.nn + torch.optim, the usual training loop.

Threads: as many as NumPy's BLAS uses (threadpoolctl), so both libraries get the same cores.
"""

from __future__ import annotations

import numpy as np

from nnkit.bench.trainers import EpochLoop
from nnkit.bench.workloads import Workload

__all__ = ["TorchTrainer", "TorchEpochs", "blas_threads"]


def blas_threads(default: int = 2) -> int:
    """Threads of NumPy's BLAS pool, the count every library is given."""
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        return max(counts) if counts else default
    except Exception:  # threadpoolctl missing or unable to inspect: keep the default
        return default


class TorchEpochs(EpochLoop):
    """EpochLoop on torch tensors: rows reordered on the device, the losses summed there; the
    device, threads and data set-up, the eager step and the sync every torch trainer shares."""

    def _start(self, workload, device) -> None:
        """torch imported, the device chosen (CPU threads: as many as NumPy's BLAS), labelled."""
        import torch

        self.torch, self.workload = torch, workload
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch-cuda: torch.cuda.is_available() is False")
        if self.device.type == "cpu":
            torch.set_num_threads(blas_threads())
        self.label = f"torch-{self.device.type}"
        self.version = torch.__version__

    def _data(self, X, y, seed) -> None:
        """The data set on the device, once; the epoch orders' generator."""
        self.X = self.torch.from_numpy(np.ascontiguousarray(X)).to(self.device)
        self.y = self.torch.from_numpy(np.ascontiguousarray(y)).to(self.device)
        self.steps_per_epoch = X.shape[0] // self.workload.batch
        self.rng = np.random.default_rng(seed)

    def _forward(self, xb):
        return self.model(xb)

    def _train_batch(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self._forward(xb), yb)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def describe(self) -> dict:
        return {"threads": self.torch.get_num_threads(), "device": str(self.device)}

    def _epoch_data(self, order):
        if order is None:
            return self.X, self.y
        idx = self.torch.from_numpy(order).to(self.device)
        return self.X[idx], self.y[idx]

    def _mean_loss(self, losses) -> float:
        total = losses[0]
        for loss in losses[1:]:  # summed on the device, read back once
            total = total + loss
        return float(total) / self.steps_per_epoch


class TorchTrainer(TorchEpochs):
    """torch.nn.Sequential of Linear layers, torch.optim.SGD, eager mode, on CPU or CUDA."""

    library = "torch"

    def __init__(self, workload: Workload, X, y, *, seed=0, device="cpu"):
        self._start(workload, device)
        torch = self.torch
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
        self._data(np.asarray(X, dtype=np.float32), y, seed)

    def get_weights(self) -> list:
        out = []
        for m in self.model:
            if isinstance(m, self.torch.nn.Linear):
                out.append(m.weight.detach().cpu().numpy().T.copy())
                out.append(m.bias.detach().cpu().numpy().copy())
        return out
