"""Large image arrays reused across training steps instead of allocated afresh.

A fresh multi-megabyte np.empty is cheap on its own, but inside a training step glibc hands the
freed blocks back to the system and every step pays the page faults again: W5 on the numba
backend took 3,049 minor faults per step, 15 ms per step against 8 ms with glibc's trimming
turned off (MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_). This pool keeps the arrays instead.
An array is handed out again only while the pool holds its sole reference (sys.getrefcount; a
view of it holds one too), so an output a caller still holds is never overwritten. The numpy and
numba kernel families take their large arrays from it.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict

import numpy as np

MIN_BYTES = 1 << 18  # smaller arrays come from glibc's heap, where reuse costs nothing
PER_SHAPE = 4  # arrays kept per (shape, dtype): a step holds a few of one shape at once
SHAPES = 48  # (shape, dtype) keys kept, least recently used dropped first
MAX_BYTES = 1 << 30  # beyond this many bytes kept, arrays are handed out without being kept
# references to a free array while empty() inspects it: the pool's list, the loop variable and
# getrefcount's own argument
_FREE_REFS = 3

_arrays: OrderedDict = OrderedDict()
_kept = [0]  # bytes of the arrays kept
_lock = threading.Lock()


def empty(shape, dtype):
    """An uninitialised C-contiguous array, one the pool kept from an earlier call where one is
    free (nothing else references it), else a new one it keeps (up to PER_SHAPE per shape)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = dtype.itemsize * math.prod(shape)  # np.prod of a tuple: 2.5 us a call
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    key = (shape, dtype.str)
    with _lock:
        kept = _arrays.get(key)
        if kept is None:
            kept = _arrays[key] = []
            if len(_arrays) > SHAPES:
                _kept[0] -= sum(a.nbytes for a in _arrays.popitem(last=False)[1])
        else:
            _arrays.move_to_end(key)
        for a in kept:
            if sys.getrefcount(a) == _FREE_REFS:
                return a
        a = np.empty(shape, dtype=dtype)
        if len(kept) < PER_SHAPE and _kept[0] + nbytes <= MAX_BYTES:
            kept.append(a)
            _kept[0] += nbytes
        return a


def clear() -> None:
    """Forget every kept array (their memory goes back once nothing else holds them)."""
    with _lock:
        _arrays.clear()
        _kept[0] = 0
