"""The .cu sources, compiled through CuPy on first use; importing this module needs no CuPy.

Every kernel is a C++ template in a .cu file beside this one, instantiated for float and double by
name expression ("nnkit::adam_update<float>"). A group of expressions is one CuPy ``RawModule``,
compiled by NVRTC the first time one of its kernels runs; CuPy keeps the binary in its kernel cache
on disk, so later processes skip the compile. ``GROUPS`` lists every group a wrapper can ask for,
so the test suite compiles exactly those names with nvcc.
"""

from __future__ import annotations

import functools
import numbers
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
C_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double"}
REAL = {"float": np.float32, "double": np.float64}
THREADS = 256  # threads of a 1-D block: 8 warps, enough to hide latency on any GPU since Kepler
MAX_BLOCKS = 4096  # grid-stride loops cover larger arrays with this many blocks

# .cu file -> every tuple of name expressions compiled together as one RawModule
GROUPS: dict[str, list[tuple[str, ...]]] = {}


def register(filename: str, expressions) -> tuple[str, ...]:
    """Declare a group of name expressions of ``filename``; returns it as a tuple."""
    group = tuple(expressions)
    GROUPS.setdefault(filename, [])
    if group not in GROUPS[filename]:
        GROUPS[filename].append(group)
    return group


SHARED_HEADER = "scalars.cuh"  # the scalar math every .cu file includes


@functools.cache
def source(filename: str) -> str:
    """The text of a .cu file shipped beside this module, with the shared header inlined where it
    is included (NVRTC compiles a string and has no include path to find it)."""
    text = (HERE / filename).read_text(encoding="utf-8")
    include = f'#include "{SHARED_HEADER}"'
    return text.replace(include, (HERE / SHARED_HEADER).read_text(encoding="utf-8"))


def cupy():
    """The cupy module (imported here, at the first kernel call, never at import time)."""
    import cupy as cp

    return cp


_modules: dict = {}
_functions: dict = {}


def current_device() -> int:
    """The id of CUDA's current device: a loaded module's kernels launch on that device only."""
    return cupy().cuda.runtime.getDevice()


def _module(filename: str, group: tuple[str, ...], device: int):
    """The RawModule of ``filename`` instantiating ``group`` on ``device`` (NVRTC runs once: CuPy
    caches the binary on disk, and loads it again on another device)."""
    key = (device, filename, group)
    module = _modules.get(key)
    if module is None:
        module = _modules[key] = cupy().RawModule(code=source(filename), name_expressions=group)
    return module


def clear_cache() -> None:
    """Forget every loaded module and kernel (the next call loads them again)."""
    _modules.clear()
    _functions.clear()


def function(filename: str, group: tuple[str, ...], expression: str):
    """The kernel ``expression`` of the RawModule of ``group`` on the current device, compiled and
    loaded there on first use and kept, per device."""
    device = current_device()
    key = (device, expression, group)
    kernel = _functions.get(key)
    if kernel is None:
        if expression not in group:
            raise KeyError(f"{expression!r} is not one of the name expressions {group}")
        kernel = _functions[key] = _module(filename, group, device).get_function(expression)
    return kernel


def c_type(*arrays) -> str | None:
    """"float" or "double" when every array is a CuPy array of that one dtype, else None.

    None sends the call to the generic op: NumPy arrays, mixed dtypes and integer arrays keep the
    generic op's semantics (and its error messages) instead of failing inside a kernel.
    """
    cp = sys.modules.get("cupy")
    if cp is None:
        return None
    first = arrays[0]
    if not isinstance(first, cp.ndarray):
        return None
    dtype = first.dtype
    name = C_TYPES.get(dtype)
    if name is None:
        return None
    for a in arrays[1:]:
        if not isinstance(a, cp.ndarray) or a.dtype != dtype:
            return None
    return name


def is_number(*values) -> bool:
    """Whether every value is a plain real number (hyperparameters arrive as Python floats)."""
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)


def contiguous(a):
    """``a`` itself when C-contiguous, else a C-contiguous copy."""
    return a if a.flags.c_contiguous else cupy().ascontiguousarray(a)


def blocks(size: int) -> int:
    """Blocks of THREADS for a grid-stride loop over ``size`` elements."""
    return max(1, min((size + THREADS - 1) // THREADS, MAX_BLOCKS))


def row_threads(m: int) -> int:
    """Threads of a one-block-per-row kernel: the smallest multiple of a warp up to 256 covering m."""
    for threads in (32, 64, 128):
        if m <= threads:
            return threads
    return 256


class StepBuffers:
    """The output buffers of one training step, made by its first run and handed out again, in the
    same order, to every later run: a step that allocates only through ``empty`` then writes into
    the same memory every time, as a CUDA graph replaying it needs (a graph may not allocate).

    ``with buffers:`` routes the kernels' ``empty`` here; the first run records, later runs
    replay; a request of another shape or dtype than recorded raises (the step changed shape).
    """

    def __init__(self):
        self.arrays: list = []
        self._next = None  # index of the next buffer handed out; None: recording

    def __enter__(self):
        if _active:
            raise RuntimeError("StepBuffers: another step's buffers are in use")
        _active.append(self)
        return self

    def __exit__(self, *exc):
        _active.pop()
        self._next = 0  # every later run replays from the first buffer

    def take(self, shape, dtype):
        shape = tuple(int(n) for n in shape)
        if self._next is None:
            a = cupy().empty(shape, dtype=dtype)
            self.arrays.append(a)
            return a
        if self._next >= len(self.arrays):
            raise RuntimeError(f"StepBuffers: the step asked for buffer {self._next + 1}, its first run made "
                               f"{len(self.arrays)}")
        a = self.arrays[self._next]
        if a.shape != shape or a.dtype != np.dtype(dtype):
            raise RuntimeError(f"StepBuffers: buffer {self._next + 1} was {a.shape} {a.dtype} in the first "
                               f"run, now asked for {shape} {np.dtype(dtype)}")
        self._next += 1
        return a

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)


_active: list = []  # the StepBuffers in use, at most one


def empty(shape, dtype):
    """An uninitialised device array: from the step's buffers inside ``with StepBuffers()``."""
    if _active:
        return _active[0].take(shape, dtype)
    return cupy().empty(shape, dtype=dtype)


def empty_like(a):
    """``empty(a.shape, a.dtype)``."""
    return empty(a.shape, a.dtype)


def launch_elementwise(kernel, size: int, args: tuple) -> None:
    """Run a grid-stride kernel over ``size`` elements."""
    kernel((blocks(size),), (THREADS,), args)
