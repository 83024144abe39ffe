"""The compiled training step of the numba backend: the same trajectory as the per-layer path and
as the numpy backend (float64, to rounding), for every optimizer and every fused loss."""

import numpy as np
import pytest

import nnkit as nk

pytest.importorskip("numba")
from _op_harness import optimizer_cases  # noqa: E402
from nnkit._kernels.numba import make_train_step, train_step  # noqa: E402

RTOL, ATOL = 1e-10, 1e-12


def model_for(backend, loss, activations=("tanh", "relu"), out_activation=None, n_out=3, seed=0,
              optimizer=None, use_bias=True):
    layers = [nk.layers.Dense(6, activation=activations[0], input_dim=5),
              nk.layers.Dense(7, activation=activations[1], use_bias=use_bias),
              nk.layers.Dense(n_out, activation=out_activation)]
    model = nk.Sequential(layers, backend=backend, dtype="float64", seed=seed)
    model.compile(optimizer or nk.optimizers.SGD(lr=0.1), loss)
    return model


def data(loss, n_out, n=23, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if loss == "sparse_categorical_crossentropy":
        return X, rng.integers(0, n_out, size=n)
    if loss == "categorical_crossentropy":
        return X, np.eye(n_out)[rng.integers(0, n_out, size=n)]
    if loss == "binary_crossentropy":
        return X, (rng.random((n, n_out)) > 0.5).astype(float)
    return X, rng.normal(size=(n, n_out))


# the compiled steps a trajectory test runs: the default one-call step (TableStep for a plain
# Dense stack, the generated step otherwise), the generated step whatever the stack, and the step
# of big networks (LayeredStep)
STEPS = ["one-call", "generated", "layered"]


def fit_both(monkeypatch, make, X, y, layered=False, **fit_kwargs):
    """(compiled model, per-layer model, histories) trained alike on the numba backend; layered:
    True or "layered" for the compiled step of big networks (LayeredStep), "generated" for the
    step generated for the model even where TableStep would run, else the default one-call step."""
    be = nk.get_backend("numba")
    compiled = make("numba")
    compiled.build(tuple(X.shape[1:]))
    if layered in (True, "layered"):
        monkeypatch.setattr(train_step, "MAX_MACS_PER_SAMPLE", 0)
    if layered == "generated":
        monkeypatch.setattr(train_step, "PREFER_TABLE_STEP", False)
    step = make_train_step(compiled)
    if layered in (True, "layered"):
        assert isinstance(step, train_step.LayeredStep)
    elif layered == "generated":
        assert type(step) is train_step.CompiledStep
    else:
        assert isinstance(step, train_step.CompiledStep)
    h1 = compiled.fit(X, y, verbose=0, **fit_kwargs)
    monkeypatch.undo()
    per_layer = make("numba")
    with monkeypatch.context() as m:
        m.setattr(be.table, "make_train_step", None)
        h2 = per_layer.fit(X, y, verbose=0, **fit_kwargs)
    return compiled, per_layer, h1, h2


def assert_same(m1, m2, h1, h2):
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    for key in h2.history:
        np.testing.assert_allclose(h1.history[key], h2.history[key], rtol=RTOL, atol=ATOL)
    assert m1.optimizer.iterations == m2.optimizer.iterations
    s1 = m1.optimizer.get_state(m1.parameters())
    s2 = m2.optimizer.get_state(m2.parameters())
    assert s1.keys() == s2.keys()
    for key in s2:
        np.testing.assert_allclose(s1[key], s2[key], rtol=RTOL, atol=ATOL)


TRAINS = optimizer_cases("trains")


@pytest.mark.parametrize("layered", STEPS)
@pytest.mark.parametrize("case", TRAINS, ids=repr)
def test_compiled_step_equals_per_layer_path_for_each_optimizer(monkeypatch, case, layered):
    loss = "sparse_categorical_crossentropy"
    X, y = data(loss, 3)

    def make(be):
        return model_for(be, loss, out_activation="softmax", optimizer=case.make())

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, layered, epochs=3, batch_size=5, seed=1)
    assert_same(m1, m2, h1, h2)


