"""Serial or parallel: which variant of a kernel runs, by the number of elements it touches.

Thread start-up makes a ``parallel=True`` kernel slower than the serial one on small arrays, and
on this project's 2-core machines a parallel kernel started right after a multi-threaded BLAS
call fights OpenBLAS's still-spinning threads (35x slower measured, shared/PERF.md). Row-wise
kernels (bias + activation and their backward, losses) always sit right next to a matmul in a
training step, so they stay serial at every size; the thresholds below were measured with
benchmarks/bench_kernels_numba.py inside a training loop, not in isolation.
"""

from __future__ import annotations

import math

# elements from which a kernel's parallel variant wins inside a training step (inf: never)
PARALLEL_MIN_SIZE = {
    "rowwise": math.inf,
    "elementwise": math.inf,
    "optimizer": math.inf,
}


def use_parallel(kind: str, size: int) -> bool:
    """Whether a kernel of ``kind`` ("rowwise", "elementwise", "optimizer") on ``size`` elements
    runs its parallel variant."""
    return size >= PARALLEL_MIN_SIZE[kind]
