"""Numba kernels: KERNELS maps an op name to a kernel with the op's signature.

Every kernel is a plain Python function with its generic op's name and signature (``xp`` is
accepted and ignored) that dispatches to @njit bodies in ``_jit.py``; those compile lazily on
their first call for the dtype in hand and are cached on disk. ``make_train_step`` compiles a
whole training step for a Sequential of Dense, Maxout, Activation, Dropout, Flatten and
Residual layers.
"""

from nnkit._kernels.numba import activations, images, layers, losses, optim, recurrent
from nnkit._kernels.numba.train_step import make_train_step, refusal

KERNELS = {**activations.KERNELS, **layers.KERNELS, **losses.KERNELS, **optim.KERNELS, **recurrent.KERNELS,
           **images.KERNELS}
# the whole-step compiler of this kernel family: (model -> step or None, model -> why not)
TRAIN_STEP = (make_train_step, refusal)

__all__ = ["KERNELS", "TRAIN_STEP", "make_train_step", "refusal"]
