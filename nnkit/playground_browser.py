"""The TensorFlow Playground's own run of a link, replayed number for number (PLAYGROUND.md).

After the page has parsed the link (``nnkit.playground_config``) the browser, with one seedrandom
stream seeded by the seed string:

1. draws the 200-point thumbnails of every data set of the problem (discarded by the re-seed);
2. re-seeds, generates the 500 (classification) or 1200 (regression) points with noise / 100,
   shuffles them once (one draw per point) and splits them at floor(n percTrainData / 100);
3. builds the network, one draw ``random() - 0.5`` per link, layer by layer, node by node, link
   by link; biases 0.1 (0 and weights 0 with initZero, the draws still taken);
4. trains point by point in the fixed order of the training set: forward, backward, derivatives
   accumulated, an update when (i + 1) % batchSize == 0 (the leftover of an epoch carries into the
   next epoch's first update); the L1 clamp kills a weight that its penalty pushes across 0;
5. reports the plain mean of 1/2 (out - label)^2 over the training and the test set.

Everything is float arithmetic in the browser's order (left to right, JS's parentheses), so
CPython's floats give the same bits; Math.exp/log/sin/cos/tanh come from ``nnkit.jsmath`` (V8's
fdlibm port, bit for bit) or, with ``math="platform"``, from the platform's libm (last-bit
differences, PLAYGROUND.md 3.4). The loop is tight pure Python (no numba): 50 epochs of the
lecture's link take well under a second.

Public pieces (the live page reuses them): ``browser_session(config)`` -> a BrowserSession holding
the data, the network and the stream; ``BrowserNetwork.train_epoch`` / ``loss`` / ``output``;
``generate_points``, ``shuffle``, ``thumbnail_draws``, ``heatmap_grid``.
"""

from __future__ import annotations

import math as _platform_math
from dataclasses import dataclass, field
from fractions import Fraction

from nnkit import jsmath
from nnkit.seedrandom import SeedRandom

__all__ = [
    "MATH_LIBRARIES",
    "INPUTS",
    "BrowserNetwork",
    "BrowserSession",
    "browser_session",
    "generate_points",
    "shuffle",
    "thumbnail_draws",
    "heatmap_grid",
    "to_fixed",
    "with_seed",
    "DENSITY",
    "NUM_SAMPLES_CLASSIFY",
    "NUM_SAMPLES_REGRESS",
]

# "v8": the JavaScript engine's functions (bit for bit); "platform": CPython's math (libm).
MATH_LIBRARIES = {"v8": jsmath, "platform": _platform_math}
NUM_SAMPLES_CLASSIFY = 500
NUM_SAMPLES_REGRESS = 1200
THUMBNAIL_SAMPLES = 200
DENSITY = 100  # the heatmap's points per side (playground.ts)
DOMAIN = (-6.0, 6.0)

# The Playground's INPUTS table in its order (playground.ts:65-73); it has no cosX/cosY.
INPUTS = ("x", "y", "xSquared", "ySquared", "xTimesY", "sinX", "sinY")


def to_fixed(value: float, digits: int = 5) -> str:
    """JavaScript's ``value.toFixed(digits)`` for 0 <= value < 1e21: exact, ties to the larger."""
    scaled = Fraction(value) * 10 ** digits
    n = (scaled + Fraction(1, 2)).__floor__()
    whole, frac = divmod(n, 10 ** digits)
    return f"{whole}.{frac:0{digits}d}" if digits else str(whole)


# ---------------------------------------------------------------------------------------------
# the data generators of dataset.ts, draw for draw


def _uniform(random, a: float, b: float) -> float:
    """randUniform(a, b) = random() * (b - a) + a, with (b - a) first."""
    return random() * (b - a) + a


def _normal(random, m, mean: float, variance: float) -> float:
    """normalRandom: Marsaglia's polar method, (v1, v2) redrawn until s <= 1; only v1 used."""
    while True:
        v1 = 2 * random() - 1
        v2 = 2 * random() - 1
        s = v1 * v1 + v2 * v2
        if not s > 1:
            break
    result = _platform_math.sqrt(-2 * m.log(s) / s) * v1
    return mean + _platform_math.sqrt(variance) * result


