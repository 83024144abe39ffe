"""SimpleRNN, LSTM, GRU and Embedding: gradients, references, PyTorch, backends, kernels, bad input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import array_api_compat.numpy as np_xp

import nnkit as nk
from conftest import tolerance
from nnkit.ops import recurrent as generic

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_NUMBA = importlib.util.find_spec("numba") is not None
RECURRENT = {"SimpleRNN": nk.layers.SimpleRNN, "LSTM": nk.layers.LSTM, "GRU": nk.layers.GRU}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3, "GRU1": 3}


def _layer(kind, units, **args):
    """The layer of ``kind``; "GRU1" is the GRU with reset_after=False."""
    if kind == "GRU1":
        return nk.layers.GRU(units, reset_after=False, **args)
    return RECURRENT[kind](units, **args)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# -- an independent reference: one step at a time, one gate at a time, in float64 ----------------
def reference_forward(kind, x, kernel, recurrent, bias, h0=None, c0=None, cells=False):
    """Every step's state (N, T, u), written from the papers' equations, gate by gate, from the
    state (h0, c0) (zeros by default); with ``cells`` also the LSTM's cell states."""
    n, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((n, u)) if h0 is None else h0
    c = np.zeros((n, u)) if c0 is None else c0
    out, out_c = [], []
    for t in range(steps):
        xt = x[:, t, :]
        if kind == "SimpleRNN":
            h = np.tanh(xt @ kernel + h @ recurrent + bias)
        elif kind == "LSTM":
            blocks = [xt @ kernel[:, k * u:(k + 1) * u] + h @ recurrent[:, k * u:(k + 1) * u]
                      + bias[k * u:(k + 1) * u] for k in range(4)]
            i, f, g, o = _sigmoid(blocks[0]), _sigmoid(blocks[1]), np.tanh(blocks[2]), _sigmoid(blocks[3])
            c = f * c + i * g
            h = o * np.tanh(c)
        elif kind == "GRU1":  # Keras 2's reset_after=False: r applied to h before U_h, one bias
            wz, wr, wh = (kernel[:, k * u:(k + 1) * u] for k in range(3))
            uz, ur, uh = (recurrent[:, k * u:(k + 1) * u] for k in range(3))
            bz, br, bh = (bias[k * u:(k + 1) * u] for k in range(3))
            z = _sigmoid(xt @ wz + h @ uz + bz)
            r = _sigmoid(xt @ wr + h @ ur + br)
            hh = np.tanh(xt @ wh + (r * h) @ uh + bh)
            h = z * h + (1.0 - z) * hh
        else:
            wz, wr, wh = (kernel[:, k * u:(k + 1) * u] for k in range(3))
            uz, ur, uh = (recurrent[:, k * u:(k + 1) * u] for k in range(3))
            bz, br, bh = (bias[0, k * u:(k + 1) * u] for k in range(3))
            rz, rr, rh = (bias[1, k * u:(k + 1) * u] for k in range(3))
            z = _sigmoid(xt @ wz + bz + h @ uz + rz)
            r = _sigmoid(xt @ wr + br + h @ ur + rr)
            hh = np.tanh(xt @ wh + bh + r * (h @ uh + rh))
            h = z * h + (1.0 - z) * hh
        out.append(h)
        out_c.append(c)
    return (np.stack(out, axis=1), np.stack(out_c, axis=1)) if cells else np.stack(out, axis=1)


def reference_gradients(kind, x, kernel, recurrent, bias, dhs):
    """d(sum(dhs * states)) / d(x, kernel, recurrent, bias) by central differences on the reference."""
    arrays = [x, kernel, recurrent, bias]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + 1e-6
            plus = np.sum(dhs * reference_forward(kind, *arrays))
            a[idx] = old - 1e-6
            minus = np.sum(dhs * reference_forward(kind, *arrays))
            a[idx] = old
            g[idx] = (plus - minus) / 2e-6
        grads.append(g)
    return grads


def _weights(kind, rng, features, units, scale=0.5):
    g = GATES[kind]
    bias_shape = (2, 3 * units) if kind == "GRU" else (g * units,)  # GRU1: (3 units,)
    return (rng.normal(0, scale, (features, g * units)), rng.normal(0, scale, (units, g * units)),
            rng.normal(0, scale, bias_shape))


