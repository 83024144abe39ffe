"""nnkit: neural networks trained by backpropagation on NumPy, Numba and CuPy."""

from nnkit import (adversarial, augmentation, brain, callbacks, datasets, diagnostics, distributed, energy, hebbian,
                   initializers, layers, losses, metrics, ops, optimizers, playground, playground_config, plotting,
                   preprocessing, regularizers, schedules, search)
from nnkit.backend import Backend, available_backends, get_backend, set_backend, use_backend
from nnkit.callbacks import (Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                             TerminateOnNaN)
from nnkit.divergence import TrainingDiverged
from nnkit.gradcheck import check_gradients
from nnkit.io import load_model
from nnkit.playground_config import PlaygroundConfig, parse_playground_url
from nnkit.distributed import DataParallel
from nnkit.layers import Parameter, Sequential
from nnkit.logistic import LogisticRegression
from nnkit.perceptron import Perceptron

__version__ = "0.1.0"

__all__ = [
    "Backend", "available_backends", "get_backend", "set_backend", "use_backend",
    "Sequential", "Parameter", "layers", "losses", "metrics", "ops", "callbacks", "initializers",
    "optimizers", "regularizers", "schedules", "datasets", "energy", "brain", "playground_config",
    "load_model", "PlaygroundConfig", "parse_playground_url", "adversarial", "diagnostics", "hebbian",
    "plotting", "augmentation", "playground", "preprocessing", "search", "sklearn", "Perceptron",
    "LogisticRegression", "distributed", "DataParallel",
    "Callback", "EarlyStopping", "History", "LearningRateScheduler", "ModelCheckpoint", "TerminateOnNaN",
    "check_gradients", "TrainingDiverged", "__version__",
]


def __getattr__(name):
    # nk.sklearn imports scikit-learn, an optional extra: load it on first use only
    if name == "sklearn":
        import importlib

        return importlib.import_module("nnkit.sklearn")
    raise AttributeError(f"module 'nnkit' has no attribute {name!r}")
