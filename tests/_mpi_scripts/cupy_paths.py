"""Train on the cupy backend data-parallel (under mpiexec, with the simulated GPU on PYTHONPATH)
and save rank 0's weights, History, gradient path and step count to OUT/<name>.npz, with what every
rank saw: its device, the NCCL communicators it made and its waits for the device per fit.

``staged`` as a third argument: the device is too small for the data set, which fit then stages
from the host batch by batch."""

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


def _waits(dp, **fit):
    import cupy

    cupy.reset_transfers()
    history = dp.fit(*data(), **{**FIT, **fit})
    return history, cupy.syncs()


if __name__ == "__main__":
    import cupy
    from cupy.cuda import device, nccl

    out, name = sys.argv[1], sys.argv[2]
    dp = DataParallel(model())
    if sys.argv[3:] == ["staged"]:
        device.MEMORY["free"] = device.free_now(7_300)  # 40% of it: less than the 2,928 bytes of data
    history, waits = _waits(dp)
    # a second fit, of another model, with twice the steps: the same communicator, the same waits
    twin = DataParallel(model())
    _, waits_fine = _waits(twin, batch_size=6)
    seen = dp.comm.gather((cupy.cuda.runtime.getDevice(), nccl.NcclCommunicator.created, waits, waits_fine))
    if dp.rank == 0:
        np.savez(f"{out}/{name}.npz", *dp.model.get_weights(), loss=np.array(history.history["loss"]),
                 path=np.array(dp.path), steps=np.array(dp.timings["steps"]), seen=np.array(seen))
