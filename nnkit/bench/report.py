"""From worker results to the report: derived figures per row, Markdown, JSON and a PNG chart.

Per (workload, library), from the repeats of a worker:
  ms/step = median (and best) of block seconds / steps;  samples/s = batch / step seconds;
  GFLOP/s = executed GEMM FLOP per step / step seconds;  % peak = GFLOP/s / measured GEMM peak;
  J/sample = sum J / (sum steps x batch);  J per 10^6 synaptic updates = sum J / (sum steps x
  MAC per step / 10^6);  synaptic updates/J = sum steps x MAC per step / sum J.
"""

from __future__ import annotations

import json
import math
import os
import re

from nnkit.bench.measure import median
from nnkit.bench.workloads import get_workload

__all__ = ["derive_rows", "brain_rows", "format_markdown", "write_json", "write_png", "write_report"]

HAND = "numpy-hand"
UNSTEADY = 1.5  # median / best step time above which a row is flagged
OVERHEAD_TARGET = 1.5  # nnkit-numpy's W1 step over the hand-written one (the training issue)
# a 1-minute load average per CPU above which the figures are not trusted: at the start other work
# is running; at the end the bench's own worker (one process) is counted too, hence the higher bar
HIGH_LOAD_START = 0.5
HIGH_LOAD_END = 1.0
_LAST_WINDOW = re.compile(r" \(last window: share [0-9.]+\)")


def derive_rows(bench: dict) -> list[dict]:
    """One row per successful measurement with every derived figure (see the module docstring);
    ``step_over_hand`` is its median step time / numpy-hand's on the same workload."""
    peak = bench.get("peak") or {}
    peak_gflops = peak.get("gflops_best") if peak.get("ok") else None
    rows = []
    for r in bench["results"]:
        if not r.get("ok"):
            continue
        wl = get_workload(r["workload"])
        flops, macs = wl.flops_per_step(), wl.macs_per_step()
        blocks = r["blocks"]
        step_times = [b["seconds"] / b["steps"] for b in blocks]
        steps = sum(b["steps"] for b in blocks)
        joules = sum(b["joules"] for b in blocks)
        seconds = sum(b["seconds"] for b in blocks)
        median_, best = median(step_times), min(step_times)
        gflops = flops / median_ / 1e9
        rows.append({
            "workload": wl.name, "library": r["label"], "version": r["version"],
            "batch": wl.batch, "flop_per_step": flops, "mac_per_step": macs,
            "ms_per_step": median_ * 1e3, "ms_per_step_best": best * 1e3,
            "samples_per_s": wl.batch / median_, "samples_per_s_best": wl.batch / best,
            "gflops": gflops, "gflops_best": flops / best / 1e9,
            "pct_peak": None if not peak_gflops else 100.0 * gflops / peak_gflops,
            "blocks": len(blocks), "processes": r.get("processes", 1),
            "steps": steps, "seconds": seconds, "joules": joules,
            "watts": joules / seconds if seconds > 0 else None,
            "joules_per_sample": joules / (steps * wl.batch),
            "joules_per_million_updates": joules / (steps * macs / 1e6),
            "synaptic_updates_per_joule": steps * macs / joules if joules > 0 else None,
            "synaptic_updates_per_s": steps * macs / seconds,
            "energy_method": r["energy"]["method"], "energy_is_estimate": r["energy"]["is_estimate"],
            "energy_assumptions": r["energy"]["assumptions"],
            "warmup_s": r["warmup_seconds"], "final_loss": r["final_loss"],
            "details": r.get("details", {}),
        })
    # workload-major, libraries in the run's order, whatever order the processes ran in
    libraries = list(bench.get("settings", {}).get("libraries", []))
    rank = {name: i for i, name in enumerate(libraries)}
    rows.sort(key=lambda row: (row["workload"], rank.get(row["library"], len(rank)), row["library"]))
    hand = {row["workload"]: row["ms_per_step"] for row in rows if row["library"] == HAND}
    for row in rows:
        h = hand.get(row["workload"])
        row["step_over_hand"] = row["ms_per_step"] / h if h else None
    return rows


