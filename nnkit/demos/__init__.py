"""``nnkit demo NAME``: the lecture's topics, each a short run that prints what it shows.

Every demo is a module here with ``DESCRIPTION`` (one line) and
``demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict``: it prints its story,
returns its numbers (tests read them) and, with ``plot_dir``, writes PNG figures there and lists
their paths under "figures". matplotlib is imported only when a figure is asked for.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["DEMOS", "configure_parser", "run", "run_demo", "describe"]

# name -> module under nnkit.demos; order is the lecture's
DEMOS = {
    "perceptron": "perceptron",
    "gradient-descent": "gradient_descent",
    "backprop": "backprop",
    "sgd": "sgd",
    "optimizers": "optimizers",
    "regularization": "regularization",
    "playground": "playground",
    "vanishing": "vanishing",
    "rnn": "rnn",
    "adversarial": "adversarial",
    "cnn": "cnn",
    "cnn-fooling": "cnn_fooling",
    "hebbian": "hebbian",
    "brain": "brain",
}


# the demos that train on scikit-learn's digits
NEEDS_SKLEARN = ("regularization", "vanishing", "adversarial", "hebbian")


def _missing(name: str, plot: bool):
    """The message for an optional package demo ``name`` needs and lacks, else None."""
    from nnkit import _deps

    if name in NEEDS_SKLEARN and not _deps.is_installed("sklearn"):
        return _deps.missing_message("sklearn", f"the {name} demo (scikit-learn's digits)")
    if plot and not _deps.is_installed("matplotlib"):
        return _deps.missing_message("matplotlib", "--plot")
    return None


def _module(name: str):
    if name not in DEMOS:
        raise ValueError(f"demo: unknown name {name!r}; expected one of {list(DEMOS)}")
    return importlib.import_module(f"nnkit.demos.{DEMOS[name]}")


def describe() -> str:
    """One line per demo: its name and what it shows."""
    width = max(map(len, DEMOS))
    return "\n".join(f"  {name:<{width}}  {_module(name).DESCRIPTION}" for name in DEMOS)


def run_demo(name: str, quick: bool = False, plot_dir=None, backend="numpy", seed: int = 0) -> dict:
    """Run demo ``name`` and return its results (``plot_dir``: where to write its figures)."""
    module = _module(name)
    missing = _missing(name, plot_dir is not None)
    if missing:
        from nnkit._deps import MissingDependency

        raise MissingDependency(missing)
    if plot_dir is not None:
        os.makedirs(plot_dir, exist_ok=True)
    return module.demo(quick=quick, plot_dir=None if plot_dir is None else os.fspath(plot_dir),
                       backend=backend, seed=seed)


def configure_parser(parser) -> None:
    parser.add_argument("name", nargs="?", default=None, metavar="NAME",
                        help="the demo to run; leave out to list them: " + ", ".join(DEMOS))
    parser.add_argument("--plot", metavar="DIR", default=None, help="write PNG figures to DIR (needs matplotlib)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds per demo")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "numba", "cupy", "auto"),
                        help="the backend the demo trains on")
    parser.add_argument("--seed", type=int, default=0, help="the demo's seed")


def check_args(parser, args) -> None:
    """Before any work: the demo exists and what it needs is installed (a usage error if not)."""
    if args.name is not None and args.name not in DEMOS:
        parser.error(f"argument NAME: expected one of {', '.join(DEMOS)}, got {args.name!r}")
    missing = None if args.name is None else _missing(args.name, args.plot is not None)
    if missing:
        parser.error(f"argument {'--plot' if 'matplotlib' in missing else 'NAME'}: {missing}")


def run(args) -> int:
    if args.name is None:
        print("nnkit demo NAME [--plot DIR] [--quick] [--backend B]: the lecture's demonstrations\n")
        print(describe())
        return 0
    if args.name not in DEMOS:
        print(f"nnkit demo: unknown demo {args.name!r}; the demos are:\n{describe()}")
        return 2
    result = run_demo(args.name, quick=args.quick, plot_dir=args.plot, backend=args.backend, seed=args.seed)
    for path in result.get("figures", []):
        print(f"wrote {path}")
    return 0


def figure(plot_dir, filename: str) -> str | None:
    """The path of a figure in ``plot_dir`` (None when no figures were asked for)."""
    return None if plot_dir is None else os.path.join(plot_dir, filename)
