"""nnkit: neural networks trained by backpropagation on NumPy, Numba and CuPy."""

from nnkit import (adversarial, brain, callbacks, datasets, diagnostics, energy, hebbian, initializers, layers,
                   losses, metrics, ops, optimizers, playground_config, plotting, regularizers, schedules)
from nnkit.backend import Backend, available_backends, get_backend, set_backend, use_backend
from nnkit.callbacks import (Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                             TerminateOnNaN)
from nnkit.gradcheck import check_gradients
from nnkit.io import load_model
from nnkit.playground_config import PlaygroundConfig, parse_playground_url
from nnkit.layers import Parameter, Sequential

__version__ = "0.1.0"

__all__ = [
    "Backend", "available_backends", "get_backend", "set_backend", "use_backend",
    "Sequential", "Parameter", "layers", "losses", "metrics", "ops", "callbacks", "initializers",
    "optimizers", "regularizers", "schedules", "datasets", "energy", "brain", "playground_config",
    "load_model", "PlaygroundConfig", "parse_playground_url", "adversarial", "diagnostics", "hebbian",
    "plotting",
    "Callback", "EarlyStopping", "History", "LearningRateScheduler", "ModelCheckpoint", "TerminateOnNaN",
    "check_gradients", "__version__",
]
