"""The CuPy backend's CUDA kernels (nnkit._kernels.cuda).

- The kernel table keeps the op contract: names and signatures of nnkit.ops, importable without CuPy.
- Every .cu file compiles with the machine's nvcc, every name expression a wrapper can ask for
  instantiated (skipped only where no nvcc exists).
- Every kernel matches its generic op on random inputs, float32 and float64, on two devices:
  "gpu" (CuPy on a usable GPU; skipped elsewhere) and "emulated": the same .cu source compiled for
  the CPU by the C++ compiler, one fiber per CUDA thread, barriers for __syncthreads and warp
  shuffles, driven through the real Python wrappers by a stand-in `cupy` module. The emulator
  also checks every launch's argument types against the kernel's parameters.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

import array_api_compat.numpy as np_xp

import _cuda_emulator
from conftest import tolerance
from nnkit.ops import GENERIC_OPS
from nnkit.ops import activations as generic_activations

import nnkit._kernels.cuda as cuda_kernels
from nnkit._kernels.cuda import _loader
from nnkit._kernels.cuda import activations as cuda_activations
from nnkit._kernels.cuda import layers as cuda_layers
from nnkit._kernels.cuda import losses as cuda_losses
from nnkit._kernels.cuda import optim as cuda_optim

KERNELS = cuda_kernels.KERNELS
CU_FILES = sorted(p.name for p in _loader.HERE.glob("*.cu"))
FUSED = {"bias_activation", "bias_activation_backward", "softmax_cross_entropy",
         "sparse_softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mse", "sgd_update",
         "adagrad_update", "rmsprop_update", "adam_update", "adamw_update", "dropout", "affine",
         "affine_backward"}
ELEMENTWISE = list(cuda_activations.ACTIVATION_IDS)


# -- the contract ------------------------------------------------------------------------------
def test_kernel_names_and_signatures_are_the_ops():
    assert FUSED <= set(KERNELS)
    for name, kernel in KERNELS.items():
        assert name in GENERIC_OPS, name
        assert inspect.signature(kernel) == inspect.signature(GENERIC_OPS[name]), name
        assert kernel.__doc__ and kernel.__doc__.strip(), name


def test_kernels_import_and_fall_back_without_cupy():
    code = (
        "import sys; sys.modules['cupy'] = None\n"  # `import cupy` now raises ImportError
        "import numpy as np, array_api_compat.numpy as xp\n"
        "from nnkit._kernels.cuda import KERNELS\n"
        "from nnkit.ops import GENERIC_OPS\n"
        "p, t = np.arange(6.0).reshape(3, 2), np.ones((3, 2))\n"
        "loss, grad = KERNELS['mse'](p, t, xp=xp)\n"
        "ref_loss, ref_grad = GENERIC_OPS['mse'](p, t, xp=xp)\n"
        "assert float(loss) == float(ref_loss) and abs(float(loss) - 15.5 / 3) < 1e-12\n"
        "assert np.array_equal(grad, ref_grad)\n"
        "print(len(KERNELS))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(KERNELS)


def test_every_kernel_template_has_name_expressions():
    """Each __global__ template of a .cu file is reachable from Python (and so compiled below)."""
    for filename in CU_FILES:
        kernels = set(re.findall(r"__global__\s+void\s+(\w+)\s*\(", _loader.source(filename)))
        assert kernels, filename
        named = {re.match(r"nnkit::(\w+)<", e).group(1)
                 for group in _loader.GROUPS.get(filename, []) for e in group}
        assert kernels == named, filename
        for group in _loader.GROUPS[filename]:
            for real in ("float", "double"):
                assert any(f"<{real}" in e for e in group), (filename, group)


# -- nvcc --------------------------------------------------------------------------------------
def _instantiation_source(filename: str) -> str:
    expressions = list(dict.fromkeys(e for g in _loader.GROUPS[filename] for e in g))
    refs = ",\n".join(f"  (void*)&{e}" for e in expressions)
    return f'#include "{_loader.HERE / filename}"\nvoid* nnkit_instantiated[] = {{\n{refs}\n}};\n'


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed on this machine")
@pytest.mark.parametrize("filename", CU_FILES)
def test_cu_file_compiles_with_nvcc(tmp_path, filename):
    src = tmp_path / f"instantiate_{filename}"
    src.write_text(_instantiation_source(filename))
    out = subprocess.run(["nvcc", "-c", "-x", "cu", "-Werror", "all-warnings", str(src),
                          "-o", str(tmp_path / "out.o")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "out.o").stat().st_size > 0


def _nvrtc_program():
    """CuPy's NVRTC wrapper where CuPy and libnvrtc load (no GPU needed to compile), else skip."""
    try:
        from cupy.cuda import compiler
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
        return compiler._NVRTCProgram
    except Exception as exc:  # CuPy or NVRTC missing, or CuPy's internals moved
        pytest.skip(f"CuPy's NVRTC cannot be loaded here ({type(exc).__name__}: {exc})")


