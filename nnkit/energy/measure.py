"""measure() and measure_idle(): joules over a block of work, synchronised with the device."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from nnkit.energy._base import METHODS, MeterUnavailable, _Meter
from nnkit.energy.estimate import EstimateMeter
from nnkit.energy.nvml import NvmlMeter
from nnkit.energy.rapl import RaplMeter


class CompositeMeter(_Meter):
    """Several meters over one window, their joules summed (e.g. GPU boards + CPU packages)."""

    def __init__(self, meters):
        super().__init__()
        self.meters = list(meters)
        self.method = "+".join(m.method for m in self.meters)
        self.is_estimate = any(m.is_estimate for m in self.meters)

    def start(self) -> None:
        for m in self.meters:
            m.start()

    def stop(self) -> float:
        return sum(m.stop() for m in self.meters)

    def assumptions(self) -> str:
        return " | ".join(f"{m.method}: {m.assumptions()}" for m in self.meters)

    @property
    def _all_notes(self):
        return [n for m in self.meters for n in m.fallbacks + m.notes]

    def close(self) -> None:
        for m in self.meters:
            m.close()


def make_meter(method: str = "auto", *, tdp_watts: float | None = None, nvml: Any = None,
               rapl_root: str = "/sys/class/powercap", rapl_opener: Callable = open,
               cpuinfo: str = "/proc/cpuinfo", poll_interval: float | None = None):
    """The meter for ``method``. "auto" sums every hardware meter that works here (NVML GPUs and
    RAPL packages) and falls back to the estimate only when none does, recording each reason
    in ``meter.fallbacks``. A named method that cannot run raises MeterUnavailable."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    nvml_kw = {} if poll_interval is None else {"poll_interval": poll_interval}
    rapl_kw = {} if poll_interval is None else {"poll_interval": max(poll_interval, 0.5)}
    if method == "nvml":
        return NvmlMeter(nvml=nvml, **nvml_kw)
    if method == "rapl":
        return RaplMeter(rapl_root, opener=rapl_opener, **rapl_kw)
    if method == "estimate":
        return EstimateMeter(tdp_watts, cpuinfo=cpuinfo)
    meters, reasons = [], []
    for factory in (lambda: NvmlMeter(nvml=nvml, **nvml_kw),
                    lambda: RaplMeter(rapl_root, opener=rapl_opener, **rapl_kw)):
        try:
            meters.append(factory())
        except MeterUnavailable as e:
            reasons.append(str(e))
    if not meters:
        meter = EstimateMeter(tdp_watts, cpuinfo=cpuinfo)
        meter.fallbacks.extend(reasons + ["no hardware meter: falling back to the CPU estimate"])
        return meter
    meter = meters[0] if len(meters) == 1 else CompositeMeter(meters)
    meter.fallbacks.extend(reasons)
    return meter


