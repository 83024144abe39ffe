"""Images: Conv2D, pooling, BatchNormalization and Reshape on every backend, against direct loops
(tests/_conv_reference.py) and PyTorch's functional ops, by central differences, trained alike on
every backend, saved and loaded, and bad input rejected naming the layer and the shapes."""

import numpy as np
import pytest

import _conv_reference as ref
import nnkit as nk
from conftest import backend_params, make_backend, tolerance
from nnkit.layers import (AvgPool2D, BatchNormalization, Conv2D, Dense, Flatten, GlobalAvgPool2D,
                          GlobalMaxPool2D, MaxPool2D, Reshape)
from nnkit.ops._geometry import window_geometry

GRAD_TOL = 1e-6
# (input h, w, c), filters, kernel, strides, dilation, padding: odd sizes, strides 1 and 2,
# dilation 2, both paddings, an even kernel with asymmetric "same" pads
CONV_CASES = [
    ((7, 7, 2), 3, 3, 1, 1, "valid"),
    ((7, 6, 2), 3, 3, 2, 1, "same"),
    ((8, 7, 3), 2, (3, 2), (2, 1), 1, "valid"),
    ((9, 9, 2), 2, 3, 1, 2, "same"),
    ((9, 8, 1), 2, 3, 2, 2, "valid"),
    ((5, 5, 2), 3, (2, 4), 2, 1, "same"),
]
POOL_CASES = [((6, 6, 2), 2, None, "valid"), ((7, 7, 2), 3, 2, "valid"), ((7, 6, 3), 2, None, "same"),
              ((5, 7, 2), (3, 2), (2, 1), "same"), ((5, 5, 1), 3, 1, "same")]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def close(actual, expected, dtype, scale=1.0):
    tol = tolerance(dtype) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def _run(layer, backend, dtype, x, dy, weights=None, need_dx=True):
    """(y, dx, [grads]) of a built layer on ``backend``."""
    layer.build(x.shape[1:], backend, dtype, np.random.default_rng(0))
    for p, w in zip(layer.parameters(), weights or []):
        p.value = backend.asarray(w, dtype=layer.dtype)
    y = layer.forward(backend.asarray(x, dtype=layer.dtype), training=True)
    dx = layer.backward(backend.asarray(dy, dtype=layer.dtype), need_dx)
    grads = [backend.to_numpy(p.grad) for p in layer.parameters() if p.grad is not None]
    return backend.to_numpy(y), None if dx is None else backend.to_numpy(dx), grads


# -- against direct loops, every backend ------------------------------------------------------
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_direct_loops(backend, dtype, rng, case):
    shape, filters, k, s, d, padding = case
    x = rng.normal(size=(3,) + shape)
    kh, kw = pair(k)
    K = rng.normal(size=(kh, kw, shape[2], filters))
    b = rng.normal(size=filters)
    y_ref = ref.conv(x, K, b, pair(s), pair(d), padding)
    dy = rng.normal(size=y_ref.shape)
    layer = Conv2D(filters, k, strides=s, dilation_rate=d, padding=padding)
    y, dx, (dK, db) = _run(layer, backend, dtype, x, dy, [K, b])
    assert layer.output_shape == y_ref.shape[1:] and y.dtype == np.dtype(dtype)
    dx_ref, dK_ref, db_ref = ref.conv_backward(dy, x, K, pair(s), pair(d), padding)
    close(y, y_ref, dtype, 10)
    close(dx, dx_ref, dtype, 10)
    close(dK, dK_ref, dtype, 30)
    close(db, db_ref, dtype, 30)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_direct_loops(backend, dtype, rng, case, kind):
    shape, pool, strides, padding = case
    x = rng.normal(size=(2,) + shape)
    y_ref, backward = ref.pool(x, pair(pool), pair(strides or pool), padding, kind)
    dy = rng.normal(size=y_ref.shape)
    layer = (MaxPool2D if kind == "max" else AvgPool2D)(pool, strides, padding)
    y, dx, _ = _run(layer, backend, dtype, x, dy)
    close(y, y_ref, dtype)
    close(dx, backward(dy), dtype)


