"""The served page's controls: a Playground link's state plus nnkit's backend and optimizer.

The page keeps its state in the URL hash with the Playground's own keys, so one reader does for
both: every change from the page is written into the fragment and read back through the
Playground's parser (``adapter.parse_link``), then nnkit's own rules are applied (an activation,
an optimizer and a backend nnkit knows, a learning rate the optimizer takes, and network sizes
the server is willing to allocate). A bad value raises ControlError naming the control; nothing
is built before every check has passed.

nnkit's keys, which the Playground ignores: ``backend`` and ``optimizer``. ``activation`` takes
any nnkit activation; one the Playground does not know opens there as its default (tanh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nnkit import optimizers
from nnkit.backend import available_backends
from nnkit.ops.activations import ACTIVATION_NAMES
from nnkit.playground_config import PlaygroundConfig
from nnkit.serve import adapter

__all__ = ["ControlError", "PageState", "LIMITS", "OPTIMIZERS", "HIDDEN_ACTIVATIONS", "CONTROL_KEYS"]

# Network sizes beyond these are refused before anything is allocated: the page draws a picture
# per neuron, and one tab must not take the machine.
LIMITS = {
    "hidden_layers": 12,
    "neurons_per_layer": 64,
    "batch_size": 1200,  # the regression data set's point count
    "learning_rate": 10.0,  # the Playground's largest choice
    "regularization_rate": 10.0,
    "seed_length": 64,
}
PLAYGROUND_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
# the Playground's four first, then nnkit's others (softmax is an output, not a hidden unit)
HIDDEN_ACTIVATIONS = PLAYGROUND_ACTIVATIONS + tuple(
    name for name in ACTIVATION_NAMES if name not in PLAYGROUND_ACTIVATIONS + ("softmax",))
OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop")
NNKIT_KEYS = ("backend", "optimizer")

# (URL key, PlaygroundConfig field, kind) of every control the page shows, in the Playground's
# link order; kind says how the value is written into the fragment and sent to the page.
_CONTROLS = (
    ("activation", "activation", "str"),
    ("regularization", "regularization", "str"),
    ("batchSize", "batch_size", "number"),
    ("dataset", "dataset", "str"),
    ("regDataset", "reg_dataset", "str"),
    ("learningRate", "learning_rate", "number"),
    ("regularizationRate", "regularization_rate", "number"),
    ("noise", "noise", "number"),
    ("networkShape", "network_shape", "shape"),
    ("seed", "seed", "str"),
    ("showTestData", "show_test_data", "bool"),
    ("discretize", "discretize", "bool"),
    ("percTrainData", "perc_train_data", "number"),
    ("x", "x", "bool"),
    ("y", "y", "bool"),
    ("xTimesY", "x_times_y", "bool"),
    ("xSquared", "x_squared", "bool"),
    ("ySquared", "y_squared", "bool"),
    ("cosX", "cos_x", "bool"),
    ("sinX", "sin_x", "bool"),
    ("cosY", "cos_y", "bool"),
    ("sinY", "sin_y", "bool"),
    ("problem", "problem", "str"),
    ("initZero", "init_zero", "bool"),
)
CONTROL_KEYS = tuple(key for key, _, _ in _CONTROLS) + NNKIT_KEYS
_FIELD = {key: name for key, name, _ in _CONTROLS}
_KIND = {key: kind for key, _, kind in _CONTROLS}


class ControlError(ValueError):
    """A control value the server refuses; the message names the control."""


@dataclass(frozen=True)
class PageState:
    """One tab's experiment settings: the Playground config and nnkit's own choices."""

    config: PlaygroundConfig
    activation: str
    backend: str
    optimizer: str

    def value(self, key: str):
        """The control's value, typed for the page (numbers, booleans, a list for networkShape)."""
        if key == "activation":
            return self.activation
        if key in NNKIT_KEYS:
            return getattr(self, key)
        return getattr(self.config, _FIELD[key])

    def as_dict(self) -> dict:
        """Every control keyed by its URL key, and the list of hidden ones."""
        values = {key: self.value(key) for key in CONTROL_KEYS}
        values["networkShape"] = list(values["networkShape"])
        values["hidden"] = list(self.config.hidden)  # controls a link hides with <key>_hide=true
        return values

    def fragment(self) -> str:
        """The URL hash (without '#') as the Playground writes it, then nnkit's keys."""
        return "&".join(f"{key}={text}" for key, text in self._items().items())

    def _items(self) -> dict:
        items = {}
        for key in CONTROL_KEYS:
            value = self.value(key)
            if value is None or (key == "regularization" and value == "none"):
                continue  # the Playground writes no key for a null value (regularization "none")
            items[key] = _text(value)
        for prop in self.config.hidden:
            items[f"{prop}_hide"] = "true"
        return items

    def with_values(self, values: dict) -> "PageState":
        """A new state with the given controls changed, checked as a link would be."""
        if not isinstance(values, dict) or not values:
            raise ControlError("set: expected an object of control values, e.g. {\"activation\": \"relu\"}")
        items = self._items()
        for key, value in values.items():
            if key not in CONTROL_KEYS:
                raise ControlError(f"{key!r} is not a control; the controls are {', '.join(CONTROL_KEYS)}")
            items[key] = _control_text(key, value)
        return parse_state("&".join(f"{key}={text}" for key, text in items.items()), self.backend, strict=True)

    def data_key(self) -> tuple:
        """What the points depend on."""
        c = self.config
        return (c.problem, c.data_name, c.noise, c.perc_train_data, c.seed)

    def model_key(self) -> tuple:
        """What the network's shape and initial weights depend on (besides the data)."""
        c = self.config
        return (tuple(c.network_shape), self.activation, tuple(c.features()), c.init_zero, self.backend,
                c.regularization, c.regularization_rate, c.problem)

    def optimizer_key(self) -> tuple:
        return (self.optimizer, self.config.learning_rate)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _control_text(key: str, value) -> str:
    """A value from the page, as text for the fragment; its type must fit the control."""
    kind = _KIND.get(key, "str")
    if kind == "bool" and isinstance(value, bool):
        return _text(value)
    if kind == "shape" and isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return _text(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _text(value)
    if isinstance(value, str) and len(value) <= 200 and "&" not in value and "=" not in value:
        return value
    raise ControlError(f"{key}: a {kind} value was expected, got {value!r}"[:300])


def parse_state(fragment: str, default_backend: str = "numpy", fresh_seed: bool = True,
                strict: bool = False) -> PageState:
    """The PageState of a URL hash: the Playground's keys through its parser, then nnkit's rules.

    A fragment without a seed gets a fresh one (as the Playground draws one), so the page's link
    always reproduces its data. ``strict`` (the page's own controls): the parser refuses what the
    browser would read otherwise than written.
    """
    if not isinstance(fragment, str):
        raise ControlError(f"the link must be text, got {type(fragment).__name__}")
    fragment = fragment.strip()
    if "#" in fragment:
        fragment = fragment.split("#", 1)[1]
    nnkit_values = {"backend": default_backend, "optimizer": "sgd", "activation": None}
    playground_items = []
    for item in fragment.split("&"):
        key, _, raw = item.partition("=")
        if key in NNKIT_KEYS:
            nnkit_values[key] = raw
        elif key == "activation" and raw not in PLAYGROUND_ACTIVATIONS:
            nnkit_values["activation"] = raw
        elif item:
            playground_items.append(item)
    try:
        config = adapter.parse_link("&".join(playground_items), strict=strict)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    activation = nnkit_values["activation"] or config.activation
    if activation not in HIDDEN_ACTIVATIONS:
        raise ControlError(f"activation: expected one of {', '.join(HIDDEN_ACTIVATIONS)}; got {activation!r}")
    backend = nnkit_values["backend"]
    backends = available_backends()
    if backend not in backends:
        raise ControlError(f"backend: expected one of the backends available here ({', '.join(backends)}); "
                           f"got {backend!r}")
    optimizer = nnkit_values["optimizer"]
    if optimizer not in OPTIMIZERS:
        raise ControlError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    _check_sizes(config)
    if config.seed is None and fresh_seed:
        config.seed = adapter.fresh_seed()
    return PageState(config=config, activation=activation, backend=backend, optimizer=optimizer)


def _check_sizes(config: PlaygroundConfig) -> None:
    """nnkit's and the server's rules beyond the parser's: sizes, rates, at least one feature."""
    shape = config.network_shape
    if len(shape) > LIMITS["hidden_layers"]:
        raise ControlError(f"networkShape: at most {LIMITS['hidden_layers']} hidden layers, got {len(shape)}")
    for width in shape:
        if not _whole(width) or width < 1:
            raise ControlError(f"networkShape: expected positive integers, got {_text(shape)}")
        if width > LIMITS["neurons_per_layer"]:
            raise ControlError(f"networkShape: at most {LIMITS['neurons_per_layer']} neurons per layer, "
                               f"got {width}")
    batch = config.batch_size
    if not _whole(batch) or batch < 1:
        raise ControlError(f"batchSize: expected an integer >= 1, got {batch}")
    if batch > LIMITS["batch_size"]:
        raise ControlError(f"batchSize: expected at most {LIMITS['batch_size']}, got {batch}")
    if not 0 <= config.noise <= 80:  # NaN included
        raise ControlError(f"noise: expected a percentage in [0, 80], got {config.noise}")
    if not 0 < config.perc_train_data <= 100:
        raise ControlError(f"percTrainData: expected a percentage in (0, 100], got {config.perc_train_data}")
    lr = config.learning_rate
    if not 0 < lr <= LIMITS["learning_rate"]:
        raise ControlError(f"learningRate: expected a number in (0, {LIMITS['learning_rate']:g}], got {lr}")
    rate = config.regularization_rate
    if not 0 <= rate <= LIMITS["regularization_rate"]:
        raise ControlError(f"regularizationRate: expected a number in [0, {LIMITS['regularization_rate']:g}], "
                           f"got {rate}")
    if not config.features():
        raise ControlError("features: enable at least one input (x, y, xSquared, ...)")
    if config.seed is not None and len(config.seed) > LIMITS["seed_length"]:
        raise ControlError(f"seed: at most {LIMITS['seed_length']} characters, got {len(config.seed)}")
    if math.floor(config.n_samples * config.perc_train_data / 100) < 1:
        raise ControlError(f"percTrainData: {config.perc_train_data}% of {config.n_samples} points leaves "
                           "no training point")


def _whole(value) -> bool:
    """An int, or a float with an integer value (a link's numbers may read as floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value == int(value)


def check_optimizer(state: PageState):
    """The optimizer of the state, built with its learning rate (the optimizer's own checks apply)."""
    try:
        return optimizers.get(state.optimizer).__class__(lr=state.config.learning_rate)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"optimizer: {exc}") from None
