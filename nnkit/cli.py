"""The command line: nnkit info | train | playground | bench | demo.

``train`` and ``info`` live here; ``playground``, ``bench`` and ``demo`` are defined by their own
modules (nnkit.playground, nnkit.bench, nnkit.demos), each exposing ``configure_parser(parser)``
and ``run(args) -> int``, imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time

SUBCOMMAND_MODULES = {
    "playground": ("nnkit.playground", "run a TensorFlow Playground link the Playground's way"),
    "bench": ("nnkit.bench", "throughput and energy of the reference workloads per backend"),
    "demo": ("nnkit.demos", "the lecture's demonstrations"),
}

TRAIN_DATASETS = ("circle", "xor", "gauss", "spiral", "reg-plane", "reg-gauss", "digits")
TRAIN_BACKENDS = ("auto", "numpy", "numba", "cupy")
# the activations a hidden Dense layer takes (nnkit.ops.ACTIVATION_NAMES less softmax, which
# belongs on an output layer)
TRAIN_ACTIVATIONS = ("step", "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
                     "silu")
TRAIN_OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop")
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
# a progress line every epochs / PROGRESS_LINES epochs when the output is not a terminal
PROGRESS_LINES = 10


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 8,8, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive layer widths like 8,8, got {text!r}")
    return values


def _number(kind, low=None, high=None, low_open=False, high_open=False, what=None):
    """An argparse type: ``kind`` (int or float) in [low, high] (open where asked), finite."""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    if what is None:
        if high is None:
            what = f"{'an int' if kind is int else 'a number'} {'>' if low_open else '>='} {low}"
        else:
            what = f"{'an int' if kind is int else 'a number'} in {lo}{low}, {high}{hi}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="spiral", choices=TRAIN_DATASETS,
                   help="a TensorFlow Playground data set, or scikit-learn's digits (needs the sklearn extra)")
    p.add_argument("--samples", type=_number(int, 10), default=500,
                   help="points for the Playground data sets")
    p.add_argument("--noise", type=_number(float, 0.0, 0.5), default=0.0,
                   help="Playground noise, a fraction of the data's scale")
    p.add_argument("--hidden", type=_int_list, default="16,16", help="hidden layer widths, e.g. 8,8")
    p.add_argument("--activation", default="tanh", choices=TRAIN_ACTIVATIONS, help="the hidden layers' activation")
    p.add_argument("--optimizer", default="adam", choices=TRAIN_OPTIMIZERS, help="the optimizer")
    p.add_argument("--lr", type=_number(float, 0.0, low_open=True), default=0.01, help="the learning rate")
    p.add_argument("--momentum", type=_number(float, 0.0, 1.0, high_open=True), default=None,
                   help=f"momentum of {' or '.join(MOMENTUM_OPTIMIZERS)} (None: the optimizer's, 0)")
    p.add_argument("--batch-size", type=_number(int, 1), default=10, help="samples per gradient step")
    p.add_argument("--epochs", type=_number(int, 1), default=300, help="passes over the training set")
    p.add_argument("--test-fraction", type=_number(float, 0.0, 1.0, low_open=True, high_open=True),
                   default=0.3, help="the share of the samples held out for the test accuracy")
    p.add_argument("--backend", default="auto", choices=TRAIN_BACKENDS,
                   help="auto: cupy where a GPU is usable, else numba where installed, else numpy "
                        "(the Python API's default is numpy; pass backend='auto' there)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="the arrays' float type")
    p.add_argument("--seed", type=_number(int, 0), default=0, help="seed of the data, the weights and the shuffles")
    p.add_argument("--save", default=None, metavar="FILE", help="write the trained model to this file (.npz)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                   help="0 silent; 1 a progress bar on a terminal, else about 10 lines; 2 a line per epoch")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks: mpiexec -n N nnkit train --distributed")


def _check_train(parser: argparse.ArgumentParser, args) -> None:
    """What a single option's type cannot see: combinations, files, installed packages."""
    from nnkit import _deps

    if args.momentum is not None and args.optimizer not in MOMENTUM_OPTIMIZERS:
        parser.error(f"argument --momentum: {args.optimizer} has no momentum; it takes "
                     f"--optimizer {' or '.join(MOMENTUM_OPTIMIZERS)}, got --optimizer {args.optimizer}")
    if args.dataset == "digits" and not _deps.is_installed("sklearn"):
        parser.error("argument --dataset: " + _deps.missing_message("sklearn", "--dataset digits"))
    if args.dataset != "digits":
        n_test = int(round(args.samples * args.test_fraction))
        if n_test < 1 or n_test >= args.samples:
            parser.error(f"argument --test-fraction: {args.test_fraction} of {args.samples} samples leaves "
                         f"{n_test} test and {args.samples - n_test} training samples; both need at least one")
    if args.backend == "numba" and not _deps.is_installed("numba"):
        parser.error("argument --backend: " + _deps.missing_message("numba", "--backend numba"))
    if args.backend == "cupy":
        from nnkit.backend import _gpu_usable

        ok, why = _gpu_usable()
        if not ok:
            parser.error(f"argument --backend: cupy is not usable here: {why}")
    if args.distributed and not _deps.is_installed("mpi4py"):
        parser.error("argument --distributed: " + _deps.missing_message("mpi4py", "--distributed"))
    if args.save is not None:
        folder = os.path.dirname(os.path.abspath(args.save))
        if os.path.isdir(args.save):
            parser.error(f"argument --save: expected a file name, got the folder {args.save!r}")
        if not os.path.isdir(folder):
            parser.error(f"argument --save: the folder {folder!r} does not exist")
        if not os.access(folder, os.W_OK):
            parser.error(f"argument --save: the folder {folder!r} is not writable")


