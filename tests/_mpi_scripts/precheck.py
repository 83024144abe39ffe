"""Rank 1 fails fit's own input checks, before the distributed engine starts: every rank must
raise with rank 1's message and the job end, also where rank 1 catches its error and goes on.

Usage: precheck.py OUT MODE [mpi4py-first]; MODE: nan | width | caught. Each rank writes the
message it got to OUT/rank<r>.txt, then re-raises (rank 1 in "caught" mode goes on instead)."""

import sys

if "mpi4py-first" in sys.argv:
    from mpi4py import MPI  # noqa: F401  (the user's script set MPI up itself)

import time
from pathlib import Path

import numpy as np

import nnkit as nk
from nnkit.distributed import rank

out, mode = Path(sys.argv[1]), sys.argv[2]
r = rank()
X = np.random.default_rng(0).normal(size=(32, 3))
y = X[:, :1] * 2.0
if r == 1 and mode in ("nan", "caught"):
    X[5, 1] = np.nan
if r == 1 and mode == "width":
    X = np.ones((32, 4))
# "width": the first layer declares 3 inputs (the model is built when it is made) and rank 1's rows
# have 4; otherwise the model is unbuilt and must stay so when fit is refused
declared = 3 if mode == "width" else None
model = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=declared), nk.layers.Dense(1)],
                      backend="numpy", dtype="float64", seed=0)
model.compile(nk.optimizers.SGD(lr=0.01), "mse")
try:
    model.fit(X, y, epochs=3, batch_size=8, verbose=0, seed=0, distributed=True)
except (ValueError, TypeError) as exc:
    (out / f"rank{r}.txt").write_text(f"{type(exc).__name__}: {exc}\nbuilt={model.built}\n")
    from mpi4py import MPI

    MPI.COMM_WORLD.Barrier()  # both reports written before either rank goes on (and aborts)
    if mode == "caught" and r == 1:
        time.sleep(60)  # goes on with something else: rank 0's abort must end the job
        sys.exit(0)
    raise
(out / f"rank{r}.txt").write_text("trained\n")