@pytest.mark.parametrize("filename", CU_FILES)
def test_cu_file_compiles_with_nvrtc_as_cupy_does(filename):
    """NVRTC has no host compiler and no standard headers: the sources must stand on their own."""
    program_class = _nvrtc_program()
    for group in _loader.GROUPS[filename][:3]:
        program = program_class(_loader.source(filename), filename, (), (), name_expressions=list(group),
                                method="cubin")
        # RawModule's defaults and the flags CuPy always adds
        _, mapping = program.compile(("-std=c++14", "-arch=sm_80", "-ftz=true",
                                      "--device-as-default-execution-space"))
        assert set(mapping) == set(group)


@pytest.mark.parametrize("filename", CU_FILES)
def test_cu_source_for_nvrtc_inlines_the_shared_header_once(filename):
    """NVRTC gets one string: the shared scalar header is pasted in, and no file states it again."""
    raw = (_loader.HERE / filename).read_text(encoding="utf-8")
    text = _loader.source(filename)
    assert "#include" not in text
    assert text.count("#define NNKIT_SCALARS_CUH") == raw.count(f'#include "{_loader.SHARED_HEADER}"') <= 1
    for restated in ("inline Real sigmoid(", "inline Real nan_max(", "(float x) { return expf(x); }",
                     "(float x) { return tanhf(x); }", "(float x) { return sqrtf(x); }"):
        assert restated not in raw, restated


# -- the CPU emulator --------------------------------------------------------------------------
class DeviceArray(np.ndarray):
    """A NumPy array posing as a CuPy array, so the wrappers take their kernel path."""


def _stand_in_cupy(emulator):
    def device(a):
        return np.ascontiguousarray(a).view(DeviceArray)

    return types.SimpleNamespace(
        ndarray=DeviceArray,
        empty=lambda shape, dtype: np.empty(shape, dtype=dtype).view(DeviceArray),
        empty_like=lambda a: np.empty_like(a).view(DeviceArray),
        matmul=lambda a, b, out=None: np.matmul(a, b, out=out),
        sum=lambda a, axis=None, out=None: np.sum(a, axis=axis, out=out),
        ascontiguousarray=device,
        RawModule=emulator.raw_module(DeviceArray),
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=lambda: 0)),
    )


def _clear_kernel_caches():
    _loader.clear_cache()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if _cuda_emulator.compiler() is None:
        pytest.skip("no C++ compiler to build the CPU emulator of the kernels")
    return _cuda_emulator.build(tmp_path_factory.mktemp("cuda_emulator"))


class Device:
    """Where kernels run: put/get move NumPy arrays there and back; xp is what kernels receive."""

    def __init__(self, name, put, get, xp):
        self.name, self.put, self.get, self.xp = name, put, get, xp


