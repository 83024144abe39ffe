"""Run a TensorFlow Playground link the Playground's way: ``nnkit playground URL``.

Every state key of the link is read (``nnkit.playground_config.parse_playground_url``) and the
experiment is trained as tensorflow/playground's ``src/playground.ts`` and ``src/nn.ts`` train it:

- data: the link's generator (500 points to classify, 1200 to regress) with noise / 100, shuffled,
  the first percTrainData percent for training, mapped to the enabled input features;
- network: the hidden layers of networkShape with the link's activation, one output unit, tanh for
  classification (labels -1/+1) and linear for regression; weights U(-0.5, 0.5) and biases 0.1,
  or all zeros with initZero (nnkit's "playground" / "playground_bias" initializers);
- error: half squared error per point, 1/2 (out - label)^2; its derivatives are accumulated over
  the points of a batch and divided by their count before a step: nnkit's "mse" loss
  (1/N sum 1/2 ||out - target||^2) with plain SGD(learningRate);
- batches: the training points in their fixed order (the Playground never reshuffles them), a
  weight update after every batchSize points. The points left over at the end of an epoch
  (n mod batchSize) are not applied there: their derivatives carry over into the first update of
  the next epoch, as the Playground's accumulators do. One epoch is one pass over the training
  set, the Playground's "iteration" counter;
- penalties: L1/L2 on the weights (never the biases), added as learningRate * regularizationRate *
  d/dw after the data step. nnkit's regularizers give the same step with a mapped rate: the
  Playground's L2 derivative is w (its penalty 1/2 w^2) and nnkit's L2(l) adds 2 l w, so
  L2(regularizationRate / 2); L1 is L1(regularizationRate) (both use sign(w), 0 at 0). The
  Playground also clamps L1: a weight that the penalty pushes across 0 is set to 0 and stays 0
  ("dead") from then on; run_playground applies that clamp after every step;
- the printed losses are the Playground's: the mean over the points of 1/2 (out - label)^2,
  without the penalty, for the training and the test set, after each epoch.

What differs from the browser: the data and the initial weights are drawn from NumPy seeded by a
hash of the link's seed (PlaygroundConfig.seed_int), so a link gives reproducible runs whose
points and weights are distributed as, but not identical to, the browser's; and nnkit reads
"initZero=f" as false where the browser reads it as true (the parser records a warning).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from nnkit.playground_config import PlaygroundConfig, parse_playground_url

__all__ = ["PlaygroundResult", "build_model", "run_playground", "plot_playground", "configure_parser", "run"]

# The Playground's heatmap and its points span [-6, 6] in both inputs (playground.ts xDomain).
DOMAIN = (-6.0, 6.0)


@dataclass
class PlaygroundResult:
    """What a Playground run returns.

    ``history`` holds one entry per epoch, epoch 0 being the untrained network as the Playground
    shows it on load: {"epoch": [...], "train_loss": [...], "test_loss": [...]} and, for
    classification, "train_accuracy" and "test_accuracy" (sign of the output against the label).
    """

    config: PlaygroundConfig
    model: object
    history: dict
    X_train: object  # the enabled features of the training points (what the network sees)
    y_train: object
    X_test: object
    y_test: object
    raw_train: object = None
    raw_test: object = None
    dead_weights: int = 0
    warnings: list = field(default_factory=list)

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


def _config(url_or_config) -> PlaygroundConfig:
    if isinstance(url_or_config, PlaygroundConfig):
        return url_or_config
    if isinstance(url_or_config, str):
        return parse_playground_url(url_or_config)
    raise TypeError(f"url_or_config: expected a Playground link or a PlaygroundConfig, "
                    f"got {type(url_or_config).__name__}")


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
    """The Playground's network for ``config``: compiled with SGD(learningRate) and "mse"."""
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


