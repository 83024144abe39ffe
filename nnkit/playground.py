"""Run a TensorFlow Playground link as the browser runs it: ``nnkit playground URL``.

By default the run is the browser's, number for number (``nnkit.playground_browser``; the facts
are in PLAYGROUND.md): the link read as state.ts reads it (``parse_playground_url``: e.g.
"initZero=f" is true, "regDataSet" is ignored, each with a note), the seedrandom stream of the
link's seed, the data set generated and shuffled once, the weights drawn in the browser's order,
and nn.ts's point-by-point loop: derivatives accumulated point by point in the fixed order of the
training set, an update after every batchSize points (the n mod batchSize points left at the end
of an epoch join the next epoch's first update), the L1 clamp, and the losses as the page prints
them (the plain mean of 1/2 (out - label)^2 over the training and the test set). Against the
Playground's own code under node the per-epoch losses, the parameters and the data agree bit for
bit (``math="v8"``, V8's exp/log/sin/cos/tanh); ``math="platform"`` uses CPython's libm, which
moves the last bits (losses within 1e-14 relative over 50 epochs on the references).

``batched=True`` (``--batched``, or ``--backend NAME``) trains the same network from the same
data and initial weights with nnkit's model on any backend: a batch's mean gradient of nnkit's
"mse" (1/N sum 1/2 (out - target)^2) and SGD(learningRate) make the browser's update; L1 is
L1(rate) with the clamp applied after each step, L2 is L2(rate / 2) (nnkit's penalty is rate w^2,
the Playground's rate w^2 / 2). The sums run in another order (BLAS, per batch), so the run is
statistically like the browser's rather than identical: equal to rounding at first, drifting
apart where training is chaotic.

Public entry points: ``run_playground(url, epochs=...)`` -> PlaygroundResult,
``plot_playground(result, path)``, and ``configure_parser`` / ``run`` for the command line.
The parsing (``nnkit.playground_config.parse_playground_url``) and the page load
(``nnkit.playground_browser.browser_session``) are separate public functions.
"""

from __future__ import annotations

import argparse
import math as _math
import sys
from dataclasses import dataclass, field

from nnkit.playground_browser import (DENSITY, DOMAIN, MATH_LIBRARIES, BrowserNetwork, browser_session,
                                      heatmap_grid, input_values, js_layer_width, with_seed)
from nnkit.playground_config import PlaygroundConfig, parse_playground_url

__all__ = ["PlaygroundResult", "build_model", "run_playground", "plot_playground", "configure_parser",
           "run", "check_runnable", "MAX_LAYER_WIDTH"]

# Wider layers would take the pure-Python replay minutes per epoch (the browser too would stall).
MAX_LAYER_WIDTH = 1000


@dataclass
class PlaygroundResult:
    """What a Playground run returns.

    ``history`` holds one entry per epoch, epoch 0 being the untrained network as the page shows
    it on load: {"epoch", "train_loss", "test_loss", "dead_links"} and, for classification,
    "train_accuracy" and "test_accuracy" (the output's sign against the label).
    ``network`` is the browser's network after training (the exact replay; None when batched);
    ``model`` the nnkit model holding the same weights (None where nnkit cannot build the shape,
    e.g. a hidden layer of width 0).
    """

    config: PlaygroundConfig
    model: object
    history: dict
    X_train: object  # the enabled inputs of the training points (what the network sees)
    y_train: object
    X_test: object
    y_test: object
    raw_train: object = None  # the training points' (x, y)
    raw_test: object = None
    dead_weights: int = 0
    warnings: list = field(default_factory=list)
    network: BrowserNetwork | None = None
    batched: bool = False
    math: str = "v8"
    draws: dict = field(default_factory=dict)

    @property
    def train_loss(self) -> float:
        """The final training loss, mean over points of 1/2 (out - label)^2."""
        return self.history["train_loss"][-1]

    @property
    def test_loss(self) -> float:
        """The final test loss, mean over points of 1/2 (out - label)^2."""
        return self.history["test_loss"][-1]

    @property
    def epochs(self) -> int:
        return self.history["epoch"][-1]

    def predict_points(self, points):
        """The network's output at each (x, y) point of the plane, as a float64 array."""
        import numpy as np

        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.network is not None:
            m = MATH_LIBRARIES[self.math]
            ids = self.network.input_ids
            return np.array([self.network.output(input_values(float(x), float(y), ids, m)) for x, y in points])
        from nnkit.datasets import playground_features

        return np.asarray(self.model.predict(playground_features(points, self.config.features())),
                          dtype=np.float64)[:, 0]


