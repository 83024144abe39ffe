"""One GPU per MPI rank: the device is chosen from the node-local rank before CuPy allocates.

Ranks of one job on one node would otherwise all open GPU 0 (CUDA's default), share it, and fall
back from NCCL to host staging. Under an MPI launcher the node-local rank is the rank in MPI's
shared-memory split of COMM_WORLD (COMM_TYPE_SHARED: the ranks that share this node's memory), or
the launcher's local-rank variable where mpi4py is missing; rank r takes device r mod (devices
visible). Outside a launcher nothing is chosen and CuPy's current device stays.
"""

from __future__ import annotations

import logging
import os

__all__ = ["node_local_rank", "select_device", "selected_device"]

log = logging.getLogger("nnkit")

# what the launchers of MPICH (Hydra), Open MPI, MVAPICH, Slurm and PALS set for the local rank
_LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK",
                    "PMI_LOCAL_RANK", "SLURM_LOCALID", "PALS_LOCAL_RANKID")
_selected: dict = {}


def _launched() -> bool:
    from nnkit.distributed import _launcher_size

    return _launcher_size() is not None


def node_local_rank() -> int | None:
    """This process's rank among the ranks of its node, or None when no MPI launcher started it."""
    if not _launched():
        return None
    try:
        from mpi4py import MPI

        local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return local.Get_rank()
        finally:
            local.Free()
    except (ImportError, RuntimeError):  # no mpi4py, or no MPI library it can load
        for var in _LOCAL_RANK_VARS:
            value = os.environ.get(var, "")
            if value.isdigit():
                return int(value)
    return None


def select_device(cupy) -> int | None:
    """Make device (node-local rank mod device count) current, once per process; returns it, or
    None outside an MPI launcher. Call before the first allocation: CUDA opens a context on
    whichever device is current at the first allocation."""
    if "device" in _selected:
        return _selected["device"]
    local = node_local_rank()
    device = None
    if local is not None:
        count = cupy.cuda.runtime.getDeviceCount()
        device = local % count
        cupy.cuda.runtime.setDevice(device)
        log.info("cupy: node-local rank %d uses GPU %d of %d", local, device, count)
    _selected["device"] = device
    return device


def selected_device():
    """The device select_device chose (None: none chosen, or not yet)."""
    return _selected.get("device")