# -- measuring a block -----------------------------------------------------------------------
def _check_watts(name, value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number of watts or None, got {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number of watts >= 0, got {value!r}")
    return value


@dataclass
class Measurement:
    """Energy over one block; gross figures always, net (idle-subtracted) ones when idle_watts
    is known: net J = J - idle W x seconds."""

    method: str
    is_estimate: bool
    joules: float | None = None
    seconds: float | None = None
    idle_watts: float | None = None
    fallbacks: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    meter_assumptions: str = ""

    @property
    def watts(self) -> float | None:
        """Mean power, W = J / s."""
        if self.joules is None or not self.seconds:
            return None
        return self.joules / self.seconds

    @property
    def net_joules(self) -> float | None:
        """J - idle W x s (None without an idle figure)."""
        if self.joules is None or self.idle_watts is None:
            return None
        return self.joules - self.idle_watts * self.seconds

    @property
    def net_watts(self) -> float | None:
        if self.net_joules is None or not self.seconds:
            return None
        return self.net_joules / self.seconds

    @property
    def assumptions(self) -> str:
        """Every assumption behind the figure, as one text: scope, model, fallbacks, events."""
        parts = [self.meter_assumptions]
        if self.idle_watts is None:
            parts.append("gross energy: no idle baseline subtracted")
        else:
            parts.append(f"net energy subtracts an idle baseline of {self.idle_watts:g} W")
        parts += [f"fallback: {r}" for r in self.fallbacks]
        parts += [f"note: {n}" for n in self.notes]
        return "; ".join(p for p in parts if p)

    def joules_per_sample(self, samples: int, net: bool = False) -> float | None:
        """J / sample over ``samples`` samples (net J when ``net``)."""
        if not isinstance(samples, int) or samples <= 0:
            raise ValueError(f"samples: expected a positive int, got {samples!r}")
        j = self.net_joules if net else self.joules
        return None if j is None else j / samples

    def to_dict(self) -> dict:
        return {"joules": self.joules, "seconds": self.seconds, "watts": self.watts,
                "idle_watts": self.idle_watts, "net_joules": self.net_joules,
                "net_watts": self.net_watts, "method": self.method,
                "is_estimate": self.is_estimate, "assumptions": self.assumptions}


def _meter_notes(meter) -> tuple[list, list]:
    if isinstance(meter, CompositeMeter):
        return list(meter.fallbacks), meter._all_notes
    return list(meter.fallbacks), list(meter.notes)


class _Window:
    """Context manager behind ``measure``: sync, start; ... ; sync, stop."""

    def __init__(self, meter, sync, idle_watts, owns_meter):
        self.meter, self.sync, self.owns_meter = meter, sync, owns_meter
        self.result = Measurement(meter.method, meter.is_estimate, idle_watts=idle_watts)

    def __enter__(self) -> Measurement:
        if self.sync is not None:
            self.sync()  # earlier queued work belongs to no one in this block
        self._t0 = time.perf_counter()
        self.meter.start()
        return self.result

    def __exit__(self, *exc):
        try:
            if self.sync is not None:
                self.sync()
            joules = self.meter.stop()
            seconds = time.perf_counter() - self._t0
            r = self.result
            r.joules, r.seconds = float(joules), seconds
            r.fallbacks, r.notes = _meter_notes(self.meter)
            r.meter_assumptions = self.meter.assumptions()
        finally:
            if self.owns_meter:
                self.meter.close()
        return False


def measure(method: str = "auto", sync: Callable[[], Any] | None = None,
            idle_watts: float | None = None, tdp_watts: float | None = None, *,
            meter=None, **meter_kwargs) -> _Window:
    """``with measure() as m: ...`` then m.joules, m.seconds, m.watts, m.method, m.is_estimate,
    m.assumptions (and m.net_joules when ``idle_watts`` is given).

    ``sync`` (e.g. ``backend.synchronize``) is called before the start and the end readings.
    ``meter`` takes a ready meter (kept open); otherwise one is made by ``make_meter(method,
    tdp_watts=..., **meter_kwargs)`` and closed at the end.
    """
    if sync is not None and not callable(sync):
        raise TypeError(f"sync: expected a callable or None, got {type(sync).__name__}")
    idle_watts = _check_watts("idle_watts", idle_watts)
    owns = meter is None
    if owns:
        meter = make_meter(method, tdp_watts=tdp_watts, **meter_kwargs)
    return _Window(meter, sync, idle_watts, owns)


def measure_idle(seconds: float = 5.0, method: str = "auto", sync: Callable | None = None,
                 **kwargs) -> Measurement:
    """Measure power while this process sleeps for ``seconds``; its ``.watts`` is the idle
    baseline to pass as ``idle_watts``."""
    if not isinstance(seconds, (int, float)) or not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds: expected a positive finite number, got {seconds!r}")
    with measure(method, sync=sync, **kwargs) as m:
        time.sleep(seconds)
    return m


# -- the training callback -------------------------------------------------------------------