def _run_op(kind, ops, x, kernel, recurrent, bias, dhs):
    """(hs, (dx, dW, dU, db)) through the ops of ``ops`` (a backend's bound ops)."""
    if kind == "SimpleRNN":
        hs, zs = ops.simple_rnn_forward(x, kernel, recurrent, bias, "tanh")
        return hs, ops.simple_rnn_backward(dhs, x, hs, zs, kernel, recurrent, "tanh", True)
    if kind == "LSTM":
        hs, cs, gates = ops.lstm_forward(x, kernel, recurrent, bias)
        return hs, ops.lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent, True)
    hs, gates = ops.gru_forward(x, kernel, recurrent, bias)
    return hs, ops.gru_backward(dhs, x, hs, gates, kernel, recurrent, True)


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_ops_match_an_independent_reference(kind, rng):
    x = rng.normal(size=(3, 4, 2))
    kernel, recurrent, bias = _weights(kind, rng, 2, 3)
    dhs = rng.normal(size=(3, 4, 3))
    be = nk.get_backend("numpy")
    hs, grads = _run_op(kind, be.ops, x, kernel, recurrent, bias, dhs)
    np.testing.assert_allclose(hs, reference_forward(kind, x, kernel, recurrent, bias), rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, reference_gradients(kind, x, kernel, recurrent, bias, dhs)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_ops_on_every_backend_match_numpy(kind, backend, dtype, rng):
    """The generic ops on array_api_strict and the simulated GPU, and the kernels, equal NumPy's."""
    x = rng.normal(size=(4, 5, 3))
    weights = _weights(kind, rng, 3, 4)
    dhs = rng.normal(size=(4, 5, 4))
    host = nk.get_backend("numpy")
    hs_ref, grads_ref = _run_op(kind, host.ops, x, *weights, dhs)
    args = [backend.asarray(a, dtype=dtype) for a in (x, *weights, dhs)]
    hs, grads = _run_op(kind, backend.ops, *args)
    tol = tolerance(dtype)
    np.testing.assert_allclose(backend.to_numpy(hs), hs_ref, rtol=tol["rtol"], atol=tol["atol"] * 10)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(backend.to_numpy(got), want, rtol=tol["rtol"] * 10, atol=tol["atol"] * 100)
        assert backend.to_numpy(got).dtype == np.dtype(dtype)


@pytest.mark.parametrize("bptt_steps", [None, 2])
@pytest.mark.parametrize("kind", list(RECURRENT) + ["GRU1"])
def test_ops_take_the_last_states_gradient_alone(kind, bptt_steps, backend, dtype, rng):
    """A 2-D dhs (N, u) is the last state's gradient with every earlier step's own gradient zero:
    the same gradients as the (N, T, u) dhs that says so, on every backend (truncated too, where
    a step gets neither its own gradient nor a carried one)."""
    n, steps, features, units = 3, 5, 2, 4
    x = rng.normal(size=(n, steps, features))
    weights = _weights("GRU" if kind == "GRU1" else kind, rng, features, units)
    if kind == "GRU1":  # reset before the recurrent matmul: one bias (3u,)
        weights = (*weights[:2], weights[2][0])
    last = rng.normal(size=(n, units))
    full = np.zeros((n, steps, units))
    full[:, -1] = last
    ops = backend.ops
    xb, kernel, recurrent, bias = (backend.asarray(a, dtype=dtype) for a in (x, *weights))

    def grads(dhs):
        dhs = backend.asarray(dhs, dtype=dtype)
        if kind == "SimpleRNN":
            hs, zs = ops.simple_rnn_forward(xb, kernel, recurrent, bias, "tanh")
            return ops.simple_rnn_backward(dhs, xb, hs, zs, kernel, recurrent, "tanh", True, bptt_steps)
        if kind == "LSTM":
            hs, cs, gates = ops.lstm_forward(xb, kernel, recurrent, bias)
            return ops.lstm_backward(dhs, xb, hs, cs, gates, kernel, recurrent, True, bptt_steps)
        forward, backward = ((ops.gru_reset_before_forward, ops.gru_reset_before_backward) if kind == "GRU1"
                             else (ops.gru_forward, ops.gru_backward))
        hs, gates = forward(xb, kernel, recurrent, bias)
        return backward(dhs, xb, hs, gates, kernel, recurrent, True, bptt_steps)

    want = [backend.to_numpy(g) for g in grads(full)]
    got = [backend.to_numpy(g) for g in grads(last)]
    tol = tolerance(dtype)
    for name, a, b in zip(["dx", "dW", "dU", "db"], got, want):
        assert a.shape == b.shape and a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"], err_msg=name)
    if bptt_steps:  # none of the last state's gradient crosses the cut between t = 3 and t = 4
        assert np.abs(got[0][:, :4]).max() == 0 and np.abs(got[0][:, 4]).max() > 1e-3
    else:  # all of it reaches the first step
        assert np.abs(got[0][:, 0]).max() > 1e-3


# -- layers: gradient checks ---------------------------------------------------------------------
def _model(kind, return_sequences, backend="numpy", dtype="float64", seed=3, units=4, **layer_args):
    layers = [RECURRENT[kind](units, return_sequences=return_sequences, **layer_args)]
    if return_sequences:
        layers.append(nk.layers.Flatten())
    layers.append(nk.layers.Dense(3, activation="softmax"))
    model = nk.Sequential(layers, backend=backend, dtype=dtype, seed=seed)
    model.compile(nk.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_layer_gradients_match_central_differences(kind, return_sequences, rng):
    for backend in ["numpy"] + (["numba"] if HAS_NUMBA else []):
        model = _model(kind, return_sequences, backend)
        X, y = rng.normal(size=(5, 6, 3)), rng.integers(0, 3, 5)
        model.build((6, 3))
        worst, errors = nk.gradcheck.check_gradients(model, X, y, max_entries=None, return_details=True)
        assert worst < 1e-6, (backend, errors)
        assert set(errors) >= {f"{model.layers[0].name}/kernel", f"{model.layers[0].name}/recurrent_kernel", "input"}


def test_simple_rnn_relu_and_stacked_gradients(rng):
    model = nk.Sequential([nk.layers.SimpleRNN(4, activation="relu", return_sequences=True),
                           nk.layers.GRU(3, return_sequences=True), nk.layers.LSTM(3),
                           nk.layers.Dense(2)], dtype="float64", seed=1)
    model.compile("sgd", "mse")
    X, y = rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 2))
    model.build((5, 2))
    assert nk.gradcheck.check_gradients(model, X, y, max_entries=None) < 1e-6


