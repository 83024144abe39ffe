"""Energy meters: joules over a block of work, each naming its method and its assumptions.

Three sources, best first:

* ``NvmlMeter``: the GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ,
  Volta and newer), else board power (``nvmlDeviceGetPowerUsage``, mW) sampled in a background
  thread and integrated by the trapezoid rule.
* ``RaplMeter``: the powercap counters ``<root>/intel-rapl:N/energy_uj`` of every CPU package
  (and its DRAM subzone where there is one), Intel and AMD alike, wrap-around corrected.
* ``EstimateMeter``: where neither is readable, a CPU power *model*, never a measurement:
  P = TDP x (CPU seconds of this process / (wall seconds x visible CPUs)), CodeCarbon's
  process-tracking mode, with TDP from a small table keyed on /proc/cpuinfo's model name
  (85 W when unknown, CodeCarbon's default) or a figure the user gives.

Usage::

    with nk.energy.measure(sync=backend.synchronize) as m:
        model.fit(X, y, epochs=5)
    m.joules, m.seconds, m.watts, m.method, m.is_estimate, m.assumptions

Device work is synchronised (``sync``) before each reading, so queued kernels are charged to the
block that launched them. ``measure_idle(seconds)`` gives the idle power to subtract
(net J = gross J - idle W x seconds); a Measurement reports both.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from nnkit.callbacks import Callback

__all__ = [
    "MeterUnavailable",
    "Measurement",
    "NvmlMeter",
    "RaplMeter",
    "EstimateMeter",
    "CompositeMeter",
    "EnergyMeter",
    "make_meter",
    "measure",
    "measure_idle",
    "cpu_tdp",
    "METHODS",
    "DEFAULT_TDP_WATTS",
    "CPU_TDP_WATTS",
]

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


# -- the meters ------------------------------------------------------------------------------
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


class NvmlMeter(_Meter):
    """GPU board energy through NVML: the total-energy counter where supported, else sampled power.

    Parameters
    ----------
    indices:
        GPU indices to meter (their energies are summed); None meters every GPU.
    nvml:
        The ``pynvml`` module (from nvidia-ml-py), or a stand-in with the same functions.
    poll_interval:
        Seconds between power samples when a GPU has no energy counter; None samples only at start
        and stop (and whenever ``sample()`` is called).
    clock:
        Monotonic clock in seconds, used to integrate sampled power.
    """

    def __init__(self, indices=None, *, nvml: Any = None, poll_interval: float | None = 0.1,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        if nvml is None:
            try:
                import pynvml as nvml  # lazily: nnkit.energy imports without nvidia-ml-py
            except ImportError as e:
                raise MeterUnavailable(f"NVML: nvidia-ml-py is not installed ({e}); "
                                       "pip install nvidia-ml-py") from e
        self._nvml = nvml
        self._error = getattr(nvml, "NVMLError", Exception)
        self._clock = clock
        self._poll_interval = poll_interval
        try:
            nvml.nvmlInit()
        except self._error as e:
            raise MeterUnavailable(f"NVML: nvmlInit failed ({e}): no NVIDIA driver or GPU") from e
        self._initialised = True
        try:
            count = nvml.nvmlDeviceGetCount()
            indices = list(range(count)) if indices is None else [int(i) for i in indices]
            self.indices, self._counter_handles, self._power_handles = [], [], []
            skipped = []
            for i in indices:
                try:
                    handle = nvml.nvmlDeviceGetHandleByIndex(i)
                except self._error as e:
                    raise MeterUnavailable(f"NVML: no GPU {i} ({count} found): {e}") from e
                try:
                    nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                    self._counter_handles.append(handle)
                    self.indices.append(i)
                    continue
                except self._error as e:
                    reason = f"GPU {i}: no total-energy counter ({e}; needs Volta or newer)"
                try:
                    nvml.nvmlDeviceGetPowerUsage(handle)
                except self._error as e:
                    skipped.append(f"{reason}; no power reading either ({e}): GPU {i} not metered")
                    continue
                self.fallbacks.append(f"{reason}: falling back to sampled power")
                self._power_handles.append(handle)
                self.indices.append(i)
            if not self.indices:
                raise MeterUnavailable("NVML: no GPU with an energy counter or a power reading"
                                       + (f" ({'; '.join(skipped)})" if skipped else ""))
            self.notes.extend(skipped)
        except BaseException:
            self.close()
            raise
        if self._counter_handles and self._power_handles:
            self.method = "nvml-energy-counter+power-sampling"
        elif self._counter_handles:
            self.method = "nvml-energy-counter"
        else:
            self.method = "nvml-power-sampling"
        self._poller = None
        self._samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def _power_watts(self, handles) -> float:
        """Summed board power in W (NVML reports mW)."""
        return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in handles) / 1000.0

    def _counter_mj(self) -> float:
        return float(sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                         for h in self._counter_handles))

    def sample(self) -> None:
        """Take one power sample of the GPUs without an energy counter."""
        if self._power_handles:
            w = self._power_watts(self._power_handles)
            with self._lock:
                self._samples.append((self._clock(), w))

    def start(self) -> None:
        self._samples = []
        self._t0 = self._clock()
        self._mj0 = self._counter_mj() if self._counter_handles else 0.0
        if self._power_handles:
            self.sample()
            if self._poll_interval:
                self._poller = _Poller(self.sample, self._poll_interval)

    def stop(self) -> float:
        joules = 0.0
        if self._counter_handles:
            delta_mj = self._counter_mj() - self._mj0
            elapsed = self._clock() - self._t0
            if delta_mj <= 0 and elapsed > 0:
                # The counter updates every ~20-100 ms; a shorter window can read zero. Charge
                # power x time instead (Zeus's approx_instant_energy) and say so.
                watts = self._power_watts(self._counter_handles)
                self.notes.append(f"energy counter did not advance over {elapsed:.3g} s: "
                                  f"charged {watts:.1f} W x {elapsed:.3g} s instead")
                joules += watts * elapsed
            else:
                joules += delta_mj / 1000.0
        if self._power_handles:
            if self._poller is not None:
                self._poller.stop()
                self._poller = None
            self.sample()
            joules += _trapezoid(self._samples)
        return joules

    def assumptions(self) -> str:
        parts = [f"scope: GPU board(s) {self.indices} (NVML), host CPU/DRAM/PSU not included"]
        if self._counter_handles:
            parts.append("total-energy counter (mJ since driver load), updated every ~20-100 ms: "
                         "windows under ~1 s are coarse; on A100/H100 the sensor sees ~25% "
                         "of runtime (Yang et al., SC24)")
        if self._power_handles:
            parts.append(f"power sampled every {self._poll_interval} s and integrated by the "
                         "trapezoid rule; on Ampere and newer the reading is a 1 s average")
        return "; ".join(parts)

    def close(self) -> None:
        poller = getattr(self, "_poller", None)
        if poller is not None:
            poller.stop()
            self._poller = None
        if getattr(self, "_initialised", False):
            self._initialised = False
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()


def _trapezoid(samples) -> float:
    """Integral of power over time: J = sum (t[i+1] - t[i]) x (P[i] + P[i+1]) / 2."""
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))


_PERMISSION_HINT = ("energy_uj is root-only since the PLATYPUS fix (CVE-2020-8694); run as root, "
                    "or make it readable, e.g. a /etc/sysfs.conf line "
                    "'mode class/powercap/intel-rapl:0/energy_uj = 0444'")


class RaplMeter(_Meter):
    """CPU package (and DRAM) energy from the powercap RAPL counters, wrap-around corrected.

    Parameters
    ----------
    root:
        The powercap directory holding ``intel-rapl:N/{name,energy_uj,max_energy_range_uj}``.
    opener:
        ``opener(path) -> text file``; injectable so tests can simulate unreadable files.
    poll_interval:
        Seconds between counter reads in a background thread: the counter wraps about every 60 s
        under load, and several wraps between two reads cannot be recovered. None reads only at
        start and stop (and whenever ``poll()`` is called).
    """

    method = "rapl"

    def __init__(self, root: str = "/sys/class/powercap", *, opener: Callable = open,
                 poll_interval: float | None = 1.0):
        super().__init__()
        self.root, self._open, self._poll_interval = str(root), opener, poll_interval
        if not os.path.isdir(self.root):
            raise MeterUnavailable(f"RAPL: {self.root} does not exist (no powercap driver, "
                                   "or a virtual machine)")
        top = sorted(d for d in os.listdir(self.root) if re.fullmatch(r"intel-rapl:\d+", d))
        zones = []  # (path, name)
        for d in top:
            path = os.path.join(self.root, d)
            name = self._read_optional(os.path.join(path, "name")) or d
            zones.append((path, name))
            # DRAM is a subzone outside the package domain, so it adds; core/uncore lie inside.
            for sub in sorted(os.listdir(path)):
                if re.fullmatch(re.escape(d) + r":\d+", sub):
                    sub_path = os.path.join(path, sub)
                    if self._read_optional(os.path.join(sub_path, "name")) == "dram":
                        zones.append((sub_path, f"{name}/dram"))
        # psys (platform) already contains the packages: use it only when nothing else exists.
        if any(not n.startswith("psys") for _, n in zones):
            zones = [(p, n) for p, n in zones if not n.startswith("psys")]
        if not zones:
            raise MeterUnavailable(f"RAPL: no intel-rapl:N zone under {self.root}")
        self.zones, self._max_uj = [], []
        for path, name in zones:
            try:
                self._read_int(os.path.join(path, "energy_uj"))
            except PermissionError as e:
                raise MeterUnavailable(f"RAPL: cannot read {path}/energy_uj ({e}): "
                                       f"{_PERMISSION_HINT}") from e
            except (OSError, ValueError) as e:
                raise MeterUnavailable(f"RAPL: cannot read {path}/energy_uj ({e})") from e
            max_uj = self._read_optional(os.path.join(path, "max_energy_range_uj"))
            if max_uj is None:
                self.notes.append(f"{name}: max_energy_range_uj unreadable: an interval in which "
                                  "the counter wraps is dropped, not guessed")
            self.zones.append((path, name))
            self._max_uj.append(int(max_uj) if max_uj is not None else None)
        self._poller = None
        self._lock = threading.Lock()
        self.dropped_intervals = 0

    def _read_int(self, path: str) -> int:
        with self._open(path) as f:
            return int(f.read().strip())

    def _read_optional(self, path: str):
        try:
            with self._open(path) as f:
                return f.read().strip()
        except (OSError, ValueError):
            return None

    def poll(self) -> None:
        """Read every counter and add what it advanced since the last read: if now < last,
        the counter wrapped, so delta = now + max_energy_range_uj - last."""
        with self._lock:
            for k, (path, name) in enumerate(self.zones):
                now = self._read_int(os.path.join(path, "energy_uj"))
                delta = now - self._last[k]
                if delta < 0:
                    if self._max_uj[k] is None:
                        # Without the range a wrapped delta is unknowable; drop it (CodeCarbon
                        # #1309) rather than report negative energy.
                        self.dropped_intervals += 1
                        self.notes.append(f"{name}: counter wrapped with no max_energy_range_uj; "
                                          "interval dropped (energy under-counted)")
                        delta = 0
                    else:
                        delta += self._max_uj[k]
                self._total_uj += delta
                self._last[k] = now

    def start(self) -> None:
        self._total_uj = 0
        self._last = [self._read_int(os.path.join(p, "energy_uj")) for p, _ in self.zones]
        if self._poll_interval:
            self._poller = _Poller(self.poll, self._poll_interval)

    def stop(self) -> float:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.poll()
        return self._total_uj / 1e6

    def assumptions(self) -> str:
        names = ", ".join(n for _, n in self.zones)
        return (f"scope: RAPL zones {names} (CPU package counters, DRAM where listed); GPU, "
                "other board components, PSU and cooling not included; counter read every "
                f"{self._poll_interval} s with wrap-around added back")

    def close(self) -> None:
        if getattr(self, "_poller", None) is not None:
            self._poller.stop()
            self._poller = None


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
class EnergyMeter(Callback):
    """Callback: joules per epoch and per sample into History ("energy_j",
    "energy_j_per_sample", and "energy_j_net"/"energy_j_net_per_sample" when idle_watts is given).

    It keeps Callback's no-op batch hooks on purpose: a callback that overrides one makes fit
    read the loss back every batch and skip the backend's compiled train step, which would change
    the very work being metered (the meters poll in their own threads instead).

    Parameters
    ----------
    method, idle_watts, tdp_watts:
        As for ``measure``.
    sync:
        Called before each reading; None uses ``model.backend.synchronize`` where the model has one.
    meter:
        A ready meter to use instead of making one (kept open at the end of training).
    """

    model = None

    def __init__(self, method: str = "auto", sync: Callable | None = None,
                 idle_watts: float | None = None, tdp_watts: float | None = None, *,
                 meter=None, **meter_kwargs):
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        if sync is not None and not callable(sync):
            raise TypeError(f"sync: expected a callable or None, got {type(sync).__name__}")
        self.method, self.sync = method, sync
        self.idle_watts = _check_watts("idle_watts", idle_watts)
        self.tdp_watts, self._meter_kwargs = tdp_watts, meter_kwargs
        self.meter, self._owns_meter = meter, meter is None
        self.measurements: list[Measurement] = []
        self._window = None

    def set_model(self, model) -> None:
        self.model = model

    def _sync(self):
        if self.sync is not None:
            return self.sync
        backend = getattr(self.model, "backend", None)
        return getattr(backend, "synchronize", None)

    def on_train_begin(self, logs=None) -> None:
        self.measurements = []
        if self.meter is None:
            self.meter = make_meter(self.method, tdp_watts=self.tdp_watts, **self._meter_kwargs)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if self.meter is None:  # used without on_train_begin
            self.on_train_begin(logs)
        self._window = _Window(self.meter, self._sync(), self.idle_watts, owns_meter=False)
        self._window.__enter__()

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self._window is None:
            return
        self._window.__exit__(None, None, None)
        m, self._window = self._window.result, None
        self.measurements.append(m)
        if logs is None:
            return
        logs["energy_j"] = m.joules
        samples = logs.get("samples")
        if isinstance(samples, int) and samples > 0:
            logs["energy_j_per_sample"] = m.joules / samples
        if m.net_joules is not None:
            logs["energy_j_net"] = m.net_joules
            if isinstance(samples, int) and samples > 0:
                logs["energy_j_net_per_sample"] = m.net_joules / samples

    def on_train_end(self, logs=None) -> None:
        if self._window is not None:  # training stopped mid-epoch
            self._window.__exit__(None, None, None)
            self._window = None
        if self._owns_meter and self.meter is not None:
            self.meter.close()
            self.meter = None
