"""The simulated node: ``NNKIT_SIMULATED_GPUS`` devices (default 2) in one host, each with its own
PCI bus id and memory.

Every MPI rank of an mpiexec job on this host sees the same devices, as ranks on one node do: two
ranks that both stay on device 0 share its bus id, which NCCL refuses. Memory is counted: every
device array holds its bytes on the device it was allocated on until it is freed, CuPy's pool keeps
the most it has held (until ``free_all_blocks``), ``mem_info`` reports what the pool has not taken,
and an allocation past the device's capacity raises ``OutOfMemoryError``, as on a GPU.
"""

from __future__ import annotations

import os
import threading


def _count() -> int:
    if os.environ.get("NNKIT_SIMULATED_SHARED_GPU") == "1":
        return 1
    return int(os.environ.get("NNKIT_SIMULATED_GPUS", "2"))


COUNT = _count()
_CAPACITY = int(os.environ.get("NNKIT_SIMULATED_GPU_MEMORY", 16 << 30))
# the capacity of each device, in bytes: a test may lower "free" to make data not fit (see free_now)
MEMORY = {"free": _CAPACITY, "total": _CAPACITY}
USED = [0] * COUNT  # bytes of live device arrays, per device
HELD = [0] * COUNT  # bytes CuPy's pool holds, per device: the most USED reached since free_all_blocks
_thread = threading.local()


class OutOfMemoryError(MemoryError):
    """cupy.cuda.memory.OutOfMemoryError."""


def current() -> int:
    """The calling thread's current device (CUDA keeps one per host thread)."""
    return getattr(_thread, "device", 0)


def set_current(device: int) -> None:
    _check(device)
    _thread.device = device


def _check(device: int) -> None:
    if not 0 <= device < COUNT:
        from .runtime import CUDARuntimeError

        raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device} "
                               f"(the simulated node has {COUNT})")


def allocate(nbytes: int, device: int) -> None:
    if USED[device] + nbytes > MEMORY["free"]:
        raise OutOfMemoryError(f"Out of memory allocating {nbytes:,} bytes (allocated so far: "
                               f"{USED[device]:,} bytes, simulated device {device} of {MEMORY['free']:,})")
    USED[device] += nbytes
    if USED[device] > HELD[device]:
        HELD[device] = USED[device]


def release(nbytes: int, device: int) -> None:
    USED[device] -= nbytes


def free_now(nbytes: int, device: int | None = None) -> int:
    """The capacity (for MEMORY["free"]) that leaves ``nbytes`` free on ``device`` at this moment;
    empties the pool's cache first (free_all_blocks), so that ``mem_info`` reports just that."""
    import gc

    gc.collect()  # arrays in reference cycles would free later, and make more free than asked for
    device = current() if device is None else device
    HELD[device] = USED[device]
    return USED[device] + nbytes


class Device:
    def __init__(self, device=None):
        self.id = current() if device is None else int(getattr(device, "id", device))
        _check(self.id)
        self._previous = []

    compute_capability = "90"

    @property
    def pci_bus_id(self):
        return f"0000:{self.id + 1:02x}:00.0"

    @property
    def mem_info(self):
        return max(0, MEMORY["free"] - HELD[self.id]), MEMORY["total"]

    def synchronize(self):
        from . import count_sync

        count_sync()

    def use(self):
        set_current(self.id)

    def __enter__(self):
        self._previous.append(current())
        set_current(self.id)
        return self

    def __exit__(self, *exc):
        set_current(self._previous.pop())
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("simulated cuda device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id} (simulated)>"
