"""Layers: Dense, Activation, Dropout, Maxout, Residual, Flatten, Sequential."""

from nnkit.layers.activation import Activation
from nnkit.layers.base import Layer, Parameter
from nnkit.layers.dense import Dense
from nnkit.layers.dropout import Dropout
from nnkit.layers.flatten import Flatten
from nnkit.layers.maxout import Maxout
from nnkit.layers.residual import Residual
from nnkit.layers.sequential import Sequential

# The allow-list of classes a saved model may name: loading resolves names here, never by import.
LAYER_CLASSES = {cls.__name__: cls for cls in (Dense, Activation, Dropout, Maxout, Residual, Flatten, Sequential)}


def layer_to_config(layer: Layer) -> dict:
    """{"class": name, "config": constructor arguments} of a layer."""
    return {"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}


def layer_from_config(spec: dict) -> Layer:
    """The layer described by ``layer_to_config``'s output; unknown classes are a ValueError."""
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"layer config: expected a dict with a 'class' key, got {spec!r}")
    cls = LAYER_CLASSES.get(spec["class"])
    if cls is None:
        raise ValueError(f"layer config: unknown layer class {spec['class']!r}; expected one of {sorted(LAYER_CLASSES)}")
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
           "Sequential", "LAYER_CLASSES", "layer_to_config", "layer_from_config"]
