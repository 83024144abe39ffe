"""A CPU emulator of nnkit's CUDA kernels, for tests on machines without a GPU.

The .cu sources are compiled by the host C++ compiler with a small CUDA runtime of their own: each
thread of a block is a fiber, ``__syncthreads`` and warp shuffles are barriers between fibers, and
one block runs at a time. ``EmulatedModule`` stands in for ``cupy.RawModule``: its kernels take the
launch arguments CuPy's would (device arrays and NumPy scalars), check their types against the
kernel's parameters, and run the real kernel body on the arrays' memory.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess

import numpy as np

from nnkit._kernels.cuda import _loader

EMULATOR = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <ucontext.h>

#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __shared__ static  /* one block runs at a time: a static is the block's shared memory */

struct emu_dim3 { unsigned x = 1, y = 1, z = 1; };
emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

// Each CUDA thread of a block is a fiber (ucontext) on one OS thread; a fiber runs until it waits
// at a barrier (__syncthreads, or a warp shuffle's exchange), then the next one runs. A round of
// the scheduler in which no fiber arrives anywhere is a deadlock (a barrier some threads skip).
namespace emu {
struct Barrier { unsigned count = 0, arrived = 0; unsigned long generation = 0; };
// A fiber lives across launches: made once with makecontext, it then switches with _setjmp and
// _longjmp, which (unlike swapcontext) make no system call to save the signal mask.
struct Fiber { jmp_buf jump; emu_dim3 index; bool done = true; };
constexpr std::size_t kStack = 64 * 1024;
std::vector<Fiber> fibers;
std::vector<std::vector<char>> stacks;
jmp_buf scheduler;
unsigned current = 0;
unsigned long events = 0;
unsigned long waits = 0;  // arrivals at any barrier, ever
// A kernel whose first launch reached no barrier runs later launches thread by thread as plain
// calls (no fibers: 100x cheaper). Reaching a barrier then is an error, reported as status 3.
std::vector<signed char> barrier_free;  // per kernel: -1 not launched yet, 1 barrier-free, 0 not
bool direct = false, direct_hit_barrier = false;
Barrier block_barrier;
std::vector<Barrier> warp_barriers;
std::vector<double> slots;
std::function<void()>* body = nullptr;

inline void yield() {
  if (!_setjmp(fibers[current].jump)) _longjmp(scheduler, 1);
}
inline void wait(Barrier& b) {
  ++waits;
  if (direct) {
    direct_hit_barrier = true;
    return;
  }
  const unsigned long generation = b.generation;
  ++events;
  if (++b.arrived == b.count) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  while (b.generation == generation) yield();
}
inline unsigned rank() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
inline unsigned block_threads() { return blockDim.x * blockDim.y * blockDim.z; }
void fiber_main() {
  const unsigned self = current;
  for (;;) {
    yield();  // parked until the scheduler hands this fiber a thread of a block
    (*body)();
    fibers[self].done = true;
  }
}

// Slots for n fibers, each started once so that it parks in fiber_main.
void grow(unsigned n) {
  static std::vector<ucontext_t> contexts;
  while (fibers.size() < n) {
    const unsigned t = fibers.size();
    fibers.emplace_back();
    stacks.emplace_back(kStack);
    contexts.emplace_back();
    ucontext_t& context = contexts.back();
    ucontext_t here;
    getcontext(&context);
    context.uc_stack.ss_sp = stacks[t].data();
    context.uc_stack.ss_size = kStack;
    context.uc_link = nullptr;  // fiber_main never returns
    makecontext(&context, fiber_main, 0);
    current = t;
    if (!_setjmp(scheduler)) swapcontext(&here, &context);
    contexts.clear();  // a started context is never used again
  }
}
}  // namespace emu

inline void __syncthreads() { emu::wait(emu::block_barrier); }

template <typename T>
T __shfl_down_sync(unsigned mask, T v, int offset) {
  if (mask != 0xffffffffu || emu::block_threads() % 32 != 0) {
    fprintf(stderr, "emulator: __shfl_down_sync needs whole warps and a full mask\n");
    abort();
  }
  const unsigned r = emu::rank(), warp = r / 32, lane = r % 32;
  emu::slots[r] = (double)v;  // float -> double -> float is exact
  emu::wait(emu::warp_barriers[warp]);
  const T out = lane + offset < 32 ? (T)emu::slots[warp * 32 + lane + offset] : v;
  emu::wait(emu::warp_barriers[warp]);
  return out;
}

namespace emu {
template <typename F>
int launch(int kernel, emu_dim3 grid, emu_dim3 block, F kernel_call) {
  std::function<void()> fn = kernel_call;
  body = &fn;
  gridDim = grid;
  blockDim = block;
  const unsigned n = block.x * block.y * block.z;
  if (barrier_free.size() <= (std::size_t)kernel) barrier_free.resize(kernel + 1, -1);
  if (barrier_free[kernel] == 1) {
    direct = true;
    direct_hit_barrier = false;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = {bx, by, bz};
          for (unsigned t = 0; t < n; ++t) {
            threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            fn();
          }
        }
    direct = false;
    if (direct_hit_barrier) {
      fprintf(stderr, "emulator: a kernel reached a barrier its first launch never reached\n");
      return 3;
    }
    return 0;
  }
  const unsigned long waits_before = waits;
  grow(n);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = {bx, by, bz};
        block_barrier = Barrier{n};
        warp_barriers.assign((n + 31) / 32, Barrier{});
        for (unsigned w = 0; w < warp_barriers.size(); ++w) warp_barriers[w].count = n - 32 * w < 32 ? n - 32 * w : 32;
        slots.assign(n, 0.0);
        for (unsigned t = 0; t < n; ++t) {
          fibers[t].done = false;
          fibers[t].index = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
        }
        unsigned running = n;
        while (running) {
          const unsigned long before = events;
          for (unsigned t = 0; t < n; ++t) {
            if (fibers[t].done) continue;
            current = t;
            threadIdx = fibers[t].index;
            if (!_setjmp(scheduler)) _longjmp(fibers[t].jump, 1);  // back when it waits or ends
            if (fibers[t].done) {
              --running;
              ++events;
            }
          }
          if (running && events == before) {
            fprintf(stderr, "emulator: deadlock, %u threads wait at a barrier the others skip\n", running);
            fibers.clear();  // the waiting fibers are abandoned: later launches start fresh ones
            stacks.clear();
            return 2;
          }
        }
      }
  barrier_free[kernel] = waits == waits_before ? 1 : 0;
  return 0;
}

template <typename T> struct code { static constexpr char value = '?'; };
template <> struct code<float> { static constexpr char value = 'f'; };
template <> struct code<double> { static constexpr char value = 'd'; };
template <> struct code<int> { static constexpr char value = 'i'; };
template <> struct code<long long> { static constexpr char value = 'l'; };
template <typename T> struct code<T*> { static constexpr char value = code<std::remove_cv_t<T>>::value - 32; };

template <typename... P, std::size_t... I>
void invoke(void (*kernel)(P...), void** params, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cv_t<P>*>(params[I])...);
}

// Runs `kernel` as cuLaunchKernel would: params[i] points at the i-th argument's value.
template <typename... P>
int run(int index, void (*kernel)(P...), const char* types, emu_dim3 grid, emu_dim3 block,
        void** params) {
  static constexpr char expected[] = {code<P>::value..., '\0'};
  if (strcmp(expected, types) != 0) {
    fprintf(stderr, "emulator: arguments of types %s for a kernel taking %s\n", types, expected);
    return 1;
  }
  return launch(index, grid, block, [&] { invoke(kernel, params, std::index_sequence_for<P...>{}); });
}
}  // namespace emu
"""