@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"), (2, 1, "valid")])
def test_max_pool_routes_ties_to_the_first_maximum_and_the_first_nan_wins(backend, dtype, pool, strides,
                                                                           padding):
    """After a relu most windows tie at 0: the gradient goes to the first tap in (row, column)
    order, once; a window holding NaNs outputs NaN and routes to its first NaN."""
    x = np.zeros((1, 5, 6, 2))
    x[0, 1, 1, 0] = x[0, 0, 1, 0] = np.nan
    x[0, 3, 4, 1] = x[0, 4, 4, 1] = 2.0
    layer = MaxPool2D(pool, strides, padding)
    sh = sw = strides or pool
    (ho, wo), pads = window_geometry(5, 6, (pool, pool, sh, sw, 1, 1), padding)
    dy = np.arange(1.0, 1.0 + 2 * ho * wo).reshape(1, ho, wo, 2)
    y, dx, _ = _run(layer, backend, dtype, x, dy)
    dx_ref = np.zeros_like(x)
    for i in range(ho):
        for j in range(wo):
            for c in range(2):
                taps = [(r, s) for r in range(i * sh - pads[0], i * sh - pads[0] + pool)
                        for s in range(j * sw - pads[2], j * sw - pads[2] + pool) if 0 <= r < 5 and 0 <= s < 6]
                vals = [x[0, r, s, c] for r, s in taps]
                nan = [t for t, v in zip(taps, vals) if np.isnan(v)]
                first = nan[0] if nan else taps[int(np.argmax(vals))]  # argmax: the first maximum
                assert np.isnan(y[0, i, j, c]) if nan else y[0, i, j, c] == max(vals)
                dx_ref[0, first[0], first[1], c] += dy[0, i, j, c]
    np.testing.assert_array_equal(dx, dx_ref)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_global_pooling_matches_direct_loops(backend, dtype, rng, kind):
    x = rng.normal(size=(3, 5, 4, 3))
    dy = rng.normal(size=(3, 3))
    layer = GlobalMaxPool2D() if kind == "max" else GlobalAvgPool2D()
    y, dx, _ = _run(layer, backend, dtype, x, dy)
    dx_ref = np.zeros_like(x)
    for n in range(3):
        for c in range(3):
            plane = x[n, :, :, c]
            if kind == "max":
                i, j = divmod(int(np.argmax(plane)), 4)
                assert y[n, c] == pytest.approx(plane[i, j], rel=1e-6)
                dx_ref[n, i, j, c] = dy[n, c]
            else:
                assert y[n, c] == pytest.approx(plane.sum() / 20, rel=1e-5)
                dx_ref[n, :, :, c] = dy[n, c] / 20
    close(dx, dx_ref, dtype)


@pytest.mark.parametrize("shape", [(7, 3), (4, 5, 3, 2)])
def test_batch_norm_matches_direct_loops(backend, dtype, rng, shape):
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    dy = rng.normal(size=shape)
    y_ref, backward, mean, var = ref.batch_norm(x, gamma, beta, 1e-3)
    layer = BatchNormalization()
    y, dx, (dgamma, dbeta) = _run(layer, backend, dtype, x, dy, [gamma, beta])
    dx_ref, dgamma_ref, dbeta_ref = backward(dy)
    close(y, y_ref, dtype, 10)
    close(dx, dx_ref, dtype, 10)
    close(dgamma, dgamma_ref, dtype, 30)
    close(dbeta, dbeta_ref, dtype, 30)
    moving_mean, moving_var = (backend.to_numpy(p.value) for p in layer.parameters()[2:])
    close(moving_mean, 0.01 * mean, dtype, 10)
    close(moving_var, 0.99 + 0.01 * var, dtype, 10)
    # inference uses the moving statistics, not the batch's
    y_inf = backend.to_numpy(layer.forward(backend.asarray(x, dtype=layer.dtype), training=False))
    close(y_inf, gamma * (x - 0.01 * mean) / np.sqrt(0.99 + 0.01 * var + 1e-3) + beta, dtype, 10)


