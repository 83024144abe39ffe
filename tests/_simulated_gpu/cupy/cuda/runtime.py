"""The simulated ``cupy.cuda.runtime``."""


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount() -> int:
    return 1


def deviceSynchronize() -> None:
    pass


def runtimeGetVersion() -> int:
    return 12080


def driverGetVersion() -> int:
    return 12080


def getDeviceProperties(device: int) -> dict:
    return {"name": b"Simulated GPU (NumPy on the CPU)", "totalGlobalMem": 1 << 34, "major": 9, "minor": 0}
