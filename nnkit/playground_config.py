"""Read a TensorFlow Playground link (playground.tensorflow.org/#...) into a PlaygroundConfig.

The keys, their types and their defaults are those of the Playground's ``src/state.ts`` (class
State: PROPS and the field initialisers); the noise clamp and the 500 / 1200 sample counts are
those of ``src/playground.ts``. Where nnkit is stricter than the browser it says so:

- an unknown activation, data set, regularization or problem raises ValueError (the browser
  silently keeps the default), and so does a non-numeric number (the browser gets NaN);
- booleans are read as true/false, and also as the truncated t/f and 1/0; the browser reads
  every value but "false" as true, so a link ending "initZero=f" runs there with initZero
  true. nnkit reads it as false and records a warning;
- "regDataSet" (a common misspelling, found in pasted links) is read as "regDataset"; the
  browser ignores it;
- unknown keys are ignored, as in the browser, and listed in ``config.warnings``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = [
    "PlaygroundConfig",
    "parse_playground_url",
    "ACTIVATIONS",
    "REGULARIZATIONS",
    "PROBLEMS",
    "NUM_SAMPLES_CLASSIFY",
    "NUM_SAMPLES_REGRESS",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
REGULARIZATIONS = ("none", "L1", "L2")
CLASSIFICATION_DATASETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_DATASETS = ("reg-plane", "reg-gauss")
PROBLEMS = ("classification", "regression")
NUM_SAMPLES_CLASSIFY = 500
NUM_SAMPLES_REGRESS = 1200

# (URL key, field name, kind, choices) in the order of state.ts's State.PROPS, which is also the
# order the Playground writes a link in.
_PROPS = (
    ("activation", "activation", "choice", ACTIVATIONS),
    ("regularization", "regularization", "choice", REGULARIZATIONS),
    ("batchSize", "batch_size", "count", None),
    ("dataset", "dataset", "choice", CLASSIFICATION_DATASETS),
    ("regDataset", "reg_dataset", "choice", REGRESSION_DATASETS),
    ("learningRate", "learning_rate", "rate", None),
    ("regularizationRate", "regularization_rate", "rate", None),
    ("noise", "noise", "number", None),
    ("networkShape", "network_shape", "shape", None),
    ("seed", "seed", "string", None),
    ("showTestData", "show_test_data", "bool", None),
    ("discretize", "discretize", "bool", None),
    ("percTrainData", "perc_train_data", "number", None),
    ("x", "x", "bool", None),
    ("y", "y", "bool", None),
    ("xTimesY", "x_times_y", "bool", None),
    ("xSquared", "x_squared", "bool", None),
    ("ySquared", "y_squared", "bool", None),
    ("cosX", "cos_x", "bool", None),
    ("sinX", "sin_x", "bool", None),
    ("cosY", "cos_y", "bool", None),
    ("sinY", "sin_y", "bool", None),
    ("collectStats", "collect_stats", "bool", None),
    ("tutorial", "tutorial", "string", None),
    ("problem", "problem", "choice", PROBLEMS),
    ("initZero", "init_zero", "bool", None),
    ("hideText", "hide_text", "bool", None),
)
_BY_KEY = {key: (name, kind, choices) for key, name, kind, choices in _PROPS}
_KEY_ALIASES = {"regDataSet": "regDataset"}
_HIDE_SUFFIX = "_hide"

# Feature flags in the order of the Playground's INPUTS table (playground.ts), with the nnkit
# feature name each one enables (nnkit.datasets.FEATURE_NAMES); cosX and cosY are not in today's
# INPUTS, so they come last.
_FEATURE_FLAGS = (
    ("x", "x1"),
    ("y", "x2"),
    ("x_squared", "x1^2"),
    ("y_squared", "x2^2"),
    ("x_times_y", "x1*x2"),
    ("sin_x", "sin(x1)"),
    ("sin_y", "sin(x2)"),
    ("cos_x", "cos(x1)"),
    ("cos_y", "cos(x2)"),
)

_TRUE = ("true", "t", "1")
_FALSE = ("false", "f", "0")


@dataclass
class PlaygroundConfig:
    """The state of a TensorFlow Playground link, with state.ts's defaults.

    Parameters
    ----------
    activation
        Hidden-layer activation: relu, tanh, sigmoid or linear (the output is tanh for
        classification and linear for regression, as in the Playground).
    regularization, regularization_rate
        none, L1 or L2, and its rate.
    batch_size, learning_rate
        Mini-batch size and gradient-descent step.
    dataset, reg_dataset, problem
        The classification and the regression data set; ``problem`` picks which is used.
    noise
        Noise in percent, as in the URL (the generators take noise / 100).
    network_shape
        Neurons per hidden layer; may be empty.
    seed
        The Playground's string seed (e.g. "0.99530"), or None where the link has none.
    perc_train_data
        Percentage of the shuffled points used for training.
    x, y, x_times_y, x_squared, y_squared, cos_x, sin_x, cos_y, sin_y
        The input-feature flags.
    init_zero
        Start every weight at 0 instead of U(-0.5, 0.5).
    show_test_data, discretize, collect_stats, tutorial, hide_text, hidden
        Display state: read and kept, no effect on training.
    warnings
        What the parser ignored or read differently from the browser.
    """

    activation: str = "tanh"
    regularization: str = "none"
    batch_size: int = 10
    dataset: str = "circle"
    reg_dataset: str = "reg-plane"
    learning_rate: float = 0.03
    regularization_rate: float = 0.0
    noise: int | float = 0
    network_shape: list[int] = field(default_factory=lambda: [4, 2])
    seed: str | None = None
    show_test_data: bool = False
    discretize: bool = False
    perc_train_data: int | float = 50
    x: bool = True
    y: bool = True
    x_times_y: bool = False
    x_squared: bool = False
    y_squared: bool = False
    cos_x: bool = False
    sin_x: bool = False
    cos_y: bool = False
    sin_y: bool = False
    collect_stats: bool = False
    tutorial: str | None = None
    problem: str = "classification"
    init_zero: bool = False
    hide_text: bool = False
    hidden: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list, compare=False)

    def features(self) -> list[str]:
        """The enabled input features as nnkit.datasets feature names, in the Playground's order."""
        return [feature for flag, feature in _FEATURE_FLAGS if getattr(self, flag)]

    def seed_int(self) -> int | None:
        """A 64-bit int for numpy.random.default_rng from the string seed: the first 8 bytes of its SHA-256.

        The Playground seeds its own Math.random with seedrandom(seed); nnkit draws from NumPy
        with this stable hash of the same string, so a link gives reproducible runs, but not
        the browser's exact points or weights. None (no seed in the link) stays None, a fresh
        random seed, as the Playground draws one.
        """
        if self.seed is None:
            return None
        return int.from_bytes(hashlib.sha256(self.seed.encode("utf-8")).digest()[:8], "little")

    @property
    def data_name(self) -> str:
        """The data set the problem uses: dataset for classification, reg_dataset for regression."""
        return self.dataset if self.problem == "classification" else self.reg_dataset

    @property
    def n_samples(self) -> int:
        """The Playground's point count: 500 for classification, 1200 for regression."""
        return NUM_SAMPLES_CLASSIFY if self.problem == "classification" else NUM_SAMPLES_REGRESS

    @property
    def noise_fraction(self) -> float:
        """noise / 100, the fraction the generators take."""
        return self.noise / 100.0

    def generate_data(self, labels: str = "pm1"):
        """(X_train, y_train, X_test, y_test): the link's data set, split and mapped to its features.

        Like the Playground's generateData: n_samples points of data_name with noise / 100,
        shuffled, the first perc_train_data percent for training; then the enabled features.
        """
        from . import datasets  # host-only helper; imported here to keep this module standalone

        names = self.features()
        if not names:
            raise ValueError("the config enables no input feature (x, y, xTimesY, ... all false)")
        X, y = datasets.playground(self.data_name, self.n_samples, self.noise_fraction,
                                   seed=self.seed_int(), labels=labels)
        X_train, y_train, X_test, y_test = datasets.playground_split(
            X, y, self.perc_train_data, seed=self.seed_int())
        return (datasets.playground_features(X_train, names), y_train,
                datasets.playground_features(X_test, names), y_test)

    def to_fragment(self) -> str:
        """The state as the Playground writes it in a link (without the leading '#')."""
        parts = []
        for key, name, kind, _ in _PROPS:
            value = getattr(self, name)
            # The Playground leaves out null values; "none" is its null regularization.
            if value is None or (key == "regularization" and value == "none"):
                continue
            if kind == "bool":
                value = "true" if value else "false"
            elif kind == "shape":
                value = ",".join(str(v) for v in value)
            elif isinstance(value, float):
                value = _int_if_whole(value)
            parts.append(f"{key}={value}")
        parts.extend(f"{prop}{_HIDE_SUFFIX}=true" for prop in self.hidden)
        return "&".join(parts)


