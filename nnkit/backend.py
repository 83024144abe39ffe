"""Backends: the one place that imports numpy, numba and cupy by name, lazily.

A backend is a value: ``Backend(name, xp, ops, rng)``. ``xp`` is an array-API namespace, ``ops``
holds every op of :mod:`nnkit.ops` bound once to the backend's kernel where its kernel table has
one, else to the generic op, and ``rng`` is the backend's random generator for dropout masks.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

from nnkit import ops as _ops

__all__ = [
    "Backend",
    "get_backend",
    "available_backends",
    "use_backend",
    "set_backend",
    "current_backend",
    "BACKEND_NAMES",
    "host_rng",
]

BACKEND_NAMES = ("numpy", "numba", "cupy")
DEVICE_DATA_FRACTION = 0.4  # of the free device memory, for a data set fit moves whole
FLOAT_DTYPES = ("float32", "float64")

log = logging.getLogger("nnkit")


class _NumPyNamespace:
    """NumPy as an array-API namespace, with the reductions bound straight to their ufuncs.

    ``numpy.sum`` and ``numpy.max`` pass through Python wrappers that cost ~2 us a call, more than
    the whole reduction on a small network's arrays; ``add.reduce`` and ``maximum.reduce`` compute
    the same result without them. Every other name is NumPy's own, looked up once and kept.
    """

    __name__ = "numpy"

    @staticmethod
    def sum(x, /, *, axis=None, dtype=None, keepdims=False):
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

    @staticmethod
    def max(x, /, *, axis=None, keepdims=False):
        return np.maximum.reduce(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def min(x, /, *, axis=None, keepdims=False):
        return np.minimum.reduce(x, axis=axis, keepdims=keepdims)

    def __getattr__(self, name):
        value = getattr(np, name)
        setattr(self, name, value)
        return value

    def __repr__(self):
        return "<nnkit's NumPy namespace>"


NUMPY_NAMESPACE = _NumPyNamespace()


class Backend:
    """An array namespace with its ops bound once, plus host <-> device conversion and an RNG.

    Parameters
    ----------
    name:
        "numpy", "numba", "cupy", or the namespace's own name for any other array-API namespace.
    xp:
        The array-API namespace arrays of this backend belong to.
    kernels:
        Op name -> kernel with the op's signature; ops missing here fall back to the generic op.
    """

    def __init__(self, name: str, xp: Any, kernels: dict | None = None, *, host: bool = True,
                 device_module: Any = None, train_step=(None, None), device_updates=None,
                 step_buffers=None):
        self.name = name
        self.xp = xp
        self.kernels = dict(kernels or {})
        self.is_host = host
        # whether a slice of an array, reshaped, is a view writes go through (NumPy, CuPy): then
        # a model's parameters live in one flat buffer per dtype
        self.has_views = host or device_module is not None
        # the library whose arrays these are, with its out= and in-place slices: NumPy on the
        # host, the device module (CuPy) on a GPU, None for other array-API namespaces
        self.array_module = np if host else device_module
        self._device_module = device_module
        bound = {}
        for op_name, generic in _ops.GENERIC_OPS.items():
            fn = self.kernels.get(op_name, generic)
            bound[op_name] = functools.partial(fn, xp=xp)
        self.ops = SimpleNamespace(**bound)
        self.rng = None
        self.seed(None)
        # from the kernel family: model -> callable(xb, yb) -> (loss, out) running a whole
        # training step, or None; and model -> why it has none
        self.train_step_factory, self.train_step_refusal = train_step
        # optimizer updates keeping their per-step scalars on the device (kernels' DEVICE_UPDATES)
        self.device_updates = dict(device_updates or {})
        # () -> a context in which the kernels take their outputs from one step's own buffers
        # (kernels' StepBuffers: what a captured step needs), or None
        self.step_buffers = step_buffers

    # -- arrays -------------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """An array of this backend (C-contiguous, on the device), of ``dtype`` when given."""
        xp = self.xp
        if dtype is not None:
            dtype = self.dtype(dtype)
        if self.name == "cupy":
            if type(a).__module__.startswith("cupy"):
                out = a if dtype is None or a.dtype == dtype else a.astype(dtype)
            else:
                out = self._device_module.asarray(np.asarray(a), dtype=dtype)
            return self._device_module.ascontiguousarray(out)
        if self.is_host:
            if type(a).__module__.startswith("cupy"):
                a = a.get()
            return np.asarray(a, dtype=dtype, order="C")
        if not hasattr(a, "__array_namespace__"):
            a = np.asarray(a)
        return xp.asarray(np.asarray(a) if isinstance(a, np.ndarray) else a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy (or view on the host) of ``a``."""
        if isinstance(a, np.ndarray):
            return a
        if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
            return a.get()
        if hasattr(a, "__dlpack__"):
            try:
                return np.from_dlpack(a)
            except Exception:  # some namespaces refuse DLPack export of 0-d or bool arrays
                pass
        return np.asarray(a)

    def dtype(self, name) -> Any:
        """The namespace's dtype object for "float32"/"float64" (or a dtype object of either)."""
        allowed = FLOAT_DTYPES + ("int64", "int32", "bool")
        key = name
        if not isinstance(name, str):
            key = next((k for k in allowed if name == getattr(self.xp, k, None)), None)
            if key is None:
                try:
                    key = np.dtype(name).name
                except TypeError:
                    key = str(name)
        if key not in allowed:
            raise TypeError(f"dtype: expected one of {FLOAT_DTYPES}, got {name!r}")
        return getattr(self.xp, key)

    def dtype_name(self, dtype) -> str:
        """"float32" or "float64" for an array dtype of this backend."""
        for key in ("float32", "float64"):
            if dtype == getattr(self.xp, key):
                return key
        return str(dtype)

    def is_array(self, a) -> bool:
        if self.is_host:
            return isinstance(a, np.ndarray)
        if self.name == "cupy":
            return type(a).__module__.startswith("cupy")
        try:
            from array_api_compat import array_namespace
            return array_namespace(a) is self.xp
        except TypeError:
            return False

    # -- randomness ---------------------------------------------------------------------------
    def generator(self, seed=None):
        """A new random generator of this backend's kind, seeded with ``seed`` (a model's stream)."""
        if self.name == "cupy":
            return self._device_module.random.default_rng(seed)
        return np.random.default_rng(seed)

    def seed(self, seed) -> None:
        """Reseed the backend's random generator (what layers outside a model draw from)."""
        self.rng = self.generator(seed)

    def random_uniform(self, shape, dtype, stream=None):
        """Uniform [0, 1) numbers of ``shape`` and ``dtype`` on this backend, drawn from
        ``stream`` (a generator from ``generator()``), else from the backend's own."""
        dtype_name = self.dtype_name(dtype)
        rng = self.rng if stream is None else stream
        if self.name == "cupy":
            return rng.random(shape, dtype=dtype_name)
        u = rng.random(shape, dtype=np.float32 if dtype_name == "float32" else np.float64)
        return u if self.is_host else self.asarray(u)

    # -- device -------------------------------------------------------------------------------
    def fits_on_device(self, nbytes: int) -> bool:
        """Whether a data set of ``nbytes`` should move to the device whole (always, on the host).

        fit keeps the data and one shuffled copy of it on the device, beside the model and its
        activations: a data set may take DEVICE_DATA_FRACTION of the memory free on the device
        (``nbytes`` as it is on the device: nnkit._cupy_data.device_nbytes).
        """
        if self.name != "cupy":
            return True
        cp = self._device_module
        free, _total = cp.cuda.Device().mem_info
        free += cp.get_default_memory_pool().free_bytes()  # held by CuPy's pool, reusable
        return nbytes <= DEVICE_DATA_FRACTION * free

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the host)."""
        if self.name == "cupy":
            self._device_module.cuda.get_current_stream().synchronize()

    def __repr__(self) -> str:
        fused = sorted(self.kernels)
        return f"Backend({self.name!r}, kernels={len(fused)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Backend) and other.name == self.name and other.xp is self.xp

    def __hash__(self) -> int:
        return hash((self.name, id(self.xp)))


def host_rng(seed=None):
    """The host generator initial weights and shuffles are drawn from: Generator(PCG64(seed))."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(seed))


