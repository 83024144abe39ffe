"""A simulated GPU: a stand-in for CuPy whose arrays live in host memory but behave as device arrays.

It lets nnkit's cupy backend, and every test of the suite on it, run where no GPU exists. It is put
in front of the real CuPy by ``PYTHONPATH`` (see tests/test_simulated_gpu.py) and keeps CuPy's rules
where a host program could break them without noticing:

- ``cupy.ndarray`` is not a NumPy array: ``numpy.asarray(a)`` raises CuPy's TypeError, and NumPy
  arrays given to a CuPy function, operator or ufunc raise TypeError, as on a GPU.
- Moving data is explicit and counted: ``transfers["to_device"]`` counts host -> device copies
  (``cupy.asarray`` of host data, setting a slice from host data) and ``transfers["to_host"]``
  device -> host reads (``.get()``, ``cupy.asnumpy``, ``float(a)``, ``int(a)``, ``bool(a)``,
  ``a.item()``, ``a.tolist()``, printing).
- ``cupy.asarray`` of host data copies: later writes to the host array never reach the device.
- ``RawModule`` runs nnkit's .cu sources on the CPU emulator of tests/_cuda_emulator.py.
- ``cupy.random`` is a device generator of its own (Philox), not the host's PCG64, so a test
  cannot pass by drawing the same numbers on both sides by accident.
- Device memory is counted (cupy/cuda/device.py): ``mem_info`` shrinks as arrays are allocated,
  the pool keeps what it held, and an allocation past the device's capacity raises
  ``OutOfMemoryError``. ``syncs()`` counts the host's waits for the device.
- The node has ``NNKIT_SIMULATED_GPUS`` devices (default 2); an array lives on the device current
  when it was made, and an op or kernel given arrays of another device raises, as CuPy does.
- ``cupy.cuda.nccl`` reduces through MPI (mpi4py), and refuses two ranks on one device as NCCL does.
- What the host asks of the device is counted in ``calls``: "kernels" (every op, ufunc, fill,
  copy and RawModule kernel run outside a graph: one launch each on a GPU), "allocations" (new
  device buffers) and "graph_launches" (a graph's replay runs its kernels without counting them).
"""

from __future__ import annotations

import builtins as _builtins
import numbers as _numbers
import weakref as _weakref

import numpy as _np

from . import _names

__version__ = "14.2.0+simulated"
transfers = {"to_device": 0, "to_host": 0}
calls = {"kernels": 0, "allocations": 0, "graph_launches": 0}
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
             "a NumPy array explicitly.")


def reset_transfers() -> None:
    """Zero the transfer counts and the count of the host's waits."""
    transfers["to_device"] = transfers["to_host"] = 0
    cuda.SYNCS["count"] = 0
    for key in calls:
        calls[key] = 0


def syncs() -> int:
    """The host's waits for the device since reset_transfers: explicit synchronisations and reads."""
    return cuda.SYNCS["count"] + transfers["to_host"]


_owned: dict = {}  # id of a NumPy buffer holding device memory -> (weak reference, bytes, device)


def _track(host: _np.ndarray) -> int:
    """Charge the device for ``host``'s buffer once (views share their base's); the device id."""
    device = cuda.device.current()
    root = host
    while isinstance(root.base, _np.ndarray):
        root = root.base
    key = id(root)
    if key in _owned or root.base is not None or root.nbytes == 0:
        return device
    if cuda.graph.capturing():
        cuda.graph.violate(f"a pool allocation of {root.nbytes:,} bytes")
    cuda.device.allocate(root.nbytes, device)
    calls["allocations"] += 1
    _owned[key] = (_weakref.ref(root, lambda _, key=key: _free(key)), root.nbytes, device)
    return device


def _free(key) -> None:
    _ref, nbytes, device = _owned.pop(key)
    cuda.device.release(nbytes, device)


class _Pointer:
    """``a.data``: the device pointer of an array (here a host address)."""

    def __init__(self, ptr: int):
        self.ptr = ptr


def _same_device(a: "ndarray", where: str):
    if a._dev != cuda.device.current():
        raise ValueError(f"{where}: the array is on device {a._dev}, the current device is "
                         f"{cuda.device.current()} (CuPy refuses arrays of another device)")


def _reject_host(value, where: str):
    if isinstance(value, _np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} in {where}: a NumPy array given to CuPy "
                        "(move it with cupy.asarray first)")