def test_batch_norm_without_center_and_scale(backend, rng):
    x = rng.normal(size=(6, 3))
    layer = BatchNormalization(center=False, scale=False, momentum=0.5, epsilon=0.1)
    y, dx, grads = _run(layer, backend, "float64", x, rng.normal(size=(6, 3)))
    assert grads == [] and [p.name.split("/")[-1] for p in layer.parameters()] == ["moving_mean", "moving_variance"]
    close(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 0.1), "float64")


# -- against PyTorch --------------------------------------------------------------------------
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the peer is optional
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), dtype=torch.float64, requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _tf_pad_torch(xt, k, s, d, padding, value=0.0):
    h, w = xt.shape[2:]
    _, t, b = ref.tf_pads(h, k[0], s[0], d[0], padding)
    _, l, r = ref.tf_pads(w, k[1], s[1], d[1], padding)
    return F.pad(xt, (l, r, t, b), value=value)


@needs_torch
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(backend, rng, case):
    shape, filters, k, s, d, padding = case
    x = rng.normal(size=(2,) + shape)
    kh, kw = pair(k)
    K, b = rng.normal(size=(kh, kw, shape[2], filters)), rng.normal(size=filters)
    xt = _nchw(x)
    Kt = torch.tensor(K.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = F.conv2d(_tf_pad_torch(xt, (kh, kw), pair(s), pair(d), padding), Kt, bt, stride=s, dilation=d)
    dy = rng.normal(size=_nhwc(yt).shape)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    y, dx, (dK, db) = _run(Conv2D(filters, k, strides=s, dilation_rate=d, padding=padding), backend,
                           "float64", x, dy, [K, b])
    close(y, _nhwc(yt), "float64")
    close(dx, _nhwc(xt.grad), "float64")
    close(dK, Kt.grad.numpy().transpose(2, 3, 1, 0), "float64")
    close(db, bt.grad.numpy(), "float64")


# torch's avg_pool2d pads symmetrically and counts its own padding: "same" average pooling is
# checked against the loops only
@needs_torch
@pytest.mark.parametrize("case,kind", [(c, "max") for c in POOL_CASES]
                         + [(c, "avg") for c in POOL_CASES if c[3] == "valid"])
def test_pooling_matches_torch(backend, rng, case, kind):
    shape, pool, strides, padding = case
    x = rng.normal(size=(2,) + shape)
    p, st = pair(pool), pair(strides or pool)
    xt = _nchw(x)
    if kind == "max":
        yt = F.max_pool2d(_tf_pad_torch(xt, p, st, (1, 1), padding, -np.inf), p, st)
    else:
        yt = F.avg_pool2d(xt, p, st)
    dy = rng.normal(size=_nhwc(yt).shape)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    layer = (MaxPool2D if kind == "max" else AvgPool2D)(pool, strides, padding)
    y, dx, _ = _run(layer, backend, "float64", x, dy)
    close(y, _nhwc(yt), "float64")
    close(dx, _nhwc(xt.grad), "float64")


@needs_torch
def test_batch_norm_matches_torch(backend, rng):
    x = rng.normal(1.0, 2.0, size=(4, 3, 5, 3))
    gamma, beta, dy = rng.normal(size=3), rng.normal(size=3), rng.normal(size=x.shape)
    xt = _nchw(x)
    gt, bt = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    yt = F.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-3)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    y, dx, (dgamma, dbeta) = _run(BatchNormalization(), backend, "float64", x, dy, [gamma, beta])
    close(y, _nhwc(yt), "float64")
    close(dx, _nhwc(xt.grad), "float64")
    close(dgamma, gt.grad.numpy(), "float64")
    close(dbeta, bt.grad.numpy(), "float64")
    # inference with given statistics
    mean, var = rng.normal(size=3), rng.random(3) + 0.5
    layer = BatchNormalization(epsilon=0.01)
    layer.build(x.shape[1:], backend, "float64")
    for prm, w in zip(layer.parameters(), (gamma, beta, mean, var)):
        prm.value = backend.asarray(w)
    ref_inf = F.batch_norm(_nchw(x), torch.tensor(mean), torch.tensor(var), torch.tensor(gamma),
                           torch.tensor(beta), training=False, eps=0.01)
    close(backend.to_numpy(layer.forward(backend.asarray(x), False)), _nhwc(ref_inf), "float64")