def _dist(ax: float, ay: float, bx: float, by: float) -> float:
    dx = ax - bx
    dy = ay - by
    return _platform_math.sqrt(dx * dx + dy * dy)


def _square_point(random, half: float, noise: float):
    """x, y ~ U(-half, half), then their noise U(-half, half) * noise: four draws in that order."""
    x = _uniform(random, -half, half)
    y = _uniform(random, -half, half)
    return x, y, _uniform(random, -half, half) * noise, _uniform(random, -half, half) * noise


def _spiral(n_samples, noise, random, m):
    points = []
    n = n_samples / 2
    for delta_t, label in ((0.0, 1.0), (_platform_math.pi, -1.0)):
        i = 0
        while i < n:
            r = i / n * 5
            t = 1.75 * i / n * 2 * _platform_math.pi + delta_t
            x = r * m.sin(t) + _uniform(random, -1, 1) * noise
            y = r * m.cos(t) + _uniform(random, -1, 1) * noise
            points.append((x, y, label))
            i += 1
    return points


def _circle(n_samples, noise, random, m):
    points = []
    radius = 5
    for r_low, r_high in ((0, radius * 0.5), (radius * 0.7, radius)):
        i = 0
        while i < n_samples / 2:
            r = _uniform(random, r_low, r_high)
            angle = _uniform(random, 0, 2 * _platform_math.pi)
            x = r * m.sin(angle)
            y = r * m.cos(angle)
            noise_x = _uniform(random, -radius, radius) * noise
            noise_y = _uniform(random, -radius, radius) * noise
            label = 1.0 if _dist(x + noise_x, y + noise_y, 0, 0) < radius * 0.5 else -1.0
            points.append((x, y, label))
            i += 1
    return points


def _xor(n_samples, noise, random, m):
    points = []
    padding = 0.3
    i = 0
    while i < n_samples:
        x, y, noise_x, noise_y = _square_point(random, 5, noise)
        x += padding if x > 0 else -padding
        y += padding if y > 0 else -padding
        label = 1.0 if (x + noise_x) * (y + noise_y) >= 0 else -1.0
        points.append((x, y, label))
        i += 1
    return points


def _gauss(n_samples, noise, random, m):
    points = []
    t = (noise - 0) / 0.5  # d3.scale.linear().domain([0, .5]).range([0.5, 4])
    variance = 0.5 * (1 - t) + 4 * t
    for cx, cy, label in ((2.0, 2.0, 1.0), (-2.0, -2.0, -1.0)):
        i = 0
        while i < n_samples / 2:
            x = _normal(random, m, cx, variance)
            y = _normal(random, m, cy, variance)
            points.append((x, y, label))
            i += 1
    return points


def _reg_plane(n_samples, noise, random, m):
    points = []
    radius = 6
    i = 0
    while i < n_samples:
        x, y, noise_x, noise_y = _square_point(random, radius, noise)
        t = ((x + noise_x) + (y + noise_y) - -10) / 20  # d3 domain [-10, 10] -> range [-1, 1]
        points.append((x, y, -1 * (1 - t) + 1 * t))
        i += 1
    return points


_REG_GAUSSIANS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def _reg_gauss_label(x: float, y: float) -> float:
    label = 0
    for cx, cy, sign in _REG_GAUSSIANS:
        t = max(0, min(1, (_dist(x, y, cx, cy) - 0) / 2))  # domain [0, 2] -> range [1, 0], clamped
        new_label = sign * (1 * (1 - t) + 0 * t)
        if abs(new_label) > abs(label):
            label = new_label
    return float(label)


def _reg_gauss(n_samples, noise, random, m):
    points = []
    radius = 6
    i = 0
    while i < n_samples:
        x, y, noise_x, noise_y = _square_point(random, radius, noise)
        points.append((x, y, _reg_gauss_label(x + noise_x, y + noise_y)))
        i += 1
    return points


GENERATORS = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "reg-plane": _reg_plane,
    "reg-gauss": _reg_gauss,
}
# the thumbnails, in the order of the Playground's datasets / regDatasets maps
_THUMBNAILS = {"classification": ("circle", "xor", "gauss", "spiral"),
               "regression": ("reg-plane", "reg-gauss")}


