"""The reference workloads W1-W5 for the benchmark suites (defined once, in nnkit.bench)."""

from __future__ import annotations

from nnkit.bench.trainers import make_trainer
from nnkit.bench.workloads import WORKLOADS, Workload, get_workload

__all__ = ["WORKLOADS", "Workload", "get_workload", "epoch_trainer", "WORKLOAD_NAMES", "HAND_WORKLOAD_NAMES"]

WORKLOAD_NAMES = list(WORKLOADS)
HAND_WORKLOAD_NAMES = [name for name, wl in WORKLOADS.items() if wl.supports("numpy-hand")]


def epoch_trainer(label: str, name: str, seed: int = 0):
    """A warmed-up trainer of ``label`` on workload ``name`` with one short epoch of data
    (W3: 16 batches, W4: 2), ready for ``trainer.run_epochs(1)``."""
    wl = get_workload(name)
    if not getattr(wl, "supports", lambda _label: True)(label):
        import pytest

        pytest.skip(f"{name} has no {label} trainer")
    X, y = wl.make_data(wl.quick_batches, seed=seed)
    trainer = make_trainer(label, wl, X, y, seed=seed)
    trainer.run_epochs(1)  # JIT compilation and first-call costs stay out of the timings
    return trainer


def epoch_info(trainer) -> dict:
    """extra_info for a benchmark of one epoch: library, steps, samples, FLOP and MAC."""
    wl = trainer.workload
    steps = trainer.steps_per_epoch
    return {"library": trainer.label, "workload": wl.name, "steps": steps,
            "samples": steps * wl.batch, "flop": steps * wl.flops_per_step(),
            "synaptic_updates": steps * wl.macs_per_step()}


def bench_epoch(benchmark, trainer) -> None:
    """Benchmark one epoch; the heavy workloads (>= 1 GFLOP per step) in 3 fixed rounds."""
    benchmark.group = f"epoch {trainer.workload.name}"
    benchmark.extra_info.update(epoch_info(trainer))
    if trainer.workload.flops_per_step() >= 1e9:
        benchmark.pedantic(trainer.run_epochs, args=(1,), rounds=3, iterations=1)
    else:
        benchmark(trainer.run_epochs, 1)