@pytest.mark.parametrize("layered", STEPS)
@pytest.mark.parametrize("loss, out_activation, activations", [
    ("mse", None, ("elu", "gelu")),
    ("mse", "softmax", ("silu", "softplus")),  # softmax output, not fused: its own backward
    ("binary_crossentropy", "sigmoid", ("leaky_relu", "tanh")),
    ("categorical_crossentropy", "softmax", ("sigmoid", "relu")),
    ("sparse_categorical_crossentropy", "softmax", ("relu", "linear")),
])
def test_compiled_step_equals_per_layer_path_for_each_loss(monkeypatch, loss, out_activation,
                                                          activations, layered):
    X, y = data(loss, 3)

    def make(be):
        return model_for(be, loss, activations, out_activation, use_bias=False)

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, layered, epochs=2, batch_size=4, seed=2)
    assert_same(m1, m2, h1, h2)


def test_numba_and_numpy_backends_train_to_the_same_weights():
    loss = "sparse_categorical_crossentropy"
    X, y = data(loss, 3, n=40)
    models = {}
    for be in ("numpy", "numba"):
        model = model_for(be, loss, out_activation="softmax",
                          optimizer=nk.optimizers.SGD(lr=0.05, momentum=0.9))
        model.compile(model.optimizer, loss, metrics=["accuracy"])
        history = model.fit(X, y, epochs=4, batch_size=8, verbose=0, seed=5)
        models[be] = (model, history)
    (m_np, h_np), (m_nb, h_nb) = models["numpy"], models["numba"]
    for a, b in zip(m_np.get_weights(), m_nb.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(h_np.history["loss"], h_nb.history["loss"], rtol=RTOL)
    assert h_np.history["accuracy"] == h_nb.history["accuracy"]


def dropout_model(be, rates, loss="sparse_categorical_crossentropy", out_activation="softmax",
                  optimizer=None, dtype="float64"):
    """Dense(8) Dropout(rates[0]) Dense(6) Dropout(rates[1]) Dropout(rates[2]) Dense(3)
    [Dropout(rates[3])]: a dropout after a layer, two in a row, and one after the output."""
    layers = [nk.layers.Dense(8, activation="tanh", input_dim=5), nk.layers.Dropout(rates[0]),
              nk.layers.Dense(6, activation="relu"), nk.layers.Dropout(rates[1]),
              nk.layers.Dropout(rates[2]), nk.layers.Dense(3, activation=out_activation)]
    layers += [nk.layers.Dropout(r) for r in rates[3:]]
    model = nk.Sequential(layers, backend=be, dtype=dtype, seed=0)
    model.compile(optimizer or nk.optimizers.Adam(lr=0.01), loss)
    return model


@pytest.mark.parametrize("layered", [False, True], ids=["one-call", "layered"])
@pytest.mark.parametrize("rates", [(0.3, 0.5, 0.1, 0.2), (0.9, 0.0, 0.25, 0.0)],
                         ids=["four", "extreme-and-zero"])
def test_compiled_step_with_dropout_draws_the_per_layer_masks(monkeypatch, rates, layered):
    # the same uniforms from the backend's generator, so the same masks and the same weights
    loss = "sparse_categorical_crossentropy"
    X, y = data(loss, 3, n=29)

    def make(be):
        return dropout_model(be, rates)

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, layered, epochs=3, batch_size=8, seed=6)
    assert_same(m1, m2, h1, h2)
    # dropout did act: without it the weights differ
    m3 = dropout_model("numba", (0.0,) * len(rates))
    m3.fit(X, y, epochs=3, batch_size=8, verbose=0, seed=6)
    assert not np.allclose(m1.get_weights()[0], m3.get_weights()[0])


