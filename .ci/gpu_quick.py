"""The steps of .ci/gpu-quick that are Python: ``python3 .ci/gpu_quick.py STEP``.

Each step prints what it measured and exits 0 (passed), 77 after a line ``SKIPPED: reason`` (what
it needs is not here: a real device, PyTorch with CUDA, NCCL), or 1 (failed). On the simulated GPU
(NNKIT_GPU_QUICK_SIMULATED=1, CI) every step runs what the simulation can answer and skips, with
its reason, what only a device can: NVRTC, device clocks, PyTorch CUDA.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

import numpy as np

SIMULATED = os.environ.get("NNKIT_GPU_QUICK_SIMULATED") == "1"
OUT = os.environ.get("NNKIT_GPU_QUICK_OUT", ".")
SKIP = 77


class Skip(Exception):
    """A step (or part of one) that cannot run here; the message says why."""


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except Exception as exc:  # a broken install says why instead of stopping the report
        return f"not importable ({type(exc).__name__}: {exc})"
    return getattr(module, "__version__", "?")


def _save(name: str, data: dict) -> None:
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(data, f, indent=2, default=str)


def _cupy():
    from nnkit.backend import _gpu_usable

    usable, why = _gpu_usable()
    if not usable:
        raise RuntimeError(f"the cupy backend is not usable: {why}")
    import cupy

    return cupy


# -- versions and device ---------------------------------------------------------------------------
def tf32_report() -> dict:
    """TF32 on or off for PyTorch's and CuPy's fp32 GEMMs, with the variables that would change it."""
    report = {var: os.environ.get(var, "unset")
              for var in ("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "NVIDIA_TF32_OVERRIDE", "CUPY_TF32")}
    # CuPy's cuBLAS GEMMs use TF32 only when CUPY_TF32=1 (read when CuPy starts)
    report["cupy_tf32"] = "on" if os.environ.get("CUPY_TF32") == "1" else "off"
    try:
        import torch

        report["torch_matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        report["torch_cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        report["torch_float32_matmul_precision"] = torch.get_float32_matmul_precision()
        report["torch_tf32"] = "on" if torch.backends.cuda.matmul.allow_tf32 else "off"
    except ImportError:
        report["torch_tf32"] = "torch not installed"
    return report


def step_versions() -> None:
    import nnkit
    import nnkit._kernels

    info = {"python": sys.version.split()[0], "platform": platform.platform(), "simulated": SIMULATED,
            "nnkit": nnkit.__version__, "nnkit from": os.path.dirname(nnkit.__file__),
            "nnkit._kernels from": list(nnkit._kernels.__path__)}
    for name in ("numpy", "cupy", "torch", "array_api_compat", "pytest", "hypothesis", "pytest_benchmark",
                 "mpi4py", "threadpoolctl", "tqdm"):
        info[name] = _version(name)
    cp = _cupy()
    rt = cp.cuda.runtime
    info["cuda runtime"], info["cuda driver"] = rt.runtimeGetVersion(), rt.driverGetVersion()
    devices = []
    for i in range(rt.getDeviceCount()):
        props = rt.getDeviceProperties(i)
        with cp.cuda.Device(i) as dev:
            free, total = dev.mem_info
            devices.append({"id": i, "name": props["name"].decode() if isinstance(props["name"], bytes)
                            else props["name"], "compute capability": dev.compute_capability,
                            "pci bus": dev.pci_bus_id, "free GiB": round(free / 2**30, 2),
                            "total GiB": round(total / 2**30, 2)})
    info["devices"] = devices
    try:
        import torch

        info["torch cuda"] = {"available": torch.cuda.is_available(), "built for": torch.version.cuda,
                              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    except ImportError:
        pass
    info["tf32"] = tf32_report()
    try:
        import subprocess

        info["nvidia-smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        info["nvidia-smi"] = f"not run ({exc})"
    print(json.dumps(info, indent=2, default=str))
    _save("versions", info)


# -- NVRTC compile of every kernel ---------------------------------------------------------------
def step_nvrtc() -> None:
    import nnkit._kernels.cuda  # noqa: F401  (registers every group of name expressions)
    from nnkit._kernels.cuda import _loader

    _cupy()
    total, failed, t_all = 0, [], time.perf_counter()
    for filename, groups in sorted(_loader.GROUPS.items()):
        t0 = time.perf_counter()
        n = 0
        for group in groups:
            try:
                for expression in group:
                    _loader.function(filename, group, expression)  # compiles the group's module once
                    n += 1
            except Exception as exc:  # every group is tried: the log names each one that fails
                failed.append(group[0])
                print(f"{filename}: the module of {group[0]} ... failed: {type(exc).__name__}: {exc}")
        total += n
        print(f"{filename}: {len(groups)} modules, {n} kernels in {time.perf_counter() - t0:.2f} s")
    how = "the CPU emulator (simulated GPU: no NVRTC)" if SIMULATED else "NVRTC, cold cache"
    print(f"{total} kernels compiled by {how} in {time.perf_counter() - t_all:.2f} s")
    if failed:
        raise SystemExit(f"{len(failed)} modules failed to compile")


# -- smoke fits --------------------------------------------------------------------------------
def _smoke_model(nk, backend, dtype, seed=3):
    model = nk.Sequential([nk.layers.Dense(32, activation="tanh", input_dim=2),
                           nk.layers.Dense(16, activation="relu"),
                           nk.layers.Dense(3, activation="softmax")], backend=backend, dtype=dtype, seed=seed)
    model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def _spiral(n=300, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    r = rng.uniform(0.1, 1.0, n)
    t = 4.0 * r + 2.0 * np.pi * k / 3 + rng.normal(0, 0.1, n)
    return np.stack([r * np.sin(t), r * np.cos(t)], axis=1), k


def step_smoke() -> None:
    import nnkit as nk

    _cupy()
    X, y = _spiral()
    m32 = _smoke_model(nk, "cupy", "float32")
    h32 = m32.fit(X, y, epochs=30, batch_size=32, verbose=0, seed=1)
    loss = h32.history["loss"]
    print(f"float32 on cupy: loss {loss[0]:.4f} -> {loss[-1]:.4f}, accuracy {h32.history['accuracy'][-1]:.3f}")
    assert np.isfinite(loss).all() and loss[-1] < 0.7 * loss[0], "float32 training did not learn"
    # float64: the same arithmetic as NumPy's up to the order of the sums (GEMM, reductions)
    ref, dev = _smoke_model(nk, "numpy", "float64"), _smoke_model(nk, "cupy", "float64")
    h_ref = ref.fit(X, y, epochs=5, batch_size=32, verbose=0, seed=2)
    h_dev = dev.fit(X, y, epochs=5, batch_size=32, verbose=0, seed=2)
    worst = max(float(np.max(np.abs(a - b) / (np.abs(b) + 1e-3)))
                for a, b in zip(dev.get_weights(), ref.get_weights()))
    loss_gap = max(abs(a - b) for a, b in zip(h_dev.history["loss"], h_ref.history["loss"]))
    print(f"float64 on cupy vs numpy after 5 epochs: weights within {worst:.2e} (relative), losses within "
          f"{loss_gap:.2e}")
    assert worst <= 1e-10 and loss_gap <= 1e-10, "float64 on cupy drifted from NumPy by more than 1e-10"
    p_dev, p_ref = dev.predict(X), ref.predict(X)
    assert isinstance(p_dev, np.ndarray) and np.max(np.abs(p_dev - p_ref)) <= 1e-10
    print("predict agrees with NumPy to 1e-10")


# -- W3/W4 ms per step ------------------------------------------------------------------------------
SPIN_SOURCE = r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""


def _blocking_sync() -> str:
    """Make host waits sleep, not spin (before any CUDA context exists), so the issuing thread's
    CPU time is its host time; says what was done."""
    if SIMULATED:
        return "simulated GPU: waits cost no CPU"
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        dev = ctypes.c_int()
        if cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(dev), 0):
            return "libcuda refused cuInit: host time includes spin-waits"
        if cuda.cuDevicePrimaryCtxSetFlags(dev, 4):  # CU_CTX_SCHED_BLOCKING_SYNC
            return "the primary context exists already: host time includes spin-waits"
        return "blocking sync: host time is the CPU time of issuing"
    except OSError as exc:
        return f"libcuda.so.1 not loadable ({exc}): host time includes spin-waits"


class _Spin:
    """Holds the null stream busy for a while so that the steps queued behind it run back to back."""

    def __init__(self, cp):
        self.cp = cp
        self.kernel = cp.RawKernel(SPIN_SOURCE, "spin")
        # SM clock in kHz (CUDA 13 dropped it from cudaDeviceProp; the attribute stays); the events
        # around the spin say how long it really held the queue
        khz = cp.cuda.runtime.getDeviceProperties(0).get("clockRate") or \
            cp.cuda.Device().attributes.get("ClockRate") or 2_000_000
        self.hz = khz * 1e3

    def __call__(self, seconds: float):
        self.kernel((1,), (1,), (np.int64(seconds * self.hz),))


def _measure(trainer, rounds: int, spin=None, queued=None) -> dict:
    """ms per step: wall (device synchronised around each epoch), host (CPU time of the issuing
    thread), device (the steps of ``queued``, a short trainer, enqueued behind a spin kernel so the
    GPU runs them without waiting for the host; CUDA events around them)."""
    steps = trainer.steps_per_epoch
    walls, hosts = [], []
    for _ in range(rounds):
        trainer.sync()
        t0, c0 = time.perf_counter(), time.thread_time()
        trainer.run_epochs(1)
        trainer.sync()
        walls.append((time.perf_counter() - t0) / steps * 1e3)
        hosts.append((time.thread_time() - c0) / steps * 1e3)
    result = {"steps": steps * rounds, "wall_ms": statistics.median(walls), "host_ms": statistics.median(hosts)}
    if spin is not None and queued is not None:
        try:
            result.update(_device_time(result, spin, queued))
        except Exception as exc:  # the wall and host figures stand without it
            result["device_ms_error"] = f"{type(exc).__name__}: {exc}"
    return result


def _device_time(result: dict, spin, queued) -> dict:
    """Device ms per step of ``queued``'s short epoch, its steps queued behind a spin kernel."""
    cp, devices, held = spin.cp, [], []
    for _ in range(3):
        queued.sync()
        e0, e1, e2 = cp.cuda.Event(), cp.cuda.Event(), cp.cuda.Event()
        e0.record()
        # longer than issuing the steps takes: the queue fills before the GPU reaches it
        spin(max(0.05, 3e-3 * result["host_ms"] * queued.steps_per_epoch))
        e1.record()
        queued.run_epochs(1)
        e2.record()
        e2.synchronize()
        devices.append(cp.cuda.get_elapsed_time(e1, e2) / queued.steps_per_epoch)
        held.append(cp.cuda.get_elapsed_time(e0, e1))
    # if the spin ended before the host had queued the steps, the GPU waited for the host between them
    issue_ms = result["host_ms"] * queued.steps_per_epoch
    return {"device_ms": statistics.median(devices), "device_steps": 3 * queued.steps_per_epoch,
            "spin_ms": statistics.median(held), "queue_held": statistics.median(held) > issue_ms}