def run_playground(url_or_config, epochs: int = 300, backend=None, dtype: str = "float64", verbose: int = 1,
                   print_every: int | None = None, seed=None, out=None) -> PlaygroundResult:
    """Train the Playground experiment of a link (or PlaygroundConfig) for ``epochs`` epochs.

    Parameters
    ----------
    url_or_config: a Playground link as pasted, its fragment, or a PlaygroundConfig.
    epochs: passes over the training set (the Playground's iterations).
    backend, dtype: where the network computes; float64 (default) is the browser's precision.
    verbose: 0 silent, 1 prints the train and test loss every ``print_every`` epochs.
    print_every: default epochs // 10 (at least 1).
    seed: overrides the link's seed (an int or a string); default: the link's seed, or a fresh
        one where the link has none (``result.config.seed`` says which, to reproduce the run).
    out: where to print (default sys.stdout).

    Returns a PlaygroundResult: the per-epoch losses, the final train and test loss, the model.
    """
    config = _config(url_or_config)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if print_every is None:
        print_every = max(1, epochs // 10)
    if isinstance(print_every, bool) or not isinstance(print_every, int) or print_every < 1:
        raise ValueError(f"print_every: expected an int >= 1, got {print_every!r}")
    out = sys.stdout if out is None else out
    classification = config.problem == "classification"

    config = _seeded(config, seed)
    raw_train, y_train, raw_test, y_test, X_train, X_test = _data(config)
    weight_seed = config.seed_int()
    model = build_model(config, X_train.shape[1], backend=backend, dtype=dtype, seed=weight_seed)
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
    optimizer = model.optimizer
    history = {"epoch": [], "train_loss": [], "test_loss": []}
    if classification:
        history.update(train_accuracy=[], test_accuracy=[])

    def record(epoch):
        train_loss, train_acc = _loss_and_accuracy(model, Xtr, ytr, classification)
        test_loss, test_acc = (_loss_and_accuracy(model, Xte, yte, classification) if Xte is not None
                               else (float("nan"), None))
        history["epoch"].append(epoch)
        history["train_loss"].append(train_loss)
        history["test_loss"].append(test_loss)
        if classification:
            history["train_accuracy"].append(train_acc)
            history["test_accuracy"].append(test_acc if test_acc is not None else float("nan"))
        if verbose and (epoch % print_every == 0 or epoch == epochs):
            line = f"epoch {epoch:>5}  train loss {train_loss:.6f}  test loss {test_loss:.6f}"
            if classification:
                line += f"  train acc {train_acc:.3f}  test acc {history['test_accuracy'][-1]:.3f}"
            print(line, file=out, flush=True)

    warnings = list(config.warnings)
    if len(X_train) < config.batch_size:
        warnings.append(f"batchSize {config.batch_size} > {len(X_train)} training points: the Playground "
                        "never updates the weights (it steps when (i + 1) % batchSize == 0 within an epoch)")
    if verbose:
        _print_header(config, model, len(X_train), len(X_test), epochs, warnings, out)
    record(0)
    n = Xtr.shape[0]
    carry: list = []
    for epoch in range(1, epochs + 1):
        batches, carry = _batches(n, config.batch_size, carry)
        if len(carry) > n * config.batch_size:
            carry = carry[-n * config.batch_size:]  # never applied (n < batchSize); keep it bounded
        for rows in batches:
            index = be.asarray(rows)
            xb, yb = xp.take(Xtr, index, axis=0), xp.take(ytr, index, axis=0)
            model.zero_grad()
            output, backward = model._chain(xb, True)
            _, dout = model._loss_and_grad(output, yb)
            backward(dout, False)
            if regularized:
                model._penalties(params, add_gradient=True)
            if clamp is not None:
                clamp.before_step()
            optimizer.step(params, be)
            if clamp is not None:
                clamp.after_step()
        record(epoch)
    return PlaygroundResult(config=config, model=model, history=history, X_train=X_train, y_train=y_train,
                            X_test=X_test, y_test=y_test, raw_train=raw_train, raw_test=raw_test,
                            dead_weights=clamp.count() if clamp else 0, warnings=warnings)


def _seeded(config: PlaygroundConfig, seed) -> PlaygroundConfig:
    """The config with the seed the run uses: ``seed`` if given, else the link's, else a fresh one
    written as the Playground writes its seeds (e.g. "0.53891"), so the printed seed reproduces the run."""
    import copy
    import random

    if seed is None and config.seed is not None:
        return config
    seeded = copy.copy(config)
    seeded.seed = str(seed) if seed is not None else f"{random.random():.5f}"
    return seeded


def _data(config: PlaygroundConfig):
    """(raw_train, y_train, raw_test, y_test, X_train, X_test) as PlaygroundConfig.generate_data
    draws them, keeping the points' (x1, x2) for the picture."""
    from nnkit import datasets

    names = config.features()
    if not names:
        raise ValueError("the link enables no input feature (x, y, xTimesY, ... all false)")
    seed = config.seed_int()
    X, y = datasets.playground(config.data_name, config.n_samples, config.noise_fraction, seed=seed,
                               labels="pm1")
    raw_train, y_train, raw_test, y_test = datasets.playground_split(X, y, config.perc_train_data, seed=seed)
    X_train = datasets.playground_features(raw_train, names)
    X_test = datasets.playground_features(raw_test, names) if len(raw_test) else raw_test[:, :0]
    return raw_train, y_train, raw_test, y_test, X_train, X_test


def _print_header(config, model, n_train, n_test, epochs, warnings, out):
    shape = " -> ".join([str(len(config.features()))] + [str(w) for w in config.network_shape] + ["1"])
    output = "tanh" if config.problem == "classification" else "linear"
    reg = ("none" if config.regularization == "none"
           else f"{config.regularization} rate {config.regularization_rate}")
    print(f"Playground: {config.problem} of {config.data_name}, noise {config.noise}%, "
          f"{n_train} train / {n_test} test points, seed {config.seed!r}", file=out)
    print(f"features {', '.join(config.features())}; network {shape} ({config.activation} hidden, "
          f"{output} output); learning rate {config.learning_rate}, batch {config.batch_size}, "
          f"regularization {reg}, init {'zeros' if config.init_zero else 'U(-0.5, 0.5), bias 0.1'}; "
          f"{epochs} epochs on {model.backend.name}", file=out)
    for warning in warnings:
        print(f"note: {warning}", file=out)


# ----------------------------------------------------------------------------------------------
# the picture


def plot_playground(result: PlaygroundResult, path, resolution: int = 100, show_test: bool = True):
    """Save the Playground's picture: the output as a heatmap over [-6, 6]^2 with the train points
    (white edges) and the test points (black edges), labels coloured orange (-1) to blue (+1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap

    from nnkit.datasets import playground_features

    config = result.config
    grid = np.linspace(DOMAIN[0], DOMAIN[1], resolution)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    values = result.model.predict(playground_features(points, config.features()))[:, 0].reshape(gx.shape)
    if config.discretize and config.problem == "classification":
        values = np.where(values >= 0, 1.0, -1.0)
    # the Playground's colours: orange for -1, white for 0, blue for +1
    cmap = LinearSegmentedColormap.from_list("playground", ["#f59322", "#e8eaeb", "#0877bd"])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    image = ax.imshow(values, origin="lower", extent=(*DOMAIN, *DOMAIN), cmap=cmap, vmin=-1, vmax=1,
                      interpolation="bilinear")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)

    train_xy = result.raw_train
    ax.scatter(train_xy[:, 0], train_xy[:, 1], c=result.y_train, cmap=cmap, vmin=-1, vmax=1, s=14,
               edgecolors="white", linewidths=0.6, label="train")
    if show_test and len(result.y_test):
        test_xy = result.raw_test
        ax.scatter(test_xy[:, 0], test_xy[:, 1], c=result.y_test, cmap=cmap, vmin=-1, vmax=1, s=14,
                   edgecolors="black", linewidths=0.6, label="test")
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
    """``nnkit playground URL [--epochs N] [--plot FILE] [--backend NAME] ...``."""
    parser.add_argument("url", help="a TensorFlow Playground link as pasted (quote it: it holds '&')")
    parser.add_argument("--epochs", type=int, default=300, help="passes over the training set (default 300)")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="save the decision-boundary heatmap with the train and test points")
    parser.add_argument("--backend", default="numpy", help="numpy | numba | cupy | auto (default numpy)")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--every", type=int, default=None, help="print the losses every N epochs")
    parser.add_argument("--seed", type=int, default=None, help="override the link's seed")


def run(args) -> int:
    """Run the link of ``args`` and print its losses; 2 on a bad link, 0 otherwise."""
    try:
        config = parse_playground_url(args.url)
    except ValueError as exc:
        print(f"nnkit playground: {exc}", file=sys.stderr)
        return 2
    if args.epochs < 0:
        print(f"nnkit playground: --epochs must be >= 0, got {args.epochs}", file=sys.stderr)
        return 2
    result = run_playground(config, epochs=args.epochs, backend=args.backend, dtype=args.dtype,
                            print_every=args.every, seed=args.seed)
    print(f"final: train loss {result.train_loss:.6f}, test loss {result.test_loss:.6f}")
    if result.dead_weights:
        print(f"L1 set {result.dead_weights} weights to 0 for good")
    if args.plot:
        plot_playground(result, args.plot)
        print(f"saved the heatmap to {args.plot}")
    return 0
