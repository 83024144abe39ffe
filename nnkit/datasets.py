"""Data sets: the TensorFlow Playground's generators, scikit-learn's 8x8 digits, random MNIST-shaped data.

Host-only by nature: everything here is built with NumPy and returned as NumPy arrays; a model
moves them to its backend.

The Playground generators follow the formulas of tensorflow/playground ``src/dataset.ts``
(classifyCircleData, classifyXORData, classifyTwoGaussData, classifySpiralData, regressPlane,
regressGaussian), reimplemented in vectorised NumPy. The browser draws from ``seedrandom`` in a
fixed order; nnkit draws the same distributions from ``numpy.random.default_rng(seed)``, so a
seed gives reproducible data that is distributed like, but not point-identical to, the browser's.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CLASSIFICATION_DATASETS",
    "REGRESSION_DATASETS",
    "PLAYGROUND_DATASETS",
    "FEATURE_NAMES",
    "FEATURE_ALIASES",
    "playground",
    "playground_features",
    "playground_split",
    "digits",
    "mnist_like",
    "one_hot",
]

CLASSIFICATION_DATASETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_DATASETS = ("reg-plane", "reg-gauss")
PLAYGROUND_DATASETS = CLASSIFICATION_DATASETS + REGRESSION_DATASETS

# The Playground's input features in the order of its INPUTS table (playground.ts); cos(x1) and
# cos(x2) exist in its URL state (cosX, cosY) but not in today's INPUTS, so they come last.
FEATURE_NAMES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)", "cos(x1)", "cos(x2)")

# The Playground's URL keys for the same features.
FEATURE_ALIASES = {
    "x": "x1",
    "y": "x2",
    "xSquared": "x1^2",
    "ySquared": "x2^2",
    "xTimesY": "x1*x2",
    "sinX": "sin(x1)",
    "sinY": "sin(x2)",
    "cosX": "cos(x1)",
    "cosY": "cos(x2)",
}

_FEATURE_MAPS = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
    "cos(x1)": lambda x1, x2: np.cos(x1),
    "cos(x2)": lambda x1, x2: np.cos(x2),
}

_LABEL_CHOICES = ("pm1", "01")


# ----------------------------------------------------------------------------------------------
# argument checks


def _check_count(value, name: str) -> int:
    """Return value as an int >= 1, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _rng(seed) -> np.random.Generator:
    """numpy.random.default_rng(seed), with the argument named in the error."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def _uniform(rng: np.random.Generator, a: float, b: float, n: int) -> np.ndarray:
    """The Playground's randUniform(a, b) = random()·(b - a) + a, n draws."""
    return rng.random(n) * (b - a) + a


def _halves(n: int) -> tuple[int, int]:
    """Points per class: the Playground loops i < n/2 per class; nnkit returns exactly n in all."""
    first = (n + 1) // 2
    return first, n - first


# ----------------------------------------------------------------------------------------------
# the Playground's generators; noise is the fraction (the URL's percent / 100)


def _circle(n: int, noise: float, rng: np.random.Generator):
    """Inside r ~ U(0, 2.5), outside r ~ U(3.5, 5); label = +1 where |p + noise·(u, v)| < 2.5, u, v ~ U(-5, 5)."""
    radius = 5.0
    n_in, n_out = _halves(n)
    r = np.concatenate([
        _uniform(rng, 0.0, radius * 0.5, n_in),
        _uniform(rng, radius * 0.7, radius, n_out),
    ])
    angle = _uniform(rng, 0.0, 2.0 * np.pi, n)
    # The Playground measures x as r·sin and y as r·cos.
    x = r * np.sin(angle)
    y = r * np.cos(angle)
    # Noise moves only the point the label is read at, never the point itself.
    noise_x = _uniform(rng, -radius, radius, n) * noise
    noise_y = _uniform(rng, -radius, radius, n) * noise
    inside = np.hypot(x + noise_x, y + noise_y) < radius * 0.5
    return np.stack([x, y], axis=1), np.where(inside, 1.0, -1.0)