@pytest.fixture(params=["emulated", "gpu"])
def device(request, monkeypatch):
    if request.param == "gpu":
        from nnkit.backend import _gpu_usable

        usable, why = _gpu_usable()
        if not usable:
            pytest.skip(f"no usable GPU: {why}")
        import cupy
        import array_api_compat.cupy as cupy_xp

        _clear_kernel_caches()
        yield Device("gpu", cupy.asarray, cupy.asnumpy, cupy_xp)
        _clear_kernel_caches()
        return
    emulator = request.getfixturevalue("emulator")
    _clear_kernel_caches()
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy(emulator))
    yield Device("emulated", lambda a: np.array(a, order="C", copy=True).view(DeviceArray),
                 lambda a: np.asarray(a).view(np.ndarray).copy(), np_xp)
    _clear_kernel_caches()


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


def as_dtype(rng_values, dtype):
    return np.asarray(rng_values, dtype=dtype)


# -- parity: activations -----------------------------------------------------------------------
SHAPES = [(1, 1), (7, 5), (37, 70)]


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_activation_forward_backward_match_generic(device, dtype, rng, name):
    x = as_dtype(rng.normal(0, 3, size=(37, 70)), dtype)
    dy = as_dtype(rng.normal(size=x.shape), dtype)
    y = KERNELS["activation"](device.put(x), name, xp=device.xp)
    y_ref = generic_activations.activation(x, name, xp=np_xp)
    close(device.get(y), y_ref, dtype)
    assert device.get(y).dtype == np.dtype(dtype)
    dx = KERNELS["activation_backward"](device.put(dy), device.put(x), device.put(y_ref), name, xp=device.xp)
    # gelu' cancels terms of size |x| ~ 10 in float32: compare on that scale
    close(device.get(dx), generic_activations.activation_backward(dy, x, y_ref, name, xp=np_xp), dtype,
          scale=10)
    if name in KERNELS:  # the activation's own op runs the same code, bit for bit
        np.testing.assert_array_equal(device.get(KERNELS[name](device.put(x), xp=device.xp)), device.get(y))
        dx_own = KERNELS[f"{name}_backward"](device.put(dy), device.put(x), device.put(y_ref), xp=device.xp)
        np.testing.assert_array_equal(device.get(dx_own), device.get(dx))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bias_activation_matches_generic(device, dtype, rng, shape, name):
    z = as_dtype(rng.normal(0, 3, size=shape), dtype)
    b = as_dtype(rng.normal(size=shape[1]), dtype)
    a, y = KERNELS["bias_activation"](device.put(z), device.put(b), name, xp=device.xp)
    a_ref, y_ref = generic_activations.bias_activation(z.copy(), b, name, xp=np_xp)
    close(device.get(a), a_ref, dtype)
    close(device.get(y), y_ref, dtype)
    assert device.get(y).dtype == np.dtype(dtype)
    a0, y0 = KERNELS["bias_activation"](device.put(z), None, name, xp=device.xp)
    close(device.get(y0), generic_activations.activation(z, name, xp=np_xp), dtype)


def test_bias_activation_computes_a_in_the_buffer_of_z(device, rng):
    """The op lets a kernel write a = z + b into z (its callers pass a GEMM output they drop)."""
    z = device.put(rng.normal(size=(5, 3)))
    a, y = KERNELS["bias_activation"](z, device.put(np.ones(3)), "tanh", xp=device.xp)
    assert a is z and y is not z


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (37, 70, 9)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_affine_and_its_backward_match_generic(device, dtype, rng, shape, with_bias):
    from nnkit.ops import linear as generic_linear

    n, d, m = shape
    x, w = as_dtype(rng.normal(size=(n, d)), dtype), as_dtype(rng.normal(size=(d, m)), dtype)
    b, dy = as_dtype(rng.normal(size=m), dtype), as_dtype(rng.normal(size=(n, m)), dtype)
    y = KERNELS["affine"](device.put(x), device.put(w), device.put(b) if with_bias else None, xp=device.xp)
    close(device.get(y), generic_linear.affine(x, w, b if with_bias else None, xp=np_xp), dtype, scale=d)
    assert device.get(y).dtype == np.dtype(dtype)
    for need_dx in (True, False):
        got = KERNELS["affine_backward"](device.put(dy), device.put(x), device.put(w), with_bias, need_dx,
                                         xp=device.xp)
        ref = generic_linear.affine_backward(dy, x, w, with_bias, need_dx, xp=np_xp)
        for g, r in zip(got, ref):
            assert (g is None) == (r is None)
            if r is not None:
                close(device.get(g), r, dtype, scale=max(n, m))