def generate_points(name: str, n_samples: int, noise: float, random, math: str = "v8") -> list:
    """The (x, y, label) points of dataset.ts's generator ``name``, drawn from ``random``."""
    if name not in GENERATORS:
        raise ValueError(f"name: expected one of {', '.join(GENERATORS)}, got {name!r}")
    return GENERATORS[name](n_samples, noise, random, MATH_LIBRARIES[math])


def shuffle(items: list, random) -> None:
    """dataset.ts's in-place shuffle: for counter = n .. 1, swap items[counter - 1] and
    items[floor(random() * counter)]."""
    counter = len(items)
    while counter > 0:
        index = int(random() * counter)  # floor of a non-negative double
        counter -= 1
        items[counter], items[index] = items[index], items[counter]


def thumbnail_draws(seed: str, problem: str, math: str = "v8") -> int:
    """How many doubles drawDatasetThumbnails takes from the freshly seeded stream (200-point,
    noise-0 thumbnails of every data set of the problem); the re-seed then discards them."""
    random = SeedRandom(seed)
    for name in _THUMBNAILS[problem]:
        generate_points(name, THUMBNAIL_SAMPLES, 0, random, math)
    return random.draws


def _js_slice_index(index: float, length: int) -> int:
    """Array.prototype.slice's reading of an index (NaN 0, negative from the end, clamped)."""
    if index != index:
        return 0
    if index < 0:
        return max(length + int(max(index, -length - 1)), 0)
    return int(min(index, length))


def split_index(n: int, perc_train_data: float) -> float:
    """playground.ts: Math.floor(data.length * percTrainData / 100)."""
    value = n * perc_train_data / 100
    return _platform_math.floor(value) if _platform_math.isfinite(value) else value


def input_values(x: float, y: float, input_ids, m) -> list:
    """constructInput(x, y): the enabled INPUTS in their order."""
    table = {"x": x, "y": y}
    values = []
    for key in input_ids:
        if key in table:
            values.append(table[key])
        elif key == "xSquared":
            values.append(x * x)
        elif key == "ySquared":
            values.append(y * y)
        elif key == "xTimesY":
            values.append(x * y)
        elif key == "sinX":
            values.append(m.sin(x))
        else:  # sinY
            values.append(m.sin(y))
    return values


def js_layer_width(value: float) -> int:
    """How many nodes ``for (i = 0; i < value; i++)`` builds: ceil(value) above 0, else 0 (NaN 0)."""
    if value != value or value <= 0:
        return 0
    if _platform_math.isinf(value):
        raise ValueError("networkShape: an infinite layer width never finishes building in the browser")
    return int(_platform_math.ceil(value))


# ---------------------------------------------------------------------------------------------
# nn.ts: the network, point by point


def _relu(t: float) -> float:
    """Math.max(0, t): NaN stays NaN, -0 becomes +0."""
    if t > 0:
        return t
    return 0.0 if t == t else t


