"""Numba kernels: KERNELS maps an op name to a kernel with the op's signature."""
KERNELS = {}
