"""Checks of data on the device, read back together: one wait for the device, not one per check.

Validating a batch on the GPU (every value finite, labels in range, targets in [0, 1]) needs a
value back on the host, and each read waits for the device. The model's checks add their device
results here instead, and ``verify`` reads them in one transfer and raises the first failed
check's error, in the order the checks were made, before anything has changed.
"""

from __future__ import annotations

import contextlib

__all__ = ["DeviceChecks", "checked_together"]


class DeviceChecks:
    def __init__(self, backend):
        self.backend = backend
        self._values: list = []
        self._tests: list = []  # (first index, count, test(host values) -> error message or None)

    def add(self, values, test) -> None:
        """Check ``test`` on the host copies of the 0-d device arrays ``values``, at verify."""
        self._tests.append((len(self._values), len(values), test))
        self._values.extend(values)

    def verify(self) -> None:
        if not self._values:
            return
        xp = self.backend.xp
        stacked = xp.stack([xp.astype(v, xp.float64) for v in self._values])
        host = self.backend.to_numpy(stacked)  # the one read
        self._values, tests, self._tests = [], self._tests, []
        for first, count, test in tests:
            message = test(host[first:first + count])
            if message is not None:
                raise ValueError(message)


@contextlib.contextmanager
def checked_together(model):
    """Inside the block the model's checks of device data are deferred, and read once at its end."""
    if model.backend.is_host or getattr(model, "_device_checks", None) is not None:
        yield
        return
    checks = model._device_checks = DeviceChecks(model.backend)
    try:
        yield
    finally:
        model._device_checks = None
    checks.verify()
