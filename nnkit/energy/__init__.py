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

from nnkit.energy._base import CPU_TDP_WATTS, DEFAULT_TDP_WATTS, METHODS, MeterUnavailable
from nnkit.energy.callback import EnergyMeter
from nnkit.energy.estimate import EstimateMeter, cpu_tdp
from nnkit.energy.measure import CompositeMeter, Measurement, make_meter, measure, measure_idle
from nnkit.energy.nvml import NvmlMeter
from nnkit.energy.rapl import RaplMeter

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
