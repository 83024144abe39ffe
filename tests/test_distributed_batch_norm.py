"""BatchNormalization under data-parallel training: each rank normalises its own rows (Keras' and
PyTorch's default) and every rank keeps the same moving statistics (their row-weighted mean)."""

from __future__ import annotations

import numpy as np
import pytest

from nnkit.layers import BatchNormalization
from test_distributed import _load, _run, needs_mpi


def test_a_shard_leaves_its_statistics_for_the_engine_and_keeps_the_moving_ones(rng):
    layer = BatchNormalization(momentum=0.5)
    layer.build((3,), "numpy", "float64")
    layer.global_rows = (8, 0, 4)  # what nnkit.distributed sets on every layer of a rank
    x = rng.normal(2.0, 3.0, size=(4, 3))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-12)  # its own rows
    np.testing.assert_array_equal(layer.moving_mean.value, np.zeros(3))
    np.testing.assert_array_equal(layer.moving_variance.value, np.ones(3))
    mean, var = layer.replica_statistics
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(0), rtol=1e-12)
    layer.update_moving_statistics(np.full(3, 4.0), np.full(3, 3.0))
    np.testing.assert_allclose(layer.moving_mean.value, np.full(3, 2.0))
    np.testing.assert_allclose(layer.moving_variance.value, np.full(3, 2.0))
    assert layer.replica_statistics is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bn")
    rc, _, err = _run("batch_norm.py", str(out), "ranks", ranks=2)
    assert rc == 0, err
    for mode in ("reference", "global"):
        rc, _, err = _run("batch_norm.py", str(out), mode, mpi=False)
        assert rc == 0, err
    return {name: _load(out / f"{name}_rank0.npz" if name != "rank1" else out / "ranks_rank1.npz")
            for name in ("ranks", "rank1", "reference", "global")}


@needs_mpi
def test_two_ranks_normalise_their_own_rows_and_agree_on_everything(trained):
    ranks, other, reference, plain = (trained[k] for k in ("ranks", "rank1", "reference", "global"))
    weights = [k for k in reference if k.startswith("epoch")]
    assert len(weights) == 3 * 8  # 3 epochs x (W, b, gamma, beta, moving mean, moving variance, W, b)
    for key in ranks:
        np.testing.assert_array_equal(ranks[key], other[key], err_msg=key)
    for key in weights:
        np.testing.assert_allclose(ranks[key], reference[key], rtol=1e-10, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(ranks["history/val_loss"], reference["history/val_loss"], rtol=1e-10)
    # normalising each half-batch by its own statistics trains differently from whole batches
    assert max(np.abs(ranks[k] - plain[k]).max() for k in weights) > 1e-4
    assert np.abs(ranks["epoch2/w5"] - 1.0).max() > 1e-3  # the moving variance moved
