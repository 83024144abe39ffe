"""The CPU emulator behind the simulated ``RawModule``, built once per source and machine."""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile


@functools.cache
def emulator():
    import _cuda_emulator  # tests/_cuda_emulator.py: tests/ is on sys.path beside this package

    directory = pathlib.Path(os.environ.get("NNKIT_CUDA_EMULATOR_DIR")
                             or pathlib.Path(tempfile.gettempdir()) / "nnkit-cuda-emulator")
    directory.mkdir(parents=True, exist_ok=True)
    return _cuda_emulator.build(directory)
