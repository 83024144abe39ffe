"""EstimateMeter: a CPU power model where no counter is readable, always labelled an estimate."""

from __future__ import annotations

import math
import os
import time
from typing import Callable

from nnkit.energy._base import CPU_TDP_WATTS, DEFAULT_TDP_WATTS, _Meter


def _process_cpu_seconds() -> float:
    """CPU seconds of this process (all threads, µs resolution) and its waited-for children."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def cpu_tdp(cpuinfo: str = "/proc/cpuinfo") -> tuple[float, str]:
    """TDP (W) of this CPU and where it came from: the table entry whose key is the longest
    substring of /proc/cpuinfo's model name, else 85 W (CodeCarbon's default)."""
    model = None
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if model is None:
        return DEFAULT_TDP_WATTS, (f"CPU model unknown ({cpuinfo} unreadable): default "
                                   f"{DEFAULT_TDP_WATTS:g} W (CodeCarbon's)")
    hits = [k for k in CPU_TDP_WATTS if k.lower() in model.lower()]
    if not hits:
        return DEFAULT_TDP_WATTS, (f"CPU model {model!r} not in the TDP table: default "
                                   f"{DEFAULT_TDP_WATTS:g} W (CodeCarbon's)")
    key = max(hits, key=len)
    return CPU_TDP_WATTS[key], f"TDP of {model!r} from the table entry {key!r}"


class EstimateMeter(_Meter):
    """A CPU power model, not a measurement: P = TDP x CPU seconds / (wall seconds x n_cpus).

    The model charges this process its share of the package's TDP (CodeCarbon's process-tracking
    mode), the share read from ``time.process_time`` (user + system of every thread of this
    process) plus ``os.times`` for its waited-for children. It is linear, so the shares of all
    processes add up to TDP at full load.

    Parameters
    ----------
    tdp_watts:
        Package power at full load; None looks the CPU up in ``CPU_TDP_WATTS`` (85 W if unknown).
    n_cpus:
        CPUs the TDP covers; None takes the CPUs this machine shows (``os.cpu_count()``).
    """

    method = "estimate"
    is_estimate = True

    def __init__(self, tdp_watts: float | None = None, *, n_cpus: int | None = None,
                 cpuinfo: str = "/proc/cpuinfo", cpu_seconds: Callable[[], float] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        if tdp_watts is None:
            self.tdp_watts, self.tdp_source = cpu_tdp(cpuinfo)
        else:
            tdp_watts = float(tdp_watts)
            if not (math.isfinite(tdp_watts) and tdp_watts > 0):
                raise ValueError("tdp_watts: expected a positive number of watts, "
                                 f"got {tdp_watts!r}")
            self.tdp_watts, self.tdp_source = tdp_watts, f"TDP {tdp_watts:g} W given by the user"
        self.n_cpus = int(n_cpus or os.cpu_count() or 1)
        self._cpu_seconds = cpu_seconds or _process_cpu_seconds
        self._clock = clock
        self.load = None

    def start(self) -> None:
        self._cpu0, self._t0 = self._cpu_seconds(), self._clock()

    def stop(self) -> float:
        cpu = self._cpu_seconds() - self._cpu0
        wall = self._clock() - self._t0
        if wall <= 0:
            self.load = 0.0
            return 0.0
        self.load = min(max(cpu / (wall * self.n_cpus), 0.0), 1.0)
        return self.tdp_watts * self.load * wall

    def assumptions(self) -> str:
        load = "" if self.load is None else f" (last window: share {self.load:.3f})"
        return (f"ESTIMATE, not a measurement: CPU power modelled as P = TDP x process CPU share, "
                f"share = CPU seconds of this process / (wall seconds x {self.n_cpus} CPUs) from "
                f"process_time{load}; {self.tdp_source}; assumes the TDP covers the {self.n_cpus} "
                "visible CPUs and power is linear in load; excludes other processes, the idle "
                "baseline, DRAM, GPU, PSU and cooling")