def _fragment(url_or_fragment: str) -> str:
    """The part after '#' (or '?', where a link has no '#'), else the string itself."""
    text = url_or_fragment.strip()
    if "#" in text:
        return text.split("#", 1)[1]
    if "?" in text:
        return text.split("?", 1)[1]
    return text


def _number(key: str, raw: str) -> float:
    """The URL's number, finite, or ValueError naming the key."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{key}: expected a finite number, got {raw!r}")
    return value


def _int_if_whole(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _parse_value(key: str, kind: str, choices, raw: str, warnings: list[str]):
    """One URL value converted to its field's type, or ValueError naming the key."""
    if kind == "choice":
        if raw not in choices:
            raise ValueError(f"{key}: expected one of {', '.join(choices)}; got {raw!r}")
        return raw
    if kind == "string":
        return raw
    if kind == "bool":
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            if raw != "false":
                warnings.append(
                    f"{key}={raw} read as false; the Playground reads every value but 'false' "
                    "as true")
            return False
        raise ValueError(f"{key}: expected true or false, got {raw!r}")
    if kind == "shape":
        if raw.strip() == "":
            return []
        shape = []
        for part in raw.split(","):
            value = _number(key, part)
            if value != int(value) or value < 1:
                raise ValueError(f"{key}: expected positive integers, got {raw!r}")
            shape.append(int(value))
        return shape
    value = _number(key, raw)
    if kind == "rate":
        if value < 0:
            raise ValueError(f"{key}: expected a number >= 0, got {raw!r}")
        return value
    if kind == "count":
        if value != int(value) or value < 1:
            raise ValueError(f"{key}: expected an integer >= 1, got {raw!r}")
        return int(value)
    if key == "percTrainData" and not 0 < value <= 100:
        raise ValueError(f"{key}: expected a percentage in (0, 100], got {raw!r}")
    return _int_if_whole(value)