def _embedding_model(backend="numpy"):
    model = nk.Sequential([nk.layers.Embedding(7, 3), nk.layers.LSTM(4), nk.layers.Dense(2, activation="softmax")],
                          backend=backend, dtype="float64", seed=5)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build((6,))
    return model


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_embedding_gradient_matches_central_differences(backend_name, rng):
    if backend_name == "numba" and not HAS_NUMBA:
        pytest.skip("numba is not installed")
    model = _embedding_model(backend_name)
    tokens = rng.integers(0, 7, size=(5, 6))
    tokens[0, :] = 3  # a token repeated: its gradient sums over every position
    y = rng.integers(0, 2, 5)
    be = model.backend
    x, t = model._check_input(tokens), model._check_target(y, 5)

    def loss():
        return float(model._loss_and_grad(model._chain(x, True)[0], t)[0])

    model.zero_grad()
    out, backward = model._chain(x, True)
    backward(model._loss_and_grad(out, t)[1])
    table = model.layers[0].embeddings
    analytic = be.to_numpy(table.grad).copy()
    host = be.to_numpy(table.value).copy()
    numeric = np.zeros_like(host)
    for idx in np.ndindex(host.shape):
        old = host[idx]
        for sign in (1, -1):
            host[idx] = old + sign * 1e-6
            table.value = be.asarray(host)
            numeric[idx] += sign * loss() / 2e-6
        host[idx] = old
    table.value = be.asarray(host)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    unused = sorted(set(range(7)) - set(tokens.reshape(-1).tolist()))
    assert np.all(analytic[unused] == 0.0)


def test_embedding_ops_match_a_lookup_and_scatter_add(backend, rng):
    table = rng.normal(size=(9, 4))
    tokens = rng.integers(0, 9, size=(3, 5))
    dy = rng.normal(size=(3, 5, 4))
    expected = np.zeros((9, 4))
    np.add.at(expected, tokens.reshape(-1), dy.reshape(-1, 4))
    tok = backend.asarray(tokens, dtype="int64")
    y = backend.ops.embedding(tok, backend.asarray(table, dtype="float64"))
    np.testing.assert_array_equal(backend.to_numpy(y), table[tokens])
    d = backend.ops.embedding_backward(backend.asarray(dy, dtype="float64"), tok, 9)
    np.testing.assert_allclose(backend.to_numpy(d), expected, rtol=1e-12, atol=1e-14)


# -- against PyTorch ----------------------------------------------------------------------------
def _torch_module(kind, features, units, kernel, recurrent, bias):
    import torch

    cls = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    module = cls(features, units, batch_first=True).double()
    if kind == "GRU":  # Keras z, r, h against torch r, z, n
        order = np.concatenate([np.arange(units, 2 * units), np.arange(units), np.arange(2 * units, 3 * units)])
        w_ih, w_hh, b_ih, b_hh = kernel.T[order], recurrent.T[order], bias[0][order], bias[1][order]
    else:  # the same gate order i, f, g, o; Keras has one bias
        w_ih, w_hh, b_ih, b_hh = kernel.T, recurrent.T, bias, np.zeros_like(bias)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih),
                            ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_forward_and_backward_match_torch(kind, rng):
    import torch

    x = rng.normal(size=(4, 7, 3))
    kernel, recurrent, bias = _weights(kind, rng, 3, 5)
    dhs = rng.normal(size=(4, 7, 5))
    module = _torch_module(kind, 3, 5, kernel, recurrent, bias)
    xt = torch.from_numpy(x).requires_grad_(True)
    out = module(xt)[0]
    (out * torch.from_numpy(dhs)).sum().backward()
    backends = ["numpy"] + (["numba"] if HAS_NUMBA else [])
    for name in backends:
        hs, (dx, dw, du, db) = _run_op(kind, nk.get_backend(name).ops, x, kernel, recurrent, bias, dhs)
        np.testing.assert_allclose(hs, out.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
        p = {n: v.grad.numpy() for n, v in module.named_parameters()}
        if kind == "GRU":
            order = np.concatenate([np.arange(5, 10), np.arange(5), np.arange(10, 15)])
            back = np.argsort(order)
            np.testing.assert_allclose(dw, p["weight_ih_l0"][back].T, rtol=0, atol=1e-10)
            np.testing.assert_allclose(du, p["weight_hh_l0"][back].T, rtol=0, atol=1e-10)
            np.testing.assert_allclose(db, np.stack([p["bias_ih_l0"][back], p["bias_hh_l0"][back]]),
                                       rtol=0, atol=1e-10)
        else:
            np.testing.assert_allclose(dw, p["weight_ih_l0"].T, rtol=0, atol=1e-10)
            np.testing.assert_allclose(du, p["weight_hh_l0"].T, rtol=0, atol=1e-10)
            np.testing.assert_allclose(db, p["bias_ih_l0"], rtol=0, atol=1e-10)


# -- layers: contract, backends, saving -----------------------------------------------------------
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_weight_layouts_and_initializers(kind):
    model = _model(kind, False, seed=11, units=6)
    model.build((5, 4))
    g = GATES[kind]
    kernel, recurrent, bias = model.get_weights()[:3]
    assert kernel.shape == (4, g * 6) and recurrent.shape == (6, g * 6)
    assert bias.shape == ((2, 18) if kind == "GRU" else (g * 6,))
    limit = np.sqrt(6.0 / (4 + g * 6))
    assert np.all(np.abs(kernel) <= limit) and np.abs(kernel).max() > 0.5 * limit  # glorot_uniform
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-12)  # orthogonal rows
    if kind == "LSTM":  # unit_forget_bias: the f block starts at 1
        np.testing.assert_array_equal(bias, np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    else:
        assert np.all(bias == 0)
    again = _model(kind, False, seed=11, units=6, backend="numpy", dtype="float32")
    again.build((5, 4))
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b.astype(np.float32))


def test_orthogonal_initializer():
    init = nk.initializers.get("orthogonal")
    q = init(nk.backend.host_rng(0), (5, 3))
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(q, init(nk.backend.host_rng(0), (5, 3)))
    wide = init(nk.backend.host_rng(1), (3, 12))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-12)


