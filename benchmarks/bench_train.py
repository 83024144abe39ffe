"""One training epoch of each reference workload W1-W5, per nnkit backend, beside the
hand-written NumPy step ("numpy-hand", the fully connected W1-W4) in the same run.

    pytest benchmarks/bench_train.py --benchmark-only
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import backend_params
from benchmarks.workloads import HAND_WORKLOAD_NAMES, WORKLOAD_NAMES, bench_epoch, epoch_trainer


@pytest.mark.parametrize("workload", WORKLOAD_NAMES)
@pytest.mark.parametrize("backend", backend_params())
def test_epoch_nnkit(benchmark, backend, workload):
    trainer = epoch_trainer(f"nnkit-{backend}", workload)
    bench_epoch(benchmark, trainer)


@pytest.mark.parametrize("workload", HAND_WORKLOAD_NAMES)
def test_epoch_numpy_hand(benchmark, workload):
    trainer = epoch_trainer("numpy-hand", workload)
    bench_epoch(benchmark, trainer)