def test_step_buffers_hand_the_first_runs_outputs_to_every_later_run(device, rng):
    """Inside ``with StepBuffers()`` a kernel's outputs are the step's own: made by the first run,
    the same arrays in the same order afterwards; a step that changed shape is refused."""
    z, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    buffers = _loader.StepBuffers()
    with buffers:
        first = KERNELS["affine"](device.put(z), device.put(np.eye(3)), None, xp=device.xp)
        first_y = KERNELS["bias_activation"](first, device.put(b), "relu", xp=device.xp)[1]
    assert len(buffers.arrays) == 2 and buffers.nbytes == 2 * 4 * 3 * 8
    with buffers:
        again = KERNELS["affine"](device.put(2 * z), device.put(np.eye(3)), None, xp=device.xp)
        again_y = KERNELS["bias_activation"](again, device.put(b), "relu", xp=device.xp)[1]
    assert again is first and again_y is first_y
    np.testing.assert_allclose(device.get(again_y), np.maximum(2 * z + b, 0), rtol=1e-15)
    with pytest.raises(RuntimeError, match=r"buffer 1 was \(4, 3\) float64 in the first run, now asked for \(2, 3\)"):
        with buffers:
            KERNELS["affine"](device.put(z[:2]), device.put(np.eye(3)), None, xp=device.xp)
    outside = KERNELS["affine"](device.put(z), device.put(np.eye(3)), None, xp=device.xp)
    assert all(outside is not a for a in buffers.arrays)  # no buffers outside the block


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bias_activation_backward_matches_generic(device, dtype, rng, shape, name):
    a = as_dtype(rng.normal(0, 3, size=shape), dtype)
    y = generic_activations.activation(a, name, xp=np_xp)
    dy = as_dtype(rng.normal(size=shape), dtype)
    da_ref, db_ref = generic_activations.bias_activation_backward(dy, a, y, name, True, xp=np_xp)
    da, db = KERNELS["bias_activation_backward"](device.put(dy), device.put(a), device.put(y), name,
                                                 True, xp=device.xp)
    close(device.get(da), da_ref, dtype, scale=10)  # gelu' cancels terms of size |a|
    close(device.get(db), db_ref, dtype, scale=10 * shape[0])  # a sum of n such terms
    assert device.get(db).shape == (shape[1],) and device.get(db).dtype == np.dtype(dtype)
    da2, none = KERNELS["bias_activation_backward"](device.put(dy), device.put(a), device.put(y), name,
                                                    False, xp=device.xp)
    assert none is None
    close(device.get(da2), da_ref, dtype, scale=10)


def test_activation_kernels_keep_nan(device):
    x = np.array([[np.nan, -1.0, 2.0]], dtype=np.float32)
    for name in ("relu", "leaky_relu", "elu", "softplus", "gelu", "silu", "sigmoid", "tanh"):
        y = device.get(KERNELS["activation"](device.put(x), name, xp=device.xp))
        assert np.isnan(y[0, 0]) and np.all(np.isfinite(y[0, 1:])), name


# -- parity: losses ----------------------------------------------------------------------------
LOSS_SHAPES = [(1, 1), (7, 5), (5, 100), (3, 300), (40, 10)]


def _soft_targets(rng, shape, dtype):
    t = rng.random(shape)
    return as_dtype(t / t.sum(axis=1, keepdims=True), dtype)


