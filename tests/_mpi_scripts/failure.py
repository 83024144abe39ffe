"""Rank 1 raises in the middle of training while rank 0 goes on into the next Allreduce: the
excepthook nnkit.distributed installs must abort the whole job instead of leaving rank 0 waiting."""

import numpy as np

import nnkit as nk
from nnkit.callbacks import LambdaCallback
from nnkit.distributed import rank


def fail(epoch, logs):
    if rank() == 1 and epoch == 1:
        raise RuntimeError("rank 1 failed on purpose")


X = np.random.default_rng(0).normal(size=(64, 3))
y = X[:, :1] * 2.0
model = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=3), nk.layers.Dense(1)],
                      backend="numpy", dtype="float64", seed=0)
model.compile(nk.optimizers.SGD(lr=0.01), "mse")
model.fit(X, y, epochs=100000, batch_size=8, verbose=0, seed=0, distributed=True,
          callbacks=[LambdaCallback(on_epoch_end=fail)])
