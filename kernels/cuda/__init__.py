"""CUDA kernels for the CuPy backend: KERNELS maps an op name to a kernel with the op's signature.

The math lives in the .cu files beside this package (activations, losses, optim, layers,
recurrent, images), shipped in the wheel. Importing this package needs no CuPy: a kernel imports it
when it first runs, and its RawModule is compiled by NVRTC then (name expressions for float and
double) and cached. Every op missing here, and every call a kernel does not take (NumPy arrays,
integer or mixed dtypes), runs the generic op.
"""

from . import activations, images, layers, losses, optim, recurrent

KERNELS = {**activations.KERNELS, **losses.KERNELS, **optim.KERNELS, **layers.KERNELS, **recurrent.KERNELS,
           **images.KERNELS}

__all__ = ["KERNELS"]
