"""Capturing a training step in a CUDA graph, on the simulated GPU, which refuses inside a capture
what a GPU cannot hold (a pool allocation, a host synchronisation or read, a host-to-device copy)
and replays the recorded work on the same buffers."""

from __future__ import annotations

import numpy as np
import pytest
from test_cupy_device_residency import cupy, pytestmark  # noqa: F401  (simulated GPU only)

import nnkit as nk
from nnkit._cupy_graph import GraphStep


class StaticSGD:
    """A linear model's SGD step that allocates nothing: every result into a preallocated buffer."""

    def __init__(self, cp, w, lr=0.1, batch=8):
        self.cp, self.w, self.lr = cp, cp.asarray(w), lr
        self.out = cp.empty((batch, w.shape[1]))
        self.grad = cp.empty_like(self.w)
        self.loss = cp.empty(())
        self.sq = cp.empty((batch, w.shape[1]))

    def __call__(self, x, y):
        cp = self.cp
        cp.matmul(x, self.w, out=self.out)
        cp.subtract(self.out, y, out=self.out)  # the residual
        cp.multiply(self.out, self.out, out=self.sq)
        cp.sum(self.sq, out=self.loss)
        cp.matmul(x.T, self.out, out=self.grad)
        cp.multiply(self.grad, self.lr / x.shape[0], out=self.grad)
        cp.subtract(self.w, self.grad, out=self.w)
        return self.loss, self.out


def _batches(n=5, batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(batch, 3)), rng.normal(size=(batch, 2))) for _ in range(n)]


def test_an_allocation_free_step_is_captured_once_and_replayed_like_running_it(cupy):
    w0 = np.random.default_rng(1).normal(size=(3, 2))
    eager, replayed = StaticSGD(cupy, w0), StaticSGD(cupy, w0)
    step = GraphStep(replayed, nk.get_backend("cupy"))
    losses = []
    for x, y in _batches():
        xd, yd = cupy.asarray(x), cupy.asarray(y)
        losses.append((float(eager(xd, yd)[0]), float(step(xd, yd)[0])))
    assert step.reason is None and step.graph is not None and step.graph.launches == 4
    assert step.graph.nodes == 7  # the step's 7 kernels, recorded, replayed by one launch a batch
    for a, b in losses:
        assert a == b
    np.testing.assert_array_equal(replayed.w.get(), eager.w.get())


@pytest.mark.parametrize("breaks, reason", [
    ("allocates", "a pool allocation"),
    ("reads", "a device-to-host read"),
    ("synchronises", "a host synchronisation"),
    ("copies from the host", "a host-to-device copy")])
def test_a_step_that_would_break_capture_falls_back_and_says_why(cupy, caplog, breaks, reason):
    w0 = np.random.default_rng(1).normal(size=(3, 2))
    inner = StaticSGD(cupy, w0)

    def step(x, y):
        if breaks == "allocates":
            _ = x * 2.0
        elif breaks == "reads":
            float(inner.loss)
        elif breaks == "synchronises":
            cupy.cuda.get_current_stream().synchronize()
        else:
            inner.grad[...] = np.zeros((3, 2))
        return inner(x, y)

    eager = StaticSGD(cupy, w0)
    wrapped = GraphStep(step, nk.get_backend("cupy"))
    with caplog.at_level("INFO", logger="nnkit"):
        for x, y in _batches():
            xd, yd = cupy.asarray(x), cupy.asarray(y)
            eager(xd, yd)
            wrapped(xd, yd)
    assert wrapped.graph is None and reason in wrapped.reason
    assert "runs uncaptured" in caplog.text and reason in caplog.text
    # the refused capture ran nothing: every batch was trained once, by the uncaptured step
    np.testing.assert_array_equal(inner.w.get(), eager.w.get())


