"""``nnkit bench``: throughput, % of the GEMM peak and energy of the reference workloads W1-W5.

Every available nnkit backend runs each workload, beside peers found installed (a hand-written
NumPy step, PyTorch eager on CPU and on CUDA where a GPU is usable, JAX jit), each in its own
process; the machine's fp32 GEMM peak is measured in the same run. The report is a Markdown
table, a JSON file and a PNG chart, each with the brain comparison (nnkit.brain: synaptic updates
per joule against the brain and the lecture's GeForce, the networks' scale; ``--no-brain`` leaves
it out). A load average that was high at the start or end is flagged at the report's top.

    nnkit bench --quick --out results
    nnkit bench --workloads W1,W3 --backends numpy --no-peers --seconds 2

From Python::

    bench = nnkit.bench.run(["--quick", "--out", "results"])      # the command
    rows = nnkit.bench.quick_brain_rows(seconds=0.3)              # for nnkit.brain.brain_table

The BLAS is measured as the environment leaves it: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
never changed here; the report names the kernel that ran (threadpoolctl's ``architecture``).
"""

from __future__ import annotations

import argparse

from nnkit.bench.report import brain_rows, derive_rows, format_markdown, write_report
from nnkit.bench.runner import Settings, run_bench
from nnkit.bench.workloads import WORKLOADS, Workload, get_workload

__all__ = ["configure_parser", "run", "run_bench", "Settings", "quick_brain_rows", "brain_rows",
           "derive_rows", "format_markdown", "write_report", "WORKLOADS", "Workload",
           "get_workload"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workloads", default=None,
                        help="comma-separated workloads, e.g. W1,W3 (default: W1,W2,W3,W4,W5)")
    parser.add_argument("--backends", default=None,
                        help="comma-separated nnkit backends, e.g. numpy,numba (default: every "
                             "available one; 'none' for peers only)")
    parser.add_argument("--peers", default="all",
                        help="peers to run beside nnkit: 'all' (every installed one: numpy-hand, "
                             "torch-cpu, torch-cuda, jax), 'none', or a comma-separated list")
    parser.add_argument("--no-peers", dest="peers", action="store_const", const="none",
                        help="run nnkit's backends only")
    parser.add_argument("--quick", action="store_true",
                        help="a run of under a minute: shorter timing, smaller W3/W4 epochs, "
                             "a 2048 GEMM for the peak")
    parser.add_argument("--seconds", type=float, default=None,
                        help="timed seconds per workload and library (default 3, quick 0.4)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed blocks per workload and library, over all rounds (default 6, quick 3)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="processes per workload and library, interleaved with the other "
                             "libraries' (default 3, quick 1)")
    parser.add_argument("--peak-size", type=int, default=None,
                        help="n of the n x n fp32 GEMM measuring the peak (default 4096, quick 2048)")
    parser.add_argument("--energy", default="auto", choices=("auto", "nvml", "rapl", "estimate"),
                        help="energy meter (default auto: NVML and RAPL where readable, else a "
                             "CPU-power estimate)")
    parser.add_argument("--out", default="nnkit-bench",
                        help="directory for bench.md, bench.json and bench.png (default ./nnkit-bench)")
    parser.add_argument("--no-brain", dest="brain", action="store_false",
                        help="leave the brain comparison and the networks' scale out of the report "
                             "(the default report has them)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def _settings(args) -> Settings:
    return Settings(workloads=args.workloads, backends=args.backends, peers=args.peers, quick=args.quick,
                    seconds=args.seconds, repeats=args.repeats, rounds=args.rounds, peak_n=args.peak_size,
                    energy=args.energy)


def check_args(parser, args) -> None:
    """Before any work: every value is one the run takes (a one-line usage error if not)."""
    try:
        _settings(args)
    except ValueError as exc:
        parser.error(str(exc))
    from nnkit import _deps

    if not _deps.is_installed("matplotlib"):
        parser.error(_deps.missing_message("matplotlib", "nnkit bench's chart (bench.png)"))


def run(args) -> int:
    """Run ``nnkit bench`` with parsed ``args`` (or a list of command-line words)."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(prog="nnkit bench")
        configure_parser(parser)
        args = parser.parse_args(list(args))
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"nnkit bench: {exc}")
        return 2
    bench = run_bench(settings, progress=args.progress)
    written = write_report(bench, args.out, brain=args.brain)
    print(written["markdown"])
    paths = written["paths"]
    print(f"wrote {paths['md']}, {paths['json']} and {paths['png']} "
          f"({bench['wall_seconds']:.1f} s)")
    failed = [r for r in bench["results"] if not r.get("ok")]
    return 1 if failed or not written["rows"] else 0


def quick_brain_rows(seconds: float = 0.3, workloads=("W1", "W2"), backends=None,
                     progress: bool = False) -> list[dict]:
    """Measure ``workloads`` briefly on every available nnkit backend (no peers) and return rows
    for ``nnkit.brain.brain_table`` (name, synaptic_updates_per_joule, method, ...)."""
    settings = Settings(workloads=list(workloads), backends=backends, peers="none", quick=True,
                        seconds=seconds, repeats=2, peak_n=512)
    return brain_rows(derive_rows(run_bench(settings, progress=progress)))