# ---------------------------------------------------------------------------------------------
_cache: dict[str, Backend] = {}
_lock = threading.Lock()
_state = threading.local()
_default_name = "numpy"
_why_not: dict[str, str] = {}


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@functools.lru_cache(maxsize=None)
def _gpu_usable() -> tuple[bool, str]:
    """Whether CuPy is installed, sees a device and runs a tiny kernel there."""
    if not _has_module("cupy"):
        return False, "cupy is not installed (pip install nnkit[cuda])"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False, "cupy sees no CUDA device"
        from nnkit._cupy_device import select_device

        select_device(cupy)  # under MPI: this rank's own GPU, before the probe allocates on one
        probe = cupy.arange(4, dtype=cupy.float32) * 2
        if float(probe.sum()) != 12.0:
            return False, "a test kernel gave a wrong result on the GPU"
        return True, ""
    except Exception as exc:  # no driver, no device, broken toolkit: all mean "not usable"
        return False, f"cupy cannot run on a GPU here ({type(exc).__name__}: {exc})"


def _make(name: str) -> Backend:
    if name == "numpy":
        return Backend("numpy", NUMPY_NAMESPACE, {})
    if name == "numba":
        if not _has_module("numba"):
            raise ValueError(_unavailable("numba", "numba is not installed (pip install nnkit[numba])"))
        module = importlib.import_module("nnkit._kernels.numba")
        return Backend("numba", NUMPY_NAMESPACE, module.KERNELS, train_step=module.TRAIN_STEP)
    if name == "cupy":
        ok, why = _gpu_usable()
        if not ok:
            raise ValueError(_unavailable("cupy", why))
        import cupy
        from array_api_compat import cupy as cupy_xp

        cuda = importlib.import_module("nnkit._kernels.cuda")
        return Backend("cupy", cupy_xp, cuda.KERNELS, host=False, device_module=cupy,
                       device_updates=cuda.DEVICE_UPDATES, step_buffers=cuda.StepBuffers)
    raise ValueError(
        f"backend: unknown name {name!r}; expected one of {list(BACKEND_NAMES) + ['auto']} "
        f"or an array-API namespace (available here: {available_backends()})"
    )


