"""Dropout kernel for CuPy: mask and scale in one pass over CuPy's device uniforms (layers.cu)."""

from __future__ import annotations

import numpy as np

from nnkit.ops import layers as generic

from . import _loader

SOURCE = "layers.cu"
GROUP = _loader.register(SOURCE, [f"nnkit::dropout<{c}>" for c in ("float", "double")])


def dropout(x, u, rate, *, xp):
    """Inverted dropout: mask = (u >= rate) / (1 - rate), y = x * mask; returns (y, mask).

    ``u`` holds uniform [0, 1) numbers the backend drew with CuPy's device generator; one pass
    writes both the mask (kept for the backward) and y.
    """
    ctype = _loader.c_type(x, u)
    if ctype is None or u.shape != x.shape or not _loader.is_number(rate):
        return generic.dropout(x, u, rate, xp=xp)
    kernel = _loader.function(SOURCE, GROUP, f"nnkit::dropout<{ctype}>")
    cp = _loader.cupy()
    x, u = _loader.contiguous(x), _loader.contiguous(u)
    y, mask = cp.empty_like(x), cp.empty_like(x)
    real = _loader.REAL[ctype]
    _loader.launch_elementwise(kernel, x.size, (x, u, y, mask, np.int64(x.size), real(rate),
                                                real(1.0 / (1.0 - rate))))
    return y, mask


KERNELS = {"dropout": dropout}
