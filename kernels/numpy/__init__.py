"""NumPy kernels for the numpy backend: KERNELS maps an op name to a kernel with the op's signature.

Each kernel is the op in another formulation NumPy runs faster than the generic one (ufuncs with
out=, arrays kept across steps in the _scratch pool); arrays a kernel does not take (views,
other namespaces, mixed dtypes) go to the generic op. No compiler is involved: the numpy backend
needs only NumPy.
"""

from nnkit._kernels.numpy import images

KERNELS = {**images.KERNELS}

__all__ = ["KERNELS"]
