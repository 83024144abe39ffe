"""Every numerical op of nnkit, written once on the array API.

Each op takes its arrays positionally, its settings by name, and the array namespace as the
keyword ``xp``; a backend binds ``xp`` once. ``GENERIC_OPS`` is the contract every kernel table is
checked against: a kernel has its op's name and signature and returns the same result.
"""

from nnkit.ops import activations, conv, layers, linear, losses, normalization, optim, pooling, recurrent
from nnkit.ops.activations import ACTIVATION_NAMES, ACTIVATIONS

_MODULES = (linear, activations, layers, losses, optim, recurrent, conv, pooling, normalization)
_HELPERS = {"math", "annotations"}


def _collect():
    table = {}
    for module in _MODULES:
        for name, fn in vars(module).items():
            if name.startswith("_") or not callable(fn) or getattr(fn, "__module__", None) != module.__name__:
                continue
            table[name] = fn
    return table


GENERIC_OPS = _collect()

__all__ = ["GENERIC_OPS", "ACTIVATIONS", "ACTIVATION_NAMES"]