class BrowserNetwork:
    """nn.ts's network: per layer after the inputs, node biases and input-link weights.

    ``weights[l][i][j]`` is the link from node j of layer l (0 = the inputs) to node i of layer
    l + 1; ``params()`` lists them as the reference runs do: per node, [bias, weights...].
    """

    def __init__(self, shape, activation: str, output_activation: str, regularization, input_ids,
                 init_zero: bool, random, math: str = "v8"):
        self.shape = list(shape)
        self.input_ids = list(input_ids)
        self.activations = [activation] * (len(shape) - 2) + [output_activation]
        self.regularization = regularization  # None, "L1" or "L2"
        self.math = math
        self._m = MATH_LIBRARIES[math]
        self.biases, self.weights = [], []
        for fan_in, width in zip(self.shape[:-1], self.shape[1:]):
            layer_b, layer_w = [], []
            for _ in range(width):
                links = []
                for _ in range(fan_in):
                    w = random() - 0.5  # drawn even with initZero (nn.ts:161)
                    links.append(0.0 if init_zero else w)
                layer_w.append(links)
                layer_b.append(0.0 if init_zero else 0.1)
            self.biases.append(layer_b)
            self.weights.append(layer_w)
        self.dead = [[[False] * fan_in for _ in range(width)]
                     for fan_in, width in zip(self.shape[:-1], self.shape[1:])]
        self.any_dead = False
        self._acc_b = [[0.0] * len(b) for b in self.biases]
        self._acc_w = [[[0.0] * len(ws) for ws in layer] for layer in self.weights]
        self._count = 0
        self._forward_fns = [self._layer_function(a) for a in self.activations]

    # -- forward ---------------------------------------------------------------------------

    def _layer_function(self, activation: str):
        """f(totals) -> outputs for one layer's activation, and the derivative from (total, out)."""
        m = self._m
        if activation == "tanh":
            return m.tanh, lambda t, o: 1 - o * o
        if activation == "sigmoid":
            exp = m.exp
            return (lambda t: 1 / (1 + exp(-t))), (lambda t, o: o * (1 - o))
        if activation == "relu":
            return _relu, (lambda t, o: 0 if t <= 0 else 1)
        return (lambda t: t), (lambda t, o: 1)

    def _forward(self, inputs):
        """(totals per layer, outputs per layer with the inputs first), as forwardProp."""
        outs = [inputs]
        totals = []
        prev = inputs
        for biases, weights, (f, _) in zip(self.biases, self.weights, self._forward_fns):
            layer_t = []
            for b, ws in zip(biases, weights):
                t = b
                for w, o in zip(ws, prev):
                    t += w * o
                layer_t.append(t)
            prev = [f(t) for t in layer_t]
            totals.append(layer_t)
            outs.append(prev)
        return totals, outs

    def output(self, inputs) -> float:
        """forwardProp: the output node's value for one input vector."""
        prev = inputs
        for biases, weights, (f, _) in zip(self.biases, self.weights, self._forward_fns):
            layer = []
            for b, ws in zip(biases, weights):
                t = b
                for w, o in zip(ws, prev):
                    t += w * o
                layer.append(f(t))
            prev = layer
        return prev[0]

    # -- backward and updates ------------------------------------------------------------------

    def _backward(self, totals, outs, target: float) -> None:
        """backProp: derivatives accumulated node by node, link by link (dead links skipped)."""
        out_der = [outs[-1][0] - target]
        for layer in range(len(self.biases) - 1, -1, -1):
            der = self._forward_fns[layer][1]
            in_der = [od * der(t, o) for od, t, o in zip(out_der, totals[layer], outs[layer + 1])]
            acc_b = self._acc_b[layer]
            for i, d in enumerate(in_der):
                acc_b[i] += d
            prev = outs[layer]
            acc_w = self._acc_w[layer]
            if self.any_dead:
                for d, acc, dead in zip(in_der, acc_w, self.dead[layer]):
                    for j, o in enumerate(prev):
                        if not dead[j]:
                            acc[j] += d * o
            else:
                for d, acc in zip(in_der, acc_w):
                    for j, o in enumerate(prev):
                        acc[j] += d * o
            if layer == 0:
                break
            weights = self.weights[layer]
            out_der = []
            for k in range(len(prev)):
                s = 0.0
                for ws, d in zip(weights, in_der):
                    s += ws[k] * d
                out_der.append(s)
        self._count += 1

    def _update(self, learning_rate: float, regularization_rate: float) -> None:
        """updateWeights: bias -= lr acc / n; w -= (lr / n) acc, then the penalty (and L1's clamp)."""
        n = self._count
        if n == 0:
            return
        reg = self.regularization
        reg_step = learning_rate * regularization_rate
        step = learning_rate / n
        for biases, weights, dead, acc_b, acc_w in zip(self.biases, self.weights, self.dead,
                                                       self._acc_b, self._acc_w):
            for i in range(len(biases)):
                biases[i] -= learning_rate * acc_b[i] / n
                acc_b[i] = 0.0
                ws, acc, dead_i = weights[i], acc_w[i], dead[i]
                for j in range(len(ws)):
                    if dead_i[j]:
                        continue
                    w = ws[j]
                    if reg == "L1":
                        regul_der = -1 if w < 0 else (1 if w > 0 else 0)
                    elif reg == "L2":
                        regul_der = w
                    else:
                        regul_der = 0
                    w = w - step * acc[j]
                    new = w - reg_step * regul_der
                    if reg == "L1" and w * new < 0:
                        ws[j] = 0.0
                        dead_i[j] = True
                        self.any_dead = True
                    else:
                        ws[j] = new
                    acc[j] = 0.0
        self._count = 0

    def train_epoch(self, features, labels, batch_size: float, learning_rate: float,
                    regularization_rate: float) -> None:
        """oneStep: every training point in order, an update when (i + 1) % batchSize === 0."""
        for i, (inputs, label) in enumerate(zip(features, labels)):
            totals, outs = self._forward(inputs)
            self._backward(totals, outs, label)
            if _js_remainder_is_zero(i + 1, batch_size):
                self._update(learning_rate, regularization_rate)

    def evaluate(self, features, labels) -> tuple[float, int]:
        """(getLoss, hits): the sequential sum of 0.5 (out - label)^2 divided by the count (NaN
        when empty), and how many outputs have the label's sign (out >= 0 for +1)."""
        total = 0
        hits = 0
        for inputs, label in zip(features, labels):
            out = self.output(inputs)
            d = out - label
            total += 0.5 * (d * d)
            hits += (out >= 0) == (label > 0)
        return (total / len(labels) if labels else float("nan")), hits

    def loss(self, features, labels) -> float:
        """getLoss: sequential sum of 0.5 (out - label)^2, then / count (NaN when empty)."""
        return self.evaluate(features, labels)[0]

    # -- views -------------------------------------------------------------------------------

    def params(self) -> list:
        """Every bias and weight in the Playground's node order: per node, [bias, weights...]."""
        flat = []
        for biases, weights in zip(self.biases, self.weights):
            for b, ws in zip(biases, weights):
                flat.append(b)
                flat.extend(ws)
        return flat

    def dead_links(self) -> int:
        return sum(sum(row) for layer in self.dead for row in layer)

    def nnkit_weights(self):
        """[W1, b1, W2, b2, ...] in nnkit's Dense layout: W of shape (fan_in, width), float64."""
        import numpy as np

        out = []
        for fan_in, biases, weights in zip(self.shape[:-1], self.biases, self.weights):
            out.append(np.array(weights, dtype=np.float64).reshape(len(biases), fan_in).T.copy())
            out.append(np.array(biases, dtype=np.float64))
        return out


