"""The simulated ``cupy.fft``: NumPy's, on device arrays."""

import numpy as _np

from . import _names, _populate

_populate(globals(), _np.fft, _names.FFT)
__all__ = sorted(n for n in globals() if not n.startswith("_"))
