"""Data-parallel training over MPI: the scripts in tests/_mpi_scripts run under ``mpiexec -n 2``
(the mpich wheel's hydra, which runs as root) and are compared with one-process runs."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnkit as nk
from nnkit.distributed import DataParallelEngine, find_mpiexec, shard_bounds

SCRIPTS = Path(__file__).parent / "_mpi_scripts"
REPO = Path(__file__).parent.parent
MPIEXEC = find_mpiexec()
TIMEOUT = 120

_missing = ("mpi4py is not installed (pip install nnkit[mpi])" if importlib.util.find_spec("mpi4py") is None
            else "no mpiexec beside this Python or on PATH (pip install mpich)" if MPIEXEC is None else None)


def needs_mpi(test):
    """Marked ``mpi``; skipped, saying why, without mpi4py or an mpiexec."""
    return pytest.mark.mpi(pytest.mark.skipif(_missing is not None, reason=_missing or "")(test))


def _run(script, *args, ranks=2, timeout=TIMEOUT, env=None, mpi=True):
    """Run a script (under mpiexec -n ranks), 1 BLAS thread per rank; kill the whole job on timeout."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                    NUMBA_NUM_THREADS="1", **(env or {}))
    command = [sys.executable, *([str(SCRIPTS / script)] if script.endswith(".py") else ["-m", script]), *args]
    if mpi:
        command = [MPIEXEC, "-n", str(ranks), *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=full_env, cwd=REPO, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(command)} hung past {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return proc.returncode, out, err


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# -- without MPI: shards and errors -------------------------------------------------------------
@pytest.mark.parametrize("n,size", [(10, 3), (128, 2), (1, 2), (7, 4), (5, 1)])
def test_shards_cover_the_batch_and_differ_by_at_most_one_row(n, size):
    bounds = [shard_bounds(n, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(bounds[r][1] == bounds[r + 1][0] for r in range(size - 1))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n


def _small_model():
    model = nk.Sequential([nk.layers.Dense(2, input_dim=3)], backend="numpy", dtype="float64", seed=0)
    return model.compile("sgd", "mse")


@pytest.mark.parametrize("make, shape, row_axis", [
    (lambda: nk.layers.Dropout(0.5), (3, 4), 0),
    (lambda: nk.layers.GaussianNoise(0.1), (2, 3, 4), 1),
    (lambda: nk.layers.RandomFlip((2, 2)), (2, 3), 1),
])
def test_a_random_layer_on_a_shard_draws_the_global_batch_and_keeps_its_rows(make, shape, row_axis):
    layer = make()
    layer.build(4, backend="numpy", dtype="float64")
    layer.backend.seed(5)
    whole = list(shape)
    whole[row_axis] = 7
    expected = layer.random_uniform(tuple(whole), "float64", row_axis)
    layer.backend.seed(5)
    layer.global_rows = (7, 2, 5)  # rows 2:5 of a global batch of 7
    got = layer.random_uniform(shape, "float64", row_axis)
    np.testing.assert_array_equal(got, np.take(expected, [2, 3, 4], axis=row_axis))
    layer.global_rows = None
    assert layer.random_uniform(shape, "float64", row_axis).shape == shape


def test_fit_without_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    model = _small_model()
    w0 = model.get_weights() if model.built else None
    with pytest.raises(ImportError, match=r"pip install nnkit\[mpi\]"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, distributed=True)
    if w0 is not None:
        assert all(np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))


def test_distributed_must_be_true_or_a_communicator():
    with pytest.raises(TypeError, match="communicator"):
        DataParallelEngine(comm="world")
    with pytest.raises(ValueError, match="gradient_path"):
        DataParallelEngine(comm=object(), gradient_path="gloo")


# -- under mpiexec -n 2 -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each config trained on 2 ranks, on 1 rank with distributed=True, and without distributed."""
    out = tmp_path_factory.mktemp("dp")
    for ranks in (2, 3):  # 3 ranks on a batch of 20 take 6, 6 and 8 rows, and 0, 0, 1 of the last
        rc, _, err = _run("train_compare.py", str(out), f"ranks{ranks}", ranks=ranks)
        assert rc == 0, err
    for mode in ("reference", "single"):
        rc, _, err = _run("train_compare.py", str(out), mode, mpi=False)
        assert rc == 0, err
    names = ["ranks2_rank0", "ranks2_rank1", "ranks3_rank0", "ranks3_rank1", "ranks3_rank2",
             "single_rank0", "reference_rank0"]
    return {name: _load(out / f"{name}.npz") for name in names}


CONFIGS = ("sgd", "momentum_l2", "adam", "dropout")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("config", CONFIGS)
def test_n_ranks_train_like_one_rank(trained, config, ranks):
    two, one = trained[f"ranks{ranks}_rank0"], trained["reference_rank0"]
    keys = [k for k in one if k.startswith(f"{config}/epoch")]
    assert len(keys) == 4 * 4  # 4 epochs x (W, b, W, b)
    for key in keys:
        # float64: the shards' means weighted by n_r/n differ from the batch mean only by rounding
        np.testing.assert_allclose(two[key], one[key], rtol=1e-10, atol=1e-12, err_msg=key)
    # and training moved the weights, so the comparison means something
    first, last = one[f"{config}/epoch0/w0"], one[f"{config}/epoch3/w0"]
    assert np.abs(last - first).max() > 1e-3


@needs_mpi
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("ranks", [2, 3])
def test_every_rank_holds_identical_weights_and_history_after_each_epoch(trained, config, ranks):
    r0 = trained[f"ranks{ranks}_rank0"]
    keys = [k for k in r0 if k.startswith(f"{config}/")]
    assert any("/history/val_loss" in k for k in keys)
    for r in range(1, ranks):
        other = trained[f"ranks{ranks}_rank{r}"]
        for key in keys:
            np.testing.assert_array_equal(r0[key], other[key], err_msg=f"rank {r}: {key}")


@needs_mpi
@pytest.mark.parametrize("config", CONFIGS)
def test_history_matches_the_one_rank_history(trained, config):
    two, one = trained["ranks2_rank0"], trained["reference_rank0"]
    keys = [k for k in one if k.startswith(f"{config}/history/")]
    assert {k.rsplit("/", 1)[1] for k in keys} >= {"loss", "val_loss"}
    for key in keys:
        np.testing.assert_allclose(two[key], one[key], rtol=1e-10, err_msg=key)


@needs_mpi
def test_one_rank_distributed_is_the_plain_fit(trained):
    single, plain = trained["single_rank0"], trained["reference_rank0"]
    assert single.keys() == plain.keys()
    for key in plain:
        np.testing.assert_array_equal(single[key], plain[key], err_msg=key)


@needs_mpi
def test_only_rank_0_writes_the_checkpoint(tmp_path):
    rc, _, err = _run("checkpoint.py", str(tmp_path))
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / "rank0")) == ["model_1.npz", "model_2.npz"]
    assert os.listdir(tmp_path / "rank1") == []
    info = [json.loads((tmp_path / f"info_rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["enabled"] for i in info] == [True, False]
    assert info[0]["size"] == info[0]["world_size"] == 2 and info[0]["path"] == "MPI Allreduce on host buffers"
    assert info[0]["steps"] == info[1]["steps"] == 2 * 4  # one Allreduce per step
    assert info[0]["loss"] == info[1]["loss"]
    saved = nk.load_model(tmp_path / "rank0" / "model_2.npz").get_weights()
    final = _load(tmp_path / "final_rank1.npz")
    for i, w in enumerate(saved):
        np.testing.assert_array_equal(w, final[f"arr_{i}"])


@needs_mpi
def test_a_rank_that_raises_ends_the_job_with_an_error(tmp_path):
    rc, _, err = _run("failure.py", timeout=60)
    assert rc != 0
    assert "rank 1 failed on purpose" in err


@needs_mpi
def test_ranks_that_disagree_on_the_model_shape_both_raise(tmp_path):
    rc, _, err = _run("mismatch.py", str(tmp_path))
    assert rc == 0, err
    for r in (0, 1):
        text = (tmp_path / f"mismatch_rank{r}.txt").read_text()
        assert text.startswith("ValueError: distributed: ranks disagree on the model's shape")
        assert "rank 0: [(3, 4), (4,), (4, 1), (1,)]" in text and "rank 1: [(3, 5), (5,), (5, 1), (1,)]" in text


@needs_mpi
def test_a_foreign_launcher_is_a_clear_error():
    # what Open MPI's mpiexec would announce to a process that loaded MPICH and so sees itself alone
    rc, _, err = _run("mismatch.py", "/nonexistent", mpi=False, env={"OMPI_COMM_WORLD_SIZE": "2"})
    assert rc != 0
    assert "the launcher started 2 processes (OMPI_COMM_WORLD_SIZE=2) but MPI sees only 1" in err


@needs_mpi
def test_nnkit_train_distributed_under_mpiexec(tmp_path):
    path = tmp_path / "xor.npz"
    rc, out, err = _run("nnkit", "train", "--distributed", "--dataset", "xor", "--samples", "120",
                        "--hidden", "4", "--epochs", "3", "--backend", "numpy", "--verbose", "2",
                        "--save", str(path))
    assert rc == 0, err
    assert out.count("nnkit train: xor") == 1  # rank 1 prints nothing
    assert out.count("Epoch 3/3") == 1
    assert "data-parallel over 2 rank(s)" in out
    assert nk.load_model(path).count_params() == 2 * 4 + 4 + 4 + 1


# -- the cupy backend's two gradient paths, on the simulated GPU (tests/_simulated_gpu) ----------
@needs_mpi
@pytest.mark.skipif(os.environ.get("NNKIT_SIMULATED_GPU") != "1",
                    reason="runs on the simulated GPU: test_simulated_gpu.py runs it")
@pytest.mark.parametrize("gpus, data, path", [
    ("2", "resident", "NCCL allReduce (cupy.cuda.nccl)"),
    ("1", "resident", "MPI Allreduce through host buffers (staged from the GPU)"),
    ("2", "staged", "NCCL allReduce (cupy.cuda.nccl)"),
    ("1", "staged", "MPI Allreduce through host buffers (staged from the GPU)")])
def test_cupy_ranks_train_like_one_rank_through_nccl_and_through_the_host(tmp_path, gpus, data, path):
    """A node of 2 GPUs gives each rank its own (NCCL); a node of 1 makes them share it (host
    staging). Either way, and with the data on the device or staged from the host, 2 ranks train
    as 1 does."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import cupy_paths
    finally:
        sys.path.remove(str(SCRIPTS))
    reference = cupy_paths.model()
    history = reference.fit(*cupy_paths.data(), **cupy_paths.FIT)
    rc, _, err = _run("cupy_paths.py", str(tmp_path), "ranks2", data,
                      env={"NNKIT_SIMULATED_GPUS": gpus, "NNKIT_SIMULATED_SHARED_GPU": "0"})
    assert rc == 0, err
    got = _load(tmp_path / "ranks2.npz")
    assert str(got["path"]) == path
    assert int(got["steps"]) == 3 * 6  # 61 rows in batches of 12, 3 epochs: one reduction a step
    np.testing.assert_allclose(got["loss"], history.history["loss"], rtol=1e-10)
    for i, w in enumerate(reference.get_weights()):
        np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-10, atol=1e-12)
    devices, communicators, waits, waits_fine = got["seen"].T
    # each rank on the device of its node-local rank, chosen before anything was allocated
    assert list(devices) == ([0, 1] if gpus == "2" else [0, 0])
    if path.startswith("NCCL"):
        assert list(communicators) == [1, 1]  # one per process, reused by the second fit and model
        if data == "resident":
            # no wait for the device per step: 11 steps an epoch wait as often as 6 do
            assert list(waits) == list(waits_fine), got["seen"]
    else:
        assert list(communicators) == [0, 0]


@needs_mpi
@pytest.mark.parametrize("mode, message", [
    ("nan", "rank 1: ValueError: X: contains NaN or inf (NaN (row 5))"),
    ("width", "rank 1: ValueError: X: the model takes samples of shape (3,), got (4,)"),
    ("caught", "rank 1: ValueError: X: contains NaN or inf (NaN (row 5))"),
    ("mpi4py-first", "rank 1: ValueError: X: contains NaN or inf (NaN (row 5))"),
])
def test_a_rank_failing_fits_checks_ends_the_job_with_its_message_on_every_rank(tmp_path, mode, message):
    import time

    args = [str(tmp_path), "nan", "mpi4py-first"] if mode == "mpi4py-first" else [str(tmp_path), mode]
    start = time.perf_counter()
    rc, _, err = _run("precheck.py", *args, timeout=50)
    elapsed = time.perf_counter() - start
    assert rc != 0
    assert elapsed < 40  # rank 1 sleeps 60 s in "caught" mode: rank 0's abort ended the job
    for r in (0, 1):
        text = (tmp_path / f"rank{r}.txt").read_text()
        assert text.startswith("ValueError: distributed: fit refused on 1 of 2 ranks"), text
        assert message in text and f"built={mode == 'width'}" in text  # as it was before the call
