"""DataParallel(model).fit with a ModelCheckpoint into a per-rank folder: only rank 0's fills."""

import json
import os
import sys

import numpy as np

import nnkit as nk
from nnkit import distributed
from nnkit.distributed import DataParallel

out_dir = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4))
y = rng.integers(0, 2, 64).astype(np.float64)
model = nk.Sequential([nk.layers.Dense(6, activation="relu", input_dim=4),
                       nk.layers.Dense(1, activation="sigmoid")], backend="numpy", dtype="float64", seed=0)
model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "binary_crossentropy", ["accuracy"])
dp = DataParallel(model)
folder = os.path.join(out_dir, f"rank{dp.rank}")
os.makedirs(folder, exist_ok=True)
checkpoint = nk.ModelCheckpoint(os.path.join(folder, "model_{epoch}.npz"))
history = dp.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0, callbacks=[checkpoint])
np.savez(os.path.join(out_dir, f"final_rank{dp.rank}.npz"), *model.get_weights())
with open(os.path.join(out_dir, f"info_rank{dp.rank}.json"), "w") as f:
    json.dump({"path": dp.path, "size": dp.size, "world_size": distributed.comm.Get_size(), "steps": dp.timings["steps"],
               "enabled": checkpoint.enabled, "loss": history.history["loss"]}, f)
