"""The lecture's brain-versus-GPU comparison, counted in synaptic updates per joule.

The lecture: the brain has ~10^12 neurons with 1,000-100,000 inputs each and runs on 20 W; a
network has ~1,000 neurons with 100-10,000 inputs and an Nvidia GeForce draws 250 W. To put both
on one axis nnkit counts one multiply-accumulate (MAC) of a network as one synaptic update (one
synaptic event of the brain), a modelling assumption, and 1 MAC = 2 FLOP. Brain figures and
their sources are those of FIELD.md section C; all 20 W is charged to synaptic events, so the
brain's J/event is an upper bound.

    rows = brain_table([{"name": "numba, MLP 784-256-10", "synaptic_updates_per_joule": 3e8,
                         "method": "rapl"}])
    print(format_markdown(rows))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "FLOP_PER_MAC",
    "BRAIN_WATTS",
    "BrainScenario",
    "GpuPeak",
    "SCENARIOS",
    "GEFORCE",
    "GPU_PEAKS",
    "LECTURE_BRAIN",
    "LECTURE_NN",
    "synaptic_updates_per_joule",
    "mlp_weights",
    "mlp_macs_per_sample",
    "scale",
    "network_scale",
    "measured_row",
    "brain_table",
    "format_markdown",
    "format_scale_markdown",
]

FLOP_PER_MAC = 2
BRAIN_WATTS = 20.0  # Raichle & Gusnard 2002; the lecture's figure too

# The lecture's scale slide, and the measured brain beside it.
LECTURE_BRAIN = {"neurons": 1e12, "inputs_per_neuron": (1e3, 1e5)}
LECTURE_NN = {"neurons": 1e3, "inputs_per_neuron": (1e2, 1e4)}
MEASURED_BRAIN = {"neurons": 86.1e9, "inputs_per_neuron": (1e3, 1e4),
                  "source": "Azevedo et al. 2009 (86.1 ± 8.1 × 10⁹ neurons); Rockland 2002 "
                            "(1,000-10,000 inputs typical)"}


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class BrainScenario:
    """A brain as synapses x mean rate at some power: events/s = synapses x rate_hz."""

    name: str
    synapses: tuple[float, float]  # (low, high); equal when a single figure
    rate_hz: float
    watts: float
    assumption: str

    def events_per_second(self) -> tuple[float, float]:
        """events/s = synapses x rate."""
        return (self.synapses[0] * self.rate_hz, self.synapses[1] * self.rate_hz)

    def events_per_joule(self) -> tuple[float, float]:
        """events/J = events/s ÷ W."""
        lo, hi = self.events_per_second()
        return (lo / self.watts, hi / self.watts)

    def joules_per_event(self) -> tuple[float, float]:
        """J/event = W ÷ events/s, (smallest, largest)."""
        lo, hi = self.events_per_joule()
        return (1.0 / hi, 1.0 / lo)


SCENARIOS = (
    BrainScenario("brain, lecture: 10¹² neurons × 10³–10⁵ inputs × 1 Hz", (1e15, 1e17), 1.0,
                  BRAIN_WATTS, "the lecture's 10¹² neurons (≈12× Azevedo's 8.6 × 10¹⁰) with "
                  "1,000–100,000 inputs each, every synapse active at 1 Hz, 20 W"),
    BrainScenario("brain A: 1.5 × 10¹⁴ synapses × 0.16 Hz", (1.5e14, 1.5e14), 0.16, BRAIN_WATTS,
                  "neocortical synapses (Pakkenberg 2003, Drachman 2005) at a mean rate of "
                  "0.16 Hz (Lennie 2003, secondary reading, unverified), 20 W"),
    BrainScenario("brain B: 10¹⁵ synapses × 1 Hz", (1e15, 1e15), 1.0, BRAIN_WATTS,
                  "whole-brain synapses at the top of 10¹⁴–10¹⁵ (Sporns 2005) at 1 Hz, 20 W"),
    BrainScenario("brain C: 10¹⁵ synapses × 10 Hz", (1e15, 1e15), 10.0, BRAIN_WATTS,
                  "whole-brain synapses at 10 Hz, a generous mean rate, 20 W"),
)


@dataclass(frozen=True)
class GpuPeak:
    """A GPU at its spec-sheet peak and board power: MAC/J = FLOP/s ÷ 2 ÷ W."""

    name: str
    flops_per_second: float
    watts: float
    precision: str
    source: str

    def macs_per_second(self) -> float:
        """MAC/s = FLOP/s ÷ 2."""
        return self.flops_per_second / FLOP_PER_MAC

    def macs_per_joule(self) -> float:
        """MAC/J = FLOP/s ÷ 2 ÷ W."""
        return self.macs_per_second() / self.watts


# The lecture's "Nvidia GeForce works in 250 watts", taken as a GTX 1080 Ti.
GEFORCE = GpuPeak("GeForce GTX 1080 Ti (lecture's GeForce), peak", 11.34e12, 250.0, "fp32",
                  "11.34 TFLOP/s fp32 (spearblade.com), 250 W board power")

# FIELD.md section C: dense peaks (no sparsity) at board power.
GPU_PEAKS = {
    "gtx-1080-ti-fp32": GEFORCE,
    "rtx-2080-ti-fp32": GpuPeak("RTX 2080 Ti, peak", 13.45e12, 250.0, "fp32",
                                "13.45 TFLOP/s fp32 reference, 250 W"),
    "rtx-4090-fp32": GpuPeak("RTX 4090, peak", 82.6e12, 450.0, "fp32", "82.6 TFLOP/s, 450 W"),
    "rtx-4090-bf16": GpuPeak("RTX 4090, peak", 165.2e12, 450.0, "bf16",
                             "165.2 TFLOP/s dense bf16 (secondary), 450 W"),
    "a100-sxm4-fp32": GpuPeak("A100 SXM4, peak", 19.5e12, 400.0, "fp32",
                              "NVIDIA datasheet, 400 W"),
    "a100-sxm4-bf16": GpuPeak("A100 SXM4, peak", 312e12, 400.0, "bf16",
                              "NVIDIA datasheet (dense), 400 W"),
    "h100-sxm5-fp32": GpuPeak("H100 SXM5, peak", 66.9e12, 700.0, "fp32",
                              "NVIDIA datasheet, 700 W"),
    "h100-sxm5-bf16": GpuPeak("H100 SXM5, peak", 989.4e12, 700.0, "bf16",
                              "NVIDIA datasheet (dense), 700 W"),
    "h100-pcie-fp32": GpuPeak("H100 PCIe, peak", 51e12, 350.0, "fp32",
                              "NVIDIA PB-11133-001, 350 W"),
    "h100-pcie-bf16": GpuPeak("H100 PCIe, peak", 756e12, 350.0, "bf16",
                              "NVIDIA PB-11133-001 (dense), 350 W"),
}


# -- arithmetic ------------------------------------------------------------------------------
def synaptic_updates_per_joule(macs_per_sample=None, samples_per_second=None, watts=None, *,
                               macs=None, joules=None) -> float:
    """Synaptic updates per joule, one MAC = one update: MAC/sample × samples/s ÷ W, or MAC ÷ J."""
    rate_form = (macs_per_sample, samples_per_second, watts)
    if macs is not None or joules is not None:
        if any(v is not None for v in rate_form):
            raise TypeError("give either (macs_per_sample, samples_per_second, watts) or "
                            "(macs, joules), not both")
        return _check_positive("macs", macs) / _check_positive("joules", joules)
    if any(v is None for v in rate_form):
        raise TypeError("give (macs_per_sample, samples_per_second, watts) or (macs, joules)")
    return (_check_positive("macs_per_sample", macs_per_sample)
            * _check_positive("samples_per_second", samples_per_second)
            / _check_positive("watts", watts))


def _check_widths(widths) -> list[int]:
    try:
        widths = [int(w) for w in widths]
    except (TypeError, ValueError):
        raise TypeError(f"widths: expected a sequence of layer widths, got {widths!r}") from None
    if len(widths) < 2 or any(w <= 0 for w in widths):
        raise ValueError("widths: expected at least an input and an output width, all > 0, "
                         f"got {widths}")
    return widths


def mlp_weights(widths) -> int:
    """Weights (synapses) of a dense MLP, widths [n_in, h1, ..., n_out]: Σ w_l × w_(l+1)."""
    widths = _check_widths(widths)
    return sum(a * b for a, b in zip(widths, widths[1:]))


def mlp_macs_per_sample(widths, training: bool = True) -> int:
    """MACs per sample: Σ w_l × w_(l+1) forward; three times that to train (y = xW, dx = dy Wᵀ,
    dW = xᵀ dy), i.e. ≈ 6 FLOP per weight. Bias additions and activations are not MACs."""
    return mlp_weights(widths) * (3 if training else 1)


def network_scale(label: str, layers) -> dict:
    """Neurons (Σ units), inputs per neuron (each layer's fan-in) and synapses (Σ units × fan-in,
    every connection: a convolution's shared weight counts at each place it connects) of a network
    given as (units, fan-in) per computing layer, beside the lecture's NN and brain and the
    measured brain."""
    layers = [(int(u), int(f)) for u, f in layers]
    if not layers or any(u <= 0 or f <= 0 for u, f in layers):
        raise ValueError(f"layers: expected (units, fan-in) pairs, all > 0, got {layers}")
    neurons = sum(u for u, _ in layers)
    fan_in = [f for _, f in layers]
    return {
        "label": label,
        "neurons": neurons,
        "inputs_per_neuron": (min(fan_in), max(fan_in)),
        "synapses": sum(u * f for u, f in layers),
        "lecture_nn": LECTURE_NN,
        "lecture_brain": LECTURE_BRAIN,
        "measured_brain": MEASURED_BRAIN,
        "brain_neurons_over_mlp": (MEASURED_BRAIN["neurons"] / neurons,
                                   LECTURE_BRAIN["neurons"] / neurons),
    }


def scale(widths) -> dict:
    """``network_scale`` of an MLP of widths [n_in, h1, ..., n_out]: neurons are every width but
    the input's, synapses its weights."""
    widths = _check_widths(widths)
    out = network_scale(f"this MLP {'-'.join(map(str, widths))}", list(zip(widths[1:], widths[:-1])))
    out["widths"] = widths
    return out


# -- the table -------------------------------------------------------------------------------
def _ratio_span(updates_per_joule):
    """brain events/J ÷ this, from the brain's lowest scenario to its highest."""
    brain = [x for s in SCENARIOS for x in s.events_per_joule()]
    return (min(brain) / updates_per_joule[1], max(brain) / updates_per_joule[0])


def _row(name, kind, upj, ups, watts, method, is_estimate, assumptions):
    return {
        "name": name,
        "kind": kind,
        "updates_per_second": ups,
        "watts": watts,
        "updates_per_joule": upj,
        "joules_per_update": (1.0 / upj[1], 1.0 / upj[0]),
        "brain_over_this": None if kind == "brain" else _ratio_span(upj),
        "method": method,
        "is_estimate": is_estimate,
        "assumptions": assumptions,
    }


def measured_row(name: str, measurement, macs_per_sample: float, samples: int,
                 net: bool = False) -> dict:
    """A measured row from an ``nnkit.energy`` Measurement over ``samples`` samples:
    updates/J = MAC/sample × samples ÷ J (net J, idle subtracted, when ``net``)."""
    joules = measurement.net_joules if net else measurement.joules
    if joules is None:
        raise ValueError("measurement: has no " + ("net joules (no idle_watts)" if net
                                                    else "joules (block not finished)"))
    macs = (_check_positive("macs_per_sample", macs_per_sample)
            * _check_positive("samples", samples))
    what = "net (idle-subtracted)" if net else "gross"
    return {
        "name": name,
        "synaptic_updates_per_joule": synaptic_updates_per_joule(macs=macs, joules=joules),
        "updates_per_second": macs / measurement.seconds,
        "watts": joules / measurement.seconds,
        "method": measurement.method,
        "is_estimate": measurement.is_estimate,
        "assumptions": (f"{what} energy, {macs_per_sample:g} MAC/sample × {samples} samples; "
                        + measurement.assumptions),
    }


def brain_table(rows=(), gpus=(GEFORCE,)) -> list[dict]:
    """Measured rows (dicts with name, synaptic_updates_per_joule, method; optionally
    is_estimate, assumptions, updates_per_second, watts), then the GPU peaks, then the brain
    scenarios. Every row: name, kind, updates_per_second, watts, updates_per_joule,
    joules_per_update, brain_over_this ((low, high) pairs), method, is_estimate, assumptions."""
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise TypeError(f"rows[{i}]: expected a dict, got {type(r).__name__}")
        missing = [k for k in ("name", "synaptic_updates_per_joule", "method") if k not in r]
        if missing:
            raise ValueError(f"rows[{i}]: missing {missing}; a measured row needs name, "
                             "synaptic_updates_per_joule and method")
        upj = _check_positive(f"rows[{i}]['synaptic_updates_per_joule']",
                              r["synaptic_updates_per_joule"])
        ups = r.get("updates_per_second")
        method = str(r["method"])
        out.append(_row(str(r["name"]), "measured", (upj, upj),
                        None if ups is None else (float(ups), float(ups)), r.get("watts"), method,
                        bool(r.get("is_estimate", "estimate" in method)),
                        str(r.get("assumptions", ""))))
    for g in gpus:
        upj = g.macs_per_joule()
        out.append(_row(g.name, "gpu-peak", (upj, upj), (g.macs_per_second(),) * 2, g.watts,
                        f"spec sheet, {g.precision}", False,
                        f"{g.source}; {g.flops_per_second / 1e12:g} TFLOP/s ÷ 2 FLOP/MAC ÷ "
                        f"{g.watts:g} W, at peak and TDP"))
    for s in SCENARIOS:
        out.append(_row(s.name, "brain", s.events_per_joule(), s.events_per_second(), s.watts,
                        "literature", True, s.assumption))
    return out


def _sci(x: float) -> str:
    """3 significant digits, 'm × 10^e' written as m e e (2.27e10)."""
    if x == 0:
        return "0"
    m, e = f"{x:.3g}".partition("e")[::2]
    if not e:
        return m
    return f"{m}e{int(e)}"


_SI = ((1e-15, "fJ"), (1e-12, "pJ"), (1e-9, "nJ"), (1e-6, "µJ"), (1e-3, "mJ"), (1.0, "J"))


def _joules(x: float) -> str:
    """An energy with an SI prefix: 8.33e-13 -> '0.833 pJ'."""
    scale_, unit = _SI[0]
    for s, u in _SI:
        if x >= s * 0.1:
            scale_, unit = s, u
    return f"{x / scale_:.3g} {unit}"


def _ratio(x: float) -> str:
    """A ratio to 3 significant digits: 52.9×, 4,000×, 2.2e5×."""
    if x >= 1e5:
        return f"{_sci(x)}×"
    decimals = max(0, 2 - math.floor(math.log10(x)))
    return f"{float(f'{x:.3g}'):,.{decimals}f}×"


def _span(pair, fmt) -> str:
    if pair is None:
        return "–"
    lo, hi = pair
    return fmt(lo) if math.isclose(lo, hi, rel_tol=1e-12) else f"{fmt(lo)} – {fmt(hi)}"


GENERAL_ASSUMPTIONS = (
    "one multiply-accumulate (MAC) of a network = one synaptic update (one synaptic event) of "
    "the brain, and 1 MAC = 2 FLOP: a modelling assumption, not an equivalence",
    "the brain's whole 20 W is charged to synaptic events, so its J/event is an upper bound "
    "(only ~0.1 W of ATP goes to cortical computation, Levy & Calvert 2021)",
    "brain ÷ this spans the brain scenarios: from the most conservative (A, "
    f"{_sci(SCENARIOS[1].events_per_joule()[0])} events/J) to the lecture's high end "
    f"({_sci(SCENARIOS[0].events_per_joule()[1])} events/J)",
    "GPU peaks are spec-sheet peaks at board power (TDP); they exclude the host, PSU and "
    "cooling, as the brain's 20 W excludes the body; measured rows usually run far below peak",
    "a measured row's scope (GPU board, CPU package, or a CPU-power estimate) is its method; "
    "rows marked * are estimates or literature figures, not measurements",
)


def format_markdown(rows) -> str:
    """A Markdown table of ``brain_table`` rows, then every assumption and the range it spans."""
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or "updates_per_joule" not in r:
            raise ValueError(f"rows[{i}]: expected a row of brain_table(...), got {r!r}")
    lines = ["| | kind | synaptic updates/s | W | updates/J | J/update | brain ÷ this | method |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        star = " *" if r["is_estimate"] else ""
        watts = "–" if r["watts"] is None else f"{r['watts']:.3g}"
        ratio = _span(r["brain_over_this"], _ratio)
        lines.append(f"| {r['name']}{star} | {r['kind']} | {_span(r['updates_per_second'], _sci)}"
                     f" | {watts} | {_span(r['updates_per_joule'], _sci)}"
                     f" | {_span(r['joules_per_update'], _joules)} | {ratio} | {r['method']} |")
    lines += ["", "Assumptions:", ""]
    lines += [f"- {a}" for a in GENERAL_ASSUMPTIONS]
    for r in rows:
        span = _span(r["updates_per_joule"], _sci)
        lines.append(f"- {r['name']}: {r['assumptions'] or 'no assumptions recorded'} "
                     f"(updates/J: {span})")
    return "\n".join(lines) + "\n"


def format_scale_markdown(widths) -> str:
    """A Markdown table of a network's scale against the lecture's NN and brain and the measured
    brain: neurons, inputs per neuron, synapses. ``widths``: an MLP's widths, or a
    ``network_scale`` dict for any other network."""
    s = widths if isinstance(widths, dict) else scale(widths)

    def ins(pair):
        return _span(pair, lambda x: f"{x:,.0f}")

    def syn(neurons, pair):
        return _span((neurons * pair[0], neurons * pair[1]), _sci)

    rows = [
        (s["label"], f"{s['neurons']:,}",
         ins(s["inputs_per_neuron"]), f"{s['synapses']:,}"),
        ("NN, lecture", "~1,000", ins(LECTURE_NN["inputs_per_neuron"]),
         syn(LECTURE_NN["neurons"], LECTURE_NN["inputs_per_neuron"])),
        ("brain, lecture", "~1e12", ins(LECTURE_BRAIN["inputs_per_neuron"]),
         syn(LECTURE_BRAIN["neurons"], LECTURE_BRAIN["inputs_per_neuron"])),
        ("brain, measured", "8.61e10", ins(MEASURED_BRAIN["inputs_per_neuron"]),
         syn(MEASURED_BRAIN["neurons"], MEASURED_BRAIN["inputs_per_neuron"])),
    ]
    lines = ["| | neurons | inputs per neuron | synapses (connections) |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lo, hi = s["brain_neurons_over_mlp"]
    lines += ["", f"The brain has {_sci(lo)}–{_sci(hi)} times this network's neurons "
              "(measured–lecture). "
              "Neurons count computing units (not the inputs); inputs per neuron is each layer's "
              "fan-in, bias not counted; synapses count connections (an MLP's weights; a "
              "convolution's shared weights at every place they connect; a recurrent layer's "
              f"per time step). Measured brain: {MEASURED_BRAIN['source']}."]
    return "\n".join(lines) + "\n"