def step_bench() -> None:
    how = _blocking_sync()
    cp = _cupy()
    import nnkit.bench.trainers as trainers
    from nnkit.bench.workloads import get_workload

    torch_why = None
    try:
        import torch

        if not torch.cuda.is_available():
            torch_why = "torch.cuda.is_available() is False"
        else:
            torch.backends.cuda.matmul.allow_tf32 = False  # fp32 GEMMs on both sides (CuPy's default)
            torch.backends.cudnn.allow_tf32 = False
    except ImportError:
        torch_why = "PyTorch is not installed"
    spin = None
    if not SIMULATED:
        spin = _Spin(cp)
    print(f"host time: {how}; TF32: {json.dumps(tf32_report())}")
    # (steps per timed epoch, rounds, steps of the short epoch queued behind the spin)
    plan = {"W3": (96, 5, 16), "W4": (24, 3, 6)} if not SIMULATED else {"W3": (4, 2, 0)}
    results, skipped, failures = {}, [], []
    for name, (steps, rounds, queued_steps) in plan.items():
        wl = get_workload(name)
        X, y = wl.make_data(steps, seed=0)
        Xq, yq = wl.make_data(queued_steps, seed=1) if queued_steps else (None, None)
        for label in ("nnkit-cupy", "torch-cuda"):
            if label == "torch-cuda" and torch_why:
                skipped.append(f"{label} {name}: {torch_why}")
                continue
            try:
                trainer = trainers.make_trainer(label, wl, X, y, seed=0)
                trainer.run_epochs(1)  # compiles and first calls stay out of the timings
                queued = None
                if queued_steps:
                    queued = trainers.make_trainer(label, wl, Xq, yq, seed=0)
                    queued.run_epochs(1)
                r = _measure(trainer, rounds, spin, queued)
            except Exception as exc:  # the other library and workload are still measured
                failures.append(f"{label} {name}: {type(exc).__name__}: {exc}")
                print(f"{name} {label}: FAILED {failures[-1]}")
                continue
            results[f"{label} {name}"] = r
            device = f", device {r['device_ms']:.3f}" if "device_ms" in r else ""
            print(f"{name} {label}: {r['wall_ms']:.3f} ms/step wall, host {r['host_ms']:.3f}{device} "
                  f"(median of {rounds} epochs of {steps} steps)")
    if SIMULATED:
        skipped.append(f"W4: {get_workload('W4').flops_per_step() / 1e9:.1f} GFLOP a step is too slow for the "
                       "simulated GPU's NumPy")
        skipped.append("device time: the simulated GPU has no clock to hold its queue with")
    for name in ("W3", "W4"):
        a, b = results.get(f"nnkit-cupy {name}"), results.get(f"torch-cuda {name}")
        if a and b:
            print(f"{name}: nnkit-cupy takes {a['wall_ms'] / b['wall_ms']:.2f}x PyTorch eager CUDA's wall time a step")
    _save("bench", {"results": results, "skipped": skipped, "failures": failures, "host time": how,
                    "tf32": tf32_report()})
    if failures:
        raise SystemExit("; ".join(failures))
    if skipped:
        print("SKIPPED: " + "; ".join(skipped))
        if SIMULATED or not results:
            raise SystemExit(SKIP)