def _xor(n: int, noise: float, rng: np.random.Generator):
    """x, y ~ U(-5, 5) pushed 0.3 away from the axes; label = +1 where (x + nx)·(y + ny) >= 0."""
    padding = 0.3
    x = _uniform(rng, -5.0, 5.0, n)
    x = x + np.where(x > 0, padding, -padding)
    y = _uniform(rng, -5.0, 5.0, n)
    y = y + np.where(y > 0, padding, -padding)
    noise_x = _uniform(rng, -5.0, 5.0, n) * noise
    noise_y = _uniform(rng, -5.0, 5.0, n) * noise
    label = np.where((x + noise_x) * (y + noise_y) >= 0, 1.0, -1.0)
    return np.stack([x, y], axis=1), label


def _gauss(n: int, noise: float, rng: np.random.Generator):
    """Two Gaussians at (2, 2) (+1) and (-2, -2) (-1), variance = 0.5 + 7·noise (0..0.5 -> 0.5..4)."""
    # d3.scale.linear().domain([0, .5]).range([.5, 4]), unclamped.
    variance = 0.5 + noise * (4.0 - 0.5) / 0.5
    n_pos, n_neg = _halves(n)
    centre = np.concatenate([np.full(n_pos, 2.0), np.full(n_neg, -2.0)])
    points = centre[:, None] + np.sqrt(variance) * rng.standard_normal((n, 2))
    label = np.concatenate([np.ones(n_pos), -np.ones(n_neg)])
    return points, label


def _spiral(n: int, noise: float, rng: np.random.Generator):
    """Two arms: r = 5·i/m, t = 1.75·2π·i/m + Δt (Δt = 0 for +1, π for -1), m = n/2, + noise·U(-1,1)."""
    m = n / 2  # The Playground divides by n/2 as a float, also for odd n.
    parts, labels = [], []
    for count, delta_t, label in zip(_halves(n), (0.0, np.pi), (1.0, -1.0)):
        i = np.arange(count, dtype=np.float64)
        r = i / m * 5.0
        t = 1.75 * i / m * 2.0 * np.pi + delta_t
        x = r * np.sin(t) + _uniform(rng, -1.0, 1.0, count) * noise
        y = r * np.cos(t) + _uniform(rng, -1.0, 1.0, count) * noise
        parts.append(np.stack([x, y], axis=1))
        labels.append(np.full(count, label))
    return np.concatenate(parts), np.concatenate(labels)


def _reg_plane(n: int, noise: float, rng: np.random.Generator):
    """x, y ~ U(-6, 6); target = (x + nx + y + ny) / 10 with nx, ny ~ noise·U(-6, 6)."""
    radius = 6.0
    x = _uniform(rng, -radius, radius, n)
    y = _uniform(rng, -radius, radius, n)
    noise_x = _uniform(rng, -radius, radius, n) * noise
    noise_y = _uniform(rng, -radius, radius, n) * noise
    # d3.scale.linear().domain([-10, 10]).range([-1, 1]), unclamped.
    target = (x + noise_x + y + noise_y) / 10.0
    return np.stack([x, y], axis=1), target


# (cx, cy, sign) of the six bumps of regressGaussian.
_REG_GAUSS_BUMPS = np.array([
    [-4.0, 2.5, 1.0],
    [0.0, 2.5, -1.0],
    [4.0, 2.5, 1.0],
    [-4.0, -2.5, -1.0],
    [0.0, -2.5, 1.0],
    [4.0, -2.5, -1.0],
])