def _train_data(args):
    import numpy as np

    from nnkit import datasets

    if args.dataset == "digits":
        X_train, y_train, X_test, y_test = datasets.digits(return_split=True, test_fraction=args.test_fraction,
                                                           seed=args.seed)
        return X_train, y_train, X_test, y_test, "classes", 10
    X, y = datasets.playground(args.dataset, n_samples=args.samples, noise=args.noise, seed=args.seed, labels="01")
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(X))
    n_test = int(round(len(X) * args.test_fraction))
    test, train = order[:n_test], order[n_test:]
    kind = "regression" if args.dataset.startswith("reg-") else "binary"
    return X[train], y[train], X[test], y[test], kind, 1


def _backend_and_why(name: str):
    """The backend ``name`` resolves to and one phrase saying why it was chosen."""
    import nnkit as nk
    from nnkit.backend import _gpu_usable

    backend = nk.get_backend(name)
    if name != "auto":
        return backend, "asked for with --backend"
    if backend.name == "cupy":
        return backend, "auto: a usable GPU"
    why_not_gpu = _gpu_usable()[1]
    if backend.name == "numba":
        return backend, f"chosen by --backend auto: numba is installed; no GPU: {why_not_gpu}"
    return backend, f"chosen by --backend auto: numba is not installed; no GPU: {why_not_gpu}"