def _config(url_or_config, strict: bool = False) -> PlaygroundConfig:
    if isinstance(url_or_config, PlaygroundConfig):
        return url_or_config
    if isinstance(url_or_config, str):
        return parse_playground_url(url_or_config, strict=strict)
    raise TypeError(f"url_or_config: expected a Playground link or a PlaygroundConfig, "
                    f"got {type(url_or_config).__name__}")


def check_runnable(config: PlaygroundConfig, batched: bool = False) -> None:
    """ValueError (naming the setting) for a link that cannot be replayed: an infinite or huge
    layer; for the batched replay also what nnkit's model cannot express (widths that are not
    positive integers, no input, a batch size that is not a positive integer, a rate that is NaN,
    infinite or negative)."""
    for width in config.network_shape:
        if js_layer_width(width) > MAX_LAYER_WIDTH:
            raise ValueError(f"networkShape: a layer of {width} nodes is beyond what the replay "
                             f"runs (at most {MAX_LAYER_WIDTH})")
    if not batched:
        return
    if any(not (isinstance(w, int) and w >= 1) for w in config.network_shape):
        raise ValueError(f"networkShape: the batched replay needs positive integer widths, "
                         f"got {config.network_shape}")
    if not config.input_ids():
        raise ValueError("the link enables no input (x, y, xTimesY, ... all false or hidden): "
                         "the batched replay needs one")
    if not (isinstance(config.batch_size, int) and config.batch_size >= 1):
        raise ValueError(f"batchSize: the batched replay needs a positive integer, got {config.batch_size}")
    for key, value in (("learningRate", config.learning_rate), ("regularizationRate", config.regularization_rate),
                       ("noise", config.noise), ("percTrainData", config.perc_train_data)):
        if not (_math.isfinite(value) and value >= 0):
            raise ValueError(f"{key}: the batched replay needs a finite number >= 0, got {value}")


def _regularizer(config: PlaygroundConfig):
    """nnkit's regularizer giving the Playground's step: L1(rate), or L2(rate / 2) (see module doc)."""
    from nnkit import regularizers

    rate = config.regularization_rate
    if config.regularization == "none" or rate == 0:
        return None
    if config.regularization == "L1":
        return regularizers.L1(rate)
    return regularizers.L2(rate / 2.0)


def build_model(config: PlaygroundConfig, n_inputs: int, backend=None, dtype="float64", seed=None):
    """The Playground's network for ``config`` as an nnkit model: Dense layers of networkShape with
    the link's activation, one tanh (classification) or linear (regression) output, the link's
    penalty; compiled with SGD(learningRate) and "mse". Its weights are nnkit's initializers'
    (U(-0.5, 0.5) and 0.1, or zeros); run_playground sets the browser's."""
    import nnkit as nk

    kernel_init = "zeros" if config.init_zero else "playground"
    bias_init = "zeros" if config.init_zero else "playground_bias"
    regularizer = _regularizer(config)
    output = "tanh" if config.problem == "classification" else "linear"
    layers = []
    for i, width in enumerate(list(config.network_shape) + [1]):
        last = i == len(config.network_shape)
        layers.append(nk.layers.Dense(width, activation=output if last else config.activation,
                                      kernel_initializer=kernel_init, bias_initializer=bias_init,
                                      kernel_regularizer=regularizer,
                                      input_dim=n_inputs if i == 0 else None))
    model = nk.Sequential(layers, backend=backend, dtype=dtype, seed=seed)
    model.build(n_inputs)
    model.compile(nk.optimizers.SGD(lr=config.learning_rate), "mse")
    return model