@pytest.mark.parametrize("layered", [False, True], ids=["one-call", "layered"])
def test_compiled_step_with_dropout_in_float32_and_mse(monkeypatch, layered):
    loss = "mse"
    X, y = data(loss, 3, n=20)

    def make(be):
        return dropout_model(be, (0.2, 0.0, 0.4), loss, None, nk.optimizers.SGD(lr=0.05),
                             "float32")

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X.astype(np.float32), y.astype(np.float32),
                              layered, epochs=2, batch_size=6, seed=2)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)


def test_dropout_trains_like_numpy_backend():
    # the numpy backend draws the same uniforms from its generator
    loss = "sparse_categorical_crossentropy"
    X, y = data(loss, 3, n=30)
    weights = []
    for be in ("numpy", "numba"):
        model = dropout_model(be, (0.3, 0.5, 0.1, 0.2))
        if be == "numba":
            model.build(5)
            assert isinstance(make_train_step(model), train_step.CompiledStep)
        model.fit(X, y, epochs=3, batch_size=7, verbose=0, seed=4)
        if be == "numba":  # the step generated for its layers, as summary() says
            assert model.step_path[1].endswith(train_step.CompiledStep.path)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def activation_layers_model(backend, dtype="float64"):
    """Keras' style: linear Dense layers each followed by its Activation (and a Dropout)."""
    layers = [nk.layers.Dense(6, input_dim=5), nk.layers.Activation("tanh"), nk.layers.Dropout(0.3),
              nk.layers.Dense(7), nk.layers.Activation("relu"),
              nk.layers.Dense(3), nk.layers.Activation("softmax")]
    model = nk.Sequential(layers, backend=backend, dtype=dtype, seed=2)
    model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    return model


@pytest.mark.parametrize("layered", [False, True], ids=["one-call", "layered"])
def test_compiled_step_folds_an_activation_layer_into_the_linear_dense_before_it(monkeypatch, layered):
    X, y = data("sparse_categorical_crossentropy", 3, n=26)
    m1, m2, h1, h2 = fit_both(monkeypatch, activation_layers_model, X, y, layered, epochs=3,
                              batch_size=5, seed=3)
    assert_same(m1, m2, h1, h2)
    # the same network written with Dense activations trains to the same weights
    dense_only = nk.Sequential([nk.layers.Dense(6, activation="tanh", input_dim=5), nk.layers.Dropout(0.3),
                                nk.layers.Dense(7, activation="relu"),
                                nk.layers.Dense(3, activation="softmax")], backend="numba", dtype="float64",
                               seed=2)
    dense_only.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    h3 = dense_only.fit(X, y, epochs=3, batch_size=5, verbose=0, seed=3)
    assert_same(m1, dense_only, h1, h3)


@pytest.mark.parametrize("layered", [False, True], ids=["one-call", "layered"])
def test_compiled_step_takes_images_through_a_leading_flatten(monkeypatch, layered):
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(21, 4, 3)), rng.integers(0, 3, size=21)

    def make(be):
        model = nk.Sequential([nk.layers.Flatten(), nk.layers.Dense(6, activation="relu"), nk.layers.Flatten(),
                               nk.layers.Dense(3, activation="softmax")], backend=be, dtype="float64", seed=1)
        model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy")
        return model

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, layered, epochs=2, batch_size=4, seed=5)
    assert_same(m1, m2, h1, h2)


@pytest.mark.parametrize("layered, dtype", [(False, "float64"), (True, "float64"), (False, "float32")],
                         ids=["one-call", "layered", "one-call-float32"])