def _dense_model(optimizer=None, regularizer=None, seed=2, dtype="float64"):
    m = nk.Sequential([nk.layers.Dense(16, activation="relu", input_dim=10, kernel_regularizer=regularizer),
                       nk.layers.Dense(4, activation="softmax")], backend="cupy", dtype=dtype, seed=seed)
    m.compile(optimizer or nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    m.build(10)
    return m


def _step_both(cupy, plain, graphed, step, X, y, epochs=3, batch=16):
    losses = []
    for _ in range(epochs):
        for start in range(0, X.shape[0], batch):
            xb, yb = cupy.asarray(X[start:start + batch]), cupy.asarray(y[start:start + batch])
            losses.append((float(plain._train_step(xb, yb)[0]), float(step(xb, yb)[0])))
    return losses


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make_optimizer", [lambda: nk.optimizers.Adam(lr=0.01),
                                            lambda: nk.optimizers.AdamW(lr=0.01, weight_decay=0.05),
                                            lambda: nk.optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "adamw", "sgd-nesterov"])
def test_a_dense_stacks_step_is_captured_once_and_replayed_like_running_it(cupy, dtype, make_optimizer):
    """The GEMMs write into the step's own buffers, bias + activation in place, the loss and the
    update allocate nothing and read nothing back: the whole step is one graph, replayed per batch."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 10)), rng.integers(0, 4, size=64)
    X = X.astype(dtype)  # a batch of the model's dtype, as fit hands its step
    plain, graphed = _dense_model(make_optimizer(), dtype=dtype), _dense_model(make_optimizer(), dtype=dtype)
    step = GraphStep(lambda xb, yb: graphed._train_step(xb, yb), graphed.backend, graphed)
    for a, b in _step_both(cupy, plain, graphed, step, X, y):
        assert a == b
    assert step.reason is None and step.graph.launches == 3 * 4 - 1  # every batch but the first
    # zero the gradients; per layer the GEMM and bias + activation; the loss and its sum; per
    # layer the activation's backward with the bias gradient, dW (and dx for the second), both
    # accumulated; the update (Adam: its scalars' kernel too)
    adam = isinstance(graphed.optimizer, nk.optimizers.Adam)
    assert step.graph.nodes == 1 + 2 * 2 + 2 + (1 + 1 + 2) + (1 + 2 + 2) + (2 if adam else 1)
    assert len(step.buffers.arrays) == 12
    assert graphed.optimizer.iterations == plain.optimizer.iterations == 12
    for a, b in zip(graphed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(graphed.optimizer.get_state(graphed.parameters()).values(),
                    plain.optimizer.get_state(plain.parameters()).values()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("what, why", [
    ("regularizer", "a pool allocation"),
    ("adagrad", "Adagrad's update takes the step count from the host"),
    ("schedule", "scheduled learning rate is a host scalar")])
def test_a_step_the_graph_cannot_hold_trains_unchanged_through_the_fallback(cupy, caplog, what, why):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 10)), rng.integers(0, 4, size=64)

    def make():
        if what == "regularizer":  # its penalty is computed by generic ops, which allocate
            return _dense_model(regularizer="l2")
        if what == "adagrad":
            return _dense_model(nk.optimizers.Adagrad(lr=0.05))
        return _dense_model(nk.optimizers.SGD(lr=nk.schedules.ExponentialDecay(0.1, 0.5, 2)))

    plain, graphed = make(), make()
    with caplog.at_level("INFO", logger="nnkit"):
        step = GraphStep(lambda xb, yb: graphed._train_step(xb, yb), graphed.backend, graphed)
        for a, b in _step_both(cupy, plain, graphed, step, X, y, epochs=1):
            assert a == b
    assert step.graph is None and why in step.reason
    assert caplog.text.count("runs uncaptured") == 1 and why in caplog.text
    for a, b in zip(graphed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_replayed_adam_follows_its_schedule_reset_and_restored_step_count(cupy):
    """Adam's t and lr live on the device: a replay counts the step there, a schedule's new rate
    and a step count set on the host (reset, set_state) are written before the launch."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(64, 10)), rng.integers(0, 4, size=64)
    schedule = nk.schedules.ExponentialDecay(0.02, 0.5, 3)
    plain, graphed = (_dense_model(nk.optimizers.Adam(lr=schedule)) for _ in range(2))
    step = GraphStep(lambda xb, yb: graphed._train_step(xb, yb), graphed.backend, graphed)
    assert step.reason is None  # a schedule is fine: the rate is written on the device per step
    _step_both(cupy, plain, graphed, step, X, y, epochs=1)
    saved = plain.optimizer.get_state(plain.parameters())
    for m in (plain, graphed):
        m.optimizer.reset()
    _step_both(cupy, plain, graphed, step, X, y, epochs=1)
    for m in (plain, graphed):
        m.optimizer.set_state(saved, m.parameters(), m.backend)
    _step_both(cupy, plain, graphed, step, X, y, epochs=1)
    # reset and set_state gave the optimizer new state arrays: each time one eager step, then a
    # new capture; the last graph ran batches 2-4 of the last pass
    assert step.graph is not None and step.graph.launches == 3
    assert graphed.optimizer.iterations == plain.optimizer.iterations == 8
    for a, b in zip(graphed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    # and both follow NumPy's Adam, whose scalars are the host's
    host = _dense_model(nk.optimizers.Adam(lr=schedule)).to("numpy")
    for phase in ("run", "reset", "set_state"):
        if phase == "reset":
            host.optimizer.reset()
        elif phase == "set_state":
            host.optimizer.set_state(saved, host.parameters(), host.backend)
        for start in range(0, 64, 16):
            host._train_step(host.backend.asarray(X[start:start + 16]), host.backend.asarray(y[start:start + 16]))
    for a, b in zip(graphed.get_weights(), host.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _adam_reference(w, grads, lr, **hyper):
    import array_api_compat.numpy as np_xp

    from nnkit.ops import optim as generic

    w, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        generic.adam_update(w, g, m, v, lr=lr, step=t, xp=np_xp, **hyper)
    return w


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_with_its_step_on_the_device_replays_from_a_graph_as_adam_does(cupy, decoupled):
    from nnkit._kernels.cuda import optim as cuda_optim

    rng = np.random.default_rng(5)
    w0, grads = rng.normal(size=(7, 3)), [rng.normal(size=(7, 3)) for _ in range(6)]
    hyper = dict(beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.01)
    w, g = cupy.asarray(w0), cupy.empty((7, 3))
    m, v, state = cupy.zeros((7, 3)), cupy.zeros((7, 3)), cuda_optim.adam_state(lr=0.05)
    stream = cupy.cuda.Stream(non_blocking=False)
    with stream:
        stream.begin_capture()
        cuda_optim.adam_update_on_device(w, g, m, v, state, decoupled=decoupled, **hyper)
        graph = stream.end_capture()
    assert graph.nodes == 2  # the step counter's kernel and the update
    for grad in grads:
        g[...] = cupy.asarray(grad)
        graph.launch(stream)
    name = "adamw_update" if decoupled else "adam_update"
    import array_api_compat.numpy as np_xp

    from nnkit.ops import optim as generic

    ref_w, ref_m, ref_v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, grad in enumerate(grads, start=1):
        getattr(generic, name)(ref_w, grad, ref_m, ref_v, lr=0.05, step=t, xp=np_xp, **hyper)
    np.testing.assert_allclose(w.get(), ref_w, rtol=1e-13, atol=1e-15)
    assert float(state[0]) == len(grads)
    # the host-scalar kernel captured the same way keeps step 1's bias corrections on every replay
    w_host, m_host, v_host = cupy.asarray(w0), cupy.zeros((7, 3)), cupy.zeros((7, 3))
    with stream:
        stream.begin_capture()
        cuda_optim.adam_update(w_host, g, m_host, v_host, lr=0.05, step=1, xp=None, **hyper)
        frozen = stream.end_capture()
    for grad in grads:
        g[...] = cupy.asarray(grad)
        frozen.launch(stream)
    assert np.max(np.abs(w_host.get() - _adam_reference(w0, grads, 0.05, **hyper))) > 1e-4


@pytest.mark.parametrize("regularizer, captured", [(None, True), ("l2", False)])
def test_fit_with_graphs_enabled_trains_as_without_and_says_which(cupy, monkeypatch, caplog, regularizer, captured):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 10)), rng.integers(0, 4, size=80)
    histories = []
    for enabled in ("0", "1"):
        monkeypatch.setenv("NNKIT_CUDA_GRAPH", enabled)
        m = _dense_model(regularizer=regularizer)
        with caplog.at_level("INFO", logger="nnkit"):
            histories.append((m.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=1).history, m.get_weights()))
    if captured:
        assert caplog.text.count("replays from a CUDA graph") == 1 and "runs uncaptured" not in caplog.text
    else:
        assert caplog.text.count("runs uncaptured") == 1 and "pool allocation" in caplog.text
    assert histories[0][0] == histories[1][0]
    for a, b in zip(histories[0][1], histories[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer, nodes", [("sgd", 24), ("adam", 25)])
def test_w3s_step_asks_the_host_for_one_graph_launch_and_two_copies_instead_of_24_launches(cupy, optimizer, nodes):
    """What W3's step (784-256-256-10, batch 128) costs the host, counted by the simulated GPU:
    run eagerly, a launch per kernel and a pool allocation per output; replayed, the batch's two
    copies into the graph's inputs and one graph launch. Neither waits for the device."""
    rng = np.random.default_rng(0)
    xb = cupy.asarray(rng.normal(size=(128, 784)).astype(np.float32))
    yb = cupy.asarray(rng.integers(0, 10, size=128))
    models = []
    for _ in range(2):
        m = nk.Sequential([nk.layers.Dense(256, activation="relu", input_dim=784), nk.layers.Dense(256, activation="relu"),
                           nk.layers.Dense(10, activation="softmax")], backend="cupy", dtype="float32", seed=0)
        m.compile(nk.optimizers.SGD(lr=0.01, momentum=0.9) if optimizer == "sgd" else nk.optimizers.Adam(lr=1e-3),
                  "sparse_categorical_crossentropy")
        models.append(m)
    eager, graphed = models
    step = GraphStep(lambda x, y: graphed._train_step(x, y), graphed.backend, graphed)
    for _ in range(3):
        eager._train_step(xb, yb)
        step(xb, yb)
    counted = {}
    for name, run in (("eager", lambda: eager._train_step(xb, yb)), ("replayed", lambda: step(xb, yb))):
        cupy.reset_transfers()
        run()
        counted[name] = (dict(cupy.calls), cupy.syncs())
    # zero the gradients; 3 GEMMs + 3 bias-activations; loss + its sum; 3 activation backwards with
    # the bias gradients, 3 dW and 2 dx GEMMs, 6 gradient accumulations; the update (Adam: + its scalars)
    assert step.graph.nodes == nodes
    assert counted["eager"] == ({"kernels": nodes, "allocations": 18, "graph_launches": 0}, 0)
    assert counted["replayed"] == ({"kernels": 2, "allocations": 0, "graph_launches": 1}, 0)
    for a, b in zip(graphed.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_warm_up_runs_on_the_stream_the_step_is_captured_on(cupy):
    """cuBLAS (and the like) set up per stream: the eager first call must run where the capture
    will, so that set-up never happens inside the capture."""
    w0 = np.random.default_rng(1).normal(size=(3, 2))
    inner, streams = StaticSGD(cupy, w0), []

    def step(x, y):
        streams.append(cupy.cuda.get_current_stream())
        return inner(x, y)

    graphed = GraphStep(step, nk.get_backend("cupy"))
    for x, y in _batches(3):
        graphed(cupy.asarray(x), cupy.asarray(y))
    assert len(streams) == 2 and streams[0] is streams[1] is graphed._stream  # warm-up, capture
    assert not streams[0]._null and graphed.graph.launches == 2


def test_a_replayed_fit_that_diverges_stops_where_the_uncaptured_one_does(cupy, monkeypatch):
    """The divergence guard restores its snapshot in place and replays the epoch's steps through
    the graph: same message, same weights and step count as without graphs."""
    from nnkit.divergence import TrainingDiverged

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 10)) * 50, rng.integers(0, 4, size=80)
    ends = []
    for enabled in ("0", "1"):
        monkeypatch.setenv("NNKIT_CUDA_GRAPH", enabled)
        m = _dense_model(nk.optimizers.SGD(lr=1e200))
        with pytest.raises(TrainingDiverged, match="epoch 1, batch 2: the loss became nan") as caught:
            m.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=1)
        ends.append((str(caught.value), m.get_weights(), m.optimizer.iterations))
    assert ends[0][0] == ends[1][0] and ends[0][2] == ends[1][2] == 1
    for a, b in zip(ends[0][1], ends[1][1]):
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