def brain_rows(rows, energy_detail: bool = True) -> list[dict]:
    """Rows for ``nnkit.brain.brain_table``: one per measurement, updates/J from its joules;
    the meter's full assumptions are appended unless ``energy_detail`` is False (the report
    prints them once, in its Energy section)."""
    out = []
    for row in rows:
        if not row.get("synaptic_updates_per_joule"):
            continue
        wl = get_workload(row["workload"])
        out.append({
            "name": f"{row['workload']} {row['library']} ({wl.architecture})",
            "synaptic_updates_per_joule": row["synaptic_updates_per_joule"],
            "updates_per_second": row["synaptic_updates_per_s"], "watts": row["watts"],
            "method": row["energy_method"], "is_estimate": row["energy_is_estimate"],
            "assumptions": (f"training, {row['mac_per_step']:,} MAC per step of {wl.batch} samples "
                            f"(executed GEMM MACs), {row['steps']:,} steps in {row['seconds']:.3g} s; "
                            + (row["energy_assumptions"] if energy_detail
                               else f"energy: {row['energy_method']}, see Energy above")),
        })
    return out


# -- Markdown ----------------------------------------------------------------------------------
def _g(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        m, e = f"{x:.{digits - 1}e}".split("e")
        return f"{m}e{int(e)}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def _blas_line(blas) -> str:
    pools = [p for p in blas or [] if p.get("user_api") == "blas"]
    if not pools:
        return "BLAS unknown (threadpoolctl saw no BLAS pool)"
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture')}, "
                     f"{p.get('num_threads')} threads" for p in pools)


def high_load(machine: dict):
    """A sentence saying the load average was high at the start or the end of the run, else None."""
    load, cpus = machine.get("load_average") or {}, machine.get("cpus") or 1
    high = [f"{when} {load[when]}" for when, bar in (("start", HIGH_LOAD_START), ("end", HIGH_LOAD_END))
            if load.get(when) is not None and load[when] > bar * cpus]
    if not high:
        return None
    return (f"**Load was high** (1-minute load average at the {' and at the '.join(high)} on {cpus} CPUs; "
            f"above {HIGH_LOAD_START:g} per CPU at the start or {HIGH_LOAD_END:g} at the end): other work "
            "shared the CPUs, so every figure is slowed and the verdicts below are unreliable; rerun on "
            "an idle machine.")