def test_lstm_without_unit_forget_bias_and_shapes():
    layer = nk.layers.LSTM(3, unit_forget_bias=False, return_sequences=True)
    assert layer.build((4, 2), "numpy", "float64") == (4, 3)
    assert np.all(nk.get_backend("numpy").to_numpy(layer.bias.value) == 0)
    y = layer(np.ones((2, 4, 2)))
    assert y.shape == (2, 4, 3)
    assert nk.layers.GRU(3).build((4, 2), "numpy", "float64") == (3,)
    with pytest.raises(TypeError, match="reset_after"):
        nk.layers.GRU(3, reset_after="no")
    with pytest.raises(ValueError, match="units"):
        nk.layers.LSTM(0)


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_training_on_every_backend_ends_with_the_same_weights(kind, backend, rng):
    X, y = rng.normal(size=(24, 5, 3)), rng.integers(0, 3, 24)
    ref = _model(kind, True, "numpy")
    ref.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    model = _model(kind, True, backend)
    history = model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    np.testing.assert_allclose(history.history["loss"], ref.history.history["loss"], rtol=1e-10)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_training_learns_and_float32_runs(rng):
    X = rng.normal(size=(64, 6, 2))
    y = (X[:, 0, 0] > 0).astype(int)  # the first step decides: needs memory across the sequence
    model = _model("GRU", False, "numba" if HAS_NUMBA else "numpy", "float32", units=8)
    model.compile(nk.optimizers.Adam(0.03), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=40, batch_size=16, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert model.get_weights()[0].dtype == np.float32


@pytest.mark.parametrize("kind", list(RECURRENT) + ["Embedding"])
def test_save_and_load_round_trip(kind, tmp_path, rng):
    if kind == "Embedding":
        model, X = _embedding_model(), rng.integers(0, 7, size=(4, 6))
    else:
        model, X = _model(kind, True), rng.normal(size=(4, 5, 3))
        model.build((5, 3))
    model.fit(X, rng.integers(0, model.output_shape[-1], 4), epochs=1, verbose=0, seed=0)
    path = tmp_path / "model.nnk"
    model.save(path)
    loaded = nk.load_model(path)
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_simple_rnn_return_state(rng):
    layer = nk.layers.SimpleRNN(3, return_sequences=True, return_state=True)
    layer.build((4, 2), "numpy", "float64", rng=0)
    x = rng.normal(size=(2, 4, 2))
    (seq, state), = [layer.forward(x, training=True)]
    np.testing.assert_array_equal(state, seq[:, -1, :])
    dy, dstate = rng.normal(size=seq.shape), rng.normal(size=state.shape)
    dx = layer.backward((dy, dstate))
    combined = dy.copy()
    combined[:, -1, :] += dstate
    plain = nk.layers.SimpleRNN(3, return_sequences=True)
    plain.build((4, 2), "numpy", "float64", rng=0)
    plain.forward(x, training=True)
    np.testing.assert_allclose(dx, plain.backward(combined), rtol=1e-14)
    np.testing.assert_allclose(layer.kernel.grad, plain.kernel.grad, rtol=1e-14)


def _central_differences(loss, arrays, eps=1e-6):
    """d loss() / d every entry of every array (changed in place and restored)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            plus = loss()
            a[idx] = old - eps
            minus = loss()
            a[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def truncated_reference_gradients(kind, x, kernel, recurrent, bias, dhs, k):
    """The gradients of sum(dhs * states) with the state detached every k steps, by hand: each
    chunk of k steps starts from the full forward's state there, frozen (a constant), so the
    loss is a sum over chunks of functions whose gradients stop at their chunk's start."""
    steps = x.shape[1]
    hs, cs = reference_forward(kind, x, kernel, recurrent, bias, cells=True)
    frozen = {t: (hs[:, t - 1].copy(), cs[:, t - 1].copy()) for t in range(k, steps, k)}

    def loss():
        total = 0.0
        for start in range(0, steps, k):
            h0, c0 = frozen.get(start, (None, None))
            chunk = reference_forward(kind, x[:, start:start + k], kernel, recurrent, bias, h0, c0)
            total += np.sum(dhs[:, start:start + k] * chunk)
        return total

    return _central_differences(loss, [x, kernel, recurrent, bias])


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("kind", list(RECURRENT) + ["GRU1"])
def test_truncated_bptt_matches_a_hand_truncated_reference(kind, k, backend, rng):
    """bptt_steps=k: the gradient equals the one of a loop that detaches the state every k steps."""
    n, steps, features, units = 2, 7, 3, 4
    x = rng.normal(size=(n, steps, features))
    weights = list(_weights(kind, rng, features, units))
    dhs = rng.normal(size=(n, steps, units))
    want = truncated_reference_gradients(kind, x, *weights, dhs, k)
    layer = _layer(kind, units, return_sequences=True, bptt_steps=k)
    layer.build((steps, features), backend, "float64", rng=0)
    for p, w in zip(layer.parameters(), weights):
        p.value = backend.asarray(w, dtype="float64")
    xb = backend.asarray(x, dtype="float64")
    layer.forward(xb, training=True)
    dx = layer.backward(backend.asarray(dhs, dtype="float64"))
    got = [dx] + [p.grad for p in layer.parameters()]
    for name, a, b in zip(["dx", "dW", "dU", "db"], got, want):
        np.testing.assert_allclose(backend.to_numpy(a), b, rtol=1e-6, atol=1e-8, err_msg=f"{kind} k={k} {name}")
    full = _layer(kind, units, return_sequences=True)
    full.build((steps, features), backend, "float64", rng=0)
    for p, w in zip(full.parameters(), weights):
        p.value = backend.asarray(w, dtype="float64")
    full.forward(xb, training=True)
    full_dx = backend.to_numpy(full.backward(backend.asarray(dhs, dtype="float64")))
    assert np.abs(full_dx - backend.to_numpy(dx)).max() > 1e-3  # the truncation changed something


def test_bptt_steps_longer_than_the_sequence_is_full_bptt_and_bad_values_are_refused(rng):
    x, dy = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5))
    grads = []
    for k in (None, 4, 50):
        layer = nk.layers.LSTM(5, bptt_steps=k)
        layer.build((4, 3), "numpy", "float64", rng=0)
        layer.forward(x, training=True)
        grads.append([layer.backward(dy)] + [p.grad for p in layer.parameters()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            np.testing.assert_array_equal(a, b)
    for bad in (0, -2, 1.5, True, "3"):
        with pytest.raises(ValueError, match="LSTM: bptt_steps: expected an int >= 1"):
            nk.layers.LSTM(5, bptt_steps=bad)
    layer = nk.layers.GRU(3, bptt_steps=2)
    assert layer.get_config()["bptt_steps"] == 2
    assert nk.layers.GRU(**layer.get_config()).bptt_steps == 2


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_return_state_gives_the_last_states_and_their_gradients(kind, return_sequences, backend, rng):
    """LSTM: (output, h, c); GRU: (output, h), as Keras; the backward takes a gradient for each."""
    n, steps, features, units = 2, 5, 3, 4
    x = rng.normal(size=(n, steps, features))
    weights = list(_weights(kind, rng, features, units))
    layer = RECURRENT[kind](units, return_sequences=return_sequences, return_state=True)
    layer.build((steps, features), backend, "float64", rng=0)
    for p, w in zip(layer.parameters(), weights):
        p.value = backend.asarray(w, dtype="float64")
    out = layer.forward(backend.asarray(x, dtype="float64"), training=True)
    assert isinstance(out, tuple) and len(out) == (3 if kind == "LSTM" else 2)
    out = [backend.to_numpy(a) for a in out]
    hs, cs = reference_forward(kind, x, *weights, cells=True)
    np.testing.assert_allclose(out[0], hs if return_sequences else hs[:, -1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out[1], hs[:, -1], rtol=1e-12, atol=1e-13)
    if kind == "LSTM":
        np.testing.assert_allclose(out[2], cs[:, -1], rtol=1e-12, atol=1e-13)
    d_out = [rng.normal(size=a.shape) for a in out]

    def loss():
        h, c = reference_forward(kind, x, *weights, cells=True)
        states = [h if return_sequences else h[:, -1], h[:, -1], c[:, -1]]
        return sum(np.sum(d * s) for d, s in zip(d_out, states))

    want = _central_differences(loss, [x, *weights])
    dx = layer.backward(tuple(backend.asarray(d, dtype="float64") for d in d_out))
    for a, b in zip([dx] + [p.grad for p in layer.parameters()], want):
        np.testing.assert_allclose(backend.to_numpy(a), b, rtol=1e-6, atol=1e-8)
    # None: a state without a gradient counts as zero
    layer.forward(backend.asarray(x, dtype="float64"), training=True)
    dx_none = layer.backward((backend.asarray(d_out[0], dtype="float64"),) + (None,) * (len(d_out) - 1))
    plain = RECURRENT[kind](units, return_sequences=return_sequences)
    plain.build((steps, features), backend, "float64", rng=0)
    for p, w in zip(plain.parameters(), weights):
        p.value = backend.asarray(w, dtype="float64")
    plain.forward(backend.asarray(x, dtype="float64"), training=True)
    np.testing.assert_allclose(backend.to_numpy(dx_none),
                               backend.to_numpy(plain.backward(backend.asarray(d_out[0], dtype="float64"))),
                               rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_a_sequential_refuses_a_layer_with_return_state(kind):
    with pytest.raises(ValueError, match="return_state=True"):
        nk.Sequential([RECURRENT[kind](3, return_state=True), nk.layers.Dense(2)])
    model = nk.Sequential([nk.layers.Dense(2)])
    with pytest.raises(ValueError, match="return_state=True"):
        model.add(RECURRENT[kind](3, return_state=True))
    assert len(model.layers) == 1


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
def test_numba_results_held_by_a_caller_are_never_reused(rng):
    """The kernels take result buffers from a pool: one still held must not be written again."""
    from nnkit._kernels.numba import KERNELS

    w, u, b = _weights("LSTM", rng, 3, 4)
    x1, x2 = rng.normal(size=(5, 6, 3)), rng.normal(size=(5, 6, 3))
    first = KERNELS["lstm_forward"](x1, w, u, b, xp=np_xp)
    copies = [a.copy() for a in first]
    second = KERNELS["lstm_forward"](x2, w, u, b, xp=np_xp)
    for a, c in zip(first, copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_allclose(second[0], generic.lstm_forward(x2, w, u, b, xp=np_xp)[0], rtol=1e-12, atol=1e-13)
    hs = first[0]
    del first, second, copies
    again = KERNELS["lstm_forward"](x2, w, u, b, xp=np_xp)  # hs of the first call still held
    assert not np.shares_memory(again[0], hs)


# -- GRU(reset_after=False), Keras 2's formulation ------------------------------------------------
def test_gru_reset_before_ops_match_the_reference_on_every_backend(backend, rng):
    """Forward against the gate-by-gate reference, backward against its central differences."""
    n, steps, features, units = 3, 5, 2, 4
    x = rng.normal(size=(n, steps, features))
    weights = list(_weights("GRU1", rng, features, units))
    assert weights[2].shape == (3 * units,)
    dhs = rng.normal(size=(n, steps, units))
    hs, grads = _run_layer("GRU1", backend, x, weights, dhs)
    np.testing.assert_allclose(hs, reference_forward("GRU1", x, *weights), rtol=1e-12, atol=1e-13)
    for got, want in zip(grads, reference_gradients("GRU1", x, *weights, dhs)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    # it is another network than reset_after=True with the same weights
    gru3 = reference_forward("GRU", x, weights[0], weights[1], np.stack([weights[2], np.zeros_like(weights[2])]))
    assert np.abs(gru3 - hs).max() > 1e-3


def _run_layer(kind, backend, x, weights, dhs):
    """(hs, [dx, dW, dU, db]) of a return_sequences layer of ``kind`` with ``weights``, in float64."""
    layer = _layer(kind, dhs.shape[2], return_sequences=True)
    layer.build(x.shape[1:], backend, "float64", rng=0)
    for p, w in zip(layer.parameters(), weights):
        p.value = backend.asarray(w, dtype="float64")
    hs = layer.forward(backend.asarray(x, dtype="float64"), training=True)
    dx = layer.backward(backend.asarray(dhs, dtype="float64"))
    return backend.to_numpy(hs), [backend.to_numpy(a) for a in [dx] + [p.grad for p in layer.parameters()]]


@pytest.mark.parametrize("return_sequences", [False, True])
def test_gru_reset_before_layer_gradients_and_training_on_every_backend(return_sequences, backend, rng):
    X, y = rng.normal(size=(24, 5, 3)), rng.integers(0, 3, 24)
    ref = _model("GRU", return_sequences, "numpy", reset_after=False)
    ref.build((5, 3))
    assert ref.layers[0].bias.shape == (12,) and ref.layers[0].get_config()["reset_after"] is False
    assert nk.gradcheck.check_gradients(ref, X[:5], y[:5], max_entries=None) < 1e-6
    ref.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    model = _model("GRU", return_sequences, backend, reset_after=False)
    history = model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    np.testing.assert_allclose(history.history["loss"], ref.history.history["loss"], rtol=1e-10)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_bad_sequences_are_refused_naming_the_layer(kind, rng):
    model = _model(kind, False)
    model.build((5, 3))
    before = model.get_weights()
    layer = model.layers[0]
    for bad, match in ((rng.normal(size=(4, 3)), "timesteps"), (rng.normal(size=(2, 5, 4)), "3 features"),
                       (np.full((2, 5, 3), np.nan), "NaN")):
        with pytest.raises(ValueError, match=match) as info:
            layer.forward(bad, training=True)
        assert kind in str(info.value)
    with pytest.raises(ValueError, match="shape"):
        model.fit(rng.normal(size=(4, 5, 2)), rng.integers(0, 3, 4), verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((4, 5, 3), np.nan), rng.integers(0, 3, 4), verbose=0)
    with pytest.raises(ValueError, match=kind):
        nk.Sequential([RECURRENT[kind](3)]).build(4)  # a flat input has no time axis
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_gradients_of_another_shape_are_refused_naming_the_layer(kind, return_sequences, backend, rng):
    """A backward given a gradient whose shape is not its output's (or its last state's) says so,
    naming the layer, and leaves the weights and their gradients as they were: the kernels index
    the gradient by the forward's shapes, so it must never reach them."""
    n, steps, features, units = 3, 4, 2, 5
    layer = _layer(kind, units, return_sequences=return_sequences, return_state=True)
    layer.build((steps, features), backend, "float64", rng=0)
    x = backend.asarray(rng.normal(size=(n, steps, features)), dtype="float64")
    out, *states = layer.forward(x, training=True)
    good = [backend.asarray(rng.normal(size=tuple(a.shape)), dtype="float64") for a in (out, *states)]
    layer.backward(good)
    grads = [backend.to_numpy(p.grad).copy() for p in layer.parameters()]
    weights = [backend.to_numpy(p.value).copy() for p in layer.parameters()]
    wrong = (n, steps + 1, units) if return_sequences else (n, units + 1)
    cases = [([backend.asarray(rng.normal(size=wrong), dtype="float64")] + good[1:], "the output"),
             ([good[0], backend.asarray(rng.normal(size=(n + 1, units)), dtype="float64")] + good[2:],
              "the last state")]
    for bad, what in cases:
        with pytest.raises(ValueError, match=f"{kind} .*gradient of {what} with shape") as info:
            layer.backward(bad)
        assert str(wrong if what == "the output" else (n + 1, units)) in str(info.value)
        for p, g, w in zip(layer.parameters(), grads, weights):
            np.testing.assert_array_equal(backend.to_numpy(p.value), w)
            np.testing.assert_array_equal(backend.to_numpy(p.grad), g)


def test_bad_tokens_are_refused_naming_the_layer(rng):
    model = _embedding_model()
    before = model.get_weights()
    y = rng.integers(0, 2, 3)
    for bad, match in ((np.full((3, 6), 7), r"\[0, 7\)"), (np.full((3, 6), -1), r"\[0, 7\)"),
                       (np.full((3, 6), 1.5), "integers"), (np.full((3, 6), np.nan), "NaN")):
        with pytest.raises(ValueError, match=match) as info:
            model.layers[0].forward(np.asarray(bad), training=True)
        assert "Embedding" in str(info.value)
        with pytest.raises(ValueError):
            model.fit(bad, y, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Embedding"):
        nk.layers.Embedding(0, 3)


# -- numba kernels against the generic ops -----------------------------------------------------------
@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 7, 2, 5), (8, 4, 6, 16)])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_numba_kernels_match_the_generic_ops(kind, shape, dtype, rng):
    from nnkit._kernels.numba import KERNELS

    n, steps, features, units = shape
    x = rng.normal(size=(n, steps, features)).astype(dtype)
    weights = [w.astype(dtype) for w in _weights(kind, rng, features, units, scale=1.0)]
    dhs = rng.normal(size=(n, steps, units)).astype(dtype)
    name = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[kind]
    extra = ("tanh",) if kind == "SimpleRNN" else ()
    out_k = KERNELS[f"{name}_forward"](x, *weights, *extra, xp=np_xp)
    out_g = getattr(generic, f"{name}_forward")(x, *weights, *extra, xp=np_xp)
    tol = tolerance(dtype)
    for a, b in zip(out_k, out_g):
        np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"])
        assert a.dtype == np.dtype(dtype) and a.shape == b.shape
    for need_dx in (True, False):
        gk = KERNELS[f"{name}_backward"](dhs, x, *out_k, weights[0], weights[1], *extra, need_dx, xp=np_xp)
        gg = getattr(generic, f"{name}_backward")(dhs, x, *out_g, weights[0], weights[1], *extra, need_dx, xp=np_xp)
        for a, b in zip(gk, gg):
            if b is None:
                assert a is None
                continue
            np.testing.assert_allclose(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10 * steps)
            assert a.dtype == np.dtype(dtype) and a.shape == b.shape


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
def test_numba_lstm_backward_takes_states_it_did_not_make(dtype, rng):
    """The LSTM backward finds the forward's [x_t, h_(t-1)] buffer through the states it returned;
    states copied (or another x) make it build that buffer from the arguments: same gradients."""
    from nnkit._kernels.numba import KERNELS

    x = rng.normal(size=(3, 5, 2)).astype(dtype)
    w, u, b = (a.astype(dtype) for a in _weights("LSTM", rng, 2, 4, scale=1.0))
    dhs = rng.normal(size=(3, 5, 4)).astype(dtype)
    hs, cs, gates = KERNELS["lstm_forward"](x, w, u, b, xp=np_xp)
    assert hs.base is not None  # a view of the forward's buffer
    tol = tolerance(dtype)
    want = generic.lstm_backward(dhs, x, hs.copy(), cs.copy(), gates.copy(), w, u, True, xp=np_xp)
    for states in ((hs, cs, gates), (hs.copy(), cs.copy(), gates.copy())):
        for got, ref in zip(KERNELS["lstm_backward"](dhs, x, *states, w, u, True, xp=np_xp), want):
            np.testing.assert_allclose(got, ref, rtol=tol["rtol"] * 10, atol=tol["atol"] * 50)
    x2 = rng.normal(size=x.shape).astype(dtype)  # the backward's own x counts, not the forward's
    got = KERNELS["lstm_backward"](dhs, x2, hs, cs, gates, w, u, True, xp=np_xp)
    ref = generic.lstm_backward(dhs, x2, hs.copy(), cs.copy(), gates.copy(), w, u, True, xp=np_xp)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol["rtol"] * 10, atol=tol["atol"] * 50)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_numba_kernels_leave_a_gradient_of_another_shape_to_the_generic_op(kind, rng):
    """The kernels index dhs by the states' shape: a dhs of more steps (or a 2-D one of another
    width) runs the generic op, whose numbers (or error) the kernel's wrapper then gives."""
    from nnkit._kernels.numba import KERNELS

    x = rng.normal(size=(3, 4, 2))
    w, u, b = _weights(kind, rng, 2, 5)
    name = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[kind]
    extra = ("tanh",) if kind == "SimpleRNN" else ()
    states = KERNELS[f"{name}_forward"](x, w, u, b, *extra, xp=np_xp)
    longer = rng.normal(size=(3, 6, 5))  # the generic op reads its first 4 steps
    got = KERNELS[f"{name}_backward"](longer, x, *states, w, u, *extra, True, xp=np_xp)
    want = getattr(generic, f"{name}_backward")(longer, x, *(a.copy() for a in states), w, u, *extra, True, xp=np_xp)
    for a, c in zip(got, want):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError):  # NumPy's broadcasting error, not a read past the array
        KERNELS[f"{name}_backward"](rng.normal(size=(3, 7)), x, *states, w, u, *extra, True, xp=np_xp)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "linear", "elu"])
