"""Energy meters on a fake powercap tree and a fake NVML: wrap-around, permissions, fallbacks."""

import os
import subprocess
import sys
import time

import pytest

from nnkit import energy
from nnkit.energy import (EnergyMeter, EstimateMeter, MeterUnavailable, NvmlMeter, RaplMeter,
                          cpu_tdp, make_meter, measure)


# -- fakes -----------------------------------------------------------------------------------
def write_zone(root, zone, name, energy_uj, max_uj=2**32):
    d = root / zone
    d.mkdir(parents=True, exist_ok=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    if max_uj is not None:
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def set_uj(d, value):
    (d / "energy_uj").write_text(f"{value}\n")


class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """The slice of pynvml the meter uses. energy_mj[i] None = counter not supported."""

    NVMLError = FakeNvmlError

    def __init__(self, energy_mj, power_mw, init_error=False):
        self.energy_mj, self.power_mw = list(energy_mj), list(power_mw)
        self.init_error, self.shutdowns = init_error, 0

    def nvmlInit(self):
        if self.init_error:
            raise FakeNvmlError("Driver Not Loaded")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.energy_mj)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.energy_mj[h] is None:
            raise FakeNvmlError("Not Supported")
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h):
        if self.power_mw[h] is None:
            raise FakeNvmlError("Not Supported")
        return self.power_mw[h]


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


class FakeMeter:
    method, is_estimate = "fake", False

    def __init__(self, joules, events=None):
        self.joules, self.events = list(joules), events if events is not None else []
        self.fallbacks, self.notes, self.closed = [], [], 0

    def start(self):
        self.events.append("start")

    def stop(self):
        self.events.append("stop")
        return self.joules.pop(0)

    def assumptions(self):
        return "fake scope"

    def close(self):
        self.closed += 1


NO_NVML = FakeNvml([], [], init_error=True)


# -- RAPL ------------------------------------------------------------------------------------
def test_rapl_sums_packages_and_dram_not_core_or_psys(tmp_path):
    p0 = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    core = write_zone(tmp_path / "intel-rapl:0", "intel-rapl:0:0", "core", 5)
    dram = write_zone(tmp_path / "intel-rapl:0", "intel-rapl:0:1", "dram", 2_000_000)
    p1 = write_zone(tmp_path, "intel-rapl:1", "package-1", 0)
    psys = write_zone(tmp_path, "intel-rapl:2", "psys", 0)
    m = RaplMeter(tmp_path, poll_interval=None)
    assert [n for _, n in m.zones] == ["package-0", "package-0/dram", "package-1"]
    m.start()
    set_uj(p0, 4_000_000)     # +3 J
    set_uj(dram, 2_500_000)   # +0.5 J
    set_uj(p1, 1_250_000)     # +1.25 J
    set_uj(core, 999_999_999)  # inside the package: ignored
    set_uj(psys, 999_999_999)  # contains the packages: ignored
    assert m.stop() == pytest.approx(4.75, abs=1e-12)
    assert m.method == "rapl" and not m.is_estimate


def test_rapl_wraparound_adds_max_range(tmp_path):
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 900_000, max_uj=1_000_000)
    m = RaplMeter(tmp_path, poll_interval=None)
    m.start()
    set_uj(z, 100_000)  # wrapped: 100_000 + 1_000_000 - 900_000 = 200_000 uJ
    assert m.stop() == pytest.approx(0.2, abs=1e-12)


def test_rapl_polls_catch_several_wraps(tmp_path):
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=1_000_000)
    m = RaplMeter(tmp_path, poll_interval=None)
    m.start()
    for value in (800_000, 300_000, 900_000, 400_000):  # two wraps, each seen by a poll
        set_uj(z, value)
        m.poll()
    set_uj(z, 500_000)
    # 800k + (300k + 1M - 800k) + 600k + (400k + 1M - 900k) + 100k = 2.5e6 uJ
    assert m.stop() == pytest.approx(2.5, abs=1e-12)
    assert m.dropped_intervals == 0


def test_rapl_wrap_without_max_range_drops_interval(tmp_path):
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 100, max_uj=None)
    m = RaplMeter(tmp_path, poll_interval=None)
    assert any("max_energy_range_uj unreadable" in n for n in m.notes)
    m.start()
    set_uj(z, 600)
    m.poll()          # +500 uJ
    set_uj(z, 50)     # wrapped, range unknown: dropped, never negative
    m.poll()
    set_uj(z, 250)    # +200 uJ
    assert m.stop() == pytest.approx(700e-6, abs=1e-15)
    assert m.dropped_intervals == 1
    assert any("interval dropped" in n for n in m.notes)


