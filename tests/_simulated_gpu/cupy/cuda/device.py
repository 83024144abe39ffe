"""The one simulated device."""

from __future__ import annotations


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(getattr(device, "id", device))
        if self.id != 0:
            from .runtime import CUDARuntimeError

            raise CUDARuntimeError(f"cudaErrorInvalidDevice: the simulated GPU has one device, not {self.id}")

    compute_capability = "90"
    pci_bus_id = "0000:00:00.0"

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
