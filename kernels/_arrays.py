"""Which arrays the host kernels (numpy, numba) take: float32/float64 NumPy arrays, C-contiguous
and writable.

Anything else (another namespace, a strided view, an integer array) goes to the generic op, so a
kernel never changes what an op accepts.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_plain(a) -> bool:
    """A float32/float64 ndarray, C-contiguous, with at least one element."""
    return (type(a) is np.ndarray and a.dtype in FLOAT_DTYPES and a.flags.c_contiguous
            and a.size > 0)


def all_plain(first, *others) -> bool:
    """``first`` is plain and every other array is plain with its shape and dtype."""
    if not is_plain(first):
        return False
    for a in others:
        if not is_plain(a) or a.shape != first.shape or a.dtype != first.dtype:
            return False
    return True


def as_rows(a):
    """A 2-D view (rows, last axis) of a C-contiguous array of ndim >= 1."""
    if a.ndim == 2:
        return a
    if a.ndim == 1:
        return a.reshape(1, a.shape[0])
    return a.reshape(-1, a.shape[-1])
