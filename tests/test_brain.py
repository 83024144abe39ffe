"""The brain-versus-GPU arithmetic against hand-computed values (FIELD.md section C)."""

import math
from types import SimpleNamespace

import pytest

from nnkit import brain
from nnkit.brain import (GEFORCE, GPU_PEAKS, SCENARIOS, brain_table, format_markdown,
                         format_scale_markdown, measured_row, mlp_macs_per_sample, mlp_weights,
                         network_scale, scale, synaptic_updates_per_joule)

LECTURE, A, B, C = SCENARIOS


def approx_pair(lo, hi):
    return pytest.approx((lo, hi), rel=1e-12)


def test_scenarios_events_per_second_joule_and_joules_per_event():
    assert A.events_per_second() == approx_pair(2.4e13, 2.4e13)   # 1.5e14 × 0.16 Hz
    assert A.events_per_joule() == approx_pair(1.2e12, 1.2e12)    # ÷ 20 W
    assert A.joules_per_event() == approx_pair(1 / 1.2e12, 1 / 1.2e12)  # 0.833 pJ
    assert B.events_per_joule() == approx_pair(5e13, 5e13)
    assert B.joules_per_event() == approx_pair(20e-15, 20e-15)    # 20 fJ
    assert C.events_per_second() == approx_pair(1e16, 1e16)
    assert C.joules_per_event() == approx_pair(2e-15, 2e-15)      # 2 fJ
    # the lecture: 1e12 neurons × 1e3..1e5 inputs × 1 Hz at 20 W
    assert LECTURE.events_per_second() == approx_pair(1e15, 1e17)
    assert LECTURE.events_per_joule() == approx_pair(5e13, 5e15)
    assert LECTURE.joules_per_event() == approx_pair(0.2e-15, 20e-15)
    assert all(s.watts == 20.0 for s in SCENARIOS)


def test_geforce_at_peak():
    assert GEFORCE.macs_per_second() == pytest.approx(5.67e12)
    assert GEFORCE.macs_per_joule() == pytest.approx(11.34e12 / 2 / 250)  # 2.268e10 MAC/J
    assert GEFORCE.macs_per_joule() == pytest.approx(2.268e10)


def test_brain_over_gpu_ratios_match_field_table():
    # FIELD.md: scenario A vs 1080 Ti FP32 53×, 4090 BF16 6.5×, H100 SXM BF16 1.7×, H100 PCIe
    # BF16 1.1×; lecture high (5e15 events/J) vs 1080 Ti 220,000×.
    brain_a = A.events_per_joule()[0]
    assert brain_a / GEFORCE.macs_per_joule() == pytest.approx(52.91, abs=0.01)
    assert brain_a / GPU_PEAKS["rtx-4090-bf16"].macs_per_joule() == pytest.approx(6.54, abs=0.01)
    assert brain_a / GPU_PEAKS["h100-sxm5-bf16"].macs_per_joule() == pytest.approx(1.70, abs=0.01)
    assert brain_a / GPU_PEAKS["h100-pcie-bf16"].macs_per_joule() == pytest.approx(1.11, abs=0.01)
    assert 5e15 / GEFORCE.macs_per_joule() == pytest.approx(220_459, abs=1)


def test_synaptic_updates_per_joule_both_forms():
    # 1e6 MAC/sample × 1000 samples/s ÷ 50 W = 2e7 updates/J
    assert synaptic_updates_per_joule(1e6, 1000, 50) == pytest.approx(2e7)
    assert synaptic_updates_per_joule(macs=6e9, joules=3.0) == pytest.approx(2e9)
    with pytest.raises(TypeError, match="not both"):
        synaptic_updates_per_joule(1e6, macs=1, joules=1)
    with pytest.raises(TypeError):
        synaptic_updates_per_joule(1e6, 1000)
    with pytest.raises(ValueError, match="watts"):
        synaptic_updates_per_joule(1e6, 1000, 0)
    with pytest.raises(ValueError, match="joules"):
        synaptic_updates_per_joule(macs=1e6, joules=math.nan)


