"""NCCL communicators, one per MPI communicator and device for the life of the process.

Creating an NCCL communicator costs a bootstrap over the network and device memory; data-parallel
fit used to make one per call and never free it. Here it is made at the first fit that needs it,
reused by every later fit (of any model) on the same MPI communicator and device, and destroyed
when the process exits. Whether to make one is agreed by every rank (one Allreduce), so a rank
never waits in NCCL's bootstrap for ranks that reuse theirs.
"""

from __future__ import annotations

import atexit

__all__ = ["nccl_communicator", "created"]

_communicators: dict = {}
created = {"count": 0}  # communicators this process has made


def _key(comm, device: int):
    handle = comm.py2f() if hasattr(comm, "py2f") else id(comm)
    return handle, comm.Get_size(), device


def nccl_communicator(comm, device: int):
    """The NCCL communicator of ``comm``'s ranks (rank order kept) on ``device``, made once."""
    from mpi4py import MPI
    from cupy.cuda import nccl

    key = _key(comm, device)
    if comm.allreduce(int(key not in _communicators), op=MPI.MAX):
        stale = _communicators.pop(key, None)
        if stale is not None:
            stale.destroy()
        uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None)
        _communicators[key] = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        created["count"] += 1
    return _communicators[key]


@atexit.register
def _destroy_all() -> None:
    while _communicators:
        _key_, communicator = _communicators.popitem()
        try:
            communicator.destroy()
        except Exception:  # the driver may already be shutting down at exit: nothing left to free
            pass