def test_rapl_permission_error_says_why(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 0)

    def opener(path, *a, **k):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path, *a, **k)

    with pytest.raises(MeterUnavailable, match="root-only.*CVE-2020-8694"):
        RaplMeter(tmp_path, opener=opener, poll_interval=None)


def test_rapl_missing_root_or_zones(tmp_path):
    with pytest.raises(MeterUnavailable, match="does not exist"):
        RaplMeter(tmp_path / "nope")
    (tmp_path / "dtpm").mkdir()
    with pytest.raises(MeterUnavailable, match="no intel-rapl:N zone"):
        RaplMeter(tmp_path)


def test_rapl_background_thread_polls(tmp_path):
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=1_000_000)
    m = RaplMeter(tmp_path, poll_interval=0.01)
    m.start()
    set_uj(z, 900_000)
    time.sleep(0.2)   # the thread reads 900_000 ...
    set_uj(z, 100_000)  # ... so this wrap is one range, not lost
    assert m.stop() == pytest.approx(1.1, abs=1e-12)
    m.close()


def test_rapl_poll_survives_an_empty_read(tmp_path):
    # a counter file caught mid-rewrite reads empty: that poll skips the zone, the next one counts
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000, max_uj=1_000_000)
    m = RaplMeter(tmp_path, poll_interval=None)
    m.start()
    (z / "energy_uj").write_text("")
    m.poll()
    assert m.skipped_reads == 1 and m._total_uj == 0
    set_uj(z, 501_000)
    assert m.stop() == pytest.approx(0.5, abs=1e-12)
    m.close()


# -- NVML ------------------------------------------------------------------------------------
def test_nvml_energy_counter_sums_gpus():
    nv = FakeNvml(energy_mj=[1_000, 50_000], power_mw=[1, 1])
    m = NvmlMeter(nvml=nv, poll_interval=None)
    assert m.method == "nvml-energy-counter" and m.indices == [0, 1] and not m.fallbacks
    m.start()
    nv.energy_mj = [6_000, 52_500]  # +5 J, +2.5 J
    assert m.stop() == pytest.approx(7.5)
    m.close()
    assert nv.shutdowns == 1


def test_nvml_falls_back_to_power_sampling_with_reason():
    nv = FakeNvml(energy_mj=[None], power_mw=[100_000])
    clock = Clock(0.0)
    m = NvmlMeter(nvml=nv, poll_interval=None, clock=clock)
    assert m.method == "nvml-power-sampling"
    assert "no total-energy counter (Not Supported" in m.fallbacks[0]
    assert "sampled power" in m.fallbacks[0]
    m.start()                                  # (0 s, 100 W)
    clock.t, nv.power_mw = 1.0, [200_000]
    m.sample()                                 # (1 s, 200 W)
    clock.t, nv.power_mw = 3.0, [300_000]
    # trapezoid: 1 s x 150 W + 2 s x 250 W = 650 J
    assert m.stop() == pytest.approx(650.0)
    assert "trapezoid" in m.assumptions()


def test_nvml_mixed_devices():
    nv = FakeNvml(energy_mj=[0, None], power_mw=[1, 40_000])
    clock = Clock(10.0)
    m = NvmlMeter(nvml=nv, poll_interval=None, clock=clock)
    assert m.method == "nvml-energy-counter+power-sampling"
    m.start()
    nv.energy_mj[0] = 3_000
    clock.t = 12.0
    assert m.stop() == pytest.approx(3.0 + 2.0 * 40.0)


def test_nvml_counter_that_did_not_advance_charges_power_times_time():
    nv = FakeNvml(energy_mj=[5_000], power_mw=[70_000])
    clock = Clock(0.0)
    m = NvmlMeter(nvml=nv, poll_interval=None, clock=clock)
    m.start()
    clock.t = 0.01
    assert m.stop() == pytest.approx(0.7)
    assert "did not advance" in m.notes[0]


def test_nvml_gpu_without_counter_or_power_is_skipped_or_unavailable():
    nv = FakeNvml(energy_mj=[None, 0], power_mw=[None, 1])
    m = NvmlMeter(nvml=nv, poll_interval=None)
    assert m.indices == [1] and "GPU 0 not metered" in m.notes[0]
    with pytest.raises(MeterUnavailable, match="no GPU with an energy counter"):
        NvmlMeter(nvml=FakeNvml(energy_mj=[None], power_mw=[None]), poll_interval=None)


def test_nvml_init_failure_and_missing_package(monkeypatch):
    with pytest.raises(MeterUnavailable, match="nvmlInit failed.*Driver Not Loaded"):
        NvmlMeter(nvml=NO_NVML)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with pytest.raises(MeterUnavailable, match="nvidia-ml-py is not installed"):
        NvmlMeter()