def _unwrap(value, where: str):
    """The host storage of device arrays in ``value`` (lists and tuples included); NumPy arrays refused."""
    if isinstance(value, ndarray):
        _same_device(value, where)
        return value._a
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    _reject_host(value, where)
    return value


def _wrap(value):
    """Device arrays for the host arrays in a result (NumPy scalars become 0-d arrays, as in CuPy)."""
    if isinstance(value, _np.ndarray):
        return ndarray._of(value)
    if isinstance(value, _np.generic) and not isinstance(value, (_np.str_, _np.bytes_)):
        return ndarray._of(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(fn, args, kwargs, where):
    out = kwargs.get("out")
    raw_args = _unwrap(args, where)
    raw_kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
    if out is not None and cuda.graph.capturing():  # recorded into the graph, not run
        cuda.graph.record(fn, raw_args, raw_kwargs)
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    result = fn(*raw_args, **raw_kwargs)
    if out is not None or where.endswith("copyto") or isinstance(result, _np.generic) or (
            isinstance(result, _np.ndarray) and result.base is None and not where.startswith("cupy.empty")):
        calls["kernels"] += 1  # wrote a buffer: one launch on a GPU (a view launches nothing)
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        if isinstance(result, tuple):
            return tuple(o if isinstance(o, ndarray) and r is o._a else _wrap(r) for r, o in zip(result, outs))
        if isinstance(outs[0], ndarray) and result is outs[0]._a:
            return outs[0]
    return _wrap(result)


def _to_host(a: "ndarray") -> _np.ndarray:
    if cuda.graph.capturing():
        cuda.graph.violate("a device-to-host read (a host synchronisation)")
    transfers["to_host"] += 1
    return _np.array(a._a, copy=True)


class ndarray:
    """A device array: NumPy storage, CuPy's rules (see the module's docstring)."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 100.0  # NumPy defers its operators to ours, which refuse the mix

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = _np.empty(shape, dtype=dtype, order=order)
        self._dev = _track(self._a)

    @classmethod
    def _of(cls, host: _np.ndarray) -> "ndarray":
        out = object.__new__(cls)
        out._a = host
        out._dev = _track(host)
        return out

    # -- what a device array refuses ------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __dlpack__(self, *args, **kwargs):
        raise BufferError("a CUDA device array cannot be exported to the host through DLPack")

    def __dlpack_device__(self):
        return (2, self._dev)  # kDLCUDA, the device it lives on

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs, f"numpy.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        # CuPy answers the NumPy functions it implements itself; the others find no implementation
        if func.__name__ not in _names.CUPY:
            raise TypeError(f"no implementation found for 'numpy.{func.__name__}' on types that "
                            "implement __array_function__: [<class 'cupy.ndarray'>]")
        return _call(func, args, kwargs, f"numpy.{func.__name__}")

    # -- reads to the host ----------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        host = _to_host(self)
        if out is not None:
            out[...] = host
            return out
        return _np.asarray(host, order=order)

    def set(self, arr, stream=None):
        _host_to_device()
        self._a[...] = arr

    def item(self, *args):
        return _to_host(self).item(*args)

    def tolist(self):
        return _to_host(self).tolist()

    def __float__(self):
        return float(_to_host(self))

    def __int__(self):
        return int(_to_host(self))

    def __complex__(self):
        return complex(_to_host(self))

    def __bool__(self):
        return _builtins.bool(_to_host(self))

    def __repr__(self):
        return repr(_to_host(self))

    def __str__(self):
        return str(_to_host(self))

    def __format__(self, spec):
        return format(_to_host(self)[()] if self.ndim == 0 else _to_host(self), spec)

    def __reduce__(self):
        return (_rebuild, (_to_host(self),))

    # -- attributes -----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    data = property(lambda self: _Pointer(self._a.ctypes.data))
    device = property(lambda self: cuda.Device(self._dev))
    T = property(lambda self: ndarray._of(self._a.T))
    mT = property(lambda self: ndarray._of(_np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: ndarray._of(self._a.real))
    imag = property(lambda self: ndarray._of(self._a.imag))
    base = property(lambda self: None if self._a.base is None else ndarray._of(self._a.base))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, _np.ndarray):  # CuPy copies host data into the slice
            _host_to_device()
        elif isinstance(value, ndarray):
            value = value._a
        if cuda.graph.capturing():
            cuda.graph.record(self._a.__setitem__, (_index(key), value), {})
            return
        calls["kernels"] += 1
        self._a[_index(key)] = value

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and _np.dtype(dtype) == self.dtype:
            return self
        calls["kernels"] += 1
        return ndarray._of(self._a.astype(dtype, order=order, copy=True))

    def copy(self, order="C"):
        calls["kernels"] += 1
        return ndarray._of(self._a.copy(order=order))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __getattr__(self, name):  # the remaining methods: reshape, sum, max, fill, view, ...
        if name not in _names.NDARRAY:
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")
        attr = getattr(self._a, name)
        if name in _IN_PLACE and cuda.graph.capturing():
            return lambda *args, **kwargs: cuda.graph.record(attr, _unwrap(args, name), kwargs)
        if not callable(attr):
            return _wrap(attr)
        return lambda *args, **kwargs: _call(attr, args, kwargs, f"ndarray.{name}")

    __hash__ = None


_IN_PLACE = frozenset({"fill", "put", "sort", "partition", "scatter_add", "scatter_max", "scatter_min"})


def _host_to_device() -> None:
    if cuda.graph.capturing():
        cuda.graph.violate("a host-to-device copy")
    transfers["to_device"] += 1


def _index(key):
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key


def _rebuild(host):
    return ndarray._of(host)


def _ufunc_operator(ufunc, reflected=False):
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


def _inplace_operator(ufunc):
    def apply(self, other):
        ufunc(self, other, out=(self,))
        return self

    return apply


for _name, _ufunc in {"add": _np.add, "sub": _np.subtract, "mul": _np.multiply, "truediv": _np.true_divide,
                      "floordiv": _np.floor_divide, "mod": _np.remainder, "pow": _np.power,
                      "matmul": _np.matmul, "and": _np.bitwise_and, "or": _np.bitwise_or,
                      "xor": _np.bitwise_xor, "lshift": _np.left_shift, "rshift": _np.right_shift}.items():
    setattr(ndarray, f"__{_name}__", _ufunc_operator(_ufunc))
    setattr(ndarray, f"__r{_name}__", _ufunc_operator(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace_operator(_ufunc))
for _name, _ufunc in {"lt": _np.less, "le": _np.less_equal, "gt": _np.greater, "ge": _np.greater_equal,
                      "eq": _np.equal, "ne": _np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _ufunc_operator(_ufunc))
for _name, _ufunc in {"neg": _np.negative, "pos": _np.positive, "abs": _np.absolute,
                      "invert": _np.invert}.items():
    setattr(ndarray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))
ndarray.__divmod__ = _ufunc_operator(_np.divmod)
del _name, _ufunc


class ufunc:
    """A CuPy ufunc: NumPy's, on device arrays only."""

    def __init__(self, host_ufunc):
        self._u = host_ufunc
        self.__name__ = host_ufunc.__name__
        self.nin, self.nout, self.nargs = host_ufunc.nin, host_ufunc.nout, host_ufunc.nargs

    def __call__(self, *args, **kwargs):
        return _call(self._u, args, kwargs, f"cupy.{self.__name__}")

    def __getattr__(self, method):
        if method.startswith("__") or method not in ("reduce", "accumulate", "outer", "at", "reduceat"):
            raise AttributeError(method)
        return lambda *args, **kwargs: _call(getattr(self._u, method), args, kwargs,
                                             f"cupy.{self.__name__}.{method}")

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (simulated device)>"


def _device_function(host_fn, name):
    def device_fn(*args, **kwargs):
        return _call(host_fn, args, kwargs, f"cupy.{name}")

    device_fn.__name__ = device_fn.__qualname__ = name
    device_fn.__doc__ = getattr(host_fn, "__doc__", None)
    return device_fn


# -- moving data ---------------------------------------------------------------------------------
def _to_device(obj, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(obj, ndarray):
        host = obj._a
        if dtype is None or _np.dtype(dtype) == host.dtype:
            if not copy and (order in ("K", "A", None) or host.flags[f"{order}_CONTIGUOUS"]) and host.ndim >= ndmin:
                return obj
        return ndarray._of(_np.array(host, dtype=dtype, copy=True, order=order, ndmin=ndmin))
    if isinstance(obj, (list, tuple)) and _builtins.any(isinstance(v, ndarray) for v in obj):
        obj = [v._a if isinstance(v, ndarray) else v for v in obj]
    else:
        _host_to_device()
    # a fresh buffer: the device never shares memory with the host
    return ndarray._of(_np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    return _to_device(obj, dtype, copy is not False, order, ndmin)


def asarray(a, dtype=None, order=None, *, blocking=False):
    return _to_device(a, dtype, False, order or "K")


def asanyarray(a, dtype=None, order=None, *, blocking=False):
    return _to_device(a, dtype, False, order or "K")


def ascontiguousarray(a, dtype=None):
    return _to_device(a, dtype, False, "C")


def asfortranarray(a, dtype=None):
    return _to_device(a, dtype, False, "F")


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args):
    import sys

    return sys.modules[__name__] if _builtins.any(isinstance(a, ndarray) for a in args) else _np


def fuse(*args, **kwargs):
    raise NotImplementedError("cupy.fuse is not simulated")


_HOST_ONLY = {"asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray", "ndarray",
              "ufunc", "random", "linalg", "fft", "testing", "lib", "ma", "char", "rec", "ctypeslib",
              "polynomial", "emath", "dtypes", "exceptions", "typing", "f2py", "matlib", "core",
              "get_array_module", "fuse", "asnumpy", "show_config", "test", "info"}


def _populate(namespace: dict, host_module, cupy_names) -> None:
    """NumPy's names that CuPy has too: ufuncs and functions on device arrays; types and constants as
    they are."""
    for name in dir(host_module):
        if name not in cupy_names or name in namespace or name in _HOST_ONLY:
            continue
        value = getattr(host_module, name)
        if isinstance(value, _np.ufunc):
            namespace[name] = ufunc(value)
        elif callable(value) and not isinstance(value, type):
            namespace[name] = _device_function(value, name)
        elif isinstance(value, type) or isinstance(value, (_numbers.Number, type(None), str)):
            namespace[name] = value


_populate(globals(), _np, _names.CUPY)
# `from cupy import *` must not replace builtins with NumPy's scalar types
bool_ = _np.bool_
bool = _np.bool_  # noqa: A001  (as CuPy exports it)

from . import cuda, fft, linalg, random  # noqa: E402


def RawModule(code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
              enable_cooperative_groups=False, name_expressions=None, jitify=False):
    """nnkit's .cu sources, run on the CPU emulator (tests/_cuda_emulator.py), loaded on the device
    current at its first get_function: its kernels launch there only, as a CUDA module's do."""
    from ._emulator import emulator

    return _DeviceModule(emulator().raw_module(ndarray)(code, name_expressions or (), options))


class _DeviceModule:
    def __init__(self, module):
        self._module, self._device = module, None

    def get_function(self, expression):
        if self._device is None:
            self._device = cuda.device.current()
        return _DeviceFunction(self._module.get_function(expression), self._device, expression)


class _DeviceFunction:
    def __init__(self, kernel, device, expression):
        self._kernel, self._device, self._expression = kernel, device, expression

    def __call__(self, grid, block, args, **options):
        if cuda.device.current() != self._device:
            raise cuda.driver.CUDADriverError(
                f"CUDA_ERROR_INVALID_HANDLE: invalid resource handle ({self._expression} was loaded on "
                f"device {self._device}, launched on device {cuda.device.current()})")
        for a in args:
            if isinstance(a, ndarray):
                _same_device(a, self._expression)
        if cuda.graph.capturing():
            return cuda.graph.record(self._kernel, (grid, block, args), options)
        calls["kernels"] += 1
        return self._kernel(grid, block, args, **options)


def RawKernel(*args, **kwargs):
    raise NotImplementedError("RawKernel is not simulated: nnkit's kernels are RawModule templates")


def ElementwiseKernel(*args, **kwargs):
    raise NotImplementedError("ElementwiseKernel is not simulated")


class _MemoryPool:
    """CuPy's pool on the current device: it keeps the most it has held until free_all_blocks."""

    def used_bytes(self):
        return cuda.device.USED[cuda.device.current()]

    def total_bytes(self):
        return cuda.device.HELD[cuda.device.current()]

    def free_bytes(self):
        device = cuda.device.current()
        return cuda.device.HELD[device] - cuda.device.USED[device]

    def free_all_blocks(self):
        device = cuda.device.current()
        cuda.device.HELD[device] = cuda.device.USED[device]


class _PinnedMemoryPool:
    def n_free_blocks(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()
_pinned_pool = _PinnedMemoryPool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pinned_pool


# what `from cupy import *` gives (array_api_compat.cupy does that): CuPy's names, not this module's helpers
__all__ = sorted(name for name in globals() if not name.startswith("_")
                 and name not in {"annotations", "transfers", "reset_transfers", "syncs", "calls"})