def _sparse_progress(epochs: int):
    """A fit callback printing about PROGRESS_LINES lines over the run (output not a terminal)."""
    from nnkit.callbacks import Callback

    every = max(1, epochs // PROGRESS_LINES)

    class SparseProgress(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % every == 0 or epoch + 1 == epochs:
                text = " - ".join(f"{k}: {v:.4g}" for k, v in (logs or {}).items() if k != "samples")
                print(f"Epoch {epoch + 1}/{epochs} - {text}", flush=True)

    return SparseProgress()


def _model(args, kind, backend):
    import nnkit as nk

    layers = [nk.layers.Dense(w, activation=args.activation) for w in args.hidden]
    if kind == "classes":
        layers.append(nk.layers.Dense(10, activation="softmax"))
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    elif kind == "binary":
        layers.append(nk.layers.Dense(1, activation="sigmoid"))
        loss, metrics = "binary_crossentropy", ["accuracy"]
    else:
        layers.append(nk.layers.Dense(1))
        loss, metrics = "mse", ["mae"]
    model = nk.Sequential(layers, backend=backend, dtype=args.dtype, seed=args.seed)
    optimizer = nk.optimizers.get(args.optimizer)
    optimizer.lr = args.lr
    if args.momentum is not None:
        optimizer.momentum = args.momentum
    model.compile(optimizer, loss, metrics)
    return model


def run_train(args) -> int:
    """Train a network on a data set and print train/test loss and accuracy."""
    started = time.perf_counter()
    root = True
    if args.distributed:
        from nnkit.distributed import cli_setup

        root = cli_setup()  # checks MPI; ranks other than 0 print nothing
    X_train, y_train, X_test, y_test, kind, n_out = _train_data(args)
    backend, why = _backend_and_why(args.backend)
    model = _model(args, kind, backend)
    print(f"nnkit train: {args.dataset}, {len(X_train)} train / {len(X_test)} test samples, "
          f"hidden {','.join(map(str, args.hidden))} {args.activation}, {args.optimizer} lr={args.lr}, "
          f"batch {args.batch_size}, {args.epochs} epochs, {args.dtype}")
    print(f"backend: {backend.name} ({why})")
    if backend.name == "numba":
        model.build(X_train.shape[1])
        seconds = model.warmup(args.batch_size)
        print(f"numba: the training step took {seconds:.1f} s to compile or load (the first run in an "
              "environment compiles it; later runs load it from the cache)", flush=True)
    verbose, callbacks = args.verbose, None
    if verbose == 1 and not sys.stdout.isatty():
        verbose, callbacks = 0, [_sparse_progress(args.epochs)]
    model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=verbose,
              callbacks=callbacks, seed=args.seed, distributed=args.distributed)
    train = model.evaluate(X_train, y_train)
    test = model.evaluate(X_test, y_test)
    for name, result in (("train", train), ("test", test)):
        print(f"{name}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if args.save and root:
        model.save(args.save)
        print(f"saved to {args.save}")
    metric = "accuracy" if "accuracy" in test else "mae"
    print(f"done in {time.perf_counter() - started:.1f} s on {backend.name}: train {metric} "
          f"{train[metric]:.4f}, test {metric} {test[metric]:.4f}")
    return 0


def run_info(args) -> int:
    """Backends, their kernels, the BLAS in use and thread counts."""
    import platform

    import numpy as np

    import nnkit as nk
    from nnkit.backend import _why_not

    print(f"nnkit {nk.__version__}, Python {platform.python_version()}, NumPy {np.__version__}")
    names = nk.available_backends()
    print(f"available backends: {', '.join(names)}")
    for name, why in _why_not.items():
        print(f"  {name}: unavailable ({why})")
    for name in names:
        be = nk.get_backend(name)
        fused = sorted(be.kernels)
        print(f"backend {name}: {len(fused)} fused kernels" + (f": {', '.join(fused)}" if fused else ""))
        if name == "numba":
            import numba

            print(f"  numba {numba.__version__}, threads {numba.get_num_threads()}, "
                  f"threading layer {numba.config.THREADING_LAYER}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"thread pool: {pool.get('internal_api')} {pool.get('version')} "
                  f"architecture={pool.get('architecture')} threads={pool.get('num_threads')} "
                  f"({pool.get('filepath')})")
    except ImportError:
        print("threadpoolctl not installed: BLAS details unknown")
    return 0


def _version() -> str:
    from nnkit import __version__

    return f"nnkit {__version__}"


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line: what was wrong and where to read the options."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def _parser(**kwargs) -> argparse.ArgumentParser:
    return _Parser(formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _parser(prog="nnkit", description="Neural networks trained by backpropagation.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _configure_train(sub.add_parser("train", help="train a network on a data set",
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                    description="Train a network on a data set; prints the backend, the "
                                                "time and the final train/test accuracy."))
    sub.add_parser("info", help="backends, kernels, BLAS and threads")
    for name, (module_name, help_text) in SUBCOMMAND_MODULES.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(_module=module_name)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _check_plot(parser: argparse.ArgumentParser, argv) -> None:
    """``--plot`` of playground and demo needs matplotlib: say so before any work starts."""
    from nnkit import _deps

    if any(a == "--plot" or a.startswith("--plot=") for a in argv) and not _deps.is_installed("matplotlib"):
        parser.error("argument --plot: " + _deps.missing_message("matplotlib", "--plot"))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in SUBCOMMAND_MODULES:
        module_name, help_text = SUBCOMMAND_MODULES[argv[0]]
        module = importlib.import_module(module_name)
        sub = _parser(prog=f"nnkit {argv[0]}", description=help_text)
        module.configure_parser(sub)
        _check_plot(sub, argv[1:])
        args = sub.parse_args(argv[1:])
        check = getattr(module, "check_args", None)  # combinations a single option cannot check
        if check is not None:
            check(sub, args)
        return int(module.run(args) or 0)
    args = parser.parse_args(argv)
    if args.command == "train":
        _check_train(_subparser(parser, "train"), args)
        return run_train(args)
    return run_info(args)


if __name__ == "__main__":
    sys.exit(main())
