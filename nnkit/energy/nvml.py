"""NvmlMeter: GPU board energy through NVML (nvidia-ml-py, imported only when used)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable

from nnkit.energy._base import MeterUnavailable, _Meter, _Poller, _trapezoid


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
