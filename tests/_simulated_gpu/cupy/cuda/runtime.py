"""The simulated ``cupy.cuda.runtime``."""

from . import device as _device


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount() -> int:
    return _device.COUNT


def getDevice() -> int:
    return _device.current()


def setDevice(device: int) -> None:
    _device.set_current(int(device))


def deviceSynchronize() -> None:
    from . import count_sync

    count_sync()


def runtimeGetVersion() -> int:
    return 12080


def driverGetVersion() -> int:
    return 12080


def getDeviceProperties(device: int) -> dict:
    _device._check(device)
    return {"name": b"Simulated GPU (NumPy on the CPU)", "totalGlobalMem": _device.MEMORY["total"],
            "major": 9, "minor": 0, "clockRate": 1_980_000, "multiProcessorCount": 132}