def _unavailable(name: str, why: str) -> str:
    return f"backend: {name!r} is not available: {why}; available backends: {available_backends()}"


def available_backends() -> list[str]:
    """Names of the backends that work on this machine, e.g. ["numpy", "numba"]."""
    names = ["numpy"]
    if _has_module("numba"):
        names.append("numba")
    if _has_module("cupy"):
        ok, why = _gpu_usable()
        if ok:
            names.append("cupy")
        else:
            _why_not["cupy"] = why
    else:
        _why_not["cupy"] = "cupy is not installed"
    return names


def _from_namespace(xp) -> Backend:
    name = getattr(xp, "__name__", type(xp).__name__)
    if name in ("numpy", "array_api_compat.numpy"):
        return get_backend("numpy")
    if name in ("cupy", "array_api_compat.cupy"):
        return get_backend("cupy")
    if not hasattr(xp, "asarray") or not hasattr(xp, "matmul"):
        raise TypeError(f"backend: expected a name or an array-API namespace, got {xp!r}")
    key = f"namespace:{name}:{id(xp)}"
    with _lock:
        if key not in _cache:
            _cache[key] = Backend(name, xp, {}, host=False)
    return _cache[key]


def get_backend(name="auto") -> Backend:
    """The backend called ``name``: "numpy" | "numba" | "cupy" | "auto" | an array-API namespace.

    "auto" picks cupy where a GPU is usable, else numba where installed, else numpy, and logs one
    line saying why it fell back. ``None`` means the current default backend.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        return current_backend()
    if not isinstance(name, str):
        return _from_namespace(name)
    key = name.lower()
    if key == "auto":
        ok, why = _gpu_usable()
        if ok:
            key = "cupy"
        else:
            key = "numba" if _has_module("numba") else "numpy"
            log.info("backend auto: using %s, not cupy: %s", key, why)
    with _lock:
        if key not in _cache:
            _cache[key] = _make(key)
        return _cache[key]


def current_backend() -> Backend:
    """The default backend: "numpy" unless set_backend or use_backend changed it."""
    name = getattr(_state, "stack", None)
    return get_backend(name[-1] if name else _default_name)


def set_backend(name) -> Backend:
    """Make ``name`` the default backend for models created without one."""
    global _default_name
    backend = get_backend(name)
    _default_name = backend.name if backend.name in BACKEND_NAMES else backend
    return backend


@contextlib.contextmanager
def use_backend(name):
    """``with use_backend("numba"):`` makes that backend the default inside the block."""
    backend = get_backend(name)
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    stack.append(backend)
    try:
        yield backend
    finally:
        stack.pop()