def test_nvml_background_sampling_integrates_constant_power():
    nv = FakeNvml(energy_mj=[None], power_mw=[50_000])
    m = NvmlMeter(nvml=nv, poll_interval=0.005)
    m.start()
    time.sleep(0.1)
    joules = m.stop()
    span = m._samples[-1][0] - m._samples[0][0]
    assert len(m._samples) > 2  # the thread took samples between start and stop
    assert joules == pytest.approx(50.0 * span, rel=1e-12)
    m.close()


def test_energy_imports_without_pynvml():
    code = ("import sys; sys.modules['pynvml'] = None; import nnkit.energy as e; "
            "m = e.make_meter('auto', rapl_root='/nonexistent'); print(m.method, m.is_estimate)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
    assert out.stdout.split() == ["estimate", "True"]


# -- estimate --------------------------------------------------------------------------------
def test_estimate_is_tdp_times_process_share():
    clock, cpu = Clock(0.0), Clock(10.0)
    m = EstimateMeter(100.0, n_cpus=2, cpu_seconds=cpu, clock=clock)
    m.start()
    clock.t, cpu.t = 4.0, 12.0  # 2 CPU s over 4 s on 2 CPUs: share 0.25
    assert m.stop() == pytest.approx(100.0 * 0.25 * 4.0)
    assert m.load == pytest.approx(0.25)
    m.start()
    clock.t, cpu.t = 5.0, 20.0  # share would be 4: clipped to 1
    assert m.stop() == pytest.approx(100.0)
    text = m.assumptions()
    assert m.is_estimate and m.method == "estimate"
    assert text.startswith("ESTIMATE, not a measurement") and "100 W given by the user" in text


def test_cpu_tdp_table_and_default(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz\n")
    assert cpu_tdp(str(info))[0] == 205.0  # longest key wins over "Gold 6248"
    info.write_text("model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n")
    assert cpu_tdp(str(info))[0] == 150.0
    info.write_text("model name\t: AMD EPYC\n")
    watts, why = cpu_tdp(str(info))
    assert watts == 85.0 and "not in the TDP table" in why
    assert cpu_tdp(str(tmp_path / "missing"))[0] == 85.0
    m = EstimateMeter(cpuinfo=str(info))
    assert m.tdp_watts == 85.0 and "default 85 W" in m.assumptions()
    with pytest.raises(ValueError, match="tdp_watts"):
        EstimateMeter(-5)


# -- choosing a meter ------------------------------------------------------------------------
def test_auto_falls_back_to_estimate_with_reasons(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 0)

    def opener(path, *a, **k):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path, *a, **k)

    m = make_meter("auto", nvml=NO_NVML, rapl_root=str(tmp_path), rapl_opener=opener,
                   tdp_watts=65)
    assert isinstance(m, EstimateMeter) and m.is_estimate
    assert "NVML" in m.fallbacks[0] and "root-only" in m.fallbacks[1]
    assert "falling back to the CPU estimate" in m.fallbacks[2]


def test_auto_sums_nvml_and_rapl(tmp_path):
    z = write_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    nv = FakeNvml(energy_mj=[0], power_mw=[1])
    m = make_meter("auto", nvml=nv, rapl_root=str(tmp_path))
    assert m.method == "nvml-energy-counter+rapl" and not m.is_estimate
    m.start()
    nv.energy_mj[0] = 2_000
    set_uj(z, 3_000_000)
    assert m.stop() == pytest.approx(5.0)
    m.close()
    assert "GPU board" in m.assumptions() and "package-0" in m.assumptions()


def test_named_method_that_cannot_run_raises(tmp_path):
    with pytest.raises(MeterUnavailable):
        make_meter("nvml", nvml=NO_NVML)
    with pytest.raises(MeterUnavailable):
        make_meter("rapl", rapl_root=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="method"):
        make_meter("wattmeter")


# -- measure ---------------------------------------------------------------------------------
def test_measure_syncs_before_each_reading_and_reports_net():
    events = []
    meter = FakeMeter([12.0], events)
    with measure(meter=meter, sync=lambda: events.append("sync"), idle_watts=2.0) as m:
        events.append("work")
    assert events == ["sync", "start", "work", "sync", "stop"]
    assert m.joules == 12.0 and m.method == "fake" and m.is_estimate is False
    assert m.watts == pytest.approx(12.0 / m.seconds)
    assert m.net_joules == pytest.approx(12.0 - 2.0 * m.seconds)
    assert "idle baseline of 2 W" in m.assumptions and "fake scope" in m.assumptions
    assert meter.closed == 0  # a meter passed in stays open
    assert m.to_dict()["net_joules"] == m.net_joules


def test_measure_estimate_labelled_and_validated(tmp_path):
    with measure("estimate", tdp_watts=40, cpuinfo=str(tmp_path / "x")) as m:
        sum(range(1000))
    assert m.is_estimate and m.method == "estimate" and m.joules >= 0
    assert m.net_joules is None and "no idle baseline" in m.assumptions
    assert "ESTIMATE" in m.assumptions and "40 W given by the user" in m.assumptions
    with pytest.raises(ValueError, match="idle_watts"):
        measure("estimate", idle_watts=-1)
    with pytest.raises(TypeError, match="sync"):
        measure("estimate", sync=3)
    with pytest.raises(ValueError, match="seconds"):
        energy.measure_idle(0)


def test_measure_closes_its_meter_when_the_block_raises():
    nv = FakeNvml(energy_mj=[0], power_mw=[1])
    with pytest.raises(KeyError):
        with measure("nvml", nvml=nv) as m:
            nv.energy_mj[0] = 1_500
            raise KeyError("boom")
    assert nv.shutdowns == 1 and m.joules == pytest.approx(1.5)


def test_nvml_unknown_index():
    class OneGpu(FakeNvml):
        def nvmlDeviceGetHandleByIndex(self, i):
            if i >= 1:
                raise FakeNvmlError("Invalid Argument")
            return i

    nv = OneGpu(energy_mj=[0], power_mw=[1])
    with pytest.raises(MeterUnavailable, match="no GPU 3"):
        NvmlMeter([3], nvml=nv)
    assert nv.shutdowns == 1


def test_measure_idle_then_net(tmp_path):
    nv = FakeNvml(energy_mj=[None], power_mw=[30_000])
    idle = energy.measure_idle(0.05, method="nvml", nvml=nv, poll_interval=None)
    assert idle.watts == pytest.approx(30.0, rel=0.05)  # constant power: J / s = 30 W
    assert idle.method == "nvml-power-sampling" and "sampled power" in idle.assumptions
    assert nv.shutdowns == 1


# -- the callback ----------------------------------------------------------------------------
class FakeBackend:
    def __init__(self):
        self.syncs = 0

    def synchronize(self):
        self.syncs += 1


class FakeModel:
    def __init__(self):
        self.backend = FakeBackend()


def test_energy_meter_callback_puts_joules_per_epoch_and_sample():
    meter = FakeMeter([10.0, 20.0])
    cb = EnergyMeter(meter=meter, idle_watts=0.0)
    model = FakeModel()
    cb.set_model(model)
    assert cb.model is model
    cb.on_train_begin({})
    history = []
    for epoch in range(2):
        cb.on_epoch_begin(epoch, {})
        for batch in range(3):
            cb.on_batch_end(batch, {"loss": 1.0})
        logs = {"loss": 0.5, "samples": 100}
        cb.on_epoch_end(epoch, logs)
        history.append(logs)
    cb.on_train_end({})
    assert [h["energy_j"] for h in history] == [10.0, 20.0]
    assert [h["energy_j_per_sample"] for h in history] == [0.1, 0.2]
    assert [h["energy_j_net"] for h in history] == [10.0, 20.0]  # idle 0 W
    assert model.backend.syncs == 4  # before each start and each stop reading
    assert len(cb.measurements) == 2 and meter.closed == 0


def test_energy_meter_callback_makes_and_closes_its_meter():
    nv = FakeNvml(energy_mj=[0], power_mw=[1])
    cb = EnergyMeter(method="nvml", nvml=nv)
    cb.on_train_begin({})
    cb.on_epoch_begin(0, {})
    nv.energy_mj[0] = 4_000
    logs = {"samples": 8}
    cb.on_epoch_end(0, logs)
    cb.on_train_end({})
    assert logs["energy_j"] == pytest.approx(4.0)
    assert logs["energy_j_per_sample"] == pytest.approx(0.5)
    assert "energy_j_net" not in logs and nv.shutdowns == 1
    with pytest.raises(ValueError, match="method"):
        EnergyMeter(method="joulemeter")


def test_energy_meter_in_fit_fills_history_without_batch_hooks():
    import numpy as np

    import nnkit as nk
    from nnkit.callbacks import overrides

    cb = EnergyMeter(meter=FakeMeter([10.0, 20.0]))
    assert not overrides(cb, "on_batch_end") and not overrides(cb, "on_batch_begin")
    X = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    y = (X[:, :1] > 0).astype("float32")
    model = nk.Sequential([nk.layers.Dense(4, activation="relu", input_dim=2),
                           nk.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss=nk.losses.BinaryCrossEntropy())
    history = model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert history.history["energy_j"] == [10.0, 20.0]
    assert history.history["energy_j_per_sample"] == [10.0 / 64, 20.0 / 64]