def test_numba_simple_rnn_activations_match(activation, rng):
    from nnkit._kernels.numba import KERNELS

    x = rng.normal(size=(3, 6, 2))
    w, u, b = _weights("SimpleRNN", rng, 2, 4)
    dhs = rng.normal(size=(3, 6, 4))
    hs, zs = KERNELS["simple_rnn_forward"](x, w, u, b, activation, xp=np_xp)
    hg, zg = generic.simple_rnn_forward(x, w, u, b, activation, xp=np_xp)
    np.testing.assert_allclose(hs, hg, rtol=1e-12, atol=1e-13)
    for a, c in zip(KERNELS["simple_rnn_backward"](dhs, x, hs, zs, w, u, activation, True, xp=np_xp),
                    generic.simple_rnn_backward(dhs, x, hg, zg, w, u, activation, True, xp=np_xp)):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
def test_numba_kernels_keep_nan_and_take_strided_input(rng):
    from nnkit._kernels.numba import KERNELS

    x = rng.normal(size=(4, 3, 2))
    x[1, 0, 0] = np.nan
    w, u, b = _weights("LSTM", rng, 2, 3)
    hs, cs, gates = KERNELS["lstm_forward"](x, w, u, b, xp=np_xp)
    assert np.all(np.isnan(hs[1])) and np.all(np.isfinite(hs[[0, 2, 3]]))
    wide = rng.normal(size=(4, 3, 4))[:, :, ::2]  # a strided view: time-major copy, same numbers
    np.testing.assert_allclose(KERNELS["lstm_forward"](wide, w, u, b, xp=np_xp)[0],
                               generic.lstm_forward(np.ascontiguousarray(wide), w, u, b, xp=np_xp)[0],
                               rtol=1e-12, atol=1e-13)