def test_compiled_step_adds_the_regularizers_penalties(monkeypatch, layered, dtype):
    X, y = data("sparse_categorical_crossentropy", 3, n=25)
    X = X.astype(dtype)

    def make(be):
        layers = [nk.layers.Dense(6, activation="tanh", input_dim=5, kernel_regularizer=nk.regularizers.L2(0.01)),
                  nk.layers.Dense(7, activation="relu"),
                  nk.layers.Dense(4, activation="relu", kernel_regularizer=nk.regularizers.L1(0.003)),
                  nk.layers.Dense(3, activation="softmax",
                                  kernel_regularizer=nk.regularizers.ElasticNet(0.002, 0.02))]
        model = nk.Sequential(layers, backend=be, dtype=dtype, seed=4)
        model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy")
        return model

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, layered, epochs=3, batch_size=6, seed=2)
    if dtype == "float64":
        assert_same(m1, m2, h1, h2)
    else:
        for a, b in zip(m1.get_weights(), m2.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    if layered or dtype != "float64":
        return
    # the penalties did act: the loss includes them and the weights differ without them
    m3 = make("numba")
    m3.build(5)
    for layer in m3.layers:
        layer.W.regularizer = None
    h3 = m3.fit(X, y, epochs=3, batch_size=6, verbose=0, seed=2)
    assert h3.history["loss"][0] < h1.history["loss"][0]
    assert not np.allclose(m1.get_weights()[0], m3.get_weights()[0])


def test_step_follows_weights_replaced_between_fits(monkeypatch):
    loss = "mse"
    X, y = data(loss, 3)

    def make(be):
        return model_for(be, loss, optimizer=nk.optimizers.Adam(lr=0.01))

    m1, m2, _, _ = fit_both(monkeypatch, make, X, y, epochs=1, batch_size=6, seed=0)
    other = model_for("numpy", loss, seed=7)
    other.build(5)
    start = other.get_weights()
    for m in (m1, m2):
        m.set_weights(start)
    h1 = m1.fit(X, y, epochs=1, batch_size=6, verbose=0, seed=1)
    with monkeypatch.context() as mp:
        mp.setattr(nk.get_backend("numba").table, "make_train_step", None)
        h2 = m2.fit(X, y, epochs=1, batch_size=6, verbose=0, seed=1)
    assert_same(m1, m2, h1, h2)


def test_step_is_none_where_not_eligible():
    X, y = data("mse", 3)
    # a subclassed optimizer may change the update: not compiled
    class MySGD(nk.optimizers.SGD):
        pass

    class CustomPenalty(nk.regularizers.L2):  # a penalty of its own: the per-layer path computes it
        def penalty_and_gradient(self, w, backend):
            return super().penalty_and_gradient(w * 2.0, backend)

    model = model_for("numba", "mse", optimizer=MySGD(lr=0.1))
    model.build(5)
    assert make_train_step(model) is None
    # a dropout or an activation before the first Dense, an activation after a dropout, another
    # activation or a Maxout, a layer the step does not know
    stacks = [[nk.layers.Dropout(0.2), nk.layers.Dense(3, input_dim=5)],
              [nk.layers.Activation("relu"), nk.layers.Dense(3, input_dim=5)],
              [nk.layers.Dense(3, input_dim=5), nk.layers.Dropout(0.2), nk.layers.Activation("relu")],
              [nk.layers.Dense(3, activation="tanh", input_dim=5), nk.layers.Activation("relu")],
              [nk.layers.Dense(3, input_dim=5), nk.layers.GaussianNoise(0.1)],
              [nk.layers.Dense(3, input_dim=5), nk.layers.Maxout(3, 2), nk.layers.Activation("relu")],
              [nk.layers.Dense(3, input_dim=5, kernel_regularizer=CustomPenalty())]]
    for layers in stacks:
        other = nk.Sequential(layers, backend="numba", seed=0)
        other.compile(nk.optimizers.SGD(lr=0.1), "mse")
        other.build(5)
        assert make_train_step(other) is None, layers
    eligible = model_for("numba", "mse")
    eligible.build(5)
    step = make_train_step(eligible)
    loss, out = step(eligible.backend.asarray(X[:4]), eligible.backend.asarray(y[:4]))
    assert out.shape == (4, 3) and np.isfinite(float(loss))
    assert eligible.optimizer.iterations == 1


def test_one_call_step_with_products_above_the_blas_threshold(monkeypatch):
    """Products of more than SMALL_GEMM multiply-adds go to BLAS inside the one-call step."""
    from nnkit._kernels.numba import _jit

    rng = np.random.default_rng(8)
    X = rng.normal(size=(48, 24))
    y = rng.integers(0, 10, size=48)
    assert 16 * 24 * 32 > _jit.SMALL_GEMM and 16 * 32 * 10 > _jit.SMALL_GEMM

    def make(be):
        m = nk.Sequential([nk.layers.Dense(32, activation="relu", input_dim=24),
                           nk.layers.Dense(10, activation="softmax")], backend=be, dtype="float64", seed=3)
        m.compile(nk.optimizers.SGD(lr=0.05, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
        return m

    m1, m2, h1, h2 = fit_both(monkeypatch, make, X, y, epochs=2, batch_size=16, seed=4)
    assert_same(m1, m2, h1, h2)


def residual_model(backend, dtype="float64", dropout=0.0):
    """Residual blocks of one and of two Dense layers, back to back, one at the input."""
    block = [nk.layers.Dense(6, activation="tanh"), nk.layers.Dense(6)]
    if dropout:
        block.insert(1, nk.layers.Dropout(dropout))
    layers = [nk.layers.Residual(nk.layers.Dense(5, activation="relu")),  # the input's own width
              nk.layers.Dense(6, activation="elu"),
              nk.layers.Residual(block),
              nk.layers.Residual([nk.layers.Dense(6), nk.layers.Activation("sigmoid")]),
              nk.layers.Dense(3, activation="softmax")]
    model = nk.Sequential(layers, backend=backend, dtype=dtype, seed=9)
    model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    return model


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_compiled_step_runs_residual_blocks_like_the_per_layer_path(monkeypatch, dropout):
    X, y = data("sparse_categorical_crossentropy", 3, n=27)
    m1, m2, h1, h2 = fit_both(monkeypatch, lambda be: residual_model(be, dropout=dropout), X, y,
                              epochs=3, batch_size=6, seed=4)
    assert_same(m1, m2, h1, h2)
    # and like the numpy backend
    m3 = residual_model("numpy", dropout=dropout)
    h3 = m3.fit(X, y, epochs=3, batch_size=6, verbose=0, seed=4)
    assert_same(m1, m3, h1, h3)


def test_residual_blocks_the_step_leaves_to_the_per_layer_path(monkeypatch):
    cases = [
        # an activation or a dropout after a block acts on the sum
        [nk.layers.Dense(5, input_dim=5), nk.layers.Residual(nk.layers.Dense(5)),
         nk.layers.Activation("relu")],
        [nk.layers.Dense(5, input_dim=5), nk.layers.Residual(nk.layers.Dense(5)), nk.layers.Dropout(0.5)],
        # a block that starts with a dropout, or holds a block
        [nk.layers.Dense(5, input_dim=5),
         nk.layers.Residual([nk.layers.Dropout(0.5), nk.layers.Dense(5)])],
        [nk.layers.Residual(nk.layers.Residual(nk.layers.Dense(5))), nk.layers.Dense(2)],
    ]
    for layers in cases:
        model = nk.Sequential(layers, backend="numba", seed=0)
        model.compile(nk.optimizers.SGD(lr=0.1), "mse")
        model.build(5)
        assert make_train_step(model) is None, layers
    # a big network with a block: the products dominate, the per-layer path runs it
    model = residual_model("numba")
    model.build(5)
    assert isinstance(make_train_step(model), train_step.CompiledStep)
    monkeypatch.setattr(train_step, "MAX_MACS_PER_SAMPLE", 0)
    assert make_train_step(model) is None


def maxout_model(backend, dropout=0.0):
    """Maxout layers of 2 and 3 pieces, one in a Residual block, one before a softmax Dense."""
    block = [nk.layers.Maxout(6, 2)] + ([nk.layers.Dropout(dropout)] if dropout else [])
    layers = [nk.layers.Maxout(6, 3), nk.layers.Residual(block), nk.layers.Dense(3, activation="softmax")]
    model = nk.Sequential(layers, backend=backend, dtype="float64", seed=12)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  ["accuracy"])
    return model


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_compiled_step_runs_maxout_like_the_per_layer_path(monkeypatch, dropout):
    X, y = data("sparse_categorical_crossentropy", 3, n=22)
    m1, m2, h1, h2 = fit_both(monkeypatch, lambda be: maxout_model(be, dropout), X, y, epochs=3,
                              batch_size=5, seed=8)
    assert_same(m1, m2, h1, h2)
    m3 = maxout_model("numpy", dropout)
    h3 = m3.fit(X, y, epochs=3, batch_size=5, verbose=0, seed=8)
    assert_same(m1, m3, h1, h3)


def test_big_maxout_networks_run_the_per_layer_path(monkeypatch):
    model = nk.Sequential([nk.layers.Maxout(4, 2), nk.layers.Dense(2)], backend="numba", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1), "mse")
    model.build(5)
    assert isinstance(make_train_step(model), train_step.CompiledStep)
    monkeypatch.setattr(train_step, "MAX_MACS_PER_SAMPLE", 0)  # the products dominate
    assert make_train_step(model) is None


@pytest.mark.parametrize("case", TRAINS, ids=repr)
def test_table_step_equals_per_layer_path_for_each_optimizer(monkeypatch, case):
    monkeypatch.setattr(train_step, "PREFER_TABLE_STEP", True)
    loss = "sparse_categorical_crossentropy"
    X, y = data(loss, 3)
    make = lambda be: model_for(be, loss, optimizer=case.make(), use_bias=case.name != "sgd")  # noqa: E731
    probe = make("numba")
    probe.build(5)
    assert isinstance(make_train_step(probe), train_step.TableStep)
    be = nk.get_backend("numba")
    table = make("numba")
    h1 = table.fit(X, y, epochs=2, batch_size=6, verbose=0, seed=0)
    per_layer = make("numba")
    with monkeypatch.context() as m:
        m.setattr(be.table, "make_train_step", None)
        h2 = per_layer.fit(X, y, epochs=2, batch_size=6, verbose=0, seed=0)
    assert_same(table, per_layer, h1, h2)


@pytest.mark.parametrize("loss, out_activation, n_out", [("mse", None, 3), ("binary_crossentropy", "sigmoid", 2),
                                                         ("categorical_crossentropy", "softmax", 3)])
def test_table_step_equals_per_layer_path_for_each_loss(monkeypatch, loss, out_activation, n_out):
    monkeypatch.setattr(train_step, "PREFER_TABLE_STEP", True)
    X, y = data(loss, n_out)
    be = nk.get_backend("numba")
    table = model_for("numba", loss, out_activation=out_activation, n_out=n_out)
    h1 = table.fit(X, y, epochs=2, batch_size=5, verbose=0, seed=0)
    per_layer = model_for("numba", loss, out_activation=out_activation, n_out=n_out)
    with monkeypatch.context() as m:
        m.setattr(be.table, "make_train_step", None)
        h2 = per_layer.fit(X, y, epochs=2, batch_size=5, verbose=0, seed=0)
    assert_same(table, per_layer, h1, h2)
    # summary() and the DEBUG line say which compiled step ran
    assert table.step_path == ("compiled", "the numba backend compiles this model's whole step: "
                               + train_step.TableStep.path)
    assert per_layer.step_path[0] == "per-layer"
