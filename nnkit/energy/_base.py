"""What every meter shares: the base class, the polling thread, the error and the TDP table."""

from __future__ import annotations

import threading
from typing import Callable

METHODS = ("auto", "nvml", "rapl", "estimate")

# CodeCarbon's figure for a CPU model it does not know (codecarbon/external/hardware.py).
DEFAULT_TDP_WATTS = 85.0

# Manufacturer TDP (W) keyed on a substring of /proc/cpuinfo's "model name"; the longest matching
# key wins, so "6248R" is not read as "6248". Deliberately small: unknown models get 85 W.
CPU_TDP_WATTS = {
    "Xeon(R) Platinum 8480": 350.0,
    "Xeon(R) Platinum 8380": 270.0,
    "Xeon(R) Gold 6248R": 205.0,
    "Xeon(R) Gold 6248": 150.0,
    "Xeon(R) CPU E5-2690 v4": 135.0,
    "EPYC 9654": 360.0,
    "EPYC 7763": 280.0,
    "EPYC 7742": 225.0,
    "EPYC 7543": 225.0,
    "i9-13900K": 125.0,
    "i7-12700K": 125.0,
    "i5-12400": 65.0,
    "Ryzen 9 7950X": 170.0,
    "Ryzen 9 5950X": 105.0,
}


class MeterUnavailable(RuntimeError):
    """A meter cannot read its source here; the message says why and what would fix it."""


class _Meter:
    """A meter: ``start()``, then ``stop() -> joules since start``; reusable; ``close()``."""

    method = ""
    is_estimate = False

    def __init__(self):
        # Why better sources were passed over, filled by make_meter.
        self.fallbacks: list[str] = []
        # Things that happened while measuring (dropped wrap-arounds, zero counter deltas, ...).
        self.notes: list[str] = []

    def assumptions(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release the source (NVML handle, polling thread)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Poller:
    """Calls ``fn`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], None], interval: float):
        self._fn, self._interval = fn, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nnkit-energy", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self._interval):
            self._fn()

    def stop(self):
        self._stop.set()
        self._thread.join()


def _trapezoid(samples) -> float:
    """Integral of power over time: J = sum (t[i+1] - t[i]) x (P[i] + P[i+1]) / 2."""
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))
