"""Every layer's gradients by check_gradients (central differences, float64), on every backend;
shapes, dtypes, seeds and the lecture's worked 2-2-2 example."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Activation, Dense, Dropout, Flatten, Maxout, Residual
from nnkit.ops import ACTIVATION_NAMES

GRAD_TOL = 1e-6


def _data(rng, n=6, d=3, k=2, kind="real"):
    X = rng.normal(size=(n, d))
    if kind == "sparse":
        return X, rng.integers(0, k, size=n)
    if kind == "onehot":
        return X, np.eye(k)[rng.integers(0, k, size=n)]
    if kind == "binary":
        return X, (rng.random((n, k)) > 0.5).astype(float)
    return X, rng.normal(size=(n, k))


@pytest.mark.parametrize("activation", [a for a in ACTIVATION_NAMES if a not in ("step", "relu", "leaky_relu")])
def test_dense_gradients_every_activation(backend, rng, activation):
    X, y = _data(rng)
    model = nk.Sequential([Dense(4, activation=activation, input_dim=3), Dense(2)], backend=backend, seed=0)
    assert nk.check_gradients(model, X, y, "mse") < GRAD_TOL


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_dense_gradients_piecewise_linear(backend, rng, activation):
    # weights drawn so no pre-activation sits within eps of the kink
    X, y = _data(rng)
    model = nk.Sequential([Dense(4, activation=activation, input_dim=3, bias_initializer="playground_bias"),
                           Dense(2)], backend=backend, seed=3)
    assert nk.check_gradients(model, X, y, "mse") < GRAD_TOL


def test_dense_without_bias(backend, rng):
    X, y = _data(rng)
    model = nk.Sequential([Dense(4, activation="tanh", use_bias=False, input_dim=3), Dense(2, use_bias=False)],
                          backend=backend, seed=0)
    assert len(model.parameters()) == 2
    assert nk.check_gradients(model, X, y, "mse") < GRAD_TOL


@pytest.mark.parametrize("loss,kind,last", [
    ("mse", "real", None),
    ("binary_crossentropy", "binary", "sigmoid"),
    (nk.losses.BinaryCrossEntropy(from_logits=True), "binary", None),
    ("categorical_crossentropy", "onehot", "softmax"),
    (nk.losses.CategoricalCrossEntropy(from_logits=True), "onehot", None),
    ("sparse_categorical_crossentropy", "sparse", "softmax"),
    ("categorical_crossentropy", "onehot", "sigmoid"),  # not fusable: exercises the unfused path
])
def test_loss_gradients_through_model(backend, rng, loss, kind, last):
    X, y = _data(rng, k=3, kind=kind)
    model = nk.Sequential([Dense(5, activation="tanh", input_dim=3), Dense(3, activation=last)],
                          backend=backend, seed=1)
    assert nk.check_gradients(model, X, y, loss) < GRAD_TOL


def test_maxout_residual_dropout_flatten(backend, rng):
    X = rng.normal(size=(5, 2, 3))
    y = rng.normal(size=(5, 2))
    model = nk.Sequential([
        Flatten(),
        Maxout(4, pieces=3),
        Residual([Dense(4, activation="tanh"), Dense(4, activation="elu")]),
        Dropout(0.3),
        Dense(2),
    ], backend=backend, seed=2)
    model.build((2, 3))
    assert nk.check_gradients(model, X, y, "mse") < GRAD_TOL


def test_deep_net_mixing_every_layer_and_activation(backend, rng):
    X, y = _data(rng, n=8, d=4, k=3, kind="sparse")
    smooth = ["sigmoid", "tanh", "elu", "softplus", "gelu", "silu", "linear"]
    layers = [Dense(6, activation="tanh", input_dim=4)]
    for act in smooth:
        layers.append(Residual(Dense(6, activation=act)))
    layers += [Maxout(6, pieces=2), Activation("sigmoid"), Dense(6, activation="leaky_relu",
               bias_initializer="playground_bias"), Dense(3, activation="softmax")]
    model = nk.Sequential(layers, backend=backend, seed=4)
    worst, details = nk.check_gradients(model, X, y, "sparse_categorical_crossentropy", return_details=True)
    assert worst < GRAD_TOL, details
    assert "input" in details and len(details) == len(model.parameters()) + 1


def test_regularizer_penalty_in_gradient_check(backend, rng):
    X, y = _data(rng)
    model = nk.Sequential([Dense(4, activation="tanh", input_dim=3, kernel_regularizer=nk.regularizers.L2(0.1)),
                           Dense(2, kernel_regularizer=nk.regularizers.ElasticNet(0.01, 0.05))],
                          backend=backend, seed=0)
    assert nk.check_gradients(model, X, y, "mse") < GRAD_TOL


def test_forward_backward_shapes_and_dtypes(train_backend, dtype, rng):
    model = nk.Sequential([Dense(16, activation="relu", input_dim=5), Dropout(0.2), Dense(3, activation="softmax")],
                          backend=train_backend, dtype=dtype, seed=0)
    x = rng.normal(size=(7, 5))
    y = model.forward(x, training=True)
    assert y.shape == (7, 3) and train_backend.dtype_name(y.dtype) == dtype
    np.testing.assert_allclose(train_backend.to_numpy(y).sum(1), 1.0, rtol=1e-5)
    dx = model.backward(train_backend.asarray(np.ones((7, 3)), dtype))
    assert dx.shape == (7, 5) and train_backend.dtype_name(dx.dtype) == dtype
    for p in model.parameters():
        assert p.grad.shape == p.value.shape
        assert train_backend.dtype_name(p.grad.dtype) == dtype
        assert train_backend.dtype_name(p.value.dtype) == dtype


def test_same_seed_same_initial_weights_on_every_backend(backend):
    def weights(be):
        m = nk.Sequential([Dense(7, activation="relu", input_dim=3), Maxout(2), Dense(1)], backend=be, seed=42)
        m.build()
        return m.get_weights()

    reference = weights("numpy")
    for a, b in zip(reference, weights(backend)):
        np.testing.assert_array_equal(a, b)
    other = nk.Sequential([Dense(7, input_dim=3)], seed=43)
    other.build()
    assert not np.array_equal(other.get_weights()[0], reference[0])


def test_initializers_statistics():
    m = nk.Sequential([Dense(400, input_dim=300, kernel_initializer="he_uniform", bias_initializer="playground_bias")],
                      seed=0, dtype="float64")
    m.build()
    w, b = m.get_weights()
    limit = np.sqrt(6 / 300)
    assert w.min() >= -limit and w.max() <= limit
    np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.02)
    np.testing.assert_array_equal(b, 0.1)
    pg = nk.Sequential([Dense(50, input_dim=40, kernel_initializer="playground")], seed=0)
    pg.build()
    assert pg.get_weights()[0].min() >= -0.5 and pg.get_weights()[0].max() <= 0.5


def test_lecture_worked_example_2_2_2():
    """The lecture's 2-2-2 sigmoid network: inputs 0.05, 0.10, targets 0.01, 0.99."""
    model = nk.Sequential([Dense(2, activation="sigmoid", input_dim=2), Dense(2, activation="sigmoid")],
                          dtype="float64")
    model.build()
    model.set_weights([np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([0.35, 0.35]),
                       np.array([[0.40, 0.50], [0.45, 0.55]]), np.array([0.60, 0.60])])
    x, t = np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])
    out = model.forward(x, training=True)
    np.testing.assert_allclose(out, [[0.75136507, 0.772928465]], rtol=1e-8)
    loss = nk.losses.MeanSquaredError()
    assert abs(loss(out, t) - 0.298371109) < 1e-9
    model.backward(loss.gradient(out, t))
    dw_out = model.parameters()[2].grad
    np.testing.assert_allclose(dw_out[0, 0], 0.082167041, rtol=1e-7)  # dE/dw5
    np.testing.assert_allclose(model.parameters()[0].grad[0, 0], 0.000438568, rtol=1e-5)  # dE/dw1
    model.compile(nk.optimizers.SGD(lr=0.5), "mse")
    model.optimizer.step(model.parameters(), model.backend)
    np.testing.assert_allclose(model.get_weights()[2][0, 0], 0.35891648, rtol=1e-7)  # w5 after one step
    np.testing.assert_allclose(model.get_weights()[0][0, 0], 0.149780716, rtol=1e-7)  # w1 after one step


