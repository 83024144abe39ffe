"""The cupy backend's data set on the device: what fits, and an epoch's shuffle without a copy.

fit moves a data set to the GPU whole when it takes at most DEVICE_DATA_FRACTION (40%) of the free
device memory, counted in the bytes it takes there: features in the model's dtype (uint8 pixels
are four times larger as float32), sparse labels as int64. Each epoch's shuffle gathers the rows
through a permutation on the device into one buffer allocated for the whole fit, so the data set
and one shuffled copy (at most 80% of what was free) are all fit holds, never a second copy while
the first is alive.
"""

from __future__ import annotations

import numpy as np

__all__ = ["device_nbytes", "fits", "host_checked", "EpochShuffle"]

LABEL_BYTES = 8  # sparse labels become int64 on the device


def _is_host_array(a) -> bool:
    return a is not None and type(a).__module__ == "numpy"


def device_nbytes(model, arrays) -> int:
    """Bytes the host arrays of ``arrays`` = (X, y, ...) take once moved: X in the model's dtype, y
    in the dtype its loss takes (int64 labels or the model's dtype); device arrays count nothing."""
    itemsize = np.dtype(model.backend.dtype_name(model.dtype)).itemsize
    sparse = getattr(model.loss, "sparse", False)
    total = 0
    for position, a in enumerate(arrays):
        if not _is_host_array(a):
            continue
        total += a.size * (LABEL_BYTES if position == 1 and sparse else itemsize)
    return total


def fits(model, arrays) -> bool:
    """Whether fit, evaluate and predict should move ``arrays`` to the device whole."""
    nbytes = device_nbytes(model, arrays)
    return nbytes == 0 or model.backend.fits_on_device(nbytes)


def host_checked(model, *arrays):
    """The host backend where a device model is handed host arrays for one step (train_on_batch):
    they are checked there, where reading a value costs no wait for the device, then moved; None
    otherwise (a first layer with its own data check, Embedding's, checks on the device)."""
    from nnkit.backend import get_backend

    first = model.layers[0] if getattr(model, "layers", None) else None
    if model.backend.is_host or hasattr(first, "check_input") or not all(map(_is_host_array, arrays)):
        return None
    return get_backend("numpy")


class EpochShuffle:
    """``shuffle(rows) -> (X[rows], y[rows])`` on the device: into two buffers made at the first
    epoch and reused by every later one (CuPy's take with out=); other backends gather afresh."""

    def __init__(self, backend, X, y):
        self.backend, self.X, self.y = backend, X, y
        self._buffers = None

    def __call__(self, rows):
        be = self.backend
        cp = be.array_module
        if be.is_host or cp is None:
            xp = be.xp
            return xp.take(self.X, rows, axis=0), xp.take(self.y, rows, axis=0)
        if self._buffers is None:
            self._buffers = (cp.empty_like(self.X), cp.empty_like(self.y))
        Xs, ys = self._buffers
        cp.take(self.X, rows, axis=0, out=Xs)
        cp.take(self.y, rows, axis=0, out=ys)
        return Xs, ys