def test_mlp_counts_and_scale():
    assert mlp_weights([2, 3, 1]) == 9
    assert mlp_macs_per_sample([2, 3, 1], training=False) == 9
    assert mlp_macs_per_sample([2, 3, 1]) == 27  # forward, dx and dW: 6 FLOP per weight
    s = scale([784, 256, 10])
    assert s["neurons"] == 266 and s["inputs_per_neuron"] == (256, 784)
    assert s["synapses"] == 784 * 256 + 256 * 10
    assert s["brain_neurons_over_mlp"] == pytest.approx((86.1e9 / 266, 1e12 / 266))
    assert s["lecture_nn"] == {"neurons": 1e3, "inputs_per_neuron": (1e2, 1e4)}
    text = format_scale_markdown([784, 256, 10])
    assert "| this MLP 784-256-10 | 266 | 256 – 784 | 203,264 |" in text
    assert "| NN, lecture | ~1,000 | 100 – 10,000 | 1e5 – 1e7 |" in text
    assert "| brain, lecture | ~1e12 | 1,000 – 100,000 | 1e15 – 1e17 |" in text
    with pytest.raises(ValueError, match="widths"):
        scale([5])
    with pytest.raises(TypeError, match="widths"):
        scale(["a", 2])


def test_network_scale_of_the_cnn_and_lstm_workloads_counts_their_own_units():
    from nnkit.bench.workloads import get_workload

    # W5: conv1 26x26x32 units of fan-in 3x3x1, conv2 11x11x64 of 3x3x32, Dense 1600-128-10
    s = get_workload("W5").scale()
    assert s["neurons"] == 26 * 26 * 32 + 11 * 11 * 64 + 128 + 10
    assert s["inputs_per_neuron"] == (9, 1600)
    assert s["synapses"] == 26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 1600 * 128 + 128 * 10
    assert "| this CNN 28x28x1 C32-P-C64-P-128-10 | 29,514 | 9 – 1,600 | 2,631,040 |" in format_scale_markdown(s)
    # W6 per time step: 4 x 128 gate units of fan-in 32 + 128, then Dense 128-10
    s = get_workload("W6").scale()
    assert (s["neurons"], s["inputs_per_neuron"], s["synapses"]) == (522, (128, 160), 512 * 160 + 1280)
    assert scale([784, 256, 10])["synapses"] == get_workload("W3").scale()["synapses"] - 256 * 256
    with pytest.raises(ValueError, match="layers"):
        network_scale("x", [(0, 3)])


def test_brain_table_rows():
    rows = brain_table([{"name": "numba MLP", "synaptic_updates_per_joule": 3e8,
                         "method": "rapl", "assumptions": "CPU package"},
                        {"name": "laptop", "synaptic_updates_per_joule": 1e8,
                         "method": "estimate"}])
    assert [r["kind"] for r in rows] == ["measured", "measured", "gpu-peak"] + ["brain"] * 4
    m = rows[0]
    assert m["updates_per_joule"] == approx_pair(3e8, 3e8)
    assert m["joules_per_update"] == approx_pair(1 / 3e8, 1 / 3e8)
    # brain ÷ this: from scenario A (1.2e12) to the lecture's high end (5e15)
    assert m["brain_over_this"] == approx_pair(4_000, 5e15 / 3e8)
    assert m["is_estimate"] is False and rows[1]["is_estimate"] is True
    g = rows[2]
    assert g["updates_per_joule"] == approx_pair(2.268e10, 2.268e10)
    assert g["watts"] == 250.0 and g["brain_over_this"] == approx_pair(1.2e12 / 2.268e10,
                                                                        5e15 / 2.268e10)
    a = rows[4]
    assert a["updates_per_second"] == approx_pair(2.4e13, 2.4e13)
    assert a["updates_per_joule"] == approx_pair(1.2e12, 1.2e12)
    assert a["brain_over_this"] is None
    with pytest.raises(ValueError, match=r"rows\[0\]: missing \['method'\]"):
        brain_table([{"name": "x", "synaptic_updates_per_joule": 1.0}])
    with pytest.raises(ValueError, match="synaptic_updates_per_joule"):
        brain_table([{"name": "x", "synaptic_updates_per_joule": -1.0, "method": "rapl"}])


