"""Learning-rate schedules: lr = schedule(step), evaluated on the host once per optimizer step.

``step`` is the 0-based count of optimizer steps already taken, so ``schedule(0)`` is the rate of
the first update. The lecture's learning-rate decay in its usual forms: step decay (torch's
StepLR), exponential and inverse-time decay, and cosine decay with a linear warm-up (Keras).
"""

from __future__ import annotations

import math
import operator

from nnkit._config import Configurable

__all__ = [
    "Schedule",
    "StepDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "from_config",
    "get",
]


def _number(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """``value`` as a finite float inside the given bounds, else a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (x < low or (low_open and x == low)):
        raise ValueError(f"{name}: expected a number {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ValueError(f"{name}: expected a number {'<' if high_open else '<='} {high}, got {value!r}")
    return x


def _integer(name: str, value, minimum: int) -> int:
    """``value`` as an int >= minimum, else an error naming it."""
    kind = "a positive integer" if minimum == 1 else "a non-negative integer"
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected {kind}, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected {kind}, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name}: expected {kind}, got {value!r}")
    return n


def _positive_int(name: str, value) -> int:
    return _integer(name, value, 1)


def _step(step) -> int:
    return _integer("step", step, 0)


class Schedule(Configurable):
    """Base class: ``schedule(step) -> float``; ``get_config()`` and ``from_config(config)``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> "Schedule":
        """Rebuild a schedule from ``get_config()``; on the base class ``"class"`` picks the type."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict, got {type(config).__name__}")
        args = dict(config)
        name = args.pop("class", None)
        target = cls
        if cls is Schedule:
            if name not in _SCHEDULES:
                raise ValueError(f"config['class']: expected one of {sorted(_SCHEDULES)}, got {name!r}")
            target = _SCHEDULES[name]
        elif name is not None and name != cls.__name__:
            raise ValueError(f"config['class']: expected {cls.__name__!r}, got {name!r}")
        return target(**args)



class StepDecay(Schedule):
    """lr = initial_lr * gamma^floor(step / step_size) (torch's StepLR).

    Parameters
    ----------
    initial_lr: the rate of the first ``step_size`` steps.
    step_size: steps between two decays.
    gamma: factor applied at each decay.
    """

    def __init__(self, initial_lr: float, step_size: int, gamma: float = 0.1):
        self.initial_lr = _number("initial_lr", initial_lr, low=0.0)
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _number("gamma", gamma, low=0.0, low_open=True)

    def __call__(self, step: int) -> float:
        return self.initial_lr * self.gamma ** (_step(step) // self.step_size)

    def _args(self) -> dict:
        return {"initial_lr": self.initial_lr, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """lr = initial_lr * decay_rate^(step / decay_steps), the exponent floored when ``staircase``.

    Parameters
    ----------
    initial_lr: the rate at step 0.
    decay_rate: factor applied every ``decay_steps`` steps.
    decay_steps: steps over which the rate is multiplied by ``decay_rate`` once.
    staircase: decay in whole steps of ``decay_steps`` rather than smoothly.
    """

    def __init__(self, initial_lr: float, decay_rate: float, decay_steps: int = 1,
                 staircase: bool = False):
        self.initial_lr = _number("initial_lr", initial_lr, low=0.0)
        self.decay_rate = _number("decay_rate", decay_rate, low=0.0, low_open=True)
        self.decay_steps = _positive_int("decay_steps", decay_steps)
        self.staircase = _flag("staircase", staircase)

    def __call__(self, step: int) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_lr * self.decay_rate**p

    def _args(self) -> dict:
        return {"initial_lr": self.initial_lr, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "staircase": self.staircase}


class InverseTimeDecay(Schedule):
    """lr = initial_lr / (1 + decay_rate * step / decay_steps), the ratio floored when ``staircase``.

    Parameters
    ----------
    initial_lr: the rate at step 0.
    decay_rate: how fast the rate falls.
    decay_steps: the unit of ``step`` in the formula.
    staircase: decay in whole steps of ``decay_steps`` rather than smoothly.
    """

    def __init__(self, initial_lr: float, decay_rate: float, decay_steps: int = 1,
                 staircase: bool = False):
        self.initial_lr = _number("initial_lr", initial_lr, low=0.0)
        self.decay_rate = _number("decay_rate", decay_rate, low=0.0)
        self.decay_steps = _positive_int("decay_steps", decay_steps)
        self.staircase = _flag("staircase", staircase)

    def __call__(self, step: int) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_lr / (1.0 + self.decay_rate * p)

    def _args(self) -> dict:
        return {"initial_lr": self.initial_lr, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "staircase": self.staircase}


class CosineDecay(Schedule):
    """Cosine decay with an optional linear warm-up, as keras.optimizers.schedules.CosineDecay.

    Without a warm-up: lr = initial_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)
    with s = min(step, decay_steps). With ``warmup_target``: lr rises linearly from initial_lr to
    warmup_target over ``warmup_steps`` steps, then decays by the same cosine from warmup_target to
    alpha * warmup_target over ``decay_steps`` more steps, and stays there.

    Parameters
    ----------
    initial_lr: the rate at step 0.
    decay_steps: steps of the cosine part.
    alpha: the final rate as a fraction of the rate the cosine starts from.
    warmup_steps: steps of the linear warm-up (needs ``warmup_target``).
    warmup_target: the rate reached at the end of the warm-up; None for no warm-up.
    """

    def __init__(self, initial_lr: float, decay_steps: int, alpha: float = 0.0,
                 warmup_steps: int = 0, warmup_target: float | None = None):
        self.initial_lr = _number("initial_lr", initial_lr, low=0.0)
        self.decay_steps = _positive_int("decay_steps", decay_steps)
        self.alpha = _number("alpha", alpha, low=0.0, high=1.0)
        if isinstance(warmup_steps, bool):
            raise TypeError(f"warmup_steps: expected a non-negative integer, got {warmup_steps!r}")
        try:
            self.warmup_steps = operator.index(warmup_steps)
        except TypeError:
            raise TypeError(f"warmup_steps: expected a non-negative integer, got {warmup_steps!r}") from None
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected a non-negative integer, got {warmup_steps!r}")
        if warmup_target is None:
            # Keras would silently ignore the warm-up here; a warm-up to nowhere is a mistake.
            if self.warmup_steps:
                raise ValueError(f"warmup_steps: {warmup_steps} needs warmup_target, got None")
            self.warmup_target = None
        else:
            self.warmup_target = _number("warmup_target", warmup_target, low=0.0)

    def __call__(self, step: int) -> float:
        s = _step(step)
        if self.warmup_target is None:
            return self._cosine(min(s, self.decay_steps), self.initial_lr)
        if s < self.warmup_steps:
            fraction = s / self.warmup_steps
            return self.initial_lr + (self.warmup_target - self.initial_lr) * fraction
        s = min(s - self.warmup_steps, self.decay_steps)
        return self._cosine(s, self.warmup_target)

    def _cosine(self, s: int, start: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def _args(self) -> dict:
        return {"initial_lr": self.initial_lr, "decay_steps": self.decay_steps, "alpha": self.alpha,
                "warmup_steps": self.warmup_steps, "warmup_target": self.warmup_target}


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


_SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, InverseTimeDecay, CosineDecay)}


def from_config(config: dict) -> Schedule:
    """The schedule that ``config`` (from ``get_config()``, with its ``"class"``) describes."""
    return Schedule.from_config(config)


def get(obj):
    """A schedule from an instance (returned as is), a ``get_config()`` dict, or any callable."""
    if isinstance(obj, Schedule):
        return obj
    if isinstance(obj, dict):
        return from_config(obj)
    if isinstance(obj, str):
        raise ValueError(
            f"schedule: a name alone sets no rates, got {obj!r}; pass an instance of one of "
            f"{sorted(_SCHEDULES)} or its get_config() dict"
        )
    if callable(obj):
        return obj
    raise TypeError(f"schedule: expected a Schedule, a config dict or a callable, got {type(obj).__name__}")
