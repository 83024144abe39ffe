"""One suite over every backend: the ``backend`` fixture runs a test on numpy, numba,
array_api_strict (the generic ops alone) and cupy, each skipped with its reason where missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import nnkit as nk

BACKEND_PARAMS = ["numpy", "numba", "array_api_strict", "cupy"]
TRAINING_BACKENDS = ["numpy", "numba", "cupy"]


def _skip_reason(name: str):
    if name == "array_api_strict":
        return None if importlib.util.find_spec("array_api_strict") else "array_api_strict is not installed"
    if name in nk.available_backends():
        return None
    if name == "cupy":
        from nnkit.backend import _gpu_usable

        return f"cupy backend unavailable: {_gpu_usable()[1]}"
    return f"{name} backend unavailable on this machine"


def backend_params(names):
    params = []
    for name in names:
        reason = _skip_reason(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def make_backend(name: str):
    if name == "array_api_strict":
        import array_api_strict

        return nk.get_backend(array_api_strict)
    return nk.get_backend(name)


@pytest.fixture(params=backend_params(BACKEND_PARAMS))
def backend(request):
    """Every backend: numpy, numba, array_api_strict, cupy."""
    return make_backend(request.param)


@pytest.fixture(params=backend_params(TRAINING_BACKENDS))
def train_backend(request):
    """The backends models train on: numpy, numba, cupy."""
    return make_backend(request.param)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def tolerance(dtype: str) -> dict:
    """rtol/atol for comparing a result of ``dtype`` with a float64 reference."""
    return {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}[dtype]


# -- the skip summary: one line per reason -----------------------------------------------------
# pyproject's addopts leave skips out of pytest's short summary (-rfExX), which prints a line per
# test location; this prints one line per reason instead, and says where the cupy half ran.
SIMULATED_GPU_TEST = "tests/test_simulated_gpu.py::test_suite_passes_on_the_simulated_gpu"
_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report):
    if report.nodeid.endswith(SIMULATED_GPU_TEST.split("/", 1)[1]) and (report.when == "call" or report.skipped):
        _outcomes[SIMULATED_GPU_TEST] = report.outcome


def _skip_reason_of(report) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


# the skips of the suite's cupy half: the cupy parameter, the GPU tests, the simulated-GPU-only ones
GPU_HALF_REASONS = ("cupy backend unavailable", "no usable GPU:", "counts transfers on the simulated GPU",
                    "runs on the simulated GPU")


def _cupy_line() -> str:
    """The cupy half's skips under one reason: why, and where that half of the suite ran."""
    from nnkit.backend import _gpu_usable

    why = _gpu_usable()[1]
    outcome = _outcomes.get(SIMULATED_GPU_TEST)
    where = {"passed": "they ran on the simulated GPU instead (tests/test_simulated_gpu.py passed)",
             "failed": "they ran on the simulated GPU instead, and FAILED there (tests/test_simulated_gpu.py)",
             "skipped": "the simulated GPU did not run them either (tests/test_simulated_gpu.py skipped)"}
    return f"the cupy backend: no usable GPU here ({why}); " + where.get(
        outcome, "the simulated GPU runs them in tests/test_simulated_gpu.py, not selected in this run")


def pytest_terminal_summary(terminalreporter):
    from collections import Counter

    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    counts = Counter()
    for report in skipped:
        reason = _skip_reason_of(report)
        counts[_cupy_line() if reason.startswith(GPU_HALF_REASONS) else reason] += 1
    terminalreporter.write_sep("=", "skipped: one line per reason")
    for reason, n in counts.most_common():
        terminalreporter.write_line(f"{n:5d} skipped: {reason}")
