"""Optional dependencies: which extra brings each one, and the message when one is missing.

A feature that needs an optional package calls ``require`` before it starts any work, so a user
learns what to install (for a checkout and for a wheel) before a training run, not after it.
"""

from __future__ import annotations

import importlib.util

# import name -> (the pip extra that brings it, what it is for)
EXTRAS = {
    "numba": ("numba", "the numba backend"),
    "scipy": ("numba", "Numba's np.dot inside compiled code"),
    "sklearn": ("sklearn", "scikit-learn (the digits data set, nnkit.sklearn)"),
    "matplotlib": ("plot", "matplotlib figures"),
    "mpi4py": ("mpi", "data-parallel training over MPI"),
    "cupy": ("cuda", "the cupy backend"),
}


class MissingDependency(ImportError):
    """An optional package a feature needs is not installed; the message says how to install it."""


def install_hint(extra: str) -> str:
    """The two install commands for ``extra``: from a checkout and from a wheel."""
    return (f'pip install -e ".[{extra}]" from a checkout of nnkit, or pip install "nnkit[{extra}]" '
            f"for the released package")


def missing_message(module: str, feature: str) -> str:
    extra, _ = EXTRAS[module]
    return f"{feature} needs {module}, which is not installed: {install_hint(extra)}"


def is_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, feature: str) -> None:
    """Raise MissingDependency (naming the install commands) unless ``module`` is importable."""
    if not is_installed(module):
        raise MissingDependency(missing_message(module, feature))