def _js_remainder_is_zero(i: int, batch_size: float) -> bool:
    """``i % batchSize === 0`` in JavaScript (fmod; NaN, 0 and +-Infinity never give 0 for i >= 1)."""
    if batch_size != batch_size or batch_size == 0 or _platform_math.isinf(batch_size):
        return False
    if isinstance(batch_size, int) or batch_size == int(batch_size):
        return i % int(batch_size) == 0
    return _platform_math.fmod(i, batch_size) == 0


# ---------------------------------------------------------------------------------------------
# a page load


@dataclass
class BrowserSession:
    """What the page holds right after it loads a link: the data, the network, the stream.

    ``train_inputs`` / ``test_inputs`` are each point's network inputs (constructInput), and
    ``train_labels`` / ``test_labels`` the labels, both in the data's order.
    """

    config: object
    math: str
    random: SeedRandom
    train: list  # (x, y, label) in training order
    test: list
    network: BrowserNetwork
    thumbnail_draws: int
    draws: dict = field(default_factory=dict)
    epoch: int = 0
    train_inputs: list = field(default=None, repr=False)
    test_inputs: list = field(default=None, repr=False)
    train_labels: list = field(default=None, repr=False)
    test_labels: list = field(default=None, repr=False)

    def __post_init__(self):
        m = MATH_LIBRARIES[self.math]
        ids = self.network.input_ids
        self.train_inputs = [input_values(x, y, ids, m) for x, y, _ in self.train]
        self.test_inputs = [input_values(x, y, ids, m) for x, y, _ in self.test]
        self.train_labels = [p[2] for p in self.train]
        self.test_labels = [p[2] for p in self.test]

    def losses(self) -> tuple[float, float]:
        """(train loss, test loss) as the Playground computes them now."""
        return (self.network.loss(self.train_inputs, self.train_labels),
                self.network.loss(self.test_inputs, self.test_labels))

    def step(self) -> tuple[float, float]:
        """One epoch (the Playground's oneStep) and the losses after it."""
        c = self.config
        self.network.train_epoch(self.train_inputs, self.train_labels, c.batch_size,
                                 c.learning_rate, c.regularization_rate)
        self.epoch += 1
        return self.losses()

    def output(self, x: float, y: float) -> float:
        """The network's output at the point (x, y) of the plane."""
        return self.network.output(input_values(x, y, self.network.input_ids, MATH_LIBRARIES[self.math]))

    def reset(self) -> None:
        """The Reset button: a new network drawn from the continuing stream (new weights)."""
        self.network = _build_network(self.config, self.random, self.math)
        self.epoch = 0


