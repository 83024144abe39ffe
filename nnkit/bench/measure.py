"""The measurements a worker process makes: the fp32 GEMM peak and a workload's training speed
and energy. Imported by the worker (nnkit.bench._worker) and, for its constants, by the runner.
"""

from __future__ import annotations

import math
import time

__all__ = ["RESULT_MARKER", "blas_info", "measure_peak", "measure_training", "median"]

RESULT_MARKER = "NNKIT-BENCH-RESULT "


def blas_info() -> list[dict]:
    """threadpoolctl's view of the BLAS and OpenMP pools loaded in this process."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: p.get(k) for k in keys} for p in threadpool_info()]


def measure_peak(n: int, repeats: int) -> dict:
    """fp32 GEMM peak of np.matmul on n x n matrices: GFLOP/s = 2 n^3 / t, best and median."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up: thread pool start, page faults of c
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    flop = 2.0 * n ** 3
    times.sort()
    return {"n": n, "repeats": repeats, "seconds": times, "flop": flop,
            "gflops_best": flop / times[0] / 1e9,
            "gflops_median": flop / times[len(times) // 2] / 1e9,
            "numpy": np.__version__, "blas": blas_info()}


def _timed_epochs(trainer, epochs: int) -> float:
    trainer.sync()
    t0 = time.perf_counter()
    trainer.run_epochs(epochs)
    trainer.sync()
    return time.perf_counter() - t0


def measure_training(spec: dict) -> dict:
    """Warm up, size the repeats to ``seconds``, then time ``repeats`` blocks of whole epochs,
    each inside an energy meter."""
    from nnkit import energy
    from nnkit.bench.trainers import make_trainer
    from nnkit.bench.workloads import get_workload

    wl = get_workload(spec["workload"])
    seconds, repeats = float(spec["seconds"]), int(spec["repeats"])
    t0 = time.perf_counter()
    X, y = wl.make_data(int(spec["n_batches"]), seed=int(spec.get("seed", 0)))
    trainer = make_trainer(spec["label"], wl, X, y, seed=int(spec.get("seed", 0)))
    setup = time.perf_counter() - t0
    # the first epoch pays JIT compilation, first-call and page-fault costs: reported apart
    warmup = _timed_epochs(trainer, 1)
    per_repeat = seconds / repeats
    epoch = warmup if warmup >= per_repeat else _timed_epochs(trainer, 1)
    epochs = max(1, int(round(per_repeat / epoch)))
    meter = energy.make_meter(spec.get("energy", "auto"))
    steps = epochs * trainer.steps_per_epoch
    blocks = []
    try:
        for _ in range(repeats):
            with energy.measure(meter=meter, sync=trainer.sync) as m:
                loss = trainer.run_epochs(epochs)
            blocks.append({"seconds": m.seconds, "joules": m.joules, "steps": steps, "loss": loss})
    finally:
        meter.close()
    return {
        "label": trainer.label, "library": trainer.library, "version": trainer.version,
        "workload": wl.name, "batch": wl.batch, "steps_per_epoch": trainer.steps_per_epoch,
        "blocks": blocks, "setup_seconds": setup, "warmup_seconds": warmup,
        "final_loss": blocks[-1]["loss"], "loss_finite": math.isfinite(blocks[-1]["loss"]),
        "energy": {"method": m.method, "is_estimate": m.is_estimate,
                   "assumptions": m.assumptions},
        "details": trainer.describe(), "blas": blas_info(),
    }


def median(values):
    """The middle value (mean of the two middle ones for an even count)."""
    values = sorted(values)
    k = len(values) // 2
    return values[k] if len(values) % 2 else 0.5 * (values[k - 1] + values[k])