@pytest.mark.parametrize("shape", LOSS_SHAPES)
def test_softmax_cross_entropy_matches_generic(device, dtype, rng, shape):
    z = as_dtype(rng.normal(0, 4, size=shape), dtype)
    for t in (_soft_targets(rng, shape, dtype), as_dtype(np.eye(shape[1])[rng.integers(0, shape[1], shape[0])], dtype)):
        loss, grad = KERNELS["softmax_cross_entropy"](device.put(z), device.put(t), xp=device.xp)
        loss_ref, grad_ref = GENERIC_OPS["softmax_cross_entropy"](z, t, xp=np_xp)
        assert device.get(loss).shape == () and device.get(loss).dtype == np.dtype(dtype)
        close(device.get(loss), loss_ref, dtype)
        close(device.get(grad), grad_ref, dtype)


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8"])
@pytest.mark.parametrize("shape", LOSS_SHAPES)
def test_sparse_softmax_cross_entropy_matches_generic(device, dtype, rng, shape, label_dtype):
    z = as_dtype(rng.normal(0, 4, size=shape), dtype)
    if label_dtype == "uint8" and shape[1] > 256:
        pytest.skip("uint8 labels name at most 256 classes")
    labels = rng.integers(0, shape[1], shape[0]).astype(label_dtype)
    if label_dtype != "uint8" and shape[0] > 1:
        labels[0] = -1  # outside [0, m): the one-hot row is all zeros, so is its loss and gradient
    loss, grad = KERNELS["sparse_softmax_cross_entropy"](device.put(z), device.put(labels), xp=device.xp)
    loss_ref, grad_ref = GENERIC_OPS["sparse_softmax_cross_entropy"](z, labels, xp=np_xp)
    close(device.get(loss), loss_ref, dtype)
    close(device.get(grad), grad_ref, dtype)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (300, 3)])
@pytest.mark.parametrize("op", ["sigmoid_binary_cross_entropy", "mse"])
def test_pointwise_losses_match_generic(device, dtype, rng, shape, op):
    z = as_dtype(rng.normal(0, 3, size=shape), dtype)
    t = as_dtype(rng.integers(0, 2, size=shape) if op != "mse" else rng.normal(size=shape), dtype)
    loss, grad = KERNELS[op](device.put(z), device.put(t), xp=device.xp)
    loss_ref, grad_ref = GENERIC_OPS[op](z, t, xp=np_xp)
    assert device.get(loss).shape == () and device.get(loss).dtype == np.dtype(dtype)
    close(device.get(loss), loss_ref, dtype)
    close(device.get(grad), grad_ref, dtype)


@pytest.mark.parametrize("op", ["softmax_cross_entropy", "sparse_softmax_cross_entropy",
                                "sigmoid_binary_cross_entropy"])
def test_fused_losses_stable_at_logits_of_1000(device, dtype, op):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    if op == "sparse_softmax_cross_entropy":
        t = np.array([1, 1])
    elif op == "softmax_cross_entropy":
        t = np.eye(3, dtype=dtype)[[1, 1]]
    else:
        t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype)
    loss, grad = KERNELS[op](device.put(z), device.put(t), xp=device.xp)
    loss_ref, grad_ref = GENERIC_OPS[op](z, t, xp=np_xp)
    assert np.isfinite(device.get(loss)) and np.all(np.isfinite(device.get(grad)))
    close(device.get(loss), loss_ref, dtype)
    close(device.get(grad), grad_ref, dtype)


# -- parity: optimizers and dropout ------------------------------------------------------------
OPTIMIZER_CASES = [
    ("sgd_update", 1, dict(lr=0.1)),
    ("sgd_update", 1, dict(lr=0.1, momentum=0.9)),
    ("sgd_update", 1, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("adagrad_update", 1, dict(lr=0.1)),
    ("adagrad_update", 1, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, eps=1e-6)),
    ("rmsprop_update", 3, dict(lr=0.01)),
    ("rmsprop_update", 3, dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5, centered=True)),
    ("rmsprop_update", 3, dict(lr=0.01, momentum=0.9)),
    ("adam_update", 2, dict(lr=1e-2)),
    ("adam_update", 2, dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1)),
    ("adamw_update", 2, dict(lr=1e-2)),
    ("adamw_update", 2, dict(lr=1e-2, weight_decay=0.0)),
]


