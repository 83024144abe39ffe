"""DESIGN.md's bad inputs: each rejected with a ValueError/TypeError naming the argument, before any
weight changes."""

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense, Dropout, Maxout


def _model(backend="numpy", loss="sparse_categorical_crossentropy", out=3, activation="softmax"):
    m = nk.Sequential([Dense(4, activation="relu", input_dim=2), Dense(out, activation=activation)],
                      backend=backend, seed=0)
    m.compile(nk.optimizers.SGD(lr=0.1), loss, ["accuracy"])
    m.build()
    return m


X_OK = np.random.default_rng(0).normal(size=(10, 2))
Y_OK = np.arange(10) % 3

BAD_FITS = [
    ("X", dict(X=X_OK[:, 0]), ValueError, "ndim"),
    ("X", dict(X=np.ones((10, 5))), ValueError, r"shape \(2,\)"),
    ("X", dict(X=np.where(np.eye(10, 2) > 0, np.nan, X_OK)), ValueError, "NaN or inf"),
    ("X", dict(X=np.full((10, 2), np.inf)), ValueError, "NaN or inf"),
    ("X", dict(X=np.ones((0, 2)), y=np.ones(0, int)), ValueError, "empty"),
    ("X", dict(X=np.array([["a", "b"]] * 10)), TypeError, "numeric"),
    ("y", dict(y=np.arange(10) % 5), ValueError, r"labels must lie in \[0, 3\)"),
    ("y", dict(y=-(np.arange(10) % 3)), ValueError, "labels must lie"),
    ("y", dict(y=Y_OK[:7]), ValueError, "7 targets for 10 samples"),
    ("y", dict(y=Y_OK + 0.5), ValueError, "integers"),
    ("epochs", dict(epochs=-1), ValueError, "epochs"),
    ("batch_size", dict(batch_size=0), ValueError, "batch_size"),
    ("batch_size", dict(batch_size=2.5), ValueError, "batch_size"),
    ("validation_split", dict(validation_split=1.5), ValueError, "validation_split"),
    ("validation_data", dict(validation_data=(X_OK,)), ValueError, "validation_data"),
    ("validation_data", dict(validation_data=(np.ones((3, 5)), Y_OK[:3])), ValueError, "validation_data"),
    ("callbacks", dict(callbacks=[object()]), TypeError, "callbacks"),
    ("verbose", dict(verbose=7), ValueError, "verbose"),
]


@pytest.mark.parametrize("argument,override,error,message", BAD_FITS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_FITS)])
def test_fit_rejects_bad_input_before_changing_weights(train_backend, argument, override, error, message):
    model = _model(train_backend)
    before = model.get_weights()
    kwargs = dict(X=X_OK, y=Y_OK, epochs=1, batch_size=4, verbose=0)
    kwargs.update(override)
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(error, match=message):
        model.fit(X, y, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_targets_of_wrong_shape_and_range():
    mse = _model(loss="mse", out=2, activation=None)
    with pytest.raises(ValueError, match=r"targets must have shape \(n, 2\)"):
        mse.fit(X_OK, np.ones((10, 3)), verbose=0)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        mse.fit(X_OK, np.ones(10), verbose=0)
    bce = _model(loss="binary_crossentropy", out=1, activation="sigmoid")
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        bce.fit(X_OK, np.where(Y_OK > 0, 1.0, -1.0), verbose=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        mse.fit(X_OK, np.full((10, 2), np.nan), verbose=0)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="relu"):
        Dense(3, activation="rleu")
    with pytest.raises(ValueError, match="glorot_uniform"):
        Dense(3, kernel_initializer="glorot")
    model = _model()
    with pytest.raises(ValueError, match="adam"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="mse"):
        model.compile("sgd", "msee")
    with pytest.raises(ValueError, match="accuracy"):
        model.compile("sgd", "mse", ["accuracyy"])
    with pytest.raises(ValueError, match="numpy"):
        nk.get_backend("tensorflow")
    with pytest.raises(ValueError, match="l1"):
        nk.regularizers.get("l3")


def test_metrics_that_do_not_fit_the_losss_targets():
    model = nk.Sequential([Dense(3, input_dim=2)])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    before = (model.optimizer, model.loss, model.metrics)
    with pytest.raises(ValueError, match=r"'mse' compares the outputs with targets of the outputs' shape, but the "
                                         r"loss 'sparse_categorical_crossentropy' takes integer labels"):
        model.compile("sgd", "sparse_categorical_crossentropy", ["mse"])
    with pytest.raises(ValueError, match="'sparse_categorical_accuracy' compares the outputs with integer labels"):
        model.compile("sgd", "mse", ["sparse_categorical_accuracy"])
    assert (model.optimizer, model.loss, model.metrics) == before  # the model kept its compile
    model.compile("sgd", "mse", ["mae", "accuracy"])
    assert [m.name for m in model.metrics] == ["mae", "accuracy"]


def test_layer_arguments():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="units"):
            Dense(bad)
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="pieces"):
        Maxout(3, pieces=0)
    with pytest.raises(ValueError, match="input_dim"):
        Dense(3, input_dim=0)


def test_widths_that_do_not_chain():
    with pytest.raises(ValueError, match="Residual"):  # built at construction: the first layer knows its input
        nk.Sequential([Dense(4, input_dim=3), nk.layers.Residual(Dense(5))])
    model = nk.Sequential([Dense(4, input_dim=3)])
    with pytest.raises(ValueError, match="input_dim=3"):
        model.build(5)


def test_not_compiled_and_not_built():
    model = nk.Sequential([Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(X_OK, X_OK, verbose=0)
    with pytest.raises(ValueError, match="not built"):
        nk.Sequential([Dense(2)]).get_weights()
    with pytest.raises(ValueError, match="no layers"):
        nk.Sequential([]).build(3)


def test_set_weights_checks_count_shape_and_values():
    model = _model()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expected 4 arrays"):
        model.set_weights(weights[:3])
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([w.T if w.ndim == 2 else w for w in weights])
    bad = [w.copy() for w in weights]
    bad[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.set_weights(bad)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_weights_never_aliases_the_callers_arrays():
    model = nk.Sequential([Dense(2, input_dim=2)], dtype="float64", seed=0)
    model.build()
    mine = [np.ones((2, 2)), np.zeros(2)]
    model.set_weights(mine)
    model.compile(nk.optimizers.SGD(lr=1.0), "mse")
    model.fit(X_OK, X_OK, epochs=1, verbose=0)
    np.testing.assert_array_equal(mine[0], 1.0)


def test_no_op_changes_dtype_float32(rng):
    model = nk.Sequential([Dense(5, activation="gelu", input_dim=3), Maxout(2), Dense(2, activation="softmax")],
                          seed=0)
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    model.fit(rng.normal(size=(20, 3)), np.eye(2)[rng.integers(0, 2, 20)], epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(rng.normal(size=(4, 3))).dtype == np.float32


def test_wrong_backend_array_gives_clear_error():
    class FakeCupyArray:
        __module__ = "cupy._core.core"
        shape, ndim = (2, 2), 2

    model = _model()
    with pytest.raises(TypeError, match="CuPy array"):
        model.predict(FakeCupyArray())
