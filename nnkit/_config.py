"""What optimizers, schedules and regularizers share: a config of their constructor arguments."""

from __future__ import annotations


class Configurable:
    """An object described by ``get_config()``: {"class": name, **constructor arguments}.

    Subclasses return their arguments from ``_args()``; equality and repr follow from them.
    """

    def _args(self) -> dict:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor arguments plus ``"class"`` (JSON-serialisable)."""
        return {"class": type(self).__name__, **self._args()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._args() == self._args()

    __hash__ = None


def split_config(config, classes: dict) -> tuple[type, dict]:
    """(class, constructor arguments) for ``config``, the class taken from the allow-list ``classes``."""
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    args = dict(config)
    name = args.pop("class", None)
    if name not in classes:
        raise ValueError(f"config['class']: expected one of {sorted(classes)}, got {name!r}")
    return classes[name], args