@pytest.mark.parametrize("op, n_state, settings", OPTIMIZER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(OPTIMIZER_CASES)])
def test_optimizer_updates_match_generic(device, dtype, rng, op, n_state, settings):
    shape = (33, 17)
    w = as_dtype(rng.normal(size=shape), dtype)
    state = [np.zeros(shape, dtype=dtype) for _ in range(n_state)]
    w_dev, state_dev = device.put(w), [device.put(s) for s in state]
    for step in range(1, 4):
        g = as_dtype(rng.normal(size=shape), dtype)
        takes_step = "step" in inspect.signature(GENERIC_OPS[op]).parameters
        kwargs = dict(settings, step=step) if takes_step else dict(settings)
        assert KERNELS[op](w_dev, device.put(g), *state_dev, **kwargs, xp=device.xp) is None
        GENERIC_OPS[op](w, g, *state, **kwargs, xp=np_xp)
    close(device.get(w_dev), w, dtype)
    assert device.get(w_dev).dtype == np.dtype(dtype)
    for s_dev, s in zip(state_dev, state):
        close(device.get(s_dev), s, dtype)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_dropout_matches_generic_exactly(device, dtype, rng, rate):
    x = as_dtype(rng.normal(size=(37, 70)), dtype)
    u = as_dtype(rng.random(size=x.shape), dtype)
    y, mask = KERNELS["dropout"](device.put(x), device.put(u), rate, xp=device.xp)
    y_ref, mask_ref = GENERIC_OPS["dropout"](x, u, rate, xp=np_xp)
    np.testing.assert_array_equal(device.get(mask), mask_ref)
    np.testing.assert_array_equal(device.get(y), y_ref)
    assert device.get(y).dtype == np.dtype(dtype)


def test_grid_stride_loops_cover_arrays_larger_than_the_grid(device, monkeypatch, rng):
    monkeypatch.setattr(_loader, "MAX_BLOCKS", 2)  # 2 blocks of 256 threads for 3,000 elements
    x = rng.normal(size=(60, 50))
    b, t, u = rng.normal(size=50), rng.normal(size=(60, 50)), rng.random(size=(60, 50))
    _, y = KERNELS["bias_activation"](device.put(x), device.put(b), "tanh", xp=device.xp)
    close(device.get(y), np.tanh(x + b), "float64")
    loss, grad = KERNELS["mse"](device.put(x), device.put(t), xp=device.xp)
    close(device.get(loss), 0.5 * np.sum((x - t) ** 2) / 60, "float64")
    close(device.get(grad), (x - t) / 60, "float64")
    w, v = device.put(x), device.put(np.zeros_like(x))
    KERNELS["sgd_update"](w, device.put(t), v, lr=0.5, momentum=0.9, xp=device.xp)
    close(device.get(w), x - 0.5 * t, "float64")
    y, _ = KERNELS["dropout"](device.put(x), device.put(u), 0.5, xp=device.xp)
    np.testing.assert_array_equal(device.get(y), np.where(u >= 0.5, x * 2.0, 0.0))


def test_kernels_fall_back_to_generic_ops(device, rng):
    """Mixed dtypes and NumPy arrays take the generic op, with its result."""
    z32, b64 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3)
    a, y = KERNELS["bias_activation"](device.put(z32), device.put(b64), "relu", xp=device.xp)
    assert device.get(y).dtype == np.float64  # the generic op's promotion, not a kernel's cast
    close(device.get(y), np.maximum(z32 + b64, 0.0), "float64")
    p, t = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    loss, grad = KERNELS["mse"](p, t, xp=np_xp)  # host arrays
    close(np.asarray(loss), 0.5 * np.sum((p - t) ** 2) / 5, "float64")
    assert type(grad) is np.ndarray


def test_emulator_checks_argument_types(emulator, monkeypatch):
    """A launch whose arguments do not match the kernel's parameters fails loudly."""
    kernel = emulator.raw_module(DeviceArray)(_loader.source("layers.cu"), ["nnkit::dropout<float>"]) \
        .get_function("nnkit::dropout<float>")
    x = np.zeros(4, dtype=np.float32).view(DeviceArray)
    with pytest.raises(AssertionError, match="do not match"):
        kernel((1,), (32,), (x, x, x, x, np.int64(4), np.float64(0.5), np.float32(2.0)))
    kernel((1,), (32,), (x, x, x, x, np.int64(4), np.float32(0.5), np.float32(2.0)))


