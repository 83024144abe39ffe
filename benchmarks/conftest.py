"""pytest-benchmark suites: ``pytest benchmarks/ --benchmark-only``.

Files named ``bench_*.py`` are collected here (the project's own tests are ``tests/test_*.py``).
Results are saved as JSON under ``.benchmarks/`` unless ``--benchmark-json``/``--benchmark-save``
says otherwise. After the run, the epoch benchmarks print each library's median epoch time over
the hand-written NumPy step's, per workload (nnkit's NumPy backend must stay within 1.5x on W1).
"""

from __future__ import annotations

import importlib.util

import pytest

import nnkit as nk

BACKENDS = ["numpy", "numba", "cupy"]


def pytest_collect_file(file_path, parent):
    # a file named on the command line is collected by pytest itself
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") \
            and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    option = config.option
    if hasattr(option, "benchmark_autosave") and not option.collectonly and not (
            getattr(option, "benchmark_json", None) or getattr(option, "benchmark_save", None)):
        from pytest_benchmark.utils import get_tag

        option.benchmark_autosave = get_tag()  # what --benchmark-autosave stores: commit and time


def backend_params(names=BACKENDS):
    """pytest params over nnkit backends, each skipped with its reason where unavailable."""
    available = nk.available_backends()
    params = []
    for name in names:
        marks = [] if name in available else [pytest.mark.skip(reason=f"{name} backend unavailable here")]
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    benches = getattr(session, "benchmarks", None) or []
    by_group = {}
    for b in benches:
        label = b.extra_info.get("library") if b.extra_info else None
        if label and b.group and b.group.startswith("epoch "):
            by_group.setdefault(b.group, {})[label] = b.stats.median
    lines = []
    for group, medians in sorted(by_group.items()):
        hand = medians.get("numpy-hand")
        if not hand:
            continue
        ratios = ", ".join(f"{lib} {t / hand:.2f}x" for lib, t in sorted(medians.items())
                           if lib != "numpy-hand")
        lines.append(f"{group}: median epoch / numpy-hand's: {ratios}")
    if lines:
        terminalreporter.write_sep("-", "epoch time relative to the hand-written NumPy step")
        for line in lines:
            terminalreporter.write_line(line)
