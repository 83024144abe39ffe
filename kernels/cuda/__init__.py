"""CUDA kernels for the CuPy backend: KERNELS maps an op name to a kernel with the op's signature.

The math lives in the .cu files beside this package (activations, losses, optim, layers,
recurrent, images), shipped in the wheel. Importing this package needs no CuPy: a kernel imports it
when it first runs, and its RawModule is compiled by NVRTC then (name expressions for float and
double) and cached. Every op missing here, and every call a kernel does not take (NumPy arrays,
integer or mixed dtypes), runs the generic op.
"""

from . import activations, images, layers, losses, optim, recurrent
from ._loader import StepBuffers

KERNELS = {**activations.KERNELS, **losses.KERNELS, **optim.KERNELS, **layers.KERNELS, **recurrent.KERNELS,
           **images.KERNELS}

# updates whose per-step scalars live on the device (so a captured step replays them afresh):
# "adam" is adam_update_on_device, its state made by "adam_state"
DEVICE_UPDATES = {"adam": optim.adam_update_on_device, "adam_state": optim.adam_state}

__all__ = ["KERNELS", "DEVICE_UPDATES", "StepBuffers"]