def _batches(n: int, batch_size: int, carry: list):
    """Index lists of one epoch's updates; ``carry`` (the previous epoch's leftover) joins the first.

    Returns (batches, leftover): the Playground updates when (i + 1) % batchSize == 0 for the
    index i within the epoch, so the last n mod batchSize points wait for the next epoch.
    """
    batches = []
    for end in range(batch_size, n + 1, batch_size):
        batches.append(carry + list(range(end - batch_size, end)))
        carry = []
    done = (n // batch_size) * batch_size
    return batches, carry + list(range(done, n))


class _L1Clamp:
    """The Playground's L1 rule: a weight the penalty step moves across 0 is set to 0 and stays 0."""

    def __init__(self, model, lr: float, rate: float):
        xp = model.backend.xp
        self.xp, self.step = xp, lr * rate
        self.weights = [p for p in model.parameters() if p.regularizer is not None]
        self.dead = [xp.zeros(p.shape, dtype=xp.bool) for p in self.weights]
        self.signs = None

    def before_step(self):
        self.signs = [self.xp.sign(p.value) for p in self.weights]

    def after_step(self):
        xp = self.xp
        for i, (p, sign) in enumerate(zip(self.weights, self.signs)):
            # w_new = w_mid - lr rate sign(w_old): the weight after the data step alone is w_mid
            w_mid = p.value + self.step * sign
            crossed = (w_mid * p.value) < 0
            self.dead[i] = self.dead[i] | crossed
            p.value = xp.where(self.dead[i], xp.zeros_like(p.value), p.value)

    def count(self) -> int:
        return sum(int(self.xp.sum(self.xp.astype(dead, self.xp.int64))) for dead in self.dead)


def _batched_step(model, xb, yb, clamp) -> None:
    """One update of the batched replay: the model's step (the batch's mean gradient of
    1/2 (out - y)^2 and the penalties' gradients), SGD, and the L1 clamp."""
    model._step(xb, yb)
    if clamp is not None:
        clamp.before_step()
    model.apply_gradients()
    if clamp is not None:
        clamp.after_step()


def _loss_and_accuracy(model, X, y, classification: bool):
    """(mean 1/2 (out - y)^2, fraction sign(out) == y or None) through the model's backend."""
    xp = model.backend.xp
    out, _ = model._forward(X, False)
    diff = out - y
    loss = float(xp.mean(0.5 * diff * diff))  # one column: the mean over points
    if not classification:
        return loss, None
    hits = xp.where(out >= 0, 1.0, -1.0) == y
    return loss, float(xp.mean(xp.astype(hits, out.dtype)))


def _arrays(session):
    """(X_train, y_train, X_test, y_test, raw_train, raw_test) as float64 arrays."""
    import numpy as np

    n_inputs = len(session.network.input_ids)

    def inputs(rows, n):
        return np.array(rows, dtype=np.float64).reshape(n, n_inputs)

    def points(data):
        return np.array([(x, y) for x, y, _ in data], dtype=np.float64).reshape(len(data), 2)

    return (inputs(session.train_inputs, len(session.train)), np.array(session.train_labels, dtype=np.float64),
            inputs(session.test_inputs, len(session.test)), np.array(session.test_labels, dtype=np.float64),
            points(session.train), points(session.test))


def _model_with(network: BrowserNetwork, config, backend, dtype):
    """An nnkit model holding the browser network's weights, or None where nnkit has no such
    network (a width of 0, no input) or optimizer (a learning rate or penalty rate that is NaN,
    infinite or negative)."""
    if any(w < 1 for w in network.shape):
        return None
    try:
        model = build_model(config, network.shape[0], backend=backend, dtype=dtype)
    except ValueError:
        return None
    model.set_weights(network.nnkit_weights())
    return model


def run_playground(url_or_config, epochs: int = 300, batched: bool = False, backend=None,
                   dtype: str = "float64", math: str = "v8", verbose: int = 1, print_every: int | None = None,
                   seed=None, out=None, strict: bool = False) -> PlaygroundResult:
    """Train the Playground experiment of a link (or PlaygroundConfig) for ``epochs`` epochs.

    Parameters
    ----------
    url_or_config: a Playground link as pasted, its fragment, or a PlaygroundConfig.
    epochs: passes over the training set (the Playground's epochs).
    batched: False (default): the browser's own run, number for number. True: the same data and
        initial weights trained by nnkit's model on ``backend`` (statistically like the browser).
    backend, dtype: where the batched replay trains, and where ``result.model`` lives (default
        numpy, float64). The browser's run always computes in float64, as JavaScript does.
    math: "v8" (default): JavaScript's exp/log/sin/cos/tanh as V8 computes them (bit for bit);
        "platform": CPython's math (last-bit differences).
    verbose: 0 silent, 1 prints the train and test loss every ``print_every`` epochs.
    print_every: default epochs // 10 (at least 1).
    seed: overrides the link's seed (the browser seeds with the string); default: the link's, or
        one drawn as the browser draws it where the link has none (``result.config.seed``).
    out: where to print (default sys.stdout).
    strict: refuse (ValueError) a link the browser reads otherwise than written.

    Returns a PlaygroundResult: the per-epoch losses, the final train and test loss, the network.
    """
    config = _config(url_or_config, strict)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if print_every is None:
        print_every = max(1, epochs // 10)
    if isinstance(print_every, bool) or not isinstance(print_every, int) or print_every < 1:
        raise ValueError(f"print_every: expected an int >= 1, got {print_every!r}")
    if math not in MATH_LIBRARIES:
        raise ValueError(f"math: expected one of {', '.join(MATH_LIBRARIES)}, got {math!r}")
    check_runnable(config, batched)
    out = sys.stdout if out is None else out
    config = with_seed(config, seed)
    session = browser_session(config, math=math)
    X_train, y_train, X_test, y_test, raw_train, raw_test = _arrays(session)
    warnings = list(config.warnings)
    classification = config.problem == "classification"
    history = {"epoch": [], "train_loss": [], "test_loss": [], "dead_links": []}
    if classification:
        history.update(train_accuracy=[], test_accuracy=[])

    def record(epoch, train, test, dead):
        """train, test: (loss, accuracy or None)."""
        history["epoch"].append(epoch)
        history["train_loss"].append(train[0])
        history["test_loss"].append(test[0])
        history["dead_links"].append(dead)
        if classification:
            history["train_accuracy"].append(train[1])
            history["test_accuracy"].append(test[1])
        if verbose and (epoch % print_every == 0 or epoch == epochs):
            line = f"epoch {epoch:>5}  train loss {train[0]:.6f}  test loss {test[0]:.6f}"
            if classification:
                line += f"  train acc {train[1]:.3f}  test acc {test[1]:.3f}"
            print(line, file=out, flush=True)

    if len(session.train) < config.batch_size:
        warnings.append(f"batchSize {config.batch_size} > {len(session.train)} training points: the "
                        "Playground never updates the weights (it steps when (i + 1) % batchSize == 0)")
    if verbose:
        _print_header(config, len(session.train), len(session.test), epochs, batched, backend, warnings, out)
    if batched:
        model, dead = _train_batched(config, session, epochs, backend, dtype, record, classification)
        network = None
    else:
        _train_browser(session, epochs, record, classification)
        network, dead = session.network, session.network.dead_links()
        model = _model_with(network, config, backend, dtype)
    return PlaygroundResult(config=config, model=model, history=history, X_train=X_train, y_train=y_train,
                            X_test=X_test, y_test=y_test, raw_train=raw_train, raw_test=raw_test,
                            dead_weights=dead, warnings=warnings, network=network, batched=batched, math=math,
                            draws=dict(session.draws))


def _train_browser(session, epochs: int, record, classification: bool) -> None:
    """The browser's epochs: oneStep, then getLoss on the training and the test set."""
    network = session.network
    sets = ((session.train_inputs, session.train_labels), (session.test_inputs, session.test_labels))

    def measure():
        results = []
        for inputs, labels in sets:
            loss, hits = network.evaluate(inputs, labels)
            accuracy = (hits / len(labels) if labels else float("nan")) if classification else None
            results.append((loss, accuracy))
        return results

    record(0, *measure(), network.dead_links())
    c = session.config
    for epoch in range(1, epochs + 1):
        network.train_epoch(session.train_inputs, session.train_labels, c.batch_size, c.learning_rate,
                            c.regularization_rate)
        session.epoch = epoch
        record(epoch, *measure(), network.dead_links())


def _train_batched(config, session, epochs: int, backend, dtype, record, classification: bool):
    """nnkit's model from the browser's data and initial weights, a step per browser update."""
    X_train, y_train, X_test, y_test, _, _ = _arrays(session)
    model = build_model(config, X_train.shape[1], backend=backend, dtype=dtype)
    model.set_weights(session.network.nnkit_weights())
    be = model.backend
    xp = be.xp
    Xtr = model._check_input(X_train, "X_train")
    ytr = model._check_target(y_train, Xtr.shape[0], "y_train")
    Xte = model._check_input(X_test, "X_test") if len(X_test) else None
    yte = model._check_target(y_test, Xte.shape[0], "y_test") if Xte is not None else None
    params = model.parameters()
    regularized = any(p.regularizer is not None for p in params)
    clamp = (_L1Clamp(model, config.learning_rate, config.regularization_rate)
             if regularized and config.regularization == "L1" else None)

    def measure(epoch):
        train = _loss_and_accuracy(model, Xtr, ytr, classification)
        test = (_loss_and_accuracy(model, Xte, yte, classification) if Xte is not None
                else (float("nan"), float("nan") if classification else None))
        record(epoch, train, test, clamp.count() if clamp else 0)

    measure(0)
    n = Xtr.shape[0]
    carry: list = []
    for epoch in range(1, epochs + 1):
        batches, carry = _batches(n, config.batch_size, carry)
        if len(carry) > n * config.batch_size:
            carry = carry[-n * config.batch_size:]  # never applied (n < batchSize); keep it bounded
        for rows in batches:
            index = be.asarray(rows)
            _batched_step(model, xp.take(Xtr, index, axis=0), xp.take(ytr, index, axis=0), clamp)
        measure(epoch)
    return model, clamp.count() if clamp else 0


def _print_header(config, n_train, n_test, epochs, batched, backend, warnings, out):
    widths = [str(w) for w in config.network_shape]
    shape = " -> ".join([str(len(config.input_ids()))] + widths + ["1"])
    output = "tanh" if config.problem == "classification" else "linear"
    reg = ("none" if config.regularization == "none"
           else f"{config.regularization} rate {config.regularization_rate}")
    how = (f"batched on nnkit's {backend or 'numpy'} backend (statistically like the browser)" if batched
           else "point by point, as the browser")
    print(f"Playground: {config.problem} of {config.data_name}, noise {config.noise}%, "
          f"{n_train} train / {n_test} test points, seed {config.seed!r}", file=out)
    print(f"inputs {', '.join(config.input_ids()) or 'none'}; network {shape} ({config.activation} hidden, "
          f"{output} output); learning rate {config.learning_rate}, batch {config.batch_size}, "
          f"regularization {reg}, init {'zeros' if config.init_zero else 'U(-0.5, 0.5), bias 0.1'}; "
          f"{epochs} epochs {how}", file=out)
    for warning in warnings:
        print(f"note: {warning}", file=out)


# ----------------------------------------------------------------------------------------------
# the picture


def plot_playground(result: PlaygroundResult, path, resolution: int = DENSITY, show_test: bool | None = None):
    """Save the Playground's picture: the output as a heatmap over [-6, 6]^2 (on the page's grid
    of resolution x resolution points; sign only with discretize=true), the training points (white
    edges) and, when showTestData=true (or ``show_test``), the test points (black edges), coloured
    orange (-1) to blue (+1) as the page colours them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap

    config = result.config
    if show_test is None:
        show_test = bool(config.show_test_data)
    xs, ys = heatmap_grid(resolution)
    gx, gy = np.meshgrid(np.array(xs), np.array(ys))  # row j is y_j: row 0 at y = 6 (the top)
    values = result.predict_points(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    if config.discretize:
        values = np.where(values >= 0, 1.0, -1.0)
    # the page's colour scale: orange for -1, light grey for 0, blue for +1
    cmap = LinearSegmentedColormap.from_list("playground", ["#f59322", "#e8eaeb", "#0877bd"])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    image = ax.imshow(values, origin="upper", extent=(*DOMAIN, *DOMAIN), cmap=cmap, vmin=-1, vmax=1,
                      interpolation="bilinear")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.scatter(result.raw_train[:, 0], result.raw_train[:, 1], c=result.y_train, cmap=cmap, vmin=-1, vmax=1,
               s=14, edgecolors="white", linewidths=0.6, label="train")
    if show_test and len(result.y_test):
        ax.scatter(result.raw_test[:, 0], result.raw_test[:, 1], c=result.y_test, cmap=cmap, vmin=-1, vmax=1,
                   s=14, edgecolors="black", linewidths=0.6, label="test")
    ax.set_xlim(*DOMAIN)
    ax.set_ylim(*DOMAIN)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{config.data_name}: epoch {result.epochs}, train loss {result.train_loss:.3f}, "
                 f"test loss {result.test_loss:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# the command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``nnkit playground URL [--epochs N] [--plot FILE] [--batched] [--backend NAME] ...``."""
    parser.add_argument("url", nargs="?", default=None,
                        help="a TensorFlow Playground link as pasted (quote it: it holds '&')")
    parser.add_argument("--epochs", type=int, default=300, help="passes over the training set (default 300)")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="save the page's picture: the output's heatmap with the training points "
                             "(and the test points when the link has showTestData=true)")
    parser.add_argument("--batched", action="store_true",
                        help="train with nnkit's model, a batch at a time (statistically like the "
                             "browser, not identical); default: the browser's run, number for number")
    parser.add_argument("--backend", default=None,
                        help="numpy | numba | cupy | auto: the backend of the batched replay (implies --batched)")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                        help="precision of the batched replay (the browser's run is float64)")
    parser.add_argument("--math", default="v8", choices=tuple(MATH_LIBRARIES),
                        help="v8: JavaScript's exp/log/sin/cos/tanh bit for bit (default); platform: libm")
    parser.add_argument("--every", type=int, default=None, help="print the losses every N epochs")
    parser.add_argument("--seed", default=None, help="override the link's seed (a string, as the Playground's)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a link that the browser reads otherwise than written (e.g. initZero=f)")
    parser.add_argument("--serve", action="store_true",
                        help="serve a live Playground page (nnkit[serve]); the link opens in it")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve: the interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="with --serve: the port (default: a free one)")


