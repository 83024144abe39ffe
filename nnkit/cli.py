"""The command line: nnkit info | train | playground | bench | demo.

``train`` and ``info`` live here; ``playground``, ``bench`` and ``demo`` are defined by their own
modules (nnkit.playground, nnkit.bench, nnkit.demos), each exposing ``configure_parser(parser)``
and ``run(args) -> int``, imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = {
    "playground": ("nnkit.playground", "run a TensorFlow Playground link the Playground's way"),
    "bench": ("nnkit.bench", "throughput and energy of the reference workloads per backend"),
    "demo": ("nnkit.demos", "the lecture's demonstrations"),
}

TRAIN_DATASETS = ("circle", "xor", "gauss", "spiral", "reg-plane", "reg-gauss", "digits")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 8,8, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return values


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="spiral", choices=TRAIN_DATASETS)
    p.add_argument("--samples", type=int, default=500, help="points for the Playground data sets")
    p.add_argument("--noise", type=float, default=0.0, help="Playground noise, a fraction 0..0.5")
    p.add_argument("--hidden", type=_int_list, default=[8, 8], help="hidden widths, e.g. 8,8")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--test-fraction", type=float, default=0.3)
    p.add_argument("--backend", default="auto")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the trained model to this file")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks: mpiexec -n N nnkit train --distributed")


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


def run_train(args) -> int:
    """Train a network on a data set and print train/test loss and accuracy."""
    import nnkit as nk

    root = True
    if args.distributed:
        from nnkit.distributed import cli_setup

        root = cli_setup()  # checks MPI; ranks other than 0 print nothing
    X_train, y_train, X_test, y_test, kind, n_out = _train_data(args)
    backend = nk.get_backend(args.backend)
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
    if args.momentum and hasattr(optimizer, "momentum"):
        optimizer.momentum = args.momentum
    model.compile(optimizer, loss, metrics)
    print(f"nnkit train: {args.dataset}, {len(X_train)} train / {len(X_test)} test samples, "
          f"hidden {args.hidden} {args.activation}, {args.optimizer} lr={args.lr}, batch {args.batch_size}, "
          f"backend {backend.name}, {args.dtype}")
    model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose,
              seed=args.seed, distributed=args.distributed)
    train = model.evaluate(X_train, y_train)
    test = model.evaluate(X_test, y_test)
    for name, result in (("train", train), ("test", test)):
        print(f"{name}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if args.save and root:
        model.save(args.save)
        print(f"saved to {args.save}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnkit", description="Neural networks trained by backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True)
    _configure_train(sub.add_parser("train", help="train a network on a data set"))
    sub.add_parser("info", help="backends, kernels, BLAS and threads")
    for name, (module_name, help_text) in SUBCOMMAND_MODULES.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(_module=module_name)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in SUBCOMMAND_MODULES:
        module_name, help_text = SUBCOMMAND_MODULES[argv[0]]
        module = importlib.import_module(module_name)
        sub = argparse.ArgumentParser(prog=f"nnkit {argv[0]}", description=help_text)
        module.configure_parser(sub)
        return int(module.run(sub.parse_args(argv[1:])) or 0)
    args = parser.parse_args(argv)
    if args.command == "train":
        return run_train(args)
    return run_info(args)


if __name__ == "__main__":
    sys.exit(main())
