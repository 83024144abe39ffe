"""Read a TensorFlow Playground link (playground.tensorflow.org/#...) as the browser reads it.

The keys, their types and their defaults are those of the Playground's ``src/state.ts`` (class
State: PROPS and the field initialisers); the noise clamp is that of ``src/playground.ts``
(makeGUI). By default ``parse_playground_url`` reads a link exactly as the page does
(``State.deserializeState``), and records a note wherever that is probably not what the author
meant:

- the part after '#' is split on '&', each item on '='; only the first two pieces count, the last
  of repeated keys wins, keys are case-sensitive, nothing is percent-decoded; an item without '='
  and an empty (blank) value keep the default;
- numbers: JavaScript's ``+value`` (``Number``): "0x10" is 16, "1e-2" 0.01, " 5 " 5, "Infinity"
  infinite, and anything else (e.g. "fast") NaN, which the browser then computes with;
- booleans: only the exact string "false" is false; every other value is true, so
  "initZero=f" and "x=0" are read as true, as the browser does (a note says so);
- activation, regularization, dataset, regDataset, problem: a value outside the Playground's
  table keeps the default (noted);
- networkShape: ``split(",").map(Number)``; "" is no hidden layer, "4,,2" is [4, 0, 2];
- unknown keys are ignored, as in the browser: "regDataSet" (a common misspelling, found in
  pasted links, e.g. the lecture's) does nothing, so the regression data set stays reg-plane;
- ``<input>_hide=true`` removes that input from the network; cosX/cosY are parsed and do nothing
  (the Playground has no cos inputs);
- a missing seed stays None here; the browser then draws ``Math.random().toFixed(5)``
  (``nnkit.playground.run_playground`` does the same and prints the seed it drew);
- a noise above 80 becomes 50, one below 0 becomes 0 (the slider's clamp).

``strict=True`` refuses (ValueError naming the key) every link that the browser would read
otherwise than it is written: unknown or misspelled keys, booleans other than true/false, values
outside the tables, numbers that are NaN, repeated keys. It is for checking links one writes by hand.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

__all__ = [
    "PlaygroundConfig",
    "parse_playground_url",
    "ACTIVATIONS",
    "REGULARIZATIONS",
    "PROBLEMS",
    "CLASSIFICATION_DATASETS",
    "REGRESSION_DATASETS",
    "NUM_SAMPLES_CLASSIFY",
    "NUM_SAMPLES_REGRESS",
    "js_number",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
REGULARIZATIONS = ("none", "L1", "L2")
CLASSIFICATION_DATASETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_DATASETS = ("reg-plane", "reg-gauss")
PROBLEMS = ("classification", "regression")
NUM_SAMPLES_CLASSIFY = 500
NUM_SAMPLES_REGRESS = 1200

# (URL key, field name, state.ts type, table) in the order of State.PROPS, which is also the
# order the Playground writes a link in.
_PROPS = (
    ("activation", "activation", "object", ACTIVATIONS),
    ("regularization", "regularization", "object", REGULARIZATIONS),
    ("batchSize", "batch_size", "number", None),
    ("dataset", "dataset", "object", CLASSIFICATION_DATASETS),
    ("regDataset", "reg_dataset", "object", REGRESSION_DATASETS),
    ("learningRate", "learning_rate", "number", None),
    ("regularizationRate", "regularization_rate", "number", None),
    ("noise", "noise", "number", None),
    ("networkShape", "network_shape", "array_number", None),
    ("seed", "seed", "string", None),
    ("showTestData", "show_test_data", "boolean", None),
    ("discretize", "discretize", "boolean", None),
    ("percTrainData", "perc_train_data", "number", None),
    ("x", "x", "boolean", None),
    ("y", "y", "boolean", None),
    ("xTimesY", "x_times_y", "boolean", None),
    ("xSquared", "x_squared", "boolean", None),
    ("ySquared", "y_squared", "boolean", None),
    ("cosX", "cos_x", "boolean", None),
    ("sinX", "sin_x", "boolean", None),
    ("cosY", "cos_y", "boolean", None),
    ("sinY", "sin_y", "boolean", None),
    ("collectStats", "collect_stats", "boolean", None),
    ("tutorial", "tutorial", "string", None),
    ("problem", "problem", "object", PROBLEMS),
    ("initZero", "init_zero", "boolean", None),
    ("hideText", "hide_text", "boolean", None),
)
_BY_KEY = {key: (name, kind, table) for key, name, kind, table in _PROPS}
_HIDE_SUFFIX = "_hide"
# The Playground's INPUTS (playground.ts:65-73) in order, with their state fields and the nnkit
# feature names (nnkit.datasets.FEATURE_NAMES) the batched replay uses.
_INPUTS = (
    ("x", "x", "x1"),
    ("y", "y", "x2"),
    ("xSquared", "x_squared", "x1^2"),
    ("ySquared", "y_squared", "x2^2"),
    ("xTimesY", "x_times_y", "x1*x2"),
    ("sinX", "sin_x", "sin(x1)"),
    ("sinY", "sin_y", "sin(x2)"),
)
# Names that JavaScript's ``in`` finds on every object (Object.prototype): the browser would take
# them from its tables as functions and fail.
_OBJECT_PROTOTYPE = ("constructor", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable",
                     "toLocaleString", "toString", "valueOf", "__proto__", "__defineGetter__",
                     "__defineSetter__", "__lookupGetter__", "__lookupSetter__")
# String.prototype.trim's white space and line terminators
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}
_RADIX_DIGITS = {16: "0123456789abcdef", 8: "01234567", 2: "01"}


def js_number(text: str) -> float:
    """JavaScript's ``Number(text)`` (StringToNumber): trimmed; "" is 0; decimal, Infinity and
    0x/0o/0b literals; anything else NaN."""
    s = text.strip(_JS_SPACE)
    if s == "":
        return 0.0
    base = _RADIX.get(s[:2].lower())
    if base is not None:
        digits = s[2:]
        if not digits or any(c not in _RADIX_DIGITS[base] for c in digits.lower()):
            return float("nan")
        try:
            return float(int(digits, base))
        except OverflowError:
            return math.inf
    if not _DECIMAL.fullmatch(s):
        return float("nan")
    if s.lstrip("+-") == "Infinity":
        return -math.inf if s[0] == "-" else math.inf
    return float(s)


def _number_or_int(value: float):
    """A whole finite number as int (readable: batchSize 8, not 8.0); others unchanged."""
    return int(value) if math.isfinite(value) and value == int(value) else value


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
        Points per weight update and the gradient-descent step. As the browser reads numbers,
        these may be non-integer, zero or NaN; the exact replay computes with them as it does.
    dataset, reg_dataset, problem
        The classification and the regression data set; ``problem`` picks which is used.
    noise
        Noise in percent, as in the URL (the generators take noise / 100).
    network_shape
        Neurons per hidden layer (numbers, as read); may be empty.
    seed
        The Playground's string seed (e.g. "0.99530"), or None where the link has none.
    perc_train_data
        Percentage of the shuffled points used for training.
    x, y, x_times_y, x_squared, y_squared, sin_x, sin_y, cos_x, cos_y
        The input flags (cos_x and cos_y do nothing in the Playground).
    init_zero
        Start every weight and bias at 0 instead of U(-0.5, 0.5) and 0.1.
    show_test_data, discretize, collect_stats, tutorial, hide_text
        Display state: read and kept; show_test_data and discretize change the picture.
    hidden
        The names of the controls hidden with ``<name>_hide=true`` (hidden inputs are removed).
    warnings
        Notes on what the browser reads otherwise than the link is probably meant.
    """

    activation: str = "tanh"
    regularization: str = "none"
    batch_size: int | float = 10
    dataset: str = "circle"
    reg_dataset: str = "reg-plane"
    learning_rate: float = 0.03
    regularization_rate: float = 0
    noise: int | float = 0
    network_shape: list = field(default_factory=lambda: [4, 2])
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
    hidden: list = field(default_factory=list)
    warnings: list = field(default_factory=list, compare=False)

    def input_ids(self) -> list[str]:
        """The network's inputs as the browser builds them: the enabled, not hidden INPUTS keys
        in the Playground's order (x, y, xSquared, ySquared, xTimesY, sinX, sinY)."""
        return [key for key, name, _ in _INPUTS if getattr(self, name) and key not in self.hidden]

    def features(self) -> list[str]:
        """The same inputs as nnkit.datasets feature names (x1, x2, x1^2, ..., sin(x2))."""
        ids = set(self.input_ids())
        return [feature for key, _, feature in _INPUTS if key in ids]

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
        return self.noise / 100

    def generate_data(self, math: str = "v8"):
        """(X_train, y_train, X_test, y_test): the browser's points for this link, split and
        mapped to its inputs (float64 arrays; labels -1/+1 or the regression targets).

        The points are the browser's, drawn from seedrandom(seed) by nnkit.playground_browser
        (a link without a seed draws one, as the browser does).
        """
        import numpy as np

        from nnkit.playground_browser import browser_session

        session = browser_session(self, math=math)
        n_inputs = len(self.input_ids())

        def arrays(inputs, labels):
            return (np.array(inputs, dtype=np.float64).reshape(len(labels), n_inputs),
                    np.array(labels, dtype=np.float64))

        return (*arrays(session.train_inputs, session.train_labels),
                *arrays(session.test_inputs, session.test_labels))

    def to_fragment(self) -> str:
        """The state as the Playground writes it in a link (State.serialize, without the '#')."""
        parts = []
        for key, name, kind, _ in _PROPS:
            value = getattr(self, name)
            # The Playground leaves out null values; "none" is its null regularization.
            if value is None or (key == "regularization" and value == "none"):
                continue
            if kind == "boolean":
                value = "true" if value else "false"
            elif kind == "array_number":
                value = ",".join(_js_string(v) for v in value)
            elif kind == "number":
                value = _js_string(value)
            parts.append(f"{key}={value}")
        parts.extend(f"{prop}{_HIDE_SUFFIX}=true" for prop in self.hidden)
        return "&".join(parts)


