"""The simulated ``cupy.cuda.driver``."""


class CUDADriverError(RuntimeError):
    pass
