"""Plan and run the benchmark: one worker process per measurement, results gathered as JSON.

The order is workload-major (for W in workloads: for library in libraries), so the libraries
compared on one workload run minutes apart at most; the GEMM peak is measured first.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time

from nnkit.bench.measure import RESULT_MARKER, blas_info, median
from nnkit.bench.trainers import PEER_LABELS, nnkit_label, peer_available
from nnkit.bench.workloads import parse_workloads

__all__ = ["Settings", "run_bench", "plan", "merge_rounds", "merge_peaks", "select_backends", "select_peers", "run_worker", "machine_info"]

# rounds: each (workload, library) is measured in that many processes, interleaved with the
# other libraries', so a slow spell of the machine (PERF.md, item 11) hits them all alike
FULL = {"seconds": 3.0, "repeats": 6, "rounds": 3, "peak_n": 4096, "peak_repeats": 5}
QUICK = {"seconds": 0.4, "repeats": 3, "rounds": 1, "peak_n": 2048, "peak_repeats": 3}


class Settings:
    """What to run and for how long; None fields take the full or quick defaults."""

    def __init__(self, workloads=None, backends=None, peers="all", quick=False, seconds=None,
                 repeats=None, rounds=None, peak_n=None, energy="auto", seed=0, timeout=None):
        base = QUICK if quick else FULL
        self.workloads = parse_workloads(workloads)
        self.backends = select_backends(backends)
        self.peers = select_peers(peers)
        self.quick = bool(quick)
        self.seconds = _positive("seconds", base["seconds"] if seconds is None else seconds)
        self.repeats = int(_positive("repeats", base["repeats"] if repeats is None else repeats))
        self.rounds = int(_positive("rounds", base["rounds"] if rounds is None else rounds))
        self.peak_n = int(_positive("peak_n", base["peak_n"] if peak_n is None else peak_n))
        self.peak_repeats = base["peak_repeats"]
        self.energy = energy
        self.seed = seed
        self.timeout = timeout or (180 if quick else 900)
        if not self.labels():
            raise ValueError("backends and peers: nothing to run (no nnkit backend and no peer)")

    def labels(self) -> list[str]:
        return [nnkit_label(b) for b in self.backends] + list(self.peers)

    def to_dict(self) -> dict:
        return {"workloads": [w.name for w in self.workloads], "libraries": self.labels(),
                "quick": self.quick, "seconds": self.seconds, "repeats": self.repeats,
                "rounds": self.rounds,
                "peak_n": self.peak_n, "energy": self.energy, "seed": self.seed}


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return value


def _names(text) -> list[str]:
    if isinstance(text, str):
        return [t.strip() for t in text.split(",") if t.strip()]
    return [str(t) for t in text]


def select_backends(backends) -> list[str]:
    """nnkit backends to run: None or "all" = every available one; a requested backend that is
    not available here is an error, never silently dropped."""
    import nnkit as nk

    available = nk.available_backends()
    if backends is None or backends == "all":
        return available
    names = _names(backends)
    if names == ["none"]:
        return []
    for name in names:
        if name not in ("numpy", "numba", "cupy"):
            raise ValueError(f"backends: unknown backend {name!r}; expected numpy, numba or cupy")
        if name not in available:
            nk.get_backend(name)  # raises the backend's own message: why it is unavailable
    return names


def _torch_cuda_usable() -> bool:
    """Whether torch sees a GPU, probed in a child process (importing torch here would load its
    thread pool into the parent). Only tried where an NVIDIA driver is visible."""
    if not (shutil.which("nvidia-smi") or os.path.exists("/proc/driver/nvidia")):
        return False
    try:
        out = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip().endswith("True")


def select_peers(peers) -> list[str]:
    """Peer libraries: "all" = every installed one (numpy-hand always; torch-cpu, torch-cuda on
    a GPU, jax); "none" = no peers; else the names given, each of which must be installed."""
    if peers is None or peers == "none":
        return []
    if peers == "all":
        out = ["numpy-hand"]
        if peer_available("torch-cpu"):
            out.append("torch-cpu")
            if _torch_cuda_usable():
                out.append("torch-cuda")
        if peer_available("jax"):
            out.append("jax")
        return out
    names = _names(peers)
    for name in names:
        if name not in PEER_LABELS:
            raise ValueError(f"peers: unknown peer {name!r}; expected some of {list(PEER_LABELS)}, "
                             "'all' or 'none'")
        if not peer_available(name):
            raise ValueError(f"peers: {name!r} needs a library that is not installed here")
    return names


def run_worker(spec: dict, timeout: float) -> dict:
    """Run one spec in a fresh ``python -m nnkit.bench._worker`` with this environment
    unchanged (OPENBLAS_* included), and return its JSON result (ok False on any failure)."""
    cmd = [sys.executable, "-m", "nnkit.bench._worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "spec": spec, "error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"ok": False, "spec": spec,
            "error": f"worker exited with {proc.returncode} and no result: " + " | ".join(tail)}


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("numpy", "numba", "cupy", "torch", "jax", "threadpoolctl"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out


def load_average():
    """The 1-minute load average (None where the OS has none): other work on the machine
    slows every row, and thread pools that busy-wait (OpenMP) most of all."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def machine_info() -> dict:
    """CPU, cores, Python, library versions, BLAS pools and the OPENBLAS_* settings as found."""
    import nnkit

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                          "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    return {"cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "nnkit": nnkit.__version__,
            "versions": _versions(), "env": env, "blas": blas_info(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def merge_rounds(results: list[dict]) -> list[dict]:
    """One result per (workload, library): the timed blocks of its successful rounds pooled,
    warm-up of its first process; failed rounds are kept as failed results of their own."""
    merged, out = {}, []
    for r in results:
        if not r.get("ok"):
            out.append(r)
            continue
        key = (r["workload"], r["label"])
        if key not in merged:
            merged[key] = dict(r, blocks=list(r["blocks"]), processes=1,
                               warmup_seconds_all=[r["warmup_seconds"]])
            out.append(merged[key])
        else:
            m = merged[key]
            m["blocks"] += r["blocks"]
            m["processes"] += 1
            m["warmup_seconds_all"].append(r["warmup_seconds"])
            m["final_loss"], m["loss_finite"] = r["final_loss"], r["loss_finite"]
    return out


def plan(settings: Settings) -> list[dict]:
    """The worker specs in run order: for each workload a GEMM peak, then its rounds, each round
    every library once; a last GEMM peak at the end. The peak is the best of all of them, so a
    busy spell of the machine during one does not understate it. A quick run instead gives
    each library one process (a "batch") for all its workloads, between two peaks."""
    peak = {"kind": "peak", "n": settings.peak_n, "repeats": settings.peak_repeats}
    jobs = []
    per_round = max(1, -(-settings.repeats // settings.rounds))
    for wl in settings.workloads:
        jobs.append(dict(peak))
        n_batches = wl.quick_batches if settings.quick else wl.n_batches
        for round_ in range(settings.rounds):
            for label in filter(wl.supports, settings.labels()):
                jobs.append({"kind": "train", "label": label, "workload": wl.name,
                             "n_batches": n_batches, "seconds": settings.seconds / settings.rounds,
                             "repeats": per_round, "round": round_, "seed": settings.seed,
                             "energy": settings.energy})
    jobs.append(dict(peak))
    if settings.quick:
        # one process per library for all its workloads: interpreter start and imports dominate
        # a quick run; the peaks stay first and last
        trains = [j for j in jobs if j["kind"] == "train"]
        batches = [{"kind": "batch", "label": label, "jobs": [j for j in trains if j["label"] == label]}
                   for label in settings.labels()]
        jobs = [dict(peak)] + batches + [dict(peak)]
    return jobs


def merge_peaks(peaks: list[dict]) -> dict:
    """The peak of several GEMM measurements: the best GFLOP/s of any, the median of all."""
    good = [p for p in peaks if p.get("ok")]
    if not good:
        return peaks[0] if peaks else {"ok": False, "error": "not measured"}
    times = sorted(t for p in good for t in p["seconds"])
    flop = good[0]["flop"]
    return dict(good[0], seconds=times, repeats=len(times), processes=len(good),
                gflops_best=flop / times[0] / 1e9,
                gflops_median=flop / median(times) / 1e9,
                gflops_per_process=[p["gflops_best"] for p in good])


def run_bench(settings: Settings, progress: bool = True) -> dict:
    """Measure the GEMM peak and every (workload, library) of ``settings``; returns
    {"settings", "machine", "peak", "results", "wall_seconds"}, one merged result per
    (workload, library)."""
    from tqdm.auto import tqdm

    jobs = plan(settings)
    t0 = time.perf_counter()
    load_before = load_average()
    peaks, results = [], []
    bar = tqdm(jobs, desc="nnkit bench", unit="run", disable=not progress, file=sys.stderr,
               leave=False)
    for spec in bar:
        what = {"peak": lambda: "GEMM peak", "batch": lambda: f"{spec['label']} (all workloads)",
                "train": lambda: f"{spec['workload']} {spec['label']}"}[spec["kind"]]()
        bar.set_postfix_str(what, refresh=True)
        result = run_worker(spec, settings.timeout * (len(spec.get("jobs", ())) or 1))
        if spec["kind"] == "peak":
            peaks.append(result)
        elif spec["kind"] == "batch":
            results += result.get("results") or [dict(result, spec=job) for job in spec["jobs"]]
        else:
            results.append(result)
    bar.close()
    machine = machine_info()
    machine["load_average"] = {"start": load_before, "end": load_average()}
    return {"settings": settings.to_dict(), "machine": machine, "peak": merge_peaks(peaks),
            "results": merge_rounds(results), "wall_seconds": time.perf_counter() - t0}
