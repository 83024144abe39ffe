"""The layer protocol and the one step: closures that accumulate gradients, loss_and_grad and
train_step against hand-composed passes, on every training backend and both float dtypes."""

import logging

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense, Dropout, Maxout, Residual


def small_model(backend, dtype, loss="sparse_categorical_crossentropy", regularizer=None):
    model = nk.Sequential([Dense(6, activation="tanh", input_dim=4, kernel_regularizer=regularizer),
                           Residual([Dense(6, activation="relu")]), Maxout(5, 2),
                           Dense(3, activation="softmax")], backend=backend, dtype=dtype, seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), loss)
    model.build(4)
    return model


def data(n=9, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


def test_layer_closure_accumulates_into_parameters(train_backend, dtype, rng):
    be = train_backend
    layer = Dense(3, activation="tanh")
    layer.build(4, be, dtype, 0)
    x = be.asarray(rng.normal(size=(5, 4)), dtype)
    dy = be.asarray(rng.normal(size=(5, 3)), dtype)
    _, backward = layer._forward(x, True)
    dx1 = be.to_numpy(backward(dy))
    w_grad = be.to_numpy(layer.W.grad).copy()
    dx2 = be.to_numpy(backward(dy))  # re-entrant: the closure keeps its own forward values
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_allclose(be.to_numpy(layer.W.grad), 2 * w_grad, rtol=1e-6)
    assert be.dtype_name(layer.W.grad.dtype) == dtype
    # the stateful shell sets (not adds) the gradient, as the contract says
    layer.forward(x, training=True)
    layer.backward(dy)
    np.testing.assert_allclose(be.to_numpy(layer.W.grad), w_grad, rtol=1e-6)


def test_backward_without_a_training_forward_is_a_clear_error(train_backend):
    model = nk.Sequential([Dense(2, input_dim=3)], backend=train_backend, seed=0)
    model.forward(np.ones((2, 3)), training=False)
    with pytest.raises(ValueError, match="training=True"):
        model.backward(np.ones((2, 2)))
    assert all(not np.any(train_backend.to_numpy(p.grad)) for p in model.parameters())


def test_loss_and_grad_equals_the_hand_composed_pass(train_backend):
    X, y = data()
    model = small_model(train_backend, "float64", regularizer=nk.regularizers.L2(0.05))
    before = model.get_weights()
    loss, dx = model.loss_and_grad(X, y, wrt_input=True)
    grads = [train_backend.to_numpy(p.grad).copy() for p in model.parameters()]
    assert [np.array_equal(a, b) for a, b in zip(before, model.get_weights())] == [True] * len(before)
    # by hand: the outputs, the loss's own gradient, the public backward, the penalty's gradient
    out = model.forward(X, training=True)
    dout = model.loss.gradient(out, train_backend.asarray(y))
    dx_ref = model.backward(dout)
    W0 = model.parameters()[0]
    penalty, dpen = W0.regularizer.penalty_and_gradient(W0.value, train_backend)
    expected_loss = float(model.loss(out, train_backend.asarray(y))) + float(penalty)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    np.testing.assert_allclose(train_backend.to_numpy(dx), train_backend.to_numpy(dx_ref), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(grads[0], train_backend.to_numpy(W0.grad + dpen), rtol=1e-8, atol=1e-12)
    for g, p in zip(grads[1:], model.parameters()[1:]):
        np.testing.assert_allclose(g, train_backend.to_numpy(p.grad), rtol=1e-8, atol=1e-12)
    assert model.loss_and_grad(X, y)[1] is None


def test_train_step_is_one_fit_batch(train_backend, dtype):
    X, y = data()
    a, b = small_model(train_backend, dtype), small_model(train_backend, dtype)
    losses = [a.train_step(X, y) for _ in range(3)]
    history = b.fit(X, y, epochs=3, batch_size=len(X), shuffle=False, verbose=0)
    tol = 1e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(losses, history.history["loss"], rtol=tol)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=tol, atol=tol)
    assert a.train_on_batch(X, y) == pytest.approx(b.train_step(X, y), rel=tol)


def test_one_step_refuses_bad_input_and_changes_nothing(train_backend):
    X, y = data()
    model = small_model(train_backend, "float64")
    before = model.get_weights()
    with pytest.raises(ValueError, match="labels must lie in"):
        model.train_step(X, y + 5)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.loss_and_grad(bad, y)
    with pytest.raises(ValueError, match="samples of shape"):
        model.train_step(X[:, :3], y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    uncompiled = nk.Sequential([Dense(2, input_dim=4)], backend=train_backend)
    with pytest.raises(ValueError, match="not compiled"):
        uncompiled.loss_and_grad(X, np.zeros((9, 2)))


def test_dropout_closure_uses_the_forward_mask(train_backend):
    be = train_backend
    layer = Dropout(0.5)
    layer.build(6, be, "float64")
    x = be.asarray(np.ones((4, 6)), "float64")
    y, backward = layer._forward(x, True)
    dx = be.to_numpy(backward(be.asarray(np.ones((4, 6)), "float64")))
    np.testing.assert_array_equal(dx, be.to_numpy(y))  # dy = 1: dx is the scaled mask, as y
    y_eval, identity = layer._forward(x, False)
    assert y_eval is x and identity(x) is x


def test_summary_and_log_say_which_step_a_fit_ran(caplog):
    pytest.importorskip("numba")
    X, y = data()
    model = small_model("numba", "float64")
    assert model.summary().splitlines()[-1] == "step: chosen by the first fit"
    with caplog.at_level(logging.DEBUG, logger="nnkit"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[nk.callbacks.TerminateOnNaN()])
    # batch callbacks run around the compiled step: TerminateOnNaN keeps it
    assert model.step_path[0] == "compiled"
    assert model.summary().splitlines()[-1].startswith("step: compiled (")
    assert any("fit: compiled step" in r.getMessage() for r in caplog.records)
    plain = small_model("numpy", "float64")
    plain.fit(X, y, epochs=1, verbose=0)
    assert plain.step_path == ("per-layer", "the numpy backend has no compiled step")


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_flat_buffer_views_and_one_update_match_the_per_parameter_update(train_backend, dtype, name):
    be = train_backend
    X, y = data()
    model = small_model(be, dtype)
    model.compile(nk.optimizers.get(name), model.loss)
    (flat,) = model.flat_buffers
    params = model.parameters()
    assert flat.holds(params) and flat.size == sum(p.value.size for p in params)
    # every value and gradient is a view: writing the buffer writes the parameters
    flat.value[...] = 0.5
    assert all(np.all(be.to_numpy(p.value) == 0.5) for p in params)
    model.set_weights(small_model(be, dtype).get_weights())  # copies into the views
    assert flat.holds(params) and float(be.xp.sum(flat.value)) != 0.5 * flat.size
    # the same update per parameter, on copies outside any buffer
    loose = [nk.Parameter(be.xp.asarray(p.value, copy=True), p.name) for p in params]
    loose_opt = nk.optimizers.get(name)
    for _ in range(2):
        model.loss_and_grad(X, y)
        for q, p in zip(loose, params):
            q.grad = be.xp.asarray(p.grad, copy=True)
        model.apply_gradients()
        loose_opt.step(loose, be)
    tol = 1e-6 if dtype == "float32" else 1e-12
    for q, p in zip(loose, params):
        np.testing.assert_allclose(be.to_numpy(p.value), be.to_numpy(q.value), rtol=tol, atol=tol)
    state = model.optimizer.get_state(params)
    loose_state = loose_opt.get_state(loose)
    for key in loose_state:
        np.testing.assert_allclose(state[key], loose_state[key], rtol=tol, atol=tol)


def test_the_kernels_read_the_step_table_not_the_layer_classes():
    """kernels/ imports no layer, optimizer or regularizer module and reads no private attribute
    of the objects it is handed (its own modules' underscore names aside)."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "kernels"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("nnkit.layers", "nnkit.optimizers", "nnkit.regularizers",
                                                "nnkit.model", "nnkit.training")), (path, name)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                owner = base.id if isinstance(base, ast.Name) else None
                # self's own attributes, and the kernel modules' private helpers (K._jit, _jit._mm)
                assert owner in ("self", "K", "_jit", "_generic", "_stepgen", "cls", "np", "module"), \
                    (path, node.lineno, node.attr)


def test_a_refused_model_says_why(caplog):
    pytest.importorskip("numba")
    X, y = data()
    model = nk.Sequential([Dense(4, input_dim=4), nk.layers.GaussianNoise(0.1), Dense(3, activation="softmax")],
                          backend="numba", dtype="float64", seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=1, verbose=0)
    path, why = model.step_path
    assert path == "per-layer" and "layer the compiled step does not implement" in why
    assert model.summary().splitlines()[-1] == f"step: per-layer ({why})"

    class MySGD(nk.optimizers.SGD):
        pass

    other = small_model("numba", "float64")
    other.compile(MySGD(lr=0.1), "sparse_categorical_crossentropy")
    other.fit(X, y, epochs=1, verbose=0)
    assert other.step_path == ("per-layer", "the optimizer MySGD, whose update the step does not implement")