# -- vanishing gradients through time ------------------------------------------------------------
def test_gradient_through_time_is_the_input_gradient_per_step(rng):
    from nnkit.recurrent_diagnostics import gradient_through_time

    model = _model("LSTM", False)
    X, y = rng.normal(size=(6, 5, 3)), rng.integers(0, 3, 6)
    norms = gradient_through_time(model, X, y)
    x, t = model._check_input(X), model._check_target(y, 6)
    out, backward = model._chain(x, True)
    dx = backward(model._loss_and_grad(out, t)[1], True)
    np.testing.assert_allclose(norms, np.sqrt((dx ** 2).sum(axis=(0, 2))), rtol=1e-12)
    with pytest.raises(ValueError, match="sequences"):
        gradient_through_time(nk.Sequential([nk.layers.Dense(3, input_dim=2)]).compile("sgd", "mse"),
                              np.ones((2, 2)), np.ones((2, 3)))


def test_tanh_rnn_gradient_vanishes_where_a_held_lstm_cell_keeps_it(rng):
    from nnkit.recurrent_diagnostics import gradient_through_time

    steps = 30
    X, y = rng.normal(size=(8, steps, 2)), rng.integers(0, 3, 8)
    rnn = _model("SimpleRNN", False, units=6)
    rnn.build((steps, 2))
    w = rnn.get_weights()
    w[1] = 0.5 * w[1]  # an orthogonal U scaled by 1/2: each step back multiplies by at most 1/2
    rnn.set_weights(w)
    lstm = _model("LSTM", False, units=6)
    lstm.build((steps, 2))
    w = lstm.get_weights()
    w[2][6:12] = 20.0  # forget gates held at 1: the cell carries the gradient unchanged
    lstm.set_weights(w)
    g_rnn, g_lstm = gradient_through_time(rnn, X, y), gradient_through_time(lstm, X, y)
    assert g_rnn[0] / g_rnn[-1] < 0.5 ** (steps - 1) * 10
    assert g_lstm[0] / g_lstm[-1] > 0.05