def parse_playground_url(url_or_fragment: str) -> PlaygroundConfig:
    """Read every state key of a Playground link (full URL, '#...' or 'a=b&c=d') into a PlaygroundConfig."""
    if not isinstance(url_or_fragment, str):
        raise TypeError(f"url_or_fragment must be a str, got {type(url_or_fragment).__name__}")
    config = PlaygroundConfig()
    warnings = config.warnings
    values: dict[str, str] = {}
    for item in _fragment(url_or_fragment).split("&"):
        if item == "":
            continue
        key, _, raw = item.partition("=")
        key, raw = unquote(key), unquote(raw)
        if key in _KEY_ALIASES:
            canonical = _KEY_ALIASES[key]
            warnings.append(f"{key} read as {canonical}; the Playground ignores {key}")
            if canonical in values:
                continue  # the correct spelling wins
            key = canonical
        if key.endswith(_HIDE_SUFFIX) and len(key) > len(_HIDE_SUFFIX):
            # The Playground hides a control only for the exact value "true".
            if raw == "true":
                config.hidden.append(key[: -len(_HIDE_SUFFIX)])
            continue
        if key not in _BY_KEY:
            warnings.append(f"unknown key {key!r} ignored")
            continue
        if key in values:
            warnings.append(f"{key} given more than once; the last value is used")
        values[key] = raw

    for key, raw in values.items():
        name, kind, choices = _BY_KEY[key]
        # As the browser: an empty value keeps the default, except for networkShape ("" = no
        # hidden layer).
        if kind != "shape" and raw.strip() == "":
            continue
        setattr(config, name, _parse_value(key, kind, choices, raw, warnings))

    # The Playground's noise slider (playground.ts makeGUI): above 80 resets to 50, below 0 to 0.
    if config.noise > 80:
        warnings.append(f"noise={config.noise} above 80 reset to 50, as the Playground does")
        config.noise = 50
    elif config.noise < 0:
        warnings.append(f"noise={config.noise} below 0 reset to 0, as the Playground does")
        config.noise = 0
    if config.cos_x or config.cos_y:
        warnings.append("cosX/cosY are enabled: today's Playground has no cos inputs; "
                        "nnkit adds cos(x1)/cos(x2)")
    return config