# -- central differences ----------------------------------------------------------------------
def _gradcheck(backend, layers, input_shape, rng, n=4, outputs=2, seed=0):
    model = nk.Sequential(layers + [Flatten(), Dense(outputs)], backend=backend, seed=seed, dtype="float64")
    X = rng.normal(size=(n,) + input_shape)
    model.build(input_shape)
    y = rng.normal(size=(n, outputs))
    return nk.check_gradients(model, X, y, "mse")


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients(backend, rng, case):
    shape, filters, k, s, d, padding = case
    layers = [Conv2D(filters, k, strides=s, dilation_rate=d, padding=padding, activation="tanh")]
    assert _gradcheck(backend, layers, shape, rng) < GRAD_TOL


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", [MaxPool2D, AvgPool2D])
def test_pooling_gradients(backend, rng, case, kind):
    shape, pool, strides, padding = case
    layers = [Conv2D(2, 2, padding="same", activation="tanh"), kind(pool, strides, padding)]
    assert _gradcheck(backend, layers, shape, rng) < GRAD_TOL


@pytest.mark.parametrize("layers", [
    lambda: [Conv2D(3, 3, strides=2, padding="same", activation="tanh"), BatchNormalization(), GlobalAvgPool2D()],
    lambda: [Conv2D(3, 3, dilation_rate=2, activation="tanh"), GlobalMaxPool2D()],
    lambda: [Conv2D(3, 2, activation="tanh"), BatchNormalization(momentum=0.9, center=False), Dense(3, activation="tanh")],
    lambda: [Flatten(), Dense(18, activation="tanh"), Reshape((3, 3, 2)), Conv2D(2, 2, activation="tanh")],
    lambda: [Reshape((-1, 5)), BatchNormalization(scale=False)],
], ids=["bn-globalavg", "dilated-globalmax", "bn-dense-nd", "reshape", "reshape-bn"])
def test_image_stack_gradients(backend, rng, layers):
    assert _gradcheck(backend, layers(), (7, 5, 2), rng) < GRAD_TOL


# -- one seed, one model, every backend -------------------------------------------------------
def _cnn():
    return [Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            BatchNormalization(momentum=0.9), MaxPool2D(2),
            Conv2D(6, 3, strides=2, padding="same", dilation_rate=1, activation="tanh"),
            AvgPool2D(2, padding="same"), Flatten(), Dense(10, activation="softmax")]


