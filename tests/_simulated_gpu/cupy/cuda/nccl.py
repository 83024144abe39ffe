"""The simulated ``cupy.cuda.nccl``: ranks under mpiexec, one simulated GPU each, reduce through MPI.

``allReduce`` takes device pointers, as NCCL's does; here they are host addresses, read and written
through ctypes, and summed over COMM_WORLD with mpi4py. Making a communicator is NCCL's bootstrap:
a collective of every rank, refused when two ranks are on one device (``created`` counts them).
"""

from __future__ import annotations

import ctypes
import os

import numpy as _np

available = True
NCCL_FLOAT32, NCCL_FLOAT64 = 7, 8  # ncclFloat32, ncclFloat64
NCCL_SUM = 0  # ncclSum
_TYPES = {NCCL_FLOAT32: ctypes.c_float, NCCL_FLOAT64: ctypes.c_double}


def get_unique_id() -> tuple:
    return tuple(os.urandom(128))


def groupStart():
    pass


def groupEnd():
    pass


class NcclError(RuntimeError):
    pass


class NcclCommunicator:
    created = 0  # communicators made in this process

    def __init__(self, ndev: int, commId, rank: int):
        import socket

        from mpi4py import MPI

        from .device import Device

        self._comm = MPI.COMM_WORLD
        if self._comm.Get_size() != ndev or self._comm.Get_rank() != rank:
            raise RuntimeError("simulated NCCL: the communicator must span COMM_WORLD in rank order")
        # NCCL's bootstrap: every rank's (host, GPU); two ranks on one GPU is an error
        gpus = self._comm.allgather((socket.gethostname(), Device().pci_bus_id))
        if len(set(gpus)) < len(gpus):
            raise NcclError("NCCL_ERROR_INVALID_USAGE: Duplicate GPU detected: ranks share a device "
                            f"({gpus})")
        self.calls = 0
        NcclCommunicator.created += 1

    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int):
        from mpi4py import MPI

        if op != NCCL_SUM:
            raise NotImplementedError("simulated NCCL: only ncclSum")
        kind = _TYPES[datatype]
        send = _np.ctypeslib.as_array((kind * count).from_address(sendbuf))
        recv = _np.ctypeslib.as_array((kind * count).from_address(recvbuf))
        if sendbuf == recvbuf:
            self._comm.Allreduce(MPI.IN_PLACE, recv, op=MPI.SUM)
        else:
            self._comm.Allreduce(send, recv, op=MPI.SUM)
        self.calls += 1

    def rank_id(self) -> int:
        return self._comm.Get_rank()

    def size(self) -> int:
        return self._comm.Get_size()

    def destroy(self):
        pass
