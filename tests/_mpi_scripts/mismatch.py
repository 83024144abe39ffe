"""Rank 1 builds a wider hidden layer than rank 0: fit must raise on every rank, naming both."""

import sys

import numpy as np

import nnkit as nk
from nnkit.distributed import rank

r = rank()
X = np.random.default_rng(0).normal(size=(32, 3))
y = X[:, :1]
model = nk.Sequential([nk.layers.Dense(4 + r, activation="tanh", input_dim=3), nk.layers.Dense(1)],
                      backend="numpy", dtype="float64", seed=0)
model.compile("sgd", "mse")
try:
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, distributed=True)
    message = "no error"
except ValueError as exc:
    message = f"ValueError: {exc}"
with open(f"{sys.argv[1]}/mismatch_rank{r}.txt", "w") as f:
    f.write(message)
