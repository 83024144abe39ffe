"""The one simulated device."""

from __future__ import annotations

import os

# what Device().mem_info reports, (free, total) in bytes: a test may shrink it to make data not fit
MEMORY = {"free": 16 << 30, "total": 16 << 30}


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(getattr(device, "id", device))
        if self.id != 0:
            from .runtime import CUDARuntimeError

            raise CUDARuntimeError(f"cudaErrorInvalidDevice: the simulated GPU has one device, not {self.id}")

    compute_capability = "90"

    @property
    def pci_bus_id(self):
        """Each MPI rank has a GPU of its own, unless NNKIT_SIMULATED_SHARED_GPU=1."""
        if os.environ.get("NNKIT_SIMULATED_SHARED_GPU") == "1":
            return "0000:00:00.0"
        rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or "0"
        return f"0000:{int(rank):02x}:00.0"

    @property
    def mem_info(self):
        return MEMORY["free"], MEMORY["total"]

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("simulated cuda device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id} (simulated)>"