def _js_string(value) -> str:
    """A number as JavaScript's String(number) writes the usual cases (1, 0.03, NaN, Infinity)."""
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        value = _number_or_int(value)
    return repr(value)


def _fragment(text: str) -> str:
    """The part of a link the browser reads: after '#' (location.hash without its '#')."""
    if "#" in text:
        return text.split("#", 1)[1]
    stripped = text.strip()
    if re.match(r"https?://", stripped, re.IGNORECASE):
        return ""  # a Playground address without state: the defaults
    if "=" in stripped and not any(c.isspace() for c in stripped):
        return stripped  # the fragment alone, pasted without its '#'
    raise ValueError(f"not a Playground link: expected https://playground.tensorflow.org/#key=value&..., "
                     f"'#key=value&...' or 'key=value&...', got {text!r}")


class _Notes:
    """The parser's notes; with strict=True the ones that change a link's meaning raise."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.items: list[str] = []

    def meaning(self, message: str) -> None:
        """The browser reads the link otherwise than it is written."""
        if self.strict:
            raise ValueError(f"{message} (strict reading: fix the link)")
        self.items.append(message)

    def info(self, message: str) -> None:
        self.items.append(message)


def _suggest(key: str) -> str:
    keys = [k for k, _, _, _ in _PROPS]
    lowered = {k.lower(): k for k in keys}
    match = lowered.get(key.lower()) or next(iter(difflib.get_close_matches(key, keys, n=1, cutoff=0.8)), None)
    return f" (did you mean {match!r}?)" if match else ""


def _read_value(key: str, kind: str, table, raw: str, config: PlaygroundConfig, notes: _Notes):
    """state.ts's reading of one present, non-blank value; returns the new value or the old one."""
    name = _BY_KEY[key][0]
    if kind == "object":
        if raw in _OBJECT_PROTOTYPE:
            raise ValueError(f"{key}={raw}: JavaScript finds {raw!r} on every object, so the browser "
                             "takes a function for the setting and the page fails")
        if raw not in table:
            notes.meaning(f"{key}={raw} is not one of {', '.join(table)}; the browser keeps "
                          f"{getattr(config, name)!r}")
            return getattr(config, name)
        return raw
    if kind == "string":
        return raw
    if kind == "boolean":
        if raw not in ("true", "false"):
            notes.meaning(f"{key}={raw} is read as true, as the browser does (only 'false' is false)")
        return raw != "false"
    value = js_number(raw)
    if value != value:
        notes.meaning(f"{key}={raw} is NaN in the browser (JavaScript's Number({raw!r})), "
                      "and the run computes with NaN")
    return _number_or_int(value)


