"""W5, the convolutional workload: its FLOPs by hand, its data, and PyTorch (channels-first) and
JAX training the same network as nnkit from the same weights; the hand-written MLP step skips it."""

import importlib.util

import numpy as np
import pytest

from nnkit.bench.runner import Settings, plan
from nnkit.bench.trainers import make_trainer
from nnkit.bench.workloads import WORKLOADS, get_workload


def test_w5_flops_by_hand():
    wl = WORKLOADS["W5"]
    n = 64
    conv1 = 2 * n * 26 * 26 * 9 * 1 * 32  # 26x26 outputs, 3x3x1 patches, 32 filters
    conv2 = 2 * n * 11 * 11 * 9 * 32 * 64  # after the pool: 13x13 -> 11x11
    dense = 2 * n * (1600 * 128 + 128 * 10)  # 11 // 2 = 5: 5 * 5 * 64 = 1600
    fwd = conv1 + conv2 + dense
    assert wl.flops_per_step() == 3 * fwd - conv1 == 985_399_296  # about 1 GFLOP
    assert wl.layers == [(1600, 128), (128, 10)]
    assert wl.weights == 9 * 32 + 9 * 32 * 64 + 1600 * 128 + 1280
    X, y = wl.make_data(2)
    assert X.shape == (128, 28, 28, 1) and X.dtype == np.float32 and y.dtype == np.int64
    assert [w.shape for w in wl.initial_weights(0)] == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,),
                                                          (1600, 128), (128,), (128, 10), (10,)]


def test_plan_leaves_the_mlp_only_peer_out_of_w5():
    jobs = plan(Settings(workloads="W2,W5", backends="numpy", peers="numpy-hand"))
    trains = [(j["workload"], j["label"]) for j in jobs if j["kind"] == "train"]
    assert ("W5", "numpy-hand") not in trains and ("W2", "numpy-hand") in trains
    assert ("W5", "nnkit-numpy") in trains
    with pytest.raises(ValueError, match="numpy-hand"):
        make_trainer("numpy-hand", WORKLOADS["W5"], *WORKLOADS["W5"].make_data(1))


def _trained(label, batches=2):
    wl = get_workload("W5")
    X, y = wl.make_data(batches, seed=1)
    trainer = make_trainer(label, wl, X, y, seed=1)
    loss = trainer.run_epochs(2, shuffle=False)
    return loss, trainer.get_weights()


PEERS = [pytest.param(label, id=label, marks=[] if importlib.util.find_spec(module) else
                      [pytest.mark.skip(reason=f"{module} not installed")])
         for label, module in (("torch-cpu", "torch"), ("jax", "jax"), ("nnkit-numba", "numba"))]


@pytest.mark.parametrize("peer", PEERS)
def test_w5_peers_train_the_same_network(peer):
    ref_loss, ref = _trained("nnkit-numpy")
    loss, got = _trained(peer)
    assert [a.shape for a in got] == [b.shape for b in ref]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    init = get_workload("W5").initial_weights(1)
    assert max(float(np.abs(a - w).max()) for a, w in zip(got, init)) > 1e-4
