"""Backends: the one place that imports numpy, numba and cupy by name, lazily.

A backend is a value: ``Backend(name, xp, arrays, table)``. ``xp`` is an array-API namespace,
``ops`` holds every op of :mod:`nnkit.ops` bound once to the kernel of the kernel family ``table``
where it has one, else to the generic op, and ``arrays`` says what the backend's arrays can do (no
code asks a backend for its name to know). Random streams belong to their callers (``generator``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import threading
from types import MappingProxyType, SimpleNamespace
from typing import Any

import numpy as np

from nnkit import ops as _ops

__all__ = [
    "Backend",
    "HostArrays",
    "NamespaceArrays",
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


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def _host_copy(a) -> np.ndarray:
    """A NumPy array of any array: through DLPack where the namespace exports it."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__dlpack__"):
        try:
            return np.from_dlpack(a)
        except Exception:  # some namespaces refuse DLPack export of 0-d or bool arrays
            pass
    return np.asarray(a)


class HostArrays:
    """Where the numpy and numba backends keep arrays: host memory, NumPy arrays (views, out=)."""

    is_host = True
    has_views = True  # a slice, reshaped, is a view writes go through: parameters in flat buffers
    module = np  # the array library with out= and in-place slices

    def asarray(self, a, dtype):
        if _is_cupy(a):
            a = a.get()
        return np.asarray(a, dtype=dtype, order="C")

    def to_numpy(self, a) -> np.ndarray:
        return a.get() if _is_cupy(a) else _host_copy(a)

    def is_array(self, a) -> bool:
        return isinstance(a, np.ndarray)

    def generator(self, seed):
        return np.random.default_rng(seed)

    def uniform(self, stream, shape, dtype_name: str):
        return stream.random(shape, dtype=np.float32 if dtype_name == "float32" else np.float64)

    def synchronize(self) -> None:
        """Host work is done when it returns: nothing to wait for."""

    def fits_on_device(self, nbytes: int) -> bool:
        return True

    def device_key(self):
        """Which device this process computes on (None: the host)."""
        return None

    def communicator(self, comm):
        """A device collective's communicator over ``comm``'s ranks (None: MPI on these arrays)."""
        return None

    def allreduce(self, comm, flat, communicator=None, staging=None) -> None:
        """``flat`` summed over ``comm``'s ranks, in place."""
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)


class NamespaceArrays(HostArrays):
    """Arrays of any other array-API namespace: converted through NumPy (DLPack), no views, no
    out=, random numbers drawn on the host; not for data-parallel training."""

    is_host = False
    has_views = False
    module = None

    def __init__(self, xp):
        self.xp = xp

    def asarray(self, a, dtype):
        if not hasattr(a, "__array_namespace__"):
            a = np.asarray(a)
        return self.xp.asarray(a, dtype=dtype)

    def is_array(self, a) -> bool:
        try:
            from array_api_compat import array_namespace
            return array_namespace(a) is self.xp
        except TypeError:
            return False

    def uniform(self, stream, shape, dtype_name: str):
        return self.asarray(super().uniform(stream, shape, dtype_name), None)

    def allreduce(self, comm, flat, communicator=None, staging=None) -> None:
        raise ValueError(f"distributed: arrays of {getattr(self.xp, '__name__', self.xp)!r} cannot be reduced "
                         "over ranks; use the numpy, numba or cupy backend")


