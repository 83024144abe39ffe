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
