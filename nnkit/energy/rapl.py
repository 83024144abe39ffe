"""RaplMeter: CPU package (and DRAM) energy from the powercap counters, wrap-around corrected."""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable

from nnkit.energy._base import MeterUnavailable, _Meter, _Poller


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
        self.skipped_reads = 0

    def _read_int(self, path: str) -> int:
        with self._open(path) as f:
            return int(f.read().strip())

    def _read_optional(self, path: str):
        try:
            with self._open(path) as f:
                return f.read().strip()
        except (OSError, ValueError):
            return None

    def _read_counter(self, path: str, attempts: int = 3):
        """The counter at ``path``, or None when it reads empty or unparsable ``attempts`` times
        (a file caught mid-rewrite): the energy is not lost, the next read counts it."""
        for attempt in range(attempts):
            try:
                return self._read_int(path)
            except (OSError, ValueError):
                if attempt + 1 < attempts:
                    time.sleep(0.001)
        return None

    def poll(self) -> None:
        """Read every counter and add what it advanced since the last read: if now < last,
        the counter wrapped, so delta = now + max_energy_range_uj - last. A zone that cannot be
        read this time keeps its last value (skipped_reads counts them)."""
        with self._lock:
            for k, (path, name) in enumerate(self.zones):
                now = self._read_counter(os.path.join(path, "energy_uj"))
                if now is None:
                    self.skipped_reads += 1
                    continue
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
