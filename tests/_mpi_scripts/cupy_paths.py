"""Train on the cupy backend data-parallel (under mpiexec, with the simulated GPU on PYTHONPATH)
and save rank 0's weights, History, gradient path and step count to OUT/<name>.npz."""

import sys

import numpy as np

import nnkit as nk
from nnkit.distributed import DataParallel

FIT = dict(epochs=3, batch_size=12, verbose=0, seed=11)


def model():
    m = nk.Sequential([nk.layers.Dense(8, activation="tanh", input_dim=5), nk.layers.Dropout(0.25),
                       nk.layers.Dense(3, activation="softmax")], backend="cupy", dtype="float64", seed=3)
    m.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    return m


def data():
    rng = np.random.default_rng(7)
    return rng.normal(size=(61, 5)), rng.integers(0, 3, 61)


if __name__ == "__main__":
    out, name = sys.argv[1], sys.argv[2]
    dp = DataParallel(model())
    history = dp.fit(*data(), **FIT)
    if dp.rank == 0:
        np.savez(f"{out}/{name}.npz", *dp.model.get_weights(), loss=np.array(history.history["loss"]),
                 path=np.array(dp.path), steps=np.array(dp.timings["steps"]))