def _train_cnn(backend, dtype="float64", epochs=2):
    X, y = nk.datasets.digits(images=True)
    model = nk.Sequential(_cnn(), backend=backend, dtype=dtype, seed=7)
    model.compile(nk.optimizers.SGD(lr=0.05, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(X[:96], y[:96], epochs=epochs, batch_size=16, verbose=0, seed=1)
    return model


def test_cnn_trains_to_the_same_weights_on_every_backend():
    reference = _train_cnn("numpy").get_weights()
    names = [p.values[0] for p in backend_params(["numba", "array_api_strict"]) if not p.marks]
    assert "array_api_strict" in names
    for name in names:
        weights = _train_cnn(make_backend(name)).get_weights()
        assert len(weights) == len(reference) == 10
        for w, r in zip(weights, reference):
            np.testing.assert_allclose(w, r, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("name", backend_params(["cupy"]))
def test_cnn_on_cupy_trains_like_numpy(name):
    for w, r in zip(_train_cnn(make_backend(name)).get_weights(), _train_cnn("numpy").get_weights()):
        np.testing.assert_allclose(w, r, rtol=1e-10, atol=1e-10)


def test_cnn_float32_trains_and_keeps_its_dtype(train_backend):
    model = _train_cnn(train_backend, "float32", epochs=1)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(nk.datasets.digits(images=True)[0][:5]).dtype == np.float32


# -- saving -----------------------------------------------------------------------------------
def test_every_image_layer_saves_and_loads(tmp_path, rng):
    layers = _cnn()[:-2] + [Reshape((-1, 6)), BatchNormalization(center=False), Flatten(),
                            Dense(5, activation="relu"), Dense(3)]
    model = nk.Sequential(layers, seed=0, dtype="float64")
    model.compile("adam", "mse")
    X = rng.normal(size=(8, 8, 8, 1))
    model.fit(X, rng.normal(size=(8, 3)), epochs=2, batch_size=4, verbose=0)
    for extra in (GlobalAvgPool2D, GlobalMaxPool2D):
        twin = nk.Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), extra(), Dense(2)], seed=1)
        twin.build((8, 8, 1))
        twin.save(tmp_path / "twin.nnk")
        back = nk.load_model(tmp_path / "twin.nnk")
        np.testing.assert_array_equal(back.predict(X), twin.predict(X))
    model.save(tmp_path / "cnn.nnk")
    loaded = nk.load_model(tmp_path / "cnn.nnk")
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_frozen_batch_norm_stays_frozen_after_loading(tmp_path, rng):
    model = nk.Sequential([Dense(4, input_dim=3), BatchNormalization(), BatchNormalization(), Dense(1)],
                          seed=0, dtype="float64").compile("sgd", "mse")
    X, y = rng.normal(2.0, 1.0, size=(16, 3)), rng.normal(size=(16, 1))
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    model.layers[2].trainable = False
    model.save(tmp_path / "frozen.nnk")
    loaded = nk.load_model(tmp_path / "frozen.nnk")
    assert [layer.trainable for layer in loaded.layers[1:3]] == [True, False]
    moving = loaded.layers[2].moving_mean.value.copy()
    loaded.fit(X, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(loaded.layers[2].moving_mean.value, moving)  # inference mode in training
    assert np.abs(loaded.layers[1].moving_mean.value - model.layers[1].moving_mean.value).max() > 1e-6
    model.layers[2].trainable = True
    model.save(tmp_path / "thawed.nnk")
    assert nk.load_model(tmp_path / "thawed.nnk").layers[2].trainable


# -- Dense on N-D input, the digits as images ----------------------------------------------------
def test_dense_acts_on_the_last_axis(backend, rng):
    x = rng.normal(size=(2, 3, 4, 5))
    layer = Dense(6, activation="tanh")
    y, dx, (dW, db) = _run(layer, backend, "float64", x, rng.normal(size=(2, 3, 4, 6)))
    W, b = (backend.to_numpy(p.value) for p in layer.parameters())
    assert layer.output_shape == (3, 4, 6)
    close(y, np.tanh(x @ W + b), "float64")


def test_digits_as_images():
    X, y = nk.datasets.digits()
    Xi, yi = nk.datasets.digits(images=True)
    assert Xi.shape == (1797, 8, 8, 1) and Xi.dtype == np.float32
    np.testing.assert_array_equal(Xi.reshape(1797, 64), X)
    np.testing.assert_array_equal(yi, y)
    assert nk.datasets.digits(return_split=True, images=True)[0].shape[1:] == (8, 8, 1)


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: Conv2D(0, 3), "Conv2D: filters"),
    (lambda: Conv2D(2, 0), r"Conv2D: kernel_size must be at least 1"),
    (lambda: Conv2D(2, 3, strides=0), r"Conv2D: strides must be at least 1"),
    (lambda: Conv2D(2, 3, dilation_rate=(1, 0)), r"Conv2D: dilation_rate"),
    (lambda: Conv2D(2, 3, padding="full"), r"Conv2D: padding"),
    (lambda: Conv2D(2, 3, input_shape=(8, 8)), r"Conv2D: expects images"),
    (lambda: MaxPool2D(0), r"MaxPool2D: pool_size must be at least 1"),
    (lambda: AvgPool2D(2, strides=(0, 1)), r"AvgPool2D: strides must be at least 1"),
    (lambda: BatchNormalization(momentum=1.5), "BatchNormalization: momentum"),
    (lambda: BatchNormalization(epsilon=0), "BatchNormalization: epsilon"),
    (lambda: Reshape((2, 0)), "Reshape: target_shape"),
])
def test_bad_layer_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer,shape,match", [
    (Conv2D(2, 5), (4, 8, 1), r"Conv2D: the kernel 5x5 \(dilated to 5x5\) is larger than the input 4x8"),
    (Conv2D(2, 3, dilation_rate=3), (6, 6, 1), r"dilated to 7x7\) is larger than the input 6x6 with padding 'valid'"),
    (MaxPool2D(3), (2, 5, 1), r"MaxPool2D: the pool window 3x3 is larger than the input 2x5"),
    (Conv2D(2, 3), (8, 8), r"Conv2D: expects images .* got sample shape \(8, 8\)"),
    (GlobalMaxPool2D(), (8,), r"GlobalMaxPool2D: expects images"),
    (Conv2D(2, 3, input_shape=(8, 8, 1)), (8, 8, 3), r"Conv2D: input_shape=\(8, 8, 1\) but .* \(8, 8, 3\)"),
    (Reshape((5, 5)), (4, 6), r"Reshape: cannot reshape samples of shape \(4, 6\)"),
])
def test_bad_input_shapes_are_rejected_naming_layer_and_shapes(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.build(shape)
    assert not layer.built and layer.parameters() in ([], [None], [None, None])


def test_wrong_channels_or_rank_leave_the_model_unchanged(rng):
    model = nk.Sequential(_cnn(), seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.build((8, 8, 1))
    before = model.get_weights()
    for bad in (rng.normal(size=(4, 8, 8, 3)), rng.normal(size=(4, 64)), rng.normal(size=(4, 8, 8))):
        with pytest.raises(ValueError, match=r"the model takes samples of shape \(8, 8, 1\)"):
            model.fit(bad, np.zeros(4, dtype=int), verbose=0)
    layer = model.layers[0]
    with pytest.raises(ValueError, match=r"Conv2D: expects samples of shape \(8, 8, 1\), got an input of shape \(4, 8, 8, 3\)"):
        layer.forward(model.backend.asarray(rng.normal(size=(4, 8, 8, 3)), dtype="float32"))
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_on_a_rank_without_rows_passes_nothing_on(rng):
    layer = BatchNormalization()
    layer.build((3,), "numpy", "float64")
    layer.global_rows = (1, 0, 0)  # the last batch's one row went to the other rank
    before = [p.value.copy() for p in layer.parameters()]
    y, backward = layer._forward(np.zeros((0, 3)), training=True)
    assert y.shape == (0, 3) and backward(np.zeros((0, 3))).shape == (0, 3)
    np.testing.assert_array_equal(layer.gamma.grad, np.zeros(3))
    assert all(np.all(s == 0) for s in layer.replica_statistics)
    for p, b in zip(layer.parameters(), before):
        np.testing.assert_array_equal(p.value, b)


def test_dense_on_n_d_input_trains_alike_on_numpy_and_numba(rng):
    names = [p.values[0] for p in backend_params(["numba"]) if not p.marks]
    X, y = rng.normal(size=(12, 4, 5)), rng.normal(size=(12, 2))
    weights = []
    for name in ["numpy"] + names:
        model = nk.Sequential([Dense(3, activation="tanh"), Flatten(), Dense(2)], backend=name, seed=0,
                              dtype="float64")
        model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "mse")
        model.fit(X, y, epochs=3, batch_size=4, verbose=0, seed=0)  # the compiled step refuses it
        weights.append(model.get_weights())
    for other in weights[1:]:
        for a, b in zip(other, weights[0]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