ARG_CODES = {np.dtype("float32"): "f", np.dtype("float64"): "d", np.dtype("int32"): "i",
             np.dtype("int64"): "l"}
_CTYPES = {"f": ctypes.c_float, "d": ctypes.c_double, "i": ctypes.c_int32, "l": ctypes.c_int64}


def cu_files() -> list[str]:
    return sorted(p.name for p in _loader.HERE.glob("*.cu"))


def all_expressions() -> list[str]:
    """Every name expression a wrapper can ask for, in a fixed order (the emulator's kernel table)."""
    import nnkit._kernels.cuda  # noqa: F401  (the wrappers register their groups on import)

    return list(dict.fromkeys(e for f in cu_files() for g in _loader.GROUPS[f] for e in g))


def compiler() -> str | None:
    return shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def build(directory) -> "Emulator":
    """Compile the emulator of every kernel into ``directory`` (reused when already built there)."""
    expressions = all_expressions()
    lines = [EMULATOR] + [f'#include "{_loader.HERE / f}"' for f in cu_files()]
    lines.append("typedef int (*emu_runner)(int, const char*, emu_dim3, emu_dim3, void**);")
    lines.append("static const emu_runner emu_table[] = {")
    lines += [f"  [](int i, const char* t, emu_dim3 g, emu_dim3 b, void** p) "
              f"{{ return emu::run(i, &{e}, t, g, b, p); }},"
              for e in expressions]
    lines.append("};")
    lines.append('extern "C" int emu_run(int index, const char* types, unsigned gx, unsigned gy, '
                 "unsigned gz, unsigned bx, unsigned by, unsigned bz, void** params) {\n"
                 "  return emu_table[index](index, types, emu_dim3{gx, gy, gz}, emu_dim3{bx, by, bz}, "
                 "params);\n}")
    source = "\n".join(lines + [_loader.source(f) for f in cu_files()])
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    lib = directory / f"emulator_{digest}.so"
    if not lib.exists():
        src = directory / f"emulator_{digest}.cpp"
        src.write_text("\n".join(lines))
        partial = directory / f"emulator_{digest}.so.partial"
        out = subprocess.run([compiler(), "-std=c++17", "-O1", "-shared", "-fPIC", "-o", str(partial),
                              str(src)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-5000:]
        partial.replace(lib)  # atomic: a concurrent process never loads a half-written library
    dll = ctypes.CDLL(str(lib))
    dll.emu_run.restype = ctypes.c_int
    return Emulator(dll, expressions)


def _address(a) -> int:
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


class EmulatedKernel:
    """One kernel, called as a CuPy RawModule function: ``kernel(grid, block, args)``."""

    def __init__(self, dll, index, expression, device_array_type):
        self.dll, self.index, self.expression = dll, index, expression
        self.device_array_type = device_array_type

    def __call__(self, grid, block, args, **launch_options):
        grid, block = tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))
        assert all(isinstance(g, int) and g > 0 for g in grid + block), (grid, block)
        assert block[0] * block[1] * block[2] <= 1024, block
        codes, values = [], []
        for a in args:
            if isinstance(a, self.device_array_type):
                assert a.flags.c_contiguous, f"{self.expression}: a non-contiguous array"
                codes.append(ARG_CODES[a.dtype].upper())
                values.append(ctypes.c_void_p(_address(a)))
            elif isinstance(a, np.generic) and a.dtype in ARG_CODES:
                code = ARG_CODES[a.dtype]
                codes.append(code)
                values.append(_CTYPES[code](a.item()))
            else:
                raise TypeError(f"{self.expression}: argument {a!r} is neither a device array nor a "
                                f"NumPy scalar of a C type")
        params = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                                   for v in values])
        status = self.dll.emu_run(self.index, "".join(codes).encode(), *grid, *block, params)
        assert status != 1, f"{self.expression}: argument types do not match the kernel"
        assert status != 2, f"{self.expression}: deadlock at a barrier"
        assert status != 3, f"{self.expression}: reached a barrier its first launch did not"


class EmulatedModule:
    """Stands in for ``cupy.RawModule(code=..., name_expressions=...)``."""

    def __init__(self, emulator, code, name_expressions, device_array_type):
        assert code in {_loader.source(f) for f in cu_files()}, "not one of nnkit's .cu sources"
        self.emulator, self.names = emulator, tuple(name_expressions)
        self.device_array_type = device_array_type

    def get_function(self, expression):
        assert expression in self.names, f"{expression} was not among the module's name expressions"
        return EmulatedKernel(self.emulator.dll, self.emulator.expressions.index(expression), expression,
                              self.device_array_type)


class Emulator:
    def __init__(self, dll, expressions):
        self.dll, self.expressions = dll, expressions

    def raw_module(self, device_array_type):
        """A ``cupy.RawModule`` stand-in whose kernels take ``device_array_type`` arrays."""
        def raw_module(code, name_expressions=(), options=(), **kwargs):
            return EmulatedModule(self, code, name_expressions, device_array_type)

        return raw_module
