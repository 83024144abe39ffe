"""One measurement in its own process: ``python -m nnkit.bench._worker '<json spec>'``.

Each library runs alone in a fresh process, since the thread pools of two libraries in one
process spin against each other (PERF.md, item 9). The worker prints its result as one JSON line
after ``RESULT_MARKER``; the parent (nnkit.bench.runner) ignores everything else on stdout.

Specs:
  {"kind": "train", "label": "nnkit-numpy" | "numpy-hand" | "torch-cpu" | ..., "workload": "W1",
   "n_batches": 50, "seconds": 2.0, "repeats": 5, "seed": 0, "energy": "auto"}
  {"kind": "peak", "n": 4096, "repeats": 5}
  {"kind": "batch", "jobs": [train spec, ...]}: several trainings of one library in one process
  (quick runs: one interpreter start and library import per library instead of per workload)
"""

from __future__ import annotations

import json
import os
import platform
import sys
import traceback

from nnkit.bench.measure import RESULT_MARKER, measure_peak, measure_training


def _one(spec: dict) -> dict:
    """A training spec of a batch, its failure kept as a result of its own."""
    try:
        result = dict(measure_training(spec), ok=True)
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    result["spec"] = spec
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m nnkit.bench._worker '<json spec>'", file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    try:
        if spec["kind"] == "peak":
            result = measure_peak(int(spec["n"]), int(spec.get("repeats", 5)))
        elif spec["kind"] == "train":
            result = measure_training(spec)
        elif spec["kind"] == "batch":
            result = {"results": [_one(job) for job in spec["jobs"]]}
        else:
            raise ValueError(f"kind: expected 'peak' or 'train', got {spec['kind']!r}")
        result["ok"] = True
    except Exception as exc:  # reported to the parent as a failed row, not a crash of the run
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    result["spec"] = spec
    result["pid"] = os.getpid()
    result["python"] = platform.python_version()
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
