"""The simulated ``cupy.cuda.memory``."""

from .device import OutOfMemoryError

__all__ = ["OutOfMemoryError"]