def _build_network(config, random, math: str) -> BrowserNetwork:
    ids = config.input_ids()
    shape = [len(ids)] + [js_layer_width(w) for w in config.network_shape] + [1]
    output = "tanh" if config.problem == "classification" else "linear"
    regularization = None if config.regularization == "none" else config.regularization
    return BrowserNetwork(shape, config.activation, output, regularization, ids, config.init_zero,
                          random, math)


def with_seed(config, seed=None):
    """The config with the seed a run uses: ``seed`` if given (str, or an int written as one),
    else the link's, else one drawn as state.ts draws it, ``Math.random().toFixed(5)`` from an
    unseeded generator, with a note giving it (so that the run can be repeated)."""
    import copy
    import random

    if seed is None and config.seed is not None:
        return config
    seeded = copy.copy(config)
    seeded.warnings = list(config.warnings)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (str, int)):
            raise TypeError(f"seed: expected a str (the Playground's seed string) or an int, "
                            f"got {type(seed).__name__}")
        seeded.seed = str(seed)
    else:
        seeded.seed = to_fixed(random.random())
        seeded.warnings.append(f"the link has no seed: the browser draws one at random; this run drew "
                               f"{seeded.seed!r} (add seed={seeded.seed} to the link to rerun it)")
    return seeded


def browser_session(config, math: str = "v8") -> BrowserSession:
    """The page load of playground.ts for a parsed link: thumbnails, data, shuffle, network.

    Where the link has no seed one is drawn as the browser draws it (``with_seed``);
    ``session.config.seed`` says which.
    """
    if math not in MATH_LIBRARIES:
        raise ValueError(f"math: expected one of {', '.join(MATH_LIBRARIES)}, got {math!r}")
    config = with_seed(config)
    thumbs = thumbnail_draws(config.seed, config.problem, math)
    random = SeedRandom(config.seed)  # playground.ts:1074, generateData(true)
    n = NUM_SAMPLES_REGRESS if config.problem == "regression" else NUM_SAMPLES_CLASSIFY
    name = config.dataset if config.problem == "classification" else config.reg_dataset
    data = generate_points(name, n, config.noise / 100, random, math)
    after_data = random.draws
    shuffle(data, random)
    after_shuffle = random.draws
    split = split_index(len(data), config.perc_train_data)
    cut = _js_slice_index(split, len(data))
    train, test = data[:cut], data[cut:]
    network = _build_network(config, random, math)
    draws = {"thumbnails_before_reseed": thumbs, "data": after_data, "shuffle": after_shuffle - after_data,
             "weights": random.draws - after_shuffle}
    return BrowserSession(config=config, math=math, random=random, train=train, test=test,
                          network=network, thumbnail_draws=thumbs, draws=draws)


def heatmap_grid(density: int = DENSITY):
    """The points of updateDecisionBoundary: x_i = xScale(i) over [-6, 6] for i = 0..density-1,
    y_j = yScale(j) with the domain reversed (row 0 at the top, y = 6)."""
    xs = []
    for i in range(density):
        t = (i - 0) / (density - 1 - 0)
        xs.append(DOMAIN[0] * (1 - t) + DOMAIN[1] * t)
    ys = []
    for j in range(density):
        t = (j - (density - 1)) / (0 - (density - 1))
        ys.append(DOMAIN[0] * (1 - t) + DOMAIN[1] * t)
    return xs, ys
