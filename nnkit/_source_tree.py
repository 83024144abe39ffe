"""``nnkit._kernels`` when nnkit runs from its source tree, not installed.

The wheel ships the top-level ``kernels/`` folder as ``nnkit._kernels`` (pyproject.toml's
package-dir). Run from a checkout with ``PYTHONPATH`` (the GPU checks do, on machines where
``pip install -e .`` cannot build), nothing maps that name: here ``kernels/`` beside the ``nnkit``
package becomes ``nnkit._kernels``, so the tree imports as the wheel would. A sibling folder is
preferred over whatever else the name resolves to, so a tree never runs another install's kernels.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

NAME = "nnkit._kernels"


def sibling_kernels() -> pathlib.Path | None:
    """The ``kernels/`` folder of this checkout (None in an installed wheel)."""
    folder = pathlib.Path(__file__).resolve().parent.parent / "kernels"
    if (folder / "__init__.py").is_file() and (folder / "cuda" / "_loader.py").is_file():
        return folder
    return None


def map_kernels() -> None:
    """Bind ``nnkit._kernels`` to the checkout's ``kernels/`` unless it is bound there already."""
    folder = sibling_kernels()
    if folder is None:
        return
    loaded = sys.modules.get(NAME)
    if loaded is not None and folder in (pathlib.Path(p).resolve() for p in getattr(loaded, "__path__", ())):
        return
    spec = importlib.util.spec_from_file_location(NAME, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    parent = sys.modules.get("nnkit")
    if parent is not None:
        parent._kernels = module  # `import nnkit._kernels` binds the attribute, as an import would