def parse_playground_url(url_or_fragment: str, strict: bool = False) -> PlaygroundConfig:
    """Read a Playground link (full URL, '#...' or 'a=b&c=d') as the browser does.

    Returns a PlaygroundConfig whose ``warnings`` note what the browser reads otherwise than
    written. ``strict=True`` raises ValueError for those instead. Not a link at all (no '#',
    no 'key=value', not an http(s) address): ValueError.
    """
    if not isinstance(url_or_fragment, str):
        raise TypeError(f"url_or_fragment must be a str, got {type(url_or_fragment).__name__}")
    notes = _Notes(strict)
    fragment = _fragment(url_or_fragment)
    values: dict[str, str | None] = {}
    for item in fragment.split("&"):
        pieces = item.split("=")
        key, raw = pieces[0], (pieces[1] if len(pieces) > 1 else None)
        if item == "":
            continue
        if raw is None:
            notes.meaning(f"{key!r} has no '=value': the browser ignores it")
        elif len(pieces) > 2:
            notes.meaning(f"{item!r}: the browser keeps only {key}={raw}")
        if key in values and raw is not None:
            notes.meaning(f"{key} is given more than once: the browser uses the last value, {raw}")
        if raw is not None and "%" in raw:
            notes.info(f"{key}={raw}: the browser does not percent-decode values")
        values[key] = raw

    config = PlaygroundConfig()
    for key, name, kind, table in _PROPS:
        if key not in values:
            continue
        raw = values[key]
        if kind == "array_number":
            if raw is None:
                raise ValueError(f"{key} has no '=': the browser's page fails on it (parseArray of undefined)")
            shape = [] if raw.strip(_JS_SPACE) == "" else [_number_or_int(js_number(v)) for v in raw.split(",")]
            if any(not (isinstance(v, int) and v >= 1) for v in shape):
                notes.meaning(f"{key}={raw} reads as {shape}: the browser builds ceil(width) nodes for a "
                              "positive width and none for 0, a negative width or NaN")
            setattr(config, name, shape)
            continue
        if raw is None or raw.strip(_JS_SPACE) == "":
            continue  # hasKey: a missing or blank value keeps the default
        setattr(config, name, _read_value(key, kind, table, raw, config, notes))

    for key, raw in values.items():
        if key in _BY_KEY:
            continue
        if key.endswith(_HIDE_SUFFIX):
            if raw == "true":
                config.hidden.append(key.replace(_HIDE_SUFFIX, "", 1))
            continue
        notes.meaning(f"unknown key {key!r} is ignored, as the browser does{_suggest(key)}")

    hidden_inputs = [key for key, name, _ in _INPUTS if key in config.hidden and getattr(config, name)]
    if hidden_inputs:
        notes.info(f"{', '.join(hidden_inputs)} enabled but hidden (_hide=true): the browser leaves "
                   f"{'it' if len(hidden_inputs) == 1 else 'them'} out of the network")
    if config.cos_x or config.cos_y:
        notes.info("cosX/cosY do nothing: the Playground has no cos inputs")
    # makeGUI (playground.ts:302-311): the noise slider's max is 50; above it up to 80 is kept
    noise = config.noise
    if noise > 80:
        notes.info(f"noise={noise} above 80 becomes 50, as the browser's slider does")
        config.noise = 50
    elif noise < 0:
        notes.info(f"noise={noise} below 0 becomes 0, as the browser's slider does")
        config.noise = 0
    config.warnings.extend(notes.items)
    return config