def test_gradient_flow_reports_recurrent_layers(rng):
    from nnkit.diagnostics import GradientFlow, weighted_layers

    model = nk.Sequential([nk.layers.Embedding(5, 3), nk.layers.GRU(4, return_sequences=True),
                           nk.layers.LSTM(4), nk.layers.Dense(2, activation="softmax")], dtype="float64", seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build((6,))
    assert [type(layer).__name__ for _, layer in weighted_layers(model)] == ["GRU", "LSTM", "Dense"]
    flow = GradientFlow(reduce="last")
    history = model.fit(rng.integers(0, 5, size=(8, 6)), rng.integers(0, 2, 8), epochs=2, verbose=0,
                        callbacks=[flow])
    gru = model.layers[1]
    assert history.history[f"grad_norm/{gru.name}"][-1] == pytest.approx(float(np.linalg.norm(gru.kernel.grad)))
    assert len(history.history["grad_norm_ratio"]) == 2


# -- the W6 benchmark's trainers ------------------------------------------------------------------
def test_w6_flops_and_plan():
    from nnkit.bench.runner import Settings, plan
    from nnkit.bench.workloads import get_workload

    w6 = get_workload("W6")
    n, t, f, u, g = 64, 32, 32, 128, 512
    assert w6.flops_per_step() == 2 * (2 * n * t * f * g) + 3 * (2 * n * t * u * g) + 3 * (2 * n * u * 10)
    assert 0.93e9 < w6.flops_per_step() < 0.95e9
    labels = {j["label"] for j in plan(Settings(workloads="W6", backends="numpy", peers="numpy-hand"))
              if j["kind"] == "train"}
    assert labels == {"nnkit-numpy"}  # no hand-written NumPy LSTM: that peer is left out of W6


def test_w6_nnkit_trainer_says_which_lstm_kernels_ran():
    from nnkit.bench.trainers import make_trainer
    from nnkit.bench.workloads import get_workload

    w6 = get_workload("W6")
    X, y = w6.make_data(1, seed=0)
    assert make_trainer("nnkit-numpy", w6, X, y).describe() == {"lstm_kernels": [], "fused": False}
    if HAS_NUMBA:
        assert make_trainer("nnkit-numba", w6, X, y).describe() == {
            "lstm_kernels": ["lstm_forward", "lstm_backward"], "fused": True}


@pytest.mark.parametrize("label", ["nnkit-numba", "torch-cpu", "jax"])
def test_w6_trainers_take_the_same_steps(label):
    from nnkit.bench.trainers import make_trainer, peer_available
    from nnkit.bench.workloads import get_workload

    if label.startswith("nnkit-"):
        if not HAS_NUMBA:
            pytest.skip("numba is not installed")
    elif not peer_available(label):
        pytest.skip(f"{label} is not installed")
    w6 = get_workload("W6")
    X, y = w6.make_data(2, seed=0)
    ref = make_trainer("nnkit-numpy", w6, X, y, seed=0)
    other = make_trainer(label, w6, X, y, seed=0)
    losses = [t.run_epochs(1, shuffle=False) for t in (ref, other)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for a, b in zip(other.get_weights(), ref.get_weights()):
        # float32: Adam's step is about lr wherever a gradient is tiny, so a rounding that flips its
        # sign moves an entry by up to 2 lr per step; nearly every entry agrees to rounding
        diff = np.abs(a - b)
        assert diff.max() <= 4 * w6.lr and np.mean(diff > 2e-5) < 1e-3
    assert not np.allclose(ref.get_weights()[0], w6.initial_weights(0)[0])
