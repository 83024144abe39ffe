"""One training epoch of W1-W4 in PyTorch eager and in JAX (a jitted whole step), each skipped
where the library is not installed. The implementations are nnkit.bench.peer_torch and
nnkit.bench.peer_jax, which ``nnkit bench`` runs too.

In this suite the peers share a process with NumPy's BLAS threads, which can spin against
theirs (PERF.md, item 9); ``nnkit bench`` gives every library its own process and is the
figure to quote.

    pytest benchmarks/peers --benchmark-only
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import installed
from benchmarks.workloads import WORKLOAD_NAMES, bench_epoch, epoch_trainer

PEERS = [pytest.param("torch-cpu", id="torch-cpu",
                      marks=[] if installed("torch") else [pytest.mark.skip(reason="torch not installed")]),
         pytest.param("jax", id="jax",
                      marks=[] if installed("jax") else [pytest.mark.skip(reason="jax not installed")])]


@pytest.mark.parametrize("workload", WORKLOAD_NAMES)
@pytest.mark.parametrize("peer", PEERS)
def test_epoch_peer(benchmark, peer, workload):
    trainer = epoch_trainer(peer, workload)
    bench_epoch(benchmark, trainer)
