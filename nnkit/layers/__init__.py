"""Layers: Dense, Activation, Dropout, Maxout, Residual, Flatten, Sequential; the image layers
(Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, BatchNormalization, Reshape); the
sequence layers (SimpleRNN, LSTM, GRU, Embedding)."""

from nnkit.layers.activation import Activation
from nnkit.layers.base import Layer, Parameter
from nnkit.layers.conv import Conv2D
from nnkit.layers.dense import Dense
from nnkit.layers.dropout import Dropout
from nnkit.layers.embedding import Embedding
from nnkit.layers.flatten import Flatten
from nnkit.layers.maxout import Maxout
from nnkit.layers.recurrent import GRU, LSTM, SimpleRNN
from nnkit.layers.normalization import BatchNormalization
from nnkit.layers.pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D
from nnkit.layers.reshape import Reshape
from nnkit.layers.residual import Residual
from nnkit.layers.sequential import Sequential

# The allow-list of classes a saved model may name: loading resolves names here, never by import
# of a name read from a file. The augmentation layers live in nnkit.augmentation (which builds on
# this package), so they join the list on first use.
IMAGE_LAYERS = (Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, BatchNormalization, Reshape)
SEQUENCE_LAYERS = (SimpleRNN, LSTM, GRU, Embedding)
LAYER_CLASSES = {cls.__name__: cls for cls in (Dense, Activation, Dropout, Maxout, Residual, Flatten, Sequential)
                 + IMAGE_LAYERS + SEQUENCE_LAYERS}
AUGMENTATION_LAYERS = ("GaussianNoise", "RandomShift", "RandomFlip")


def _layer_class(name):
    if name in AUGMENTATION_LAYERS and name not in LAYER_CLASSES:
        from nnkit import augmentation

        for layer_name in AUGMENTATION_LAYERS:
            LAYER_CLASSES[layer_name] = getattr(augmentation, layer_name)
    return LAYER_CLASSES.get(name)


def __getattr__(name):
    if name in AUGMENTATION_LAYERS:
        return _layer_class(name)
    raise AttributeError(f"module 'nnkit.layers' has no attribute {name!r}")


def layer_to_config(layer: Layer) -> dict:
    """{"class": name, "config": constructor arguments} of a layer."""
    return {"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}


def layer_from_config(spec: dict) -> Layer:
    """The layer described by ``layer_to_config``'s output; unknown classes are a ValueError."""
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"layer config: expected a dict with a 'class' key, got {spec!r}")
    cls = _layer_class(spec["class"])
    if cls is None:
        valid = sorted(set(LAYER_CLASSES) | set(AUGMENTATION_LAYERS))
        raise ValueError(f"layer config: unknown layer class {spec['class']!r}; expected one of {valid}")
    config = dict(spec.get("config", {}))
    if cls is Residual or cls is Sequential:
        layers = [layer_from_config(s) for s in config.pop("layers", [])]
        layer = cls(layers)
    elif cls is Activation:
        layer = cls(config["name"])
    else:
        layer = cls(**config)
    if spec.get("name"):
        layer.name = spec["name"]
    return layer


__all__ = ["Layer", "Parameter", "Dense", "Activation", "Dropout", "Maxout", "Residual", "Flatten",
           "Sequential", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "BatchNormalization", "Reshape", "SimpleRNN", "LSTM", "GRU", "Embedding", "GaussianNoise",
           "RandomShift", "RandomFlip", "LAYER_CLASSES", "layer_to_config", "layer_from_config"]