def _reg_gauss_target(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """target = the bump of largest |sign·max(0, 1 - d/2)|, d the distance to its centre."""
    cx, cy, sign = _REG_GAUSS_BUMPS.T
    d = np.hypot(x[:, None] - cx, y[:, None] - cy)
    # d3.scale.linear().domain([0, 2]).range([1, 0]).clamp(true)
    values = sign * np.clip(1.0 - d / 2.0, 0.0, 1.0)
    # argmax keeps the first of equal magnitudes, as the Playground's strict ">" does.
    best = np.argmax(np.abs(values), axis=1)
    return values[np.arange(len(x)), best] + 0.0  # + 0.0 turns -0.0 into 0.0


def _reg_gauss(n: int, noise: float, rng: np.random.Generator):
    """x, y ~ U(-6, 6); target read from six ±1 bumps of radius 2 at (x + nx, y + ny)."""
    radius = 6.0
    x = _uniform(rng, -radius, radius, n)
    y = _uniform(rng, -radius, radius, n)
    noise_x = _uniform(rng, -radius, radius, n) * noise
    noise_y = _uniform(rng, -radius, radius, n) * noise
    return np.stack([x, y], axis=1), _reg_gauss_target(x + noise_x, y + noise_y)


_GENERATORS = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "reg-plane": _reg_plane,
    "reg-gauss": _reg_gauss,
}


def playground(name: str, n_samples: int = 500, noise: float = 0.0, seed=None,
               labels: str = "pm1", shuffle: bool = True):
    """One of the TensorFlow Playground's data sets: (X (n, 2) float64, y (n,) float64).

    Parameters
    ----------
    name
        "circle", "xor", "gauss", "spiral" (classification) or "reg-plane", "reg-gauss"
        (regression).
    n_samples
        Number of points. The Playground uses 500 for classification and 1200 for regression.
    noise
        The noise as a fraction: the Playground URL's ``noise`` percent / 100 (its slider spans
        0..0.5; a link may carry up to 0.8). Each generator uses it its own way, as the
        Playground does: circle, xor and the regressions perturb only where the label is read,
        spiral moves the points, gauss widens the variance.
    seed
        None, an int or a numpy Generator for ``numpy.random.default_rng``.
    labels
        Classification labels: "pm1" for the Playground's -1/+1, "01" for 0/1. Regression
        targets are the Playground's, in [-1, 1], whatever this says.
    shuffle
        Shuffle the rows, as the Playground does before it splits. With False, the rows come in
        the generator's order (class +1 first, spiral points along each arm).
    """
    if not isinstance(name, str) or name not in _GENERATORS:
        raise ValueError(f"name must be one of {', '.join(PLAYGROUND_DATASETS)}; got {name!r}")
    n = _check_count(n_samples, "n_samples")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a real number in [0, 1], got {type(noise).__name__}")
    noise = float(noise)
    if not 0.0 <= noise <= 1.0:  # also rejects NaN
        raise ValueError(
            f"noise must be a fraction in [0, 1] (the Playground's percent / 100), got {noise}")
    if labels not in _LABEL_CHOICES:
        raise ValueError(f"labels must be one of {', '.join(_LABEL_CHOICES)}; got {labels!r}")
    rng = _rng(seed)

    X, y = _GENERATORS[name](n, noise, rng)
    if shuffle:
        order = rng.permutation(n)
        X, y = X[order], y[order]
    if name in CLASSIFICATION_DATASETS and labels == "01":
        y = (y > 0).astype(np.float64)
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)


