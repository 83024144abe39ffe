"""The wheel built from the repository ships the kernels: nnkit/_kernels with its Numba and CUDA
packages and every .cu source beside the CUDA loaders."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed, so no wheel can be built without network access")
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a copy, so the build leaves no build/ or *.egg-info in the working tree
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info")
    for name in ("nnkit", "kernels"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                          "--no-cache-dir", "-q", "-w", str(tmp / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    wheels = list((tmp / "dist").glob("nnkit-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        return set(zf.namelist())


def test_wheel_contains_the_kernel_packages(wheel_names):
    for name in ("nnkit/__init__.py", "nnkit/backend.py", "nnkit/_kernels/__init__.py",
                 "nnkit/_kernels/numba/__init__.py", "nnkit/_kernels/cuda/__init__.py",
                 "nnkit/_kernels/cuda/_loader.py"):
        assert name in wheel_names, name
    for path in sorted((ROOT / "kernels").rglob("*.py")):
        if "__pycache__" not in path.parts:
            assert f"nnkit/_kernels/{path.relative_to(ROOT / 'kernels').as_posix()}" in wheel_names, path


def test_wheel_contains_every_cu_source(wheel_names):
    sources = sorted((ROOT / "kernels" / "cuda").glob("*.cu*"))  # the .cu files and their header
    assert len(sources) >= 5 and any(p.suffix == ".cuh" for p in sources)
    for path in sources:
        assert f"nnkit/_kernels/cuda/{path.name}" in wheel_names, path.name
    # and nothing from the repository's tests or benchmarks
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in wheel_names)


def test_wheel_contains_every_module_of_the_package(wheel_names):
    for path in sorted((ROOT / "nnkit").rglob("*.py")):
        if "__pycache__" not in path.parts:
            assert path.relative_to(ROOT).as_posix() in wheel_names, path


def test_wheel_contains_the_served_page(wheel_names):
    for name in ("nnkit/serve/__init__.py", "nnkit/serve/app.py", "nnkit/serve/static/index.html",
                 "nnkit/serve/static/playground.js", "nnkit/serve/static/playground.css"):
        assert name in wheel_names, name