class Backend:
    """An array namespace with its ops bound once, and what its arrays can do: a value.

    Parameters
    ----------
    name:
        "numpy", "numba", "cupy", or the namespace's own name for any other array-API namespace.
    xp:
        The array-API namespace arrays of this backend belong to.
    arrays:
        Where the arrays live and what they can do (HostArrays, NamespaceArrays, the cupy
        backend's CuPyArrays): conversion to and from NumPy, waiting for the device, whether a data
        set fits there, random numbers from a stream the caller owns, the ranks' all-reduce.
    table:
        The kernel family (a module of nnkit._kernels): ``KERNELS`` (op name -> kernel with the
        op's signature; missing ops run the generic op) and what else it provides, each optional:
        ``make_train_step``/``refusal`` (a compiled whole step and why a model has none),
        ``DEVICE_UPDATES`` (updates with their scalars on the device), ``StepBuffers``.

    Nothing of a Backend is reassigned after it is made; the random stream of code that passes
    none (``rng``, ``seed``) is the process's per backend, kept outside it.
    """

    __slots__ = ("name", "xp", "arrays", "table", "kernels", "ops", "_key")

    def __init__(self, name: str, xp: Any, arrays: HostArrays | None = None, table: Any = None):
        kernels = dict(getattr(table, "KERNELS", None) or {})
        bound = {}
        for op_name, generic in _ops.GENERIC_OPS.items():
            bound[op_name] = functools.partial(kernels.get(op_name, generic), xp=xp)
        for key, value in (("name", name), ("xp", xp), ("arrays", arrays or HostArrays()), ("table", table),
                           ("kernels", MappingProxyType(kernels)), ("ops", SimpleNamespace(**bound)),
                           ("_key", (name, id(xp)))):
            object.__setattr__(self, key, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"Backend is a value: {name!r} cannot be reassigned (make another Backend)")

    def __delattr__(self, name):
        raise AttributeError(f"Backend is a value: {name!r} cannot be deleted")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self  # a value: copies of a model share it

    def __reduce__(self):
        return (get_backend, (self.name,)) if self.name in BACKEND_NAMES else super().__reduce__()

    # -- what the arrays and the kernel family can do -------------------------------------------
    is_host = property(lambda self: self.arrays.is_host, doc="Whether arrays live in host memory (NumPy).")
    has_views = property(lambda self: self.arrays.has_views,
                         doc="Whether a slice, reshaped, is a view writes go through (then a model's "
                             "parameters live in one flat buffer per dtype).")
    array_module = property(lambda self: self.arrays.module,
                            doc="The library of these arrays with out= and in-place slices (NumPy, CuPy), or None.")
    train_step_factory = property(lambda self: getattr(self.table, "make_train_step", None),
                                  doc="model -> a compiled whole training step or None (the kernel family's).")
    train_step_refusal = property(lambda self: getattr(self.table, "refusal", None),
                                  doc="model -> why the kernel family has no compiled step for it.")
    device_updates = property(lambda self: getattr(self.table, "DEVICE_UPDATES", None) or {},
                              doc="Optimizer updates keeping their per-step scalars on the device.")
    step_buffers = property(lambda self: getattr(self.table, "StepBuffers", None),
                            doc="() -> a context in which the kernels take their outputs from one "
                                "step's own buffers (what a captured step needs), or None.")

    # -- arrays -------------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """An array of this backend (C-contiguous, on the device), of ``dtype`` when given."""
        return self.arrays.asarray(a, None if dtype is None else self.dtype(dtype))

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy (or view on the host) of ``a``."""
        return self.arrays.to_numpy(a)

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
        return self.arrays.is_array(a)

    # -- randomness ---------------------------------------------------------------------------
    def generator(self, seed=None):
        """A new random generator of this backend's kind, seeded with ``seed``: a stream the caller
        owns (each model keeps its own)."""
        return self.arrays.generator(seed)

    @property
    def rng(self):
        """The process's stream for this backend, which layers outside a model draw from."""
        stream = _default_streams.get(self._key)
        if stream is None:
            stream = _default_streams[self._key] = self.generator(None)
        return stream

    def seed(self, seed) -> None:
        """Reseed the process's stream for this backend (``rng``)."""
        _default_streams[self._key] = self.generator(seed)

    def random_uniform(self, shape, dtype, stream=None):
        """Uniform [0, 1) numbers of ``shape`` and ``dtype`` on this backend, drawn from
        ``stream`` (a generator from ``generator()``), else from ``rng``."""
        return self.arrays.uniform(self.rng if stream is None else stream, shape, self.dtype_name(dtype))

    # -- device -------------------------------------------------------------------------------
    def fits_on_device(self, nbytes: int) -> bool:
        """Whether a data set of ``nbytes`` should move to the device whole (always, on the host).

        fit keeps the data and one shuffled copy of it on the device, beside the model and its
        activations: a data set may take DEVICE_DATA_FRACTION of the memory free on the device
        (``nbytes`` as it is on the device: nnkit._cupy_data.device_nbytes).
        """
        return self.arrays.fits_on_device(nbytes)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the host)."""
        self.arrays.synchronize()

    def allreduce(self, comm, flat, communicator=None, staging=None) -> None:
        """``flat`` summed over the ranks of ``comm`` in place: by ``communicator`` (a device
        collective's, from ``arrays.communicator``) where given, else by MPI (on a device through
        the host buffer ``staging``)."""
        self.arrays.allreduce(comm, flat, communicator, staging)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, kernels={len(self.kernels)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Backend) and other.name == self.name and other.xp is self.xp

    def __hash__(self) -> int:
        return hash(self._key)


_default_streams: dict = {}  # (name, id(xp)) -> the process's generator for that backend


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
        return Backend("numpy", NUMPY_NAMESPACE, table=importlib.import_module("nnkit._kernels.numpy"))
    if name == "numba":
        if not _has_module("numba"):
            raise ValueError(_unavailable("numba", "numba is not installed (pip install nnkit[numba])"))
        return Backend("numba", NUMPY_NAMESPACE, table=importlib.import_module("nnkit._kernels.numba"))
    if name == "cupy":
        ok, why = _gpu_usable()
        if not ok:
            raise ValueError(_unavailable("cupy", why))
        import cupy
        from array_api_compat import cupy as cupy_xp

        from nnkit._cupy_arrays import CuPyArrays

        return Backend("cupy", cupy_xp, CuPyArrays(cupy), table=importlib.import_module("nnkit._kernels.cuda"))
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
            _cache[key] = Backend(name, xp, NamespaceArrays(xp))
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