def test_format_markdown_prints_values_and_every_assumption():
    rows = brain_table([{"name": "numba MLP", "synaptic_updates_per_joule": 3e8,
                         "method": "rapl", "assumptions": "CPU package-0 only"}])
    text = format_markdown(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| | kind | synaptic updates/s | W | updates/J | J/update")
    assert "| numba MLP | measured | – | – | 3e8 | 3.33 nJ | 4,000× – 1.67e7× | rapl |" in text
    assert ("| GeForce GTX 1080 Ti (lecture's GeForce), peak | gpu-peak | 5.67e12 | 250 | "
            "2.27e10 | 44.1 pJ | 52.9× – 2.2e5× | spec sheet, fp32 |") in text
    assert ("| brain A: 1.5 × 10¹⁴ synapses × 0.16 Hz * | brain | 2.4e13 | 20 | 1.2e12 | "
            "0.833 pJ |") in text
    assert "| 1e15 – 1e17 | 20 | 5e13 – 5e15 | 0.2 fJ – 20 fJ |" in text
    assert "1 MAC = 2 FLOP" in text and "upper bound" in text
    assert "from the most conservative (A, 1.2e12 events/J) to the lecture's high end (5e15" in text
    for r in rows:  # every row's assumptions are printed with the range it spans
        assert f"- {r['name']}: {r['assumptions']} (updates/J: " in text
    assert "inputs each, every synapse active at 1 Hz, 20 W (updates/J: 5e13 – 5e15)" in text
    with pytest.raises(ValueError, match="brain_table"):
        format_markdown([{"name": "raw"}])


def test_measured_row_from_a_measurement():
    m = SimpleNamespace(joules=10.0, net_joules=6.0, seconds=2.0, method="rapl",
                        is_estimate=False, assumptions="scope: RAPL zones package-0")
    row = measured_row("numpy MLP", m, macs_per_sample=1e6, samples=1000)
    assert row["synaptic_updates_per_joule"] == pytest.approx(1e9 / 10.0)
    assert row["updates_per_second"] == pytest.approx(1e9 / 2.0)
    assert row["watts"] == pytest.approx(5.0)
    assert "gross energy" in row["assumptions"] and "package-0" in row["assumptions"]
    net = measured_row("numpy MLP", m, macs_per_sample=1e6, samples=1000, net=True)
    assert net["synaptic_updates_per_joule"] == pytest.approx(1e9 / 6.0)
    assert brain_table([net])[0]["updates_per_joule"][0] == pytest.approx(1e9 / 6.0)
    with pytest.raises(ValueError, match="net joules"):
        measured_row("x", SimpleNamespace(joules=1.0, net_joules=None, seconds=1.0),
                     macs_per_sample=1, samples=1, net=True)


def test_measured_row_with_a_real_estimate_measurement():
    from nnkit import energy
    from nnkit.energy import EstimateMeter

    clock, cpu = [0.0], [0.0]
    meter = EstimateMeter(100.0, n_cpus=1, cpu_seconds=lambda: cpu[0], clock=lambda: clock[0])
    with energy.measure(meter=meter) as m:
        clock[0], cpu[0] = 2.0, 1.0  # share 0.5 of 100 W for 2 s = 100 J
    assert m.joules == pytest.approx(100.0)
    row = measured_row("estimate", m, macs_per_sample=1e6, samples=100)
    assert row["synaptic_updates_per_joule"] == pytest.approx(1e8 / 100.0)
    table = brain_table([row])
    assert table[0]["is_estimate"] is True
    assert "ESTIMATE" in format_markdown(table)


def test_joules_formatting():
    assert brain._joules(8.333e-13) == "0.833 pJ"
    assert brain._joules(2e-14) == "20 fJ"
    assert brain._joules(4.41e-11) == "44.1 pJ"
    assert brain._joules(3.3e-3) == "3.3 mJ"
    assert brain._sci(2.268e10) == "2.27e10" and brain._sci(5e-3) == "0.005"