def test_layer_config_round_trip():
    from nnkit.layers import layer_from_config, layer_to_config

    layers = [Dense(3, activation="relu", use_bias=False, kernel_regularizer="l2"), Maxout(2, pieces=3),
              Residual([Dense(2, activation="tanh")]), Dropout(0.5), Activation("gelu"), Flatten()]
    for layer in layers:
        again = layer_from_config(layer_to_config(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="unknown layer class"):
        layer_from_config({"class": "os.system", "config": {}})


SOURCE = pathlib.Path(nk.__file__).parent


@pytest.mark.parametrize("folder", ["layers", "ops"])
def test_layers_and_ops_never_import_array_libraries(folder):
    pattern = re.compile(r"^\s*(import|from)\s+(numpy|numba|cupy)\b", re.MULTILINE)
    offenders = [str(p) for p in (SOURCE / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("module", ["losses", "optimizers", "regularizers", "schedules", "model", "training",
                                    "callbacks", "metrics", "initializers", "gradcheck"])
def test_core_modules_never_import_array_libraries(module):
    text = (SOURCE / f"{module}.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(numpy|numba|cupy)\b", text, re.MULTILINE)


def test_import_nnkit_imports_neither_numba_nor_cupy():
    code = "import sys, nnkit; print('numba' in sys.modules, 'cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
