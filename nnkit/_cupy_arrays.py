"""What the cupy backend's arrays can do: CuPy arrays on the current CUDA device.

The one place beside nnkit/backend.py that handles CuPy's arrays: the module is handed in when the
backend is made (only its NCCL binding is imported here, where it is used), so nothing else names
it; distributed training reduces through ``allreduce`` and ``communicator``.
"""

from __future__ import annotations

import numpy as np

from nnkit.backend import DEVICE_DATA_FRACTION, HostArrays, _is_cupy

__all__ = ["CuPyArrays"]


class CuPyArrays(HostArrays):
    """CuPy arrays on the current device: moved there and back explicitly, views and out= as
    NumPy's, random numbers from CuPy's device generators, NCCL among the ranks' GPUs."""

    is_host = False
    has_views = True

    def __init__(self, cupy):
        self.module = cupy

    def asarray(self, a, dtype):
        cp = self.module
        if _is_cupy(a):
            out = a if dtype is None or a.dtype == dtype else a.astype(dtype)
        else:
            out = cp.asarray(np.asarray(a), dtype=dtype)
        return cp.ascontiguousarray(out)

    def is_array(self, a) -> bool:
        return _is_cupy(a)

    def generator(self, seed):
        return self.module.random.default_rng(seed)

    def uniform(self, stream, shape, dtype_name: str):
        return stream.random(shape, dtype=dtype_name)

    def synchronize(self) -> None:
        self.module.cuda.get_current_stream().synchronize()

    def fits_on_device(self, nbytes: int) -> bool:
        cp = self.module
        free, _total = cp.cuda.Device().mem_info
        free += cp.get_default_memory_pool().free_bytes()  # held by CuPy's pool, reusable
        return nbytes <= DEVICE_DATA_FRACTION * free

    def device_key(self):
        """(NCCL available, host name, PCI bus id) of the current GPU: ranks sharing a GPU, or
        without NCCL, reduce through the host."""
        from mpi4py import MPI

        try:
            from cupy.cuda import nccl  # noqa: F401  (a part of CuPy that may be missing)

            available = bool(getattr(nccl, "available", True))
        except ImportError:
            available = False
        return (True if available else None, MPI.Get_processor_name(), self.module.cuda.Device().pci_bus_id)

    def communicator(self, comm):
        """The NCCL communicator of ``comm``'s ranks on the current device, made once per process."""
        from nnkit._cupy_comm import nccl_communicator

        return nccl_communicator(comm, self.module.cuda.runtime.getDevice())

    def allreduce(self, comm, flat, communicator=None, staging=None) -> None:
        """By NCCL on the stream the step's kernels use (the optimizer then reads the sum without
        the host waiting); without a communicator through ``staging``, a host buffer of flat's
        shape, by MPI."""
        if communicator is not None:
            from cupy.cuda import nccl

            kind = nccl.NCCL_FLOAT64 if flat.dtype == np.float64 else nccl.NCCL_FLOAT32
            stream = self.module.cuda.get_current_stream()
            communicator.allReduce(flat.data.ptr, flat.data.ptr, flat.size, kind, nccl.NCCL_SUM, stream.ptr)
            return
        flat.get(out=staging)  # waits for the gradients to be computed
        super().allreduce(comm, staging)
        flat.set(staging)
