"""Which arrays the numba kernels take: nnkit._kernels._arrays, shared with the numpy kernels."""

from nnkit._kernels._arrays import FLOAT_DTYPES, all_plain, as_rows, is_plain  # noqa: F401
