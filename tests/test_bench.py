"""nnkit bench: workload FLOP counts, peers doing the same arithmetic as nnkit, the report's
derived figures and brain arithmetic by hand, and the command writing its table, JSON and PNG."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from nnkit import brain
from nnkit.bench import quick_brain_rows
from nnkit.bench.measure import measure_peak, median
from nnkit.bench.report import brain_rows, derive_rows, format_markdown
from nnkit.bench.runner import Settings, merge_peaks, merge_rounds, plan, run_worker
from nnkit.bench.trainers import make_trainer
from nnkit.bench.workloads import WORKLOADS, get_workload, parse_workloads


# -- workloads -------------------------------------------------------------------------------
def test_flops_per_step_by_hand():
    # W1 2-8-8-1, n=10: forward 2*10*(16+64+8) = 1760, dW 1760, dX of layers 2-3 2*10*(64+8) = 1440
    assert WORKLOADS["W1"].flops_per_step() == 1760 + 1760 + 1440 == 4960
    assert WORKLOADS["W1"].macs_per_step() == 2480
    # W4 1024-4096-4096-1024, n=256: weights 4,194,304 + 16,777,216 + 4,194,304 = 25,165,824
    fwd = 2 * 256 * 25_165_824
    dx = 2 * 256 * (16_777_216 + 4_194_304)
    assert WORKLOADS["W4"].weights == 25_165_824
    assert WORKLOADS["W4"].flops_per_step() == 2 * fwd + dx == 36_507_222_016
    # W3 784-256-256-10, n=128: weights 200,704 + 65,536 + 2,560
    assert WORKLOADS["W3"].flops_per_step() == 2 * 128 * (2 * 268_800 + 65_536 + 2_560)


def test_workload_data_is_whole_batches_of_the_right_kind():
    for name, n_out_dtype in (("W1", np.float32), ("W2", np.int64), ("W3", np.int64), ("W4", np.float32)):
        wl = WORKLOADS[name]
        X, y = wl.make_data(3)
        assert X.shape == (3 * wl.batch, wl.widths[0]) and X.dtype == np.float32
        assert y.dtype == n_out_dtype and y.shape[0] == 3 * wl.batch
    assert [w.name for w in parse_workloads("w3, W1")] == ["W3", "W1"]
    with pytest.raises(ValueError, match="W9"):
        parse_workloads("W9")


# -- peers do nnkit's arithmetic ---------------------------------------------------------------
def _trained(label, name, epochs=2, batches=3):
    wl = get_workload(name)
    X, y = wl.make_data(batches, seed=1)
    trainer = make_trainer(label, wl, X, y, seed=1)
    loss = trainer.run_epochs(epochs, shuffle=False)
    return loss, trainer.get_weights()


def _peer_params():
    out = [pytest.param("numpy-hand", id="numpy-hand")]
    for label, module in (("torch-cpu", "torch"), ("jax", "jax")):
        marks = [] if importlib.util.find_spec(module) else [pytest.mark.skip(reason=f"{module} not installed")]
        out.append(pytest.param(label, id=label, marks=marks))
    return out


@pytest.mark.parametrize("name", ["W1", "W2"])
@pytest.mark.parametrize("peer", _peer_params())
def test_peer_training_matches_nnkit(peer, name):
    ref_loss, ref = _trained("nnkit-numpy", name)
    loss, got = _trained(peer, name)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    # the weights moved: the comparison is of trained weights, not of the initial ones
    init = get_workload(name).initial_weights(1)
    assert max(float(np.abs(a - w).max()) for a, w in zip(got, init)) > 1e-4


# -- derived figures by hand -----------------------------------------------------------------
def _fake_result(label, workload, blocks, method="estimate"):
    return {"ok": True, "label": label, "workload": workload, "version": "x", "blocks": blocks,
            "warmup_seconds": 0.01, "final_loss": 0.5, "loss_finite": True,
            "energy": {"method": method, "is_estimate": method == "estimate",
                       "assumptions": "ESTIMATE (last window: share 0.500); model"}}


def _fake_bench(results, peak_gflops=100.0):
    return {"settings": Settings(workloads="W2", backends="numpy", peers="numpy-hand").to_dict(),
            "machine": {"cpu": "test CPU", "cpus": 2, "platform": "p", "python": "3", "nnkit": "0",
                        "versions": {}, "env": {}, "blas": []},
            "peak": {"ok": True, "n": 64, "repeats": 1, "gflops_best": peak_gflops,
                     "gflops_median": peak_gflops, "blas": []},
            "results": results}


def test_derive_rows_by_hand():
    wl = WORKLOADS["W2"]  # batch 32, 2,744,320 FLOP and 1,372,160 MAC per step
    blocks = [{"seconds": 0.2, "joules": 4.0, "steps": 100},
              {"seconds": 0.5, "joules": 9.0, "steps": 200},
              {"seconds": 0.3, "joules": 5.0, "steps": 100}]
    hand = [{"seconds": 0.1, "joules": 2.0, "steps": 100}]
    bench = _fake_bench([_fake_result("numpy-hand", "W2", hand),
                         _fake_result("nnkit-numpy", "W2", blocks),
                         {"ok": False, "spec": {"workload": "W2", "label": "jax"}, "error": "boom"}])
    rows = derive_rows(bench)
    assert [r["library"] for r in rows] == ["nnkit-numpy", "numpy-hand"]
    r = rows[0]
    # step times 2.0, 2.5, 3.0 ms: median 2.5, best 2.0
    assert r["ms_per_step"] == pytest.approx(2.5) and r["ms_per_step_best"] == pytest.approx(2.0)
    assert r["samples_per_s"] == pytest.approx(32 / 2.5e-3) == pytest.approx(12_800)
    assert r["gflops"] == pytest.approx(2_744_320 / 2.5e-3 / 1e9)  # 1.097728
    assert r["pct_peak"] == pytest.approx(1.097728)  # of 100 GFLOP/s
    # 18 J over 400 steps of 32 samples: 1.40625e-3 J/sample
    assert r["joules_per_sample"] == pytest.approx(18 / 12_800)
    # 400 x 1,372,160 = 548,864,000 updates: 18 / 548.864 J per 10^6
    assert r["joules_per_million_updates"] == pytest.approx(18 / 548.864)
    assert r["synaptic_updates_per_joule"] == pytest.approx(548_864_000 / 18)
    assert r["watts"] == pytest.approx(18.0)  # 18 J in 1.0 s
    assert r["step_over_hand"] == pytest.approx(2.5)  # numpy-hand: 1.0 ms per step
    assert rows[1]["step_over_hand"] == pytest.approx(1.0)
    text = format_markdown(bench, rows, brain=True)
    assert "| W2 | nnkit-numpy | 2.50 (2.00) | 12,800 | 1.10 | 1.10 | 2.50 |" in text
    assert "W2 jax: boom" in text
    assert "†" not in text  # median 2.5 ms is 1.25x the best: steady
    rows[0]["ms_per_step"] = 3.5  # 1.75x the best
    assert "| 3.50 (2.00) † |" in format_markdown(bench, rows)  # failures are listed, not dropped silently
    assert "last window" not in text.split("Energy")[1].split("##")[0]
    assert "Brain comparison" in text and "GeForce GTX 1080 Ti" in text


def test_brain_rows_against_hand_computed_ratios():
    # 1,000 steps of W1 (2,480 MAC each) on 2.48 mJ: 1e9 synaptic updates per joule
    bench = _fake_bench([_fake_result("nnkit-numpy", "W1",
                                      [{"seconds": 0.5, "joules": 2.48e-3, "steps": 1000}])])
    rows = brain_rows(derive_rows(bench))
    assert len(rows) == 1
    assert rows[0]["synaptic_updates_per_joule"] == pytest.approx(1e9)
    assert rows[0]["updates_per_second"] == pytest.approx(2.48e6 / 0.5)
    table = brain.brain_table(rows)
    measured = table[0]
    assert measured["joules_per_update"][0] == pytest.approx(1e-9)
    # brain ÷ this: scenario A 1.5e14 x 0.16 Hz / 20 W = 1.2e12 events/J, up to the lecture's
    # 1e12 neurons x 1e5 inputs x 1 Hz / 20 W = 5e15 events/J
    assert measured["brain_over_this"][0] == pytest.approx(1.2e12 / 1e9)
    assert measured["brain_over_this"][1] == pytest.approx(5e15 / 1e9)
    geforce = next(r for r in table if r["kind"] == "gpu-peak")
    # 11.34 TFLOP/s / 2 FLOP per MAC / 250 W = 2.268e10 updates/J, 44.1 pJ each
    assert geforce["updates_per_joule"][0] == pytest.approx(2.268e10)
    assert geforce["updates_per_joule"][0] / measured["updates_per_joule"][0] == pytest.approx(22.68)
    assert measured["is_estimate"] and "2,480 MAC per step" in measured["assumptions"]


# -- runner pieces ---------------------------------------------------------------------------
def test_merge_rounds_pools_blocks_and_keeps_failures():
    a = _fake_result("numpy-hand", "W1", [{"seconds": 1.0, "joules": 1.0, "steps": 10}])
    b = _fake_result("numpy-hand", "W1", [{"seconds": 2.0, "joules": 2.0, "steps": 10}])
    bad = {"ok": False, "spec": {}, "error": "x"}
    merged = merge_rounds([a, bad, b])
    assert len(merged) == 2 and merged[1] is bad
    assert [blk["seconds"] for blk in merged[0]["blocks"]] == [1.0, 2.0]
    assert merged[0]["processes"] == 2
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4.0, 1.0, 2.0, 3.0]) == 2.5


def test_plan_interleaves_libraries_within_rounds():
    s = Settings(workloads="W1,W2", backends="numpy", peers="numpy-hand", rounds=2, repeats=4)
    jobs = plan(s)
    assert [i for i, j in enumerate(jobs) if j["kind"] == "peak"] == [0, 5, 10]
    order = [(j["workload"], j["round"], j["label"]) for j in jobs if j["kind"] == "train"]
    assert order[:4] == [("W1", 0, "nnkit-numpy"), ("W1", 0, "numpy-hand"),
                         ("W1", 1, "nnkit-numpy"), ("W1", 1, "numpy-hand")]
    assert order[4] == ("W2", 0, "nnkit-numpy")
    assert all(j["repeats"] == 2 for j in jobs if j["kind"] == "train")


def test_merge_peaks_takes_the_best_time_of_all():
    a = {"ok": True, "flop": 2e9, "seconds": [0.02, 0.04], "gflops_best": 100.0, "n": 1000}
    b = {"ok": True, "flop": 2e9, "seconds": [0.01, 0.03], "gflops_best": 200.0, "n": 1000}
    p = merge_peaks([a, {"ok": False, "error": "x"}, b])
    assert p["gflops_best"] == pytest.approx(200.0)  # 2e9 FLOP in 0.01 s
    assert p["gflops_median"] == pytest.approx(2e9 / 0.025 / 1e9)  # median of 0.01..0.04
    assert p["gflops_per_process"] == [100.0, 200.0] and p["repeats"] == 4


def test_quick_plan_runs_each_library_once_for_all_workloads():
    s = Settings(workloads="W1,W3", backends="numpy", peers="numpy-hand", quick=True)
    jobs = plan(s)
    assert [j["kind"] for j in jobs] == ["peak", "batch", "batch", "peak"]
    assert [(j["label"], [t["workload"] for t in j["jobs"]]) for j in jobs[1:3]] == [
        ("nnkit-numpy", ["W1", "W3"]), ("numpy-hand", ["W1", "W3"])]
    assert jobs[1]["jobs"][1]["n_batches"] == WORKLOADS["W3"].quick_batches


def test_settings_reject_what_cannot_run():
    with pytest.raises(ValueError, match="unknown backend"):
        Settings(backends="tpu")
    with pytest.raises(ValueError, match="unknown peer"):
        Settings(peers="tensorflow")
    with pytest.raises(ValueError, match="nothing to run"):
        Settings(backends="none", peers="none")
    with pytest.raises(ValueError, match="seconds"):
        Settings(seconds=0)
    if "cupy" not in __import__("nnkit").available_backends():
        with pytest.raises(ValueError, match="cupy"):
            Settings(backends="cupy")


def test_worker_reports_failure_as_a_result():
    bad = {"kind": "train", "label": "no-such-library", "workload": "W1", "n_batches": 1,
           "seconds": 0.01, "repeats": 1}
    r = run_worker(bad, timeout=60)
    assert r["ok"] is False and "no-such-library" in r["error"]
    good = dict(bad, label="numpy-hand")
    batch = run_worker({"kind": "batch", "jobs": [bad, good]}, timeout=60)
    assert [x["ok"] for x in batch["results"]] == [False, True]
    assert batch["results"][1]["spec"] == good and batch["results"][1]["blocks"][0]["steps"] >= 1


def test_peak_gflops_is_2n3_over_time():
    p = measure_peak(64, 3)
    assert p["flop"] == 2 * 64 ** 3
    assert p["gflops_best"] == pytest.approx(p["flop"] / min(p["seconds"]) / 1e9)
    assert p["gflops_best"] >= p["gflops_median"] > 0


# -- the command -----------------------------------------------------------------------------
def test_cli_quick_writes_table_json_and_png(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "nnkit", "bench", "--quick", "--workloads", "W1", "--backends",
           "numpy", "--peers", "numpy-hand", "--seconds", "0.2", "--peak-size", "256",
           "--out", str(out), "--no-progress"]  # the brain comparison is in the default report
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (out / "bench.md").read_text()
    assert md == proc.stdout.split("wrote ")[0].rstrip() + "\n"
    assert "| W1 | nnkit-numpy |" in md and "| W1 | numpy-hand |" in md
    assert "Per-step overhead: nnkit-numpy takes" in md
    assert "fp32 GEMM peak (np.matmul, n = 256, best of 6, measured before each workload" in md and "## Brain comparison" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "bench.json").read_text())
    # the environment's OPENBLAS settings are recorded as found, never changed
    assert doc["machine"]["env"]["OPENBLAS_CORETYPE"] == os.environ.get("OPENBLAS_CORETYPE")
    assert {r["library"] for r in doc["rows"]} == {"nnkit-numpy", "numpy-hand"}
    peak = doc["peak"]["gflops_best"]
    wl = WORKLOADS["W1"]
    for r in doc["rows"]:
        assert r["steps"] > 0 and math.isfinite(r["final_loss"])
        assert r["gflops"] == pytest.approx(wl.flops_per_step() / (r["ms_per_step"] / 1e3) / 1e9)
        assert r["pct_peak"] == pytest.approx(100 * r["gflops"] / peak)
        assert r["joules_per_sample"] * r["steps"] * wl.batch == pytest.approx(r["joules"])
        assert r["energy_method"] and r["energy_assumptions"]
    assert [b["kind"] for b in doc["brain"]][:2] == ["measured", "measured"]


def test_high_load_is_flagged_at_the_top_and_verdicts_marked_unreliable():
    blocks = [{"seconds": 0.2, "joules": 4.0, "steps": 100}]
    bench = _fake_bench([_fake_result("numpy-hand", "W1", blocks), _fake_result("nnkit-numpy", "W1", blocks)])
    bench["machine"]["load_average"] = {"start": 0.4, "end": 1.2}  # 2 CPUs: idle enough
    text = format_markdown(bench)
    assert "Load was high" not in text and "(within the 1.5× target)" in text
    assert "## Brain comparison" in text  # by default
    assert "## Brain comparison" not in format_markdown(bench, brain=False)
    for load, when in (({"start": 1.5, "end": 0.2}, "start 1.5"), ({"start": 0.1, "end": 2.5}, "end 2.5")):
        bench["machine"]["load_average"] = load
        text = format_markdown(bench)
        top = text.split("\n\n")[1]
        assert top.startswith("**Load was high**") and when in top and "unreliable" in top
        assert "within the" not in text and "OVER" not in text
        assert "unreliable under this load: no verdict" in text
        assert "Measured under high load: the ratios are unreliable." in text


def test_report_says_why_the_openblas_settings_matter():
    text = format_markdown(_fake_bench([]))
    line = next(line for line in text.splitlines() if line.startswith("BLAS: "))
    assert "OPENBLAS_CORETYPE forces another" in line and "OPENBLAS_L2_SIZE changes its blocking" in line


def test_cli_rejects_an_unknown_workload(capsys):
    from nnkit.bench import run

    assert run(["--workloads", "W9", "--no-progress"]) == 2
    assert "W9" in capsys.readouterr().out
    from nnkit.cli import main

    with pytest.raises(SystemExit) as exit_info:  # from the command line: a one-line usage error
        main(["bench", "--workloads", "W9"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "W9" in err


def test_quick_brain_rows_feed_the_brain_table():
    rows = quick_brain_rows(seconds=0.1, workloads=("W1",), backends="numpy")
    assert [r["name"].split(" ")[:2] for r in rows] == [["W1", "nnkit-numpy"]]
    assert rows[0]["synaptic_updates_per_joule"] > 0 and rows[0]["method"]
    table = brain.brain_table(rows)
    assert table[0]["kind"] == "measured"
