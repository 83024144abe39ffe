"""The quick device check (.ci/gpu-quick) is ready for a bare machine: it runs end to end here on
the simulated GPU, nnkit imports from the tree without an install, and the suite collects without
the optional test dependencies."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import _cuda_emulator

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPTIONAL = ["hypothesis", "sortedcontainers", "pytest_benchmark", "cpuinfo", "numba", "llvmlite", "sklearn",
            "scipy", "matplotlib", "mpi4py", "threadpoolctl", "tqdm", "dask", "distributed", "array_api_strict",
            "jax", "pynvml", "keras"]


def _site_of(module_name: str) -> str:
    module = __import__(module_name)
    return str(pathlib.Path(module.__file__).resolve().parent.parent)


def test_nnkit_kernels_resolve_from_the_tree_without_an_install():
    # -S: no site-packages and no .pth files, so no editable install's finder; only NumPy and
    # array-api-compat are put on the path, as PYTHONPATH does on the device
    code = ("import sys; sys.path[:0] = sys.argv[1:]\n"
            "import nnkit, nnkit._kernels, nnkit._kernels.cuda as cuda, nnkit._kernels.numba\n"
            "from nnkit._kernels.cuda import _loader\n"
            "print(nnkit._kernels.__path__[0]); print(len(cuda.KERNELS)); print(_loader.HERE)\n")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT), _site_of("numpy"), _site_of("array_api_compat")],
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    path, count, here = out.stdout.split()
    assert pathlib.Path(path) == ROOT / "kernels" and pathlib.Path(here) == ROOT / "kernels" / "cuda"
    import nnkit._kernels.cuda

    assert int(count) == len(nnkit._kernels.cuda.KERNELS) > 10


def test_suite_collects_without_the_optional_test_dependencies():
    blocker = ("import sys\n"
               f"for name in {OPTIONAL!r}: sys.modules[name] = None  # `import name` now fails\n"
               "import pytest\n"
               "sys.exit(pytest.main(sys.argv[1:]))\n")
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # no plugins: a bare machine has none
    out = subprocess.run([sys.executable, "-c", blocker, "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-k", "cupy or gpu", str(ROOT / "tests")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
    assert "error" not in out.stdout.splitlines()[-1], out.stdout[-3000:]
    collected = re.search(r"(\d+)/\d+ tests collected", out.stdout) or re.search(r"(\d+) tests collected", out.stdout)
    assert collected and int(collected.group(1)) >= 400, out.stdout[-3000:]
    # test_properties.py, the one module that needs hypothesis, is skipped with its reason
    assert re.search(r"skipped: could not import 'hypothesis'", out.stdout), out.stdout[-3000:]


@pytest.mark.skipif(os.environ.get("NNKIT_SIMULATED_GPU") == "1", reason="already on the simulated GPU")
@pytest.mark.skipif(_cuda_emulator.compiler() is None, reason="no C++ compiler for the kernel emulator")
def test_quick_check_runs_end_to_end_on_the_simulated_gpu(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable,
               # fp32 against fp32: the script must clear what would turn TF32 on
               TORCH_ALLOW_TF32_CUBLAS_OVERRIDE="1", CUPY_TF32="1", NVIDIA_TF32_OVERRIDE="1",
               # the kernel tests and the cupy half run whole in test_simulated_gpu.py
               NNKIT_GPU_QUICK_KERNELS="sgd_update or signatures",
               NNKIT_GPU_QUICK_SUITE="tests/test_cupy_device_residency.py")
    env.pop("NNKIT_SIMULATED_GPU", None)
    out = subprocess.run(["bash", str(ROOT / ".ci" / "gpu-quick"), "--simulated"], capture_output=True, text=True,
                         timeout=600, env=env, cwd=ROOT)
    report = out.stdout[-8000:] + out.stderr[-3000:]
    assert out.returncode == 0, report
    lines = (tmp_path / "summary.txt").read_text().splitlines()
    verdicts = {line.split()[0]: line.split()[1] for line in lines if not line.startswith("total")}
    assert list(verdicts) == ["versions", "nvrtc", "smoke", "bench", "memory", "nccl", "capture", "kernels", "suite"]
    assert set(verdicts.values()) <= {"PASS", "SKIP"}, report
    # the device-only parts are skipped with their reason: PyTorch CUDA, W4, device clocks
    bench = next(line for line in lines if line.startswith("bench"))
    # PyTorch is a peer, never a dependency: without it, or without CUDA, the bench says which
    assert verdicts["bench"] == "SKIP" and "device time" in bench
    assert "torch.cuda.is_available() is False" in bench or "PyTorch is not installed" in bench, bench
    assert int(lines[-1].split()[1]) < 480  # under 8 minutes even on these shared CPUs
    versions = json.loads((tmp_path / "versions.json").read_text())
    assert versions["simulated"] is True and pathlib.Path(versions["nnkit._kernels from"][0]) == ROOT / "kernels"
    tf32 = versions["tf32"]
    assert tf32["cupy_tf32"] == "off" and tf32["torch_tf32"] in ("off", "torch not installed")
    assert tf32["TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"] == tf32["CUPY_TF32"] == tf32["NVIDIA_TF32_OVERRIDE"] == "unset"
    memory = json.loads((tmp_path / "memory.json").read_text())
    assert memory["just under"]["placement"] == "device" and memory["just over"]["placement"] == "host"
    bench_json = json.loads((tmp_path / "bench.json").read_text())
    w3 = bench_json["results"]["nnkit-cupy W3"]
    assert w3["steps"] >= 8 and np.isfinite(w3["wall_ms"]) and 0 < w3["host_ms"]
    capture = (tmp_path / "capture.log").read_text()
    # W3's step (3 Dense, SGD with momentum) is one graph: 24 nodes, trained as running it does
    assert re.search(r"W3's step captured: 24 nodes, \d+ replays; weights within 0\.00e\+00", capture), capture
    assert "W3 step, eager: 24 kernel launches, 18 allocations, 0 graph launches, 0 waits" in capture, capture
    assert "W3 step, graph: 2 kernel launches, 0 allocations, 1 graph launches, 0 waits" in capture, capture
    nvrtc = (tmp_path / "nvrtc.log").read_text()
    assert re.search(r"(\d+) kernels compiled by the CPU emulator", nvrtc)
    for step in ("kernels", "suite"):
        last = (tmp_path / f"{step}.log").read_text().strip().splitlines()[-1]
        assert re.search(r"[1-9]\d* passed", last) and "failed" not in last, (step, last)
