"""The simulated ``cupy.linalg``: NumPy's, on device arrays."""

import numpy as _np

from . import _names, _populate

_populate(globals(), _np.linalg, _names.LINALG)
__all__ = sorted(n for n in globals() if not n.startswith("_"))
