"""Every op that has a fused kernel on some backend, timed on every backend at three sizes.

The ops are those named in the kernel tables (nnkit._kernels.numba and .cuda, where importable)
plus the fusions DESIGN.md asks for; each runs on numpy (the generic op: the reference), numba
and cupy (their kernels). Groups are "op size", so each group compares the backends.

    pytest benchmarks/bench_ops.py --benchmark-only
    pytest benchmarks/bench_ops.py --benchmark-only -k "bias_activation and 128x256"
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from benchmarks.conftest import backend_params
from nnkit.ops import ACTIVATION_NAMES, GENERIC_OPS

# (rows, columns) of activations and losses; the element count of an optimizer's parameter
SHAPES = {"small": (32, 64), "medium": (128, 256), "large": (256, 4096)}
PARAM_SIZES = {"small": 64 * 64, "medium": 256 * 256, "large": 1024 * 1024}

# the fusions DESIGN.md names, benchmarked even before a backend has a kernel for them
DESIGN_FUSIONS = ["bias_activation", "bias_activation_backward", "sparse_softmax_cross_entropy",
                  "softmax_cross_entropy", "sigmoid_binary_cross_entropy", "sgd_update",
                  "adam_update", "adamw_update", "adagrad_update", "rmsprop_update", "dropout",
                  "dropout_backward"]
HIDDEN_ACTIVATIONS = ["relu", "tanh", "sigmoid"]


def _kernel_names() -> set[str]:
    names = set()
    for module in ("nnkit._kernels.numba", "nnkit._kernels.cuda"):
        try:
            names |= set(importlib.import_module(module).KERNELS)
        except Exception:  # a table that cannot load here (no CUDA) has nothing to add
            continue
    return names


def _cases():
    """(op, variant) pairs: activation-taking ops once per hidden activation."""
    cases = []
    for op in sorted((_kernel_names() | set(DESIGN_FUSIONS)) & set(GENERIC_OPS)):
        if op in ("bias_activation", "bias_activation_backward", "activation", "activation_backward"):
            cases += [(op, act) for act in HIDDEN_ACTIVATIONS]
        else:
            cases.append((op, None))
    return cases


def _inputs(op, variant, size, be, rng):
    """(args, kwargs) of ``op`` at ``size`` on backend ``be``; None when no inputs are defined."""
    n, k = SHAPES[size]
    f32 = np.float32

    def arr(*shape, low=-1.0, high=1.0):
        return be.asarray(rng.uniform(low, high, shape).astype(f32))

    labels = be.asarray(rng.integers(0, k, n))
    if op in ACTIVATION_NAMES:
        return (arr(n, k),), {}
    if op.endswith("_backward") and op[: -len("_backward")] in ACTIVATION_NAMES:
        fwd = GENERIC_OPS[op[: -len("_backward")]]
        x = arr(n, k)
        return (arr(n, k), x, be.asarray(fwd(be.to_numpy(x), xp=np))), {}
    if op == "activation":
        return (arr(n, k), variant), {}
    if op == "activation_backward":
        x = arr(n, k)
        y = GENERIC_OPS[variant](be.to_numpy(x), xp=np)
        return (arr(n, k), x, be.asarray(y), variant), {}
    if op == "bias_activation":
        # a kernel may reuse z's buffer: tiny biases keep repeated calls in range
        return (arr(n, k), arr(k, low=-1e-7, high=1e-7), variant), {}
    if op == "bias_activation_backward":
        a = arr(n, k)
        y = GENERIC_OPS[variant](be.to_numpy(a), xp=np)
        return (arr(n, k), a, be.asarray(y), variant), {}
    if op in ("mse", "sigmoid_binary_cross_entropy", "softmax_cross_entropy"):
        return (arr(n, k), arr(n, k, low=0.0, high=1.0)), {}
    if op in ("binary_cross_entropy", "categorical_cross_entropy"):
        return (arr(n, k, low=0.01, high=0.99), arr(n, k, low=0.0, high=1.0)), {}
    if op == "sparse_softmax_cross_entropy":
        return (arr(n, k), labels), {}
    if op == "sparse_categorical_cross_entropy":
        return (arr(n, k, low=0.01, high=0.99), labels), {}
    if op == "dropout":
        return (arr(n, k), arr(n, k, low=0.0, high=1.0), 0.5), {}
    if op == "dropout_backward":
        return (arr(n, k), arr(n, k, low=0.0, high=2.0)), {}
    m = PARAM_SIZES[size]
    lr = 1e-6  # the updates run in place thousands of times: keep the parameters in range
    if op == "sgd_update":
        return (arr(m), arr(m), arr(m)), {"lr": lr, "momentum": 0.9}
    if op in ("adam_update", "adamw_update"):
        return (arr(m), arr(m), arr(m), arr(m, low=0.0, high=1.0)), {"lr": lr, "step": 10}
    if op == "adagrad_update":
        return (arr(m), arr(m), arr(m, low=0.0, high=1.0)), {"lr": lr, "step": 10}
    if op == "rmsprop_update":
        return (arr(m), arr(m), arr(m, low=0.5, high=1.0), arr(m), arr(m)), {"lr": lr}
    return None


@pytest.mark.parametrize("size", list(SHAPES))
@pytest.mark.parametrize("backend_name", backend_params())
@pytest.mark.parametrize("op,variant", [pytest.param(op, v, id=op if v is None else f"{op}[{v}]")
                                        for op, v in _cases()])
def test_op(benchmark, op, variant, backend_name, size):
    import nnkit as nk

    be = nk.get_backend(backend_name)
    made = _inputs(op, variant, size, be, np.random.default_rng(0))
    if made is None:
        pytest.skip(f"{op}: no benchmark inputs defined in bench_ops._inputs")
    args, kwargs = made
    fn = getattr(be.ops, op)
    shape = "x".join(map(str, SHAPES[size])) if not op.endswith("_update") else str(PARAM_SIZES[size])
    name = op if variant is None else f"{op}[{variant}]"
    benchmark.group = f"{name} {shape}"
    benchmark.extra_info.update({"op": op, "variant": variant, "backend": be.name,
                                 "kernel": op in be.kernels, "shape": shape})

    def call():
        fn(*args, **kwargs)
        be.synchronize()  # device work is charged to the call that queued it

    call()  # compile / first-call costs stay out of the timing
    benchmark(call)