# -- the memory cases ------------------------------------------------------------------------------
def _placement(model, X, y) -> str:
    """"device" when fit moves (X, y) to the GPU whole, "host" when it stages them batch by batch."""
    return "device" if model._staging_backend(X, y) is None else "host"


def step_memory() -> None:
    import nnkit as nk

    cp = _cupy()
    pool = cp.get_default_memory_pool()
    if SIMULATED:
        from cupy.cuda import device

        device.MEMORY["free"] = 64 << 20  # the simulated device: 64 MiB free
        ballast = None
    else:
        free, _ = cp.cuda.Device().mem_info
        keep = 2 << 30  # leave 2 GiB free, so the cases take seconds, not minutes
        ballast = cp.empty(max(0, free - keep), dtype=cp.uint8) if free > keep else None
    free, _ = cp.cuda.Device().mem_info
    budget = 0.4 * (free + pool.free_bytes())
    features = 784
    row_bytes = features * 4 + 8  # float32 on the device, int64 labels
    rng = np.random.default_rng(0)
    report = {"free_bytes": free, "budget_bytes": budget}
    for case, fraction, expected in (("just under", 0.97, "device"), ("just over", 1.03, "host")):
        n = int(fraction * budget / row_bytes)
        X = rng.integers(0, 256, size=(n, features), dtype=np.uint8)  # 4x larger on the device
        y = rng.integers(0, 10, size=n)
        model = nk.Sequential([nk.layers.Dense(16, activation="relu", input_dim=features),
                               nk.layers.Dense(10, activation="softmax")], backend="cupy", dtype="float32",
                              seed=0)
        model.compile(nk.optimizers.SGD(lr=1e-4), "sparse_categorical_crossentropy")
        where = _placement(model, X, y)
        pool.free_all_blocks()
        t0 = time.perf_counter()
        history = model.fit(X, y, epochs=1, batch_size=max(256, n // 16), verbose=0, seed=0)
        took = time.perf_counter() - t0
        peak = pool.total_bytes()
        report[case] = {"rows": n, "host_bytes": int(X.nbytes + y.nbytes), "device_bytes": n * row_bytes,
                        "placement": where, "pool_peak_bytes": peak, "seconds": took,
                        "loss": history.history["loss"][-1]}
        print(f"{case} the 40% rule: {n} rows, {X.nbytes / 2**20:.0f} MiB uint8 on the host = "
              f"{n * row_bytes / 2**20:.0f} MiB on the device -> {where}; fit took {took:.2f} s, pool peak "
              f"{peak / 2**20:.0f} MiB ({peak / (n * row_bytes):.2f}x the device data)")
        assert where == expected, f"{case}: expected the data on the {expected}, got {where}"
        assert np.isfinite(history.history["loss"][-1])
        del model, X, y
    del ballast
    _save("memory", report)


# -- one-rank NCCL ---------------------------------------------------------------------------------
def step_nccl() -> None:
    cp = _cupy()
    try:
        from cupy.cuda import nccl
    except ImportError as exc:
        print(f"SKIPPED: cupy.cuda.nccl is not importable ({exc})")
        raise SystemExit(SKIP) from None
    if not getattr(nccl, "available", True):
        print("SKIPPED: this CuPy was built without NCCL")
        raise SystemExit(SKIP)
    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    stream = cp.cuda.get_current_stream()
    for dtype, kind in ((cp.float32, nccl.NCCL_FLOAT32), (cp.float64, nccl.NCCL_FLOAT64)):
        send = cp.arange(1 << 20, dtype=dtype)
        recv = cp.zeros_like(send)
        t0 = time.perf_counter()
        comm.allReduce(send.data.ptr, recv.data.ptr, send.size, kind, nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()
        took = (time.perf_counter() - t0) * 1e3
        assert bool((recv == send).all()), "a one-rank sum must return its input"
        print(f"one-rank NCCL allReduce of {send.size} {cp.dtype(dtype).name}: correct, {took:.3f} ms")
    comm.destroy()


# -- CUDA graph capture of the training step -------------------------------------------------------
def step_capture() -> None:
    """Whether W3's training step captures into a CUDA graph, and if so whether replaying it trains
    as running it does; if not, the reason (the fallback then trains unchanged)."""
    import nnkit as nk
    from nnkit._cupy_graph import GraphStep
    from nnkit.bench.workloads import get_workload

    cp = _cupy()
    wl = get_workload("W3")
    X, y = wl.make_data(6, seed=0)
    models = []
    for _ in range(2):
        m = nk.Sequential([nk.layers.Dense(256, activation="relu", input_dim=784),
                           nk.layers.Dense(256, activation="relu"),
                           nk.layers.Dense(10, activation="softmax")], backend="cupy", dtype="float32", seed=0)
        m.compile(nk.optimizers.SGD(lr=wl.lr, momentum=wl.momentum), wl.loss)
        m.build(784)
        models.append(m)
    eager, graphed = models
    step = GraphStep(lambda xb, yb: graphed._train_step(xb, yb), graphed.backend, graphed)
    for start in range(0, X.shape[0], wl.batch):
        xb, yb = cp.asarray(X[start:start + wl.batch]), cp.asarray(y[start:start + wl.batch])
        eager._train_step(xb, yb)
        step(xb, yb)
    if step.graph is None:
        print(f"W3's step is not captured; it runs uncaptured: {step.reason}")
    else:
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(graphed.get_weights(), eager.get_weights()))
        print(f"W3's step captured: {step.graph.nodes} nodes, {step.graph.launches} replays; weights within "
              f"{gap:.2e} of running it")
        assert gap <= 1e-6, "the replayed graph trained differently from the step it captured"
        if os.environ.get("NNKIT_GPU_QUICK_SIMULATED") == "1":
            # what each step asks of the device, counted by the simulated GPU
            xb, yb = cp.asarray(X[:wl.batch]), cp.asarray(y[:wl.batch])
            for name, run in (("eager", lambda: eager._train_step(xb, yb)), ("graph", lambda: step(xb, yb))):
                cp.reset_transfers()
                run()
                print(f"W3 step, {name}: {cp.calls['kernels']} kernel launches, {cp.calls['allocations']} "
                      f"allocations, {cp.calls['graph_launches']} graph launches, {cp.syncs()} waits")
            print("W3 step timing skipped: the simulated GPU's kernels run on the CPU emulator")
            return
        # the same batch stepped many times each way: ms per step, eager and replayed
        xb, yb = cp.asarray(X[:wl.batch]), cp.asarray(y[:wl.batch])
        for name, run in (("eager", lambda: eager._train_step(xb, yb)), ("graph", lambda: step(xb, yb))):
            run()
            cp.cuda.Device().synchronize()
            t0 = time.perf_counter()
            for _ in range(500):
                run()
            cp.cuda.Device().synchronize()
            print(f"W3 step, {name}: {(time.perf_counter() - t0) / 500 * 1e3:.4f} ms")
    for a, b in zip(graphed.get_weights(), eager.get_weights()):
        assert np.all(np.isfinite(a)) and a.shape == b.shape


STEPS = {"versions": step_versions, "nvrtc": step_nvrtc, "smoke": step_smoke, "bench": step_bench,
         "memory": step_memory, "nccl": step_nccl, "capture": step_capture}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in STEPS:
        raise SystemExit(f"usage: gpu_quick.py {{{','.join(STEPS)}}}")
    STEPS[sys.argv[1]]()