def run(args) -> int:
    """Run the link of ``args`` and print its losses; 2 on a bad link or option, 0 otherwise."""
    if getattr(args, "serve", False):
        from nnkit.serve import serve

        return serve(args.url or "", host=args.host, port=args.port, backend=args.backend)
    if args.url is None:
        print("nnkit playground: give a Playground link (or --serve)", file=sys.stderr)
        return 2
    batched = bool(args.batched or args.backend is not None)
    try:
        config = parse_playground_url(args.url, strict=args.strict)
        check_runnable(config, batched)
        if args.epochs < 0:
            raise ValueError(f"--epochs must be >= 0, got {args.epochs}")
        if args.every is not None and args.every < 1:
            raise ValueError(f"--every must be >= 1, got {args.every}")
    except ValueError as exc:
        print(f"nnkit playground: {exc}", file=sys.stderr)
        return 2
    result = run_playground(config, epochs=args.epochs, batched=batched, backend=args.backend, dtype=args.dtype,
                            math=args.math, print_every=args.every, seed=args.seed)
    print(f"final: train loss {result.train_loss:.6f}, test loss {result.test_loss:.6f}")
    if result.dead_weights:
        print(f"L1 set {result.dead_weights} weights to 0 for good")
    if args.plot:
        plot_playground(result, args.plot)
        print(f"saved the picture to {args.plot}")
    return 0