# -- the backend on a GPU ----------------------------------------------------------------------
def _gpu_or_skip():
    from nnkit.backend import _gpu_usable

    usable, why = _gpu_usable()
    if not usable:
        pytest.skip(f"no usable GPU: {why}")
    import nnkit as nk

    return nk


def test_cupy_backend_binds_the_cuda_kernels():
    nk = _gpu_or_skip()
    be = nk.get_backend("cupy")
    assert be.name == "cupy" and nk.get_backend("auto").name == "cupy"
    for name in FUSED:
        assert be.ops.__dict__[name].func is KERNELS[name]


def _model(nk, backend, dtype):
    model = nk.Sequential([nk.layers.Dense(32, activation="relu", input_dim=20),
                           nk.layers.Dense(16, activation="tanh"),
                           nk.layers.Dense(4, activation="softmax")], backend=backend, dtype=dtype, seed=3)
    model.build(20)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy")
    return model


def test_gpu_same_seed_same_weights_and_float64_run_matches_numpy(rng):
    nk = _gpu_or_skip()
    X, y = rng.normal(size=(96, 20)), rng.integers(0, 4, size=96)
    cpu, gpu = _model(nk, "numpy", "float64"), _model(nk, "cupy", "float64")
    for w_cpu, w_gpu in zip(cpu.get_weights(), _model(nk, "cupy", "float32").get_weights()):
        np.testing.assert_array_equal(w_gpu, w_cpu.astype(np.float32))
    for w_cpu, w_gpu in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_array_equal(w_gpu, w_cpu)
    h_cpu = cpu.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=0)
    h_gpu = gpu.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=0)
    np.testing.assert_allclose(h_gpu.history["loss"], h_cpu.history["loss"], rtol=1e-10)
    for w_cpu, w_gpu in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(w_gpu, w_cpu, rtol=1e-9, atol=1e-12)
    assert isinstance(gpu.predict(X), np.ndarray)


def test_gpu_model_to_moves_weights_and_optimizer_state(rng):
    nk = _gpu_or_skip()
    X, y = rng.normal(size=(64, 20)), rng.integers(0, 4, size=64)
    moved, stay = _model(nk, "numpy", "float64"), _model(nk, "numpy", "float64")
    for model in (moved, stay):
        model.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=1)
    moved.to("cupy")
    assert moved.backend.name == "cupy"
    moved.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=2)  # momentum buffers came along
    stay.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=2)
    for w_gpu, w_cpu in zip(moved.get_weights(), stay.get_weights()):
        np.testing.assert_allclose(w_gpu, w_cpu, rtol=1e-9, atol=1e-12)
    moved.to("numpy")
    np.testing.assert_allclose(moved.predict(X), stay.predict(X), rtol=1e-9, atol=1e-12)


def test_gpu_arrays_cross_the_public_entry_points(rng):
    nk = _gpu_or_skip()
    import cupy

    X, y = rng.normal(size=(32, 20)), rng.integers(0, 4, size=32)
    gpu, cpu = _model(nk, "cupy", "float32"), _model(nk, "numpy", "float32")
    gpu.fit(X, y, epochs=1, batch_size=8, verbose=0, seed=0)  # NumPy data into a CuPy model
    cpu.fit(X, y, epochs=1, batch_size=8, verbose=0, seed=0)
    out = gpu.predict(cupy.asarray(X))
    assert isinstance(out, np.ndarray) and out.shape == (32, 4)
    try:
        host_out = cpu.predict(cupy.asarray(X))  # a CuPy array into a NumPy model: converted ...
    except (TypeError, ValueError) as exc:  # ... or refused with a message naming the argument
        assert "X" in str(exc)
    else:
        np.testing.assert_allclose(host_out, cpu.predict(X), rtol=1e-6)