def format_markdown(bench: dict, rows=None, brain: bool = True) -> str:
    """The report: a load warning where the machine was busy, machine, BLAS, GEMM peak, the table,
    workloads, energy assumptions, failures, and (unless ``brain`` is False) the brain comparison
    and the networks' scale."""
    rows = derive_rows(bench) if rows is None else rows
    m, peak = bench["machine"], bench.get("peak") or {}
    env = m["env"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    busy = high_load(m)
    lines = ["# nnkit bench", ""] + ([busy, ""] if busy else [])
    lines += [f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}; Python {m['python']}; "
              f"nnkit {m['nnkit']}; {versions}.", "",
              f"BLAS: {_blas_line(m['blas'])}. OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE') or 'unset'}, "
              f"OPENBLAS_L2_SIZE={env.get('OPENBLAS_L2_SIZE') or 'unset'} (left as found): OpenBLAS picks "
              "its GEMM kernel for the CPU it detects, OPENBLAS_CORETYPE forces another (an older, "
              "slower one, say) and OPENBLAS_L2_SIZE changes its blocking, so either changes every "
              "figure here; unset both for a benchmark.", ""]
    load = m.get("load_average")
    if load:
        lines += [f"Load average (1 min) at the start {load['start']}, at the end {load['end']}, "
                  f"on {m['cpus']} CPUs: other work on the machine slows every row.", ""]
    if peak.get("ok"):
        lines += [f"fp32 GEMM peak (np.matmul, n = {peak['n']}, best of {peak['repeats']}, measured "
                  "before each workload and at the end): "
                  f"**{peak['gflops_best']:.0f} GFLOP/s** (median {peak['gflops_median']:.0f}), "
                  f"{_blas_line(peak['blas'])}.", ""]
    else:
        lines += [f"fp32 GEMM peak: not measured ({peak.get('error', 'no result')}).", ""]
    s = bench["settings"]
    where = ("one process per library for all its workloads (a quick run)" if s["quick"] else
             f"{s['rounds']} processes of its own, interleaved with the other libraries' on the "
             "same workload")
    lines += [f"Each row: {where}; in each, a warm-up epoch, then timed blocks of whole epochs "
              f"({s['repeats']} blocks, ~{s['seconds']:g} s in all). ms/step: median block (best "
              "block in brackets). GFLOP/s counts executed GEMM FLOP only; 1 MAC = 1 synaptic "
              "update; W: mean power over the blocks.", ""]
    lines += ["| workload | library | ms/step | samples/s | GFLOP/s | % peak | step ÷ numpy-hand "
              "| J/sample | J per 10⁶ syn. updates | W | energy method | warm-up s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    unsteady = False
    for r in rows:
        star = " *" if r["energy_is_estimate"] else ""
        dagger = " †" if r["ms_per_step"] > UNSTEADY * r["ms_per_step_best"] else ""
        unsteady = unsteady or bool(dagger)
        lines.append(
            f"| {r['workload']} | {r['library']} | {_g(r['ms_per_step'])} ({_g(r['ms_per_step_best'])}){dagger} "
            f"| {_g(r['samples_per_s'])} | {_g(r['gflops'])} | {_g(r['pct_peak'])} "
            f"| {_g(r['step_over_hand'])} | {_g(r['joules_per_sample'])} "
            f"| {_g(r['joules_per_million_updates'])} | {_g(r['watts'])} | {r['energy_method']}{star} "
            f"| {_g(r['warmup_s'])} |")
    if unsteady:
        lines += ["", f"† median step over {UNSTEADY:g}× the best: the row ran unsteadily, most "
                  "often because other work shared the CPUs (thread pools that busy-wait, such as "
                  "PyTorch's OpenMP, suffer most); compare its best figure, or rerun on an idle "
                  "machine."]
    check = next((r for r in rows if r["workload"] == "W1" and r["library"] == "nnkit-numpy"
                  and r["step_over_hand"]), None)
    if check is not None:
        if busy:
            verdict = f"unreliable under this load: no verdict against the {OVERHEAD_TARGET:g}× target"
        else:
            verdict = ("within" if check["step_over_hand"] <= OVERHEAD_TARGET else "OVER") + \
                f" the {OVERHEAD_TARGET:g}× target"
        lines += ["", f"Per-step overhead: nnkit-numpy takes {check['step_over_hand']:.2f}× the "
                  f"hand-written NumPy step on W1 ({verdict})."]
    lines += ["", "Workloads (fp32):", ""]
    for name in dict.fromkeys(r["workload"] for r in rows):
        wl = get_workload(name)
        lines.append(f"- {wl.summary()}; {wl.flops_per_step():,} FLOP = {wl.macs_per_step():,} "
                     "MAC (synaptic updates) per step")
    methods = {}
    for r in rows:
        # the estimate's per-window load share differs per row: the W column shows it
        methods.setdefault(r["energy_method"], _LAST_WINDOW.sub("", r["energy_assumptions"]))
    if methods:
        lines += ["", "Energy (rows marked * are estimates, not measurements; gross energy of the "
                  "worker process's timed blocks):", ""]
        lines += [f"- {k}: {v}" for k, v in methods.items()]
    failed = [r for r in bench["results"] if not r.get("ok")]
    if failed:
        lines += ["", "Not measured:", ""]
        lines += [f"- {r['spec'].get('workload')} {r['spec'].get('label')}: {r.get('error')}"
                  for r in failed]
    if brain:
        from nnkit import brain as _brain

        lines += ["", "## Brain comparison", "",
                  "Synaptic updates per joule of each measured row, against the lecture's GeForce "
                  "(GTX 1080 Ti) at peak and the brain's scenarios."
                  + (" Measured under high load: the ratios are unreliable." if busy else ""), ""]
        lines.append(_brain.format_markdown(_brain.brain_table(brain_rows(rows, False))).rstrip())
        lines += ["", "## Scale", "",
                  "The benchmarked networks against the lecture's \"NN: ~1000 neurons, "
                  "100-10000 inputs\" and the brain.", ""]
        for name in dict.fromkeys(r["workload"] for r in rows):
            lines += [f"{name}:", "", _brain.format_scale_markdown(get_workload(name).scale()).rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


# -- files -------------------------------------------------------------------------------------
def write_json(bench: dict, rows, path, brain: bool = True) -> None:
    doc = dict(bench)
    doc["rows"] = rows
    doc["high_load"] = high_load(bench["machine"])
    if brain:
        from nnkit import brain as _brain

        doc["brain"] = _brain.brain_table(brain_rows(rows))
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)


def write_png(rows, path, peak_gflops=None, brain: bool = True, busy: bool = False) -> None:
    """Panels over the workloads, one bar per library: samples/s, % of the GEMM peak and (with
    ``brain``) synaptic updates per joule against the lecture's GeForce and the brain."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    libraries = list(dict.fromkeys(r["library"] for r in rows))
    by_key = {(r["workload"], r["library"]): r for r in rows}
    panels = [("samples_per_s", "training samples/s (median)"),
              ("pct_peak", "% of measured fp32 GEMM peak" + (f"\n({peak_gflops:.0f} GFLOP/s)"
                                                            if peak_gflops else ""))]
    if brain:
        panels.append(("synaptic_updates_per_joule", "synaptic updates per joule\nvs the GeForce and the brain"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8))
    width = 0.8 / max(1, len(libraries))
    for ax, (key, title) in zip(axes, panels):
        for j, lib in enumerate(libraries):
            xs, ys = [], []
            for i, wl in enumerate(workloads):
                r = by_key.get((wl, lib))
                if r is not None and r.get(key):
                    xs.append(i + (j - (len(libraries) - 1) / 2) * width)
                    ys.append(r[key])
            ax.bar(xs, ys, width=width, label=lib)
        ax.set_xticks(range(len(workloads)), workloads)
        ax.set_xlabel("workload")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3, which="both")
    if brain:
        from nnkit import brain as _brain

        ax = axes[-1]
        geforce = _brain.GEFORCE.macs_per_joule()
        ax.axhline(geforce, color="black", linestyle="--", linewidth=1)
        ax.text(-0.45, geforce * 1.3, "GeForce GTX 1080 Ti, peak", fontsize=7)
        low = min(s.events_per_joule()[0] for s in _brain.SCENARIOS)
        high = max(s.events_per_joule()[1] for s in _brain.SCENARIOS)
        ax.axhspan(low, high, color="tab:pink", alpha=0.25)
        ax.text(-0.45, high / 3, "brain (the lecture's and literature scenarios)", fontsize=7)
        ax.set_ylim(top=high * 10)
    axes[0].legend(fontsize=8)
    fig.suptitle("nnkit bench: training throughput and energy per workload and library"
                 + ("\n(load average high during the run: figures unreliable)" if busy else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(bench: dict, out_dir, brain: bool = True) -> dict:
    """Write bench.md, bench.json and bench.png into ``out_dir``; returns their paths and the
    Markdown text."""
    os.makedirs(out_dir, exist_ok=True)
    rows = derive_rows(bench)
    text = format_markdown(bench, rows, brain=brain)
    paths = {k: os.path.join(out_dir, f"bench.{k}") for k in ("md", "json", "png")}
    with open(paths["md"], "w") as f:
        f.write(text)
    write_json(bench, rows, paths["json"], brain=brain)
    peak = bench.get("peak") or {}
    write_png(rows, paths["png"], peak.get("gflops_best") if peak.get("ok") else None, brain=brain,
              busy=high_load(bench["machine"]) is not None)
    return {"paths": paths, "markdown": text, "rows": rows}
