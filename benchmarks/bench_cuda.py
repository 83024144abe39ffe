"""One training epoch of W3 and W4 on nnkit's CuPy backend beside PyTorch eager CUDA fp32, in the
same run (W3: 784-256-256-10 ReLU, softmax + CE, batch 128, SGD momentum 0.9; W4:
1024-4096-4096-1024 ReLU, MSE, batch 256, SGD). Skipped without a usable GPU.

GPU work is asynchronous: a clock read while kernels are still queued measures the launches, not
the training. Every timing here waits for the device first: the benchmarked call ends with a
device synchronisation and starts after one, and the head-to-head test times both libraries with
CUDA events recorded around the epoch.

    pytest benchmarks/bench_cuda.py --benchmark-only
"""

from __future__ import annotations

import importlib.util
import statistics

import pytest

from benchmarks.workloads import epoch_info, epoch_trainer


def _gpu() -> tuple[bool, str]:
    from nnkit.backend import _gpu_usable

    return _gpu_usable()


def _torch_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


needs_gpu = pytest.mark.skipif(not _gpu()[0], reason=f"no usable GPU: {_gpu()[1]}")
WORKLOADS = ["W3", "W4"]
ROUNDS = {"W3": 7, "W4": 3}


def _synchronised_epoch(trainer):
    def epoch():
        trainer.run_epochs(1)
        trainer.sync()  # the epoch is over when the device says so

    return epoch


@needs_gpu
@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("library", ["nnkit-cupy", "torch-cuda"])
def test_epoch_gpu(benchmark, library, workload):
    if library == "torch-cuda" and not _torch_cuda():
        pytest.skip("PyTorch with CUDA is not installed")
    trainer = epoch_trainer(library, workload)  # warmed up: compiles and first calls are done
    benchmark.group = f"cuda epoch {workload}"
    benchmark.extra_info.update(epoch_info(trainer))
    benchmark.pedantic(_synchronised_epoch(trainer), setup=trainer.sync, rounds=ROUNDS[workload],
                       iterations=1, warmup_rounds=1)


def _event_seconds(trainer, rounds: int) -> list[float]:
    """Epoch times from CUDA events recorded on the device around each epoch."""
    import cupy

    times = []
    for _ in range(rounds):
        trainer.sync()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()  # the null stream: PyTorch's default stream too, so it brackets both
        trainer.run_epochs(1)
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3)
    return times


@needs_gpu
@pytest.mark.parametrize("workload", WORKLOADS)
def test_cupy_throughput_over_torch_cuda(benchmark, workload):
    """nnkit-cupy's samples/s over PyTorch eager CUDA fp32's, same data and weights, same run."""
    if not _torch_cuda():
        pytest.skip("PyTorch with CUDA is not installed")
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 GEMMs on both sides (CuPy's default)
    nnkit_trainer = epoch_trainer("nnkit-cupy", workload)
    torch_trainer = epoch_trainer("torch-cuda", workload)
    rounds = ROUNDS[workload]
    torch_s = statistics.median(_event_seconds(torch_trainer, rounds))
    nnkit_s = statistics.median(_event_seconds(nnkit_trainer, rounds))
    samples = nnkit_trainer.steps_per_epoch * nnkit_trainer.workload.batch
    ratio = torch_s / nnkit_s
    benchmark.group = f"cuda epoch {workload} vs torch"
    benchmark.extra_info.update(epoch_info(nnkit_trainer))
    benchmark.extra_info.update({"nnkit_samples_per_s": samples / nnkit_s,
                                 "torch_samples_per_s": samples / torch_s,
                                 "throughput_vs_torch_cuda": ratio})
    print(f"\n{workload}: nnkit-cupy {samples / nnkit_s:,.0f} samples/s, torch-cuda "
          f"{samples / torch_s:,.0f} samples/s: {ratio:.2f}x PyTorch eager CUDA fp32")
    benchmark.pedantic(_synchronised_epoch(nnkit_trainer), setup=nnkit_trainer.sync, rounds=rounds,
                       iterations=1)
