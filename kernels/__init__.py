"""Fused kernels, shipped inside the wheel as nnkit._kernels."""