def playground_features(X, names: Sequence[str] = ("x1", "x2")) -> np.ndarray:
    """The Playground's input features of 2-D points: columns f(x1, x2) in the order of names.

    names take FEATURE_NAMES ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)",
    "cos(x1)", "cos(x2)") or the Playground URL's keys (x, y, xSquared, ySquared, xTimesY, sinX,
    sinY, cosX, cosY).
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if isinstance(names, str):
        names = (names,)
    names = list(names)
    if not names:
        raise ValueError("names must name at least one feature, got none")
    canonical = []
    for feature in names:
        key = FEATURE_ALIASES.get(feature, feature)
        if key not in _FEATURE_MAPS:
            valid = ", ".join(FEATURE_NAMES) + " (or " + ", ".join(FEATURE_ALIASES) + ")"
            raise ValueError(f"names: unknown feature {feature!r}; valid: {valid}")
        canonical.append(key)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    x1, x2 = X[:, 0].astype(dtype), X[:, 1].astype(dtype)
    return np.stack([_FEATURE_MAPS[key](x1, x2) for key in canonical], axis=1).astype(dtype)


def _check_pair(X, y):
    """X, y as arrays with the same first dimension and at least one row."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1 or y.ndim < 1:
        raise ValueError(f"X and y must be arrays with a sample axis, got shapes {X.shape}, {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: need at least one sample")
    return X, y


def playground_split(X, y, perc_train: float = 50, seed=None):
    """Shuffle, then the first floor(n·perc_train/100) rows train, the rest test (as the Playground).

    Returns (X_train, y_train, X_test, y_test).
    """
    X, y = _check_pair(X, y)
    if isinstance(perc_train, bool) or not isinstance(perc_train, numbers.Real):
        raise TypeError(f"perc_train must be a percentage in (0, 100], got {type(perc_train).__name__}")
    if not 0 < perc_train <= 100:
        raise ValueError(f"perc_train must be a percentage in (0, 100], got {perc_train}")
    n = X.shape[0]
    split = int(np.floor(n * perc_train / 100))
    if split < 1:
        raise ValueError(f"perc_train={perc_train} of {n} samples leaves no training data")
    order = _rng(seed).permutation(n)
    train, test = order[:split], order[split:]
    return X[train], y[train], X[test], y[test]


def digits(return_split: bool = False, test_fraction: float = 0.2, seed=0, images: bool = False):
    """scikit-learn's bundled 8x8 digits: X (1797, 64) float32 = pixels / 16 in [0, 1], y int64;
    with images=True, X is (1797, 8, 8, 1), channels-last images of the same pixels.

    With return_split=True, returns (X_train, y_train, X_test, y_test) from a seeded stratified
    shuffle split: round(test_fraction · count) of each digit go to the test set.
    Needs scikit-learn (the ``sklearn`` extra).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        from nnkit._deps import MissingDependency, missing_message

        raise MissingDependency(missing_message("sklearn", "nnkit.datasets.digits (scikit-learn's digits)")) from exc
    bunch = load_digits()
    X = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    if images:
        X = X.reshape(-1, 8, 8, 1)
    if not return_split:
        return X, y
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a real number in (0, 1), got {type(test_fraction).__name__}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = _rng(seed)
    train, test = [], []
    for digit in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == digit))
        n_test = int(round(test_fraction * len(rows)))
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    # Mix the classes so consecutive rows are not all one digit.
    train = rng.permutation(np.concatenate(train))
    test = rng.permutation(np.concatenate(test))
    return X[train], y[train], X[test], y[test]


def mnist_like(n: int, seed=None, n_features: int = 784, n_classes: int = 10):
    """Random MNIST-shaped data for benchmarks: X (n, 784) float32 ~ U[0, 1), y (n,) int64 in 0..9."""
    n = _check_count(n, "n")
    n_features = _check_count(n_features, "n_features")
    n_classes = _check_count(n_classes, "n_classes")
    rng = _rng(seed)
    X = rng.random((n, n_features), dtype=np.float32)
    y = rng.integers(0, n_classes, size=n, dtype=np.int64)
    return X, y


def one_hot(labels, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Y[i, labels[i]] = 1, else 0: (n,) integer labels -> (n, n_classes)."""
    labels = np.asarray(labels)
    n_classes = _check_count(n_classes, "n_classes")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and labels.size and np.all(np.isfinite(labels)) \
                and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        elif labels.size:
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        else:
            labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got values from {labels.min()} to {labels.max()}")
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out
