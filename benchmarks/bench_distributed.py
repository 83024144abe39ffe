"""W3 data-parallel over MPI: epoch time on 1 and N ranks (1 BLAS thread each) and the share of
a step spent in the gradient Allreduce.

W3: 784-256-256-10 ReLU, softmax cross-entropy, batch 128 (the global batch), SGD momentum 0.9,
float32, on nk.datasets.mnist_like data. Run from the repository root:

    python benchmarks/bench_distributed.py                # 1 and 2 ranks, 60000 samples, 3 epochs
    python benchmarks/bench_distributed.py --ranks 1,2,4 --samples 12800

The driver launches ``mpiexec -n N`` (the mpich wheel's) once per rank count with
OMP/OPENBLAS/MKL_NUM_THREADS=1 and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the
environment, so OpenBLAS picks its kernel for the CPU; the workers print one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _worker(args) -> None:
    import numpy as np

    import nnkit as nk
    from nnkit.callbacks import Callback
    from nnkit.distributed import DataParallel

    X, y = nk.datasets.mnist_like(args.samples, seed=0)
    model = nk.Sequential([nk.layers.Dense(256, activation="relu", input_dim=784),
                           nk.layers.Dense(256, activation="relu"),
                           nk.layers.Dense(10, activation="softmax")], backend=args.backend, dtype="float32", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.01, momentum=0.9), "sparse_categorical_crossentropy")
    dp = DataParallel(model)
    comm = dp.comm

    class EpochClock(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            comm.Barrier()  # every rank starts the epoch together
            self.t0, self.reduce0 = time.perf_counter(), dp.timings["allreduce_s"]
            self.steps0, self.pack0 = dp.timings["steps"], dp.timings["pack_s"]

        def on_batch_begin(self, batch, logs=None):
            self.b0, self.breduce0 = time.perf_counter(), dp.timings["allreduce_s"]

        def on_batch_end(self, batch, logs=None):
            # per-step figures: their medians see past the moments another process takes a core
            step_s.append(time.perf_counter() - self.b0)
            step_reduce_s.append(dp.timings["allreduce_s"] - self.breduce0)

        def on_epoch_end(self, epoch, logs=None):
            comm.Barrier()
            rows.append({"epoch_s": time.perf_counter() - self.t0,
                         "allreduce_s": dp.timings["allreduce_s"] - self.reduce0,
                         "pack_s": dp.timings["pack_s"] - self.pack0,
                         "steps": dp.timings["steps"] - self.steps0})

    rows: list[dict] = []
    step_s: list[float] = []
    step_reduce_s: list[float] = []
    dp.fit(X, y, epochs=args.epochs + 1, batch_size=128, verbose=0, seed=0, callbacks=[EpochClock()])
    rows = rows[1:]  # the first epoch warms caches and allocators
    warm = -(-args.samples // 128)
    step_s, step_reduce_s = step_s[warm:], step_reduce_s[warm:]
    per_step = (statistics.median(step_s), statistics.median(step_reduce_s),
                statistics.median(r / s for r, s in zip(step_reduce_s, step_s)))

    # the Allreduce alone, every rank ready (no waiting for a slower rank)
    from mpi4py import MPI

    n_params = model.count_params()
    buf = np.ones(n_params + 1, dtype=np.float32)
    times = []
    for _ in range(200):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t0)
    isolated = statistics.median(times)

    gathered = comm.gather(rows, root=0)
    per_step_all = comm.gather(per_step, root=0)
    if dp.rank != 0:
        return
    from threadpoolctl import threadpool_info

    blas = [f"{p.get('internal_api')} {p.get('architecture')} threads={p.get('num_threads')}"
            for p in threadpool_info() if p.get("user_api") == "blas"]
    epoch_s = [max(r[e]["epoch_s"] for r in gathered) for e in range(len(rows))]
    steps = rows[0]["steps"] or -(-args.samples // 128)
    allreduce = [statistics.mean(r[e]["allreduce_s"] for r in gathered) for e in range(len(rows))]
    pack = [statistics.mean(r[e]["pack_s"] for r in gathered) for e in range(len(rows))]
    print(json.dumps({
        "ranks": dp.size, "path": dp.path, "samples": args.samples, "backend": args.backend,
        "params": n_params, "buffer_mb": (n_params + 1) * 4 / 1e6, "blas": blas,
        "epoch_s": epoch_s, "epoch_s_median": statistics.median(epoch_s), "epoch_s_best": min(epoch_s),
        "samples_per_s": args.samples / statistics.median(epoch_s),
        "step_ms": 1e3 * statistics.median(epoch_s) / steps,
        "allreduce_ms_per_step": 1e3 * statistics.median(allreduce) / steps,
        "pack_ms_per_step": 1e3 * statistics.median(pack) / steps,
        "allreduce_share": statistics.median(a / e for a, e in zip(allreduce, epoch_s)),
        "pack_share": statistics.median(p / e for p, e in zip(pack, epoch_s)),
        "isolated_allreduce_ms": 1e3 * isolated,
        # medians over single steps, per rank
        "step_ms_median_of_steps": [1e3 * p[0] for p in per_step_all],
        "allreduce_ms_median_of_steps": [1e3 * p[1] for p in per_step_all],
        "allreduce_share_median_of_steps": [p[2] for p in per_step_all],
    }), flush=True)


def _driver(args) -> int:
    from nnkit.distributed import find_mpiexec

    mpiexec = find_mpiexec()
    if mpiexec is None:
        print("no mpiexec found: pip install nnkit[mpi]", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    results = []
    for n in args.ranks:
        command = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
                   "--samples", str(args.samples), "--epochs", str(args.epochs), "--backend", args.backend]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return proc.returncode
        line = [s for s in proc.stdout.splitlines() if s.startswith("{")][-1]
        results.append(json.loads(line))
        print(line, flush=True)
    base = results[0]["epoch_s_median"]
    print(f"\nW3 ({results[0]['samples']} samples/epoch, batch 128 global, float32, {args.backend}, "
          f"1 BLAS thread per rank; {results[0]['blas']})")
    print("| ranks | epoch s (median / best) | samples/s | speed-up | step ms | Allreduce ms/step "
          "(share) | pack+unpack ms/step | Allreduce alone ms | median step: ms, Allreduce ms (share), rank 0 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['ranks']} | {r['epoch_s_median']:.3f} / {r['epoch_s_best']:.3f} | {r['samples_per_s']:,.0f} | "
              f"{base / r['epoch_s_median']:.2f}x | {r['step_ms']:.3f} | {r['allreduce_ms_per_step']:.3f} "
              f"({100 * r['allreduce_share']:.1f}%) | {r['pack_ms_per_step']:.3f} | "
              f"{r['isolated_allreduce_ms']:.3f} | {r['step_ms_median_of_steps'][0]:.3f}, "
              f"{r['allreduce_ms_median_of_steps'][0]:.3f} ({100 * r['allreduce_share_median_of_steps'][0]:.1f}%) |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up epoch")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    return _driver(args)


if __name__ == "__main__":
    sys.exit(main())
