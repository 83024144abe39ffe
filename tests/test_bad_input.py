"""Issue 14's classes of bad input, on every training backend: each rejection is the right
exception naming the argument, and leaves weights, optimizer state, step count and built-ness
as they were; divergence stops with the last finite state; models own their random streams."""

import os
import threading

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense, Dropout

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 3))
LABELS = np.arange(24) % 3


def _model(backend, loss="sparse_categorical_crossentropy", out=3, build=True, optimizer=None, **kw):
    """A 3-5-out network; built at construction (its first layer knows its input) unless ``build``
    is False, when the first fit builds it."""
    first = Dense(5, activation="tanh", input_dim=3 if build else None)
    m = nk.Sequential([first, Dense(out, activation="softmax" if out > 1 else None)],
                      backend=backend, dtype="float64", seed=0)
    m.compile(optimizer or nk.optimizers.Adam(lr=0.01), loss, ["accuracy"] if loss != "mse" else [])
    return m


def _state(model):
    """Everything a rejected call must leave alone."""
    if not model.built:
        return ("unbuilt", model.optimizer.iterations)
    opt = model.optimizer
    state = opt.get_state(model.parameters()) if opt._state else {}
    return (model.get_weights(), {k: np.array(v) for k, v in state.items()}, opt.iterations)


def _assert_same(before, after):
    if isinstance(before[0], str):  # unbuilt: it must stay so, its optimizer untouched
        assert after == before
        return
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1].keys() == after[1].keys()
    for k in before[1]:
        np.testing.assert_array_equal(before[1][k], after[1][k])
    assert before[2] == after[2]


def _trained(backend, **kw):
    m = _model(backend, **kw)
    m.fit(X, LABELS, epochs=1, batch_size=8, verbose=0, seed=0)
    return m


LABEL_CASES = [
    ("strings", np.array(["a", "b", "c"] * 8), TypeError, r"y: expected a numeric array, got dtype <U1 \(strings\)"),
    ("objects", np.array([1, "b", 2.0] * 8, dtype=object), TypeError, "y: .*dtype object"),
    ("complex", LABELS + 0j, TypeError, "y: .*complex128"),
    ("booleans", LABELS > 0, TypeError, "y: .*dtype bool"),
    ("None", np.array([0, None, 1] * 8, dtype=object), ValueError, r"y: contains missing values \(None\)"),
    ("NaN", np.where(LABELS == 1, np.nan, LABELS), ValueError, r"y: contains NaN labels \(row 1\)"),
    ("inf", np.where(LABELS == 2, np.inf, LABELS), ValueError, r"y: contains inf labels \(row 2\)"),
    ("huge", np.where(LABELS == 2, 1e20, LABELS), ValueError, r"range \[0, 1e\+20\]"),
    ("negative", LABELS - 1, ValueError, r"range \[-1, 1\]"),
]


@pytest.mark.parametrize("case, y, error, match", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
def test_labels_are_numbers(train_backend, case, y, error, match, built):
    model = _trained(train_backend) if built else _model(train_backend, build=False)
    before = _state(model)
    with pytest.raises(error, match=match):
        model.fit(X, y, epochs=1, verbose=0)
    _assert_same(before, _state(model))
    assert model.built == built


def test_missing_value_objects_are_reported_by_what_they_are(train_backend):
    class NAType:  # pandas' missing-value type, recognised by its name (pandas need not be installed)
        pass

    model = _model(train_backend, build=False)
    for missing, shown in ((NAType(), "pd.NA"), (float("nan"), "NaN"), (None, "None")):
        with pytest.raises(ValueError, match=rf"y: contains missing values \({shown}\)"):
            model.fit(X, np.array([0, missing, 1] * 8, dtype=object), verbose=0)
    assert not model.built


def test_pandas_na_is_reported_as_missing(train_backend):
    pd = pytest.importorskip("pandas")
    model = _model(train_backend, build=False)
    with pytest.raises(ValueError, match=r"y: contains missing values \(pd.NA\)"):
        model.fit(X, pd.array([0, pd.NA, 1] * 8, dtype="Int64"), verbose=0)
    with pytest.raises(TypeError, match="y: .*(strings|object)"):
        model.fit(X, pd.Categorical(["a", "b", "c"] * 8), verbose=0)
    assert not model.built


def test_overflow_into_float32_is_reported_as_overflow(train_backend):
    model = nk.Sequential([Dense(1)], backend=train_backend, seed=0).compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"y: the value 1e\+39 \(row 4\) overflows float32"):
        model.fit(X, np.where(np.arange(24) == 4, 1e39, 1.0), verbose=0)
    with pytest.raises(ValueError, match=r"X: the value 1e\+39 \(row 0\) overflows float32"):
        model.fit(np.full((24, 3), 1e39), np.ones(24), verbose=0)
    with pytest.raises(ValueError, match=r"X: contains NaN or inf \(inf \(row 0\)\)"):
        model.fit(np.full((24, 3), np.inf), np.ones(24), verbose=0)
    assert not model.built


def test_numpy_scalars_are_accepted_wherever_python_numbers_are(train_backend):
    model = nk.Sequential([Dense(np.int64(4), input_dim=np.int32(3), activation="relu"),
                           Dropout(np.float32(0.25)), Dense(np.int64(3), activation="softmax")],
                          backend=train_backend, dtype="float64", seed=np.int64(0))
    model.compile(nk.optimizers.SGD(lr=np.float32(0.1), momentum=np.float64(0.5)),
                  "sparse_categorical_crossentropy")
    history = model.fit(X, LABELS, epochs=np.int64(2), batch_size=np.int64(8), verbose=0,
                        validation_split=np.float32(0.25), seed=np.uint8(3))
    assert len(history.history["val_loss"]) == 2
    assert model.evaluate(X, LABELS, batch_size=np.int64(5))["loss"] > 0


ARGUMENT_CASES = [
    ("seed", dict(seed=-1), ValueError, "seed: expected a non-negative int, got -1"),
    ("seed", dict(seed="abc"), TypeError, "seed: expected None, a non-negative int .*got 'abc'"),
    ("seed", dict(seed=1.5), TypeError, "seed: .*got 1.5"),
    ("batch_size", dict(batch_size=np.float64(8)), ValueError, "batch_size: expected an int"),
    ("epochs", dict(epochs="3"), ValueError, "epochs: expected an int >= 0, got '3'"),
    ("validation_split", dict(validation_split="0.2"), ValueError, "validation_split: expected a number"),
    ("callbacks", dict(callbacks=nk.callbacks.EarlyStopping(monitor="loss")), TypeError,
     r"callbacks: .*wrap a single callback in a list"),
    ("callbacks", dict(callbacks=[nk.callbacks.EarlyStopping()]), ValueError,
     "EarlyStopping: monitor 'val_loss' is not among .*validation_data"),
    ("callbacks", dict(callbacks=[nk.callbacks.ModelCheckpoint("m_{val_acc:.2f}.npz")]), ValueError,
     r"ModelCheckpoint: path 'm_\{val_acc:.2f\}.npz' names \['val_acc'\]"),
    ("callbacks", dict(callbacks=[nk.callbacks.ModelCheckpoint("m.npz", save_best_only=True)]), ValueError,
     "ModelCheckpoint: monitor 'val_loss'"),
]


@pytest.mark.parametrize("argument, kwargs, error, match", ARGUMENT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ARGUMENT_CASES)])
@pytest.mark.parametrize("built", [True, False], ids=["trained", "unbuilt"])
def test_fit_arguments_are_checked_before_any_weight_changes(train_backend, argument, kwargs, error, match,
                                                            built):
    model = _trained(train_backend) if built else _model(train_backend, build=False)
    before = _state(model)
    with pytest.raises(error, match=match):
        kwargs = dict(kwargs)
        model.fit(X, LABELS, epochs=kwargs.pop("epochs", 2), verbose=0, **kwargs)
    _assert_same(before, _state(model))


def test_checkpoint_into_a_missing_directory_is_refused_at_construction(tmp_path):
    with pytest.raises(ValueError, match="directory of path .* does not exist"):
        nk.callbacks.ModelCheckpoint(tmp_path / "nope" / "m.npz")


def test_messages_name_the_argument_and_what_came(train_backend):
    model = _model(train_backend, build=False)
    with pytest.raises(TypeError, match="metrics: expected a list of metric names or objects, got 5"):
        model.compile("sgd", "mse", metrics=5)
    with pytest.raises(TypeError, match=r"lr: expected a number, got ndarray of shape \(2,\)"):
        nk.optimizers.SGD(lr=np.array([0.1, 0.2]))
    declared = _model(train_backend)  # input_dim=3: built at construction
    before = _state(declared)
    with pytest.raises(ValueError, match=r"X: the model takes samples of shape \(3,\), got \(4,\)"):
        declared.fit(np.ones((6, 4)), np.zeros(6), verbose=0)
    _assert_same(before, _state(declared))
    model.fit(X, LABELS, epochs=1, verbose=0)  # the next valid fit works
    assert model.built and model.input_shape == (3,)


@pytest.mark.parametrize("name, value", [("momentum", 5), ("momentum", -0.1), ("nesterov", 1),
                                         ("weight_decay", float("nan")), ("lr", "fast")])
def test_optimizer_attributes_set_later_are_checked_like_arguments(train_backend, name, value):
    model = _trained(train_backend, optimizer=nk.optimizers.SGD(lr=0.1, momentum=0.5))
    before = _state(model)
    with pytest.raises((ValueError, TypeError), match=name):
        setattr(model.optimizer, name, value)
    assert getattr(model.optimizer, name) == {"momentum": 0.5, "nesterov": False, "weight_decay": 0.0,
                                              "lr": 0.1}[name]
    _assert_same(before, _state(model))
    for cls, attr, bad in [(nk.optimizers.Adam, "beta2", 1.0), (nk.optimizers.RMSprop, "alpha", 2),
                           (nk.optimizers.Adagrad, "eps", -1)]:
        with pytest.raises(ValueError, match=attr):
            setattr(cls(), attr, bad)


# -- divergence ---------------------------------------------------------------------------------
DIVERGING = [
    ("lr 1e6", lambda: nk.optimizers.SGD(lr=1e6), 1.0),
    ("inputs 1e30", lambda: nk.optimizers.SGD(lr=0.1), 1e30),
    ("adam eps=0", lambda: nk.optimizers.Adam(lr=10.0, eps=0.0), 1e3),
]


@pytest.mark.parametrize("case, make_optimizer, scale", DIVERGING, ids=[c[0] for c in DIVERGING])
def test_divergence_stops_with_epoch_and_batch_and_keeps_the_last_finite_state(train_backend, case,
                                                                              make_optimizer, scale):
    rng = np.random.default_rng(1)
    Xd = rng.normal(size=(64, 3)) * scale
    Xd[:, 2] = 0.0  # a zero column: Adam's eps=0 divides 0 by 0 there
    yd = rng.normal(size=(64, 1)) * 10
    model = nk.Sequential([Dense(16, activation="relu", input_dim=3), Dense(1)], backend=train_backend,
                          dtype="float32", seed=0)
    model.compile(make_optimizer(), "mse")
    with np.errstate(all="ignore"), pytest.raises(nk.TrainingDiverged, match=r"epoch \d+, batch \d+") as info:
        model.fit(Xd, yd, epochs=30, batch_size=8, verbose=0, seed=0)
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    state = model.optimizer.get_state(model.parameters())
    assert all(np.isfinite(v).all() for v in state.values())
    # the kept state is the one before the step that went bad: replaying the run to it agrees
    steps_before = (info.value.epoch - 1) * 8 + info.value.batch - 1
    assert model.optimizer.iterations == steps_before
    again = nk.Sequential([Dense(16, activation="relu", input_dim=3), Dense(1)], backend=train_backend,
                          dtype="float32", seed=0)
    again.compile(make_optimizer(), "mse").build()
    if steps_before:
        with np.errstate(all="ignore"):
            again.fit(Xd, yd, epochs=info.value.epoch, batch_size=8, verbose=0, seed=0,
                      callbacks=[nk.callbacks.LambdaCallback(
                          on_batch_end=lambda b, logs: setattr(again, "stop_training",
                                                               again.optimizer.iterations >= steps_before))])
    if again.optimizer.iterations == steps_before:
        for a, b in zip(weights, again.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_divergence_snapshot_is_one_copy_of_the_flat_buffers_and_restores_exactly(train_backend):
    from nnkit import divergence

    model = nk.Sequential([Dense(8, activation="relu", input_dim=3), Dense(2)], backend=train_backend,
                          dtype="float64", seed=0)
    model.compile(nk.optimizers.Adam(lr=0.01), "mse").build()
    params = model.parameters()
    model.train_step(X, X[:, :2])
    arrays = divergence._arrays(model, params)
    if train_backend.has_views:  # the parameters' flat buffer and Adam's two flat state arrays
        assert [key for key, _ in arrays] == [("flat", "value"), ("flat", "m"), ("flat", "v")]
    snapshot = divergence._Snapshot(model, params)
    weights, state = model.get_weights(), model.optimizer.get_state(params)
    model.train_step(X, X[:, :2])
    assert not np.array_equal(weights[0], model.get_weights()[0])
    snapshot.restore(model, params)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    after = model.optimizer.get_state(params)
    assert after.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(np.asarray(state[key]), np.asarray(after[key]))
    assert model.optimizer.iterations == 1


def test_momentum_set_to_5_never_trains_and_the_cli_refuses_it(tmp_path, capsys):
    opt = nk.optimizers.SGD(lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="momentum"):
        opt.momentum = 5
    from nnkit.cli import main

    code = None
    try:
        code = main(["train", "--dataset", "xor", "--samples", "40", "--epochs", "2", "--momentum", "5",
                     "--backend", "numpy", "--verbose", "0", "--save", str(tmp_path / "m.npz")])
    except (ValueError, SystemExit) as exc:
        code = getattr(exc, "code", 1) or 1
    assert code not in (0, None)
    assert not (tmp_path / "m.npz").exists()


def test_early_stopping_and_checkpoint_never_keep_non_finite_weights(train_backend, tmp_path):
    rng = np.random.default_rng(2)
    Xd, yd = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    model = nk.Sequential([Dense(8, activation="relu", input_dim=3), Dense(1)], backend=train_backend, seed=0)
    model.compile(nk.optimizers.SGD(lr=0.01), "mse")
    path = tmp_path / "best.npz"
    stop = nk.callbacks.EarlyStopping(monitor="loss", patience=50)
    check = nk.callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True)
    model.fit(Xd, yd, epochs=3, batch_size=16, verbose=0, seed=0, callbacks=[stop, check])
    good = nk.load_model(path).get_weights()
    model.optimizer.lr = 1e8
    with np.errstate(all="ignore"), pytest.raises(nk.TrainingDiverged):
        model.fit(Xd * 1e3, yd, epochs=5, batch_size=16, verbose=0, seed=0, callbacks=[stop, check])
    for a, b in zip(good, nk.load_model(path).get_weights()):
        np.testing.assert_array_equal(a, b)
    # the callbacks themselves refuse non-finite weights when handed them
    model.parameters()[0].value[...] = np.nan
    stop.on_train_begin()
    stop.on_epoch_end(0, {"loss": 0.1})
    assert stop.best_weights is None
    with pytest.warns(RuntimeWarning, match="not all finite"):
        check.on_epoch_end(9, {"loss": -1.0})
    for a, b in zip(good, nk.load_model(path).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_quietly_with_the_last_finite_weights(train_backend):
    model = nk.Sequential([Dense(8, activation="relu", input_dim=3), Dense(1)], backend=train_backend, seed=0)
    model.compile(nk.optimizers.SGD(lr=1e6), "mse")
    stop = nk.callbacks.TerminateOnNaN()
    with np.errstate(all="ignore"):
        model.fit(X * 100, X[:, :1] * 100, epochs=20, batch_size=4, verbose=0, seed=0, callbacks=[stop])
    assert stop.message.startswith("TerminateOnNaN: fit: training diverged at epoch")
    assert all(np.isfinite(w).all() for w in model.get_weights())


# -- random streams and memory ------------------------------------------------------------------
def _dropout_run(backend, seed):
    model = nk.Sequential([Dense(32, activation="relu", input_dim=3), Dropout(0.5), Dense(1)],
                          backend=backend, dtype="float64", seed=seed)
    model.compile(nk.optimizers.SGD(lr=0.05), "mse")
    model.fit(np.tile(X, (20, 1)), np.tile(X[:, :1], (20, 1)), epochs=3, batch_size=4, verbose=0, seed=seed)
    return model.get_weights()


def test_two_threads_training_dropout_models_give_what_each_gives_alone(train_backend):
    if train_backend.name == "cupy" and os.environ.get("NNKIT_SIMULATED_GPU") == "1":
        pytest.skip("the simulated GPU's kernel emulator runs one thread at a time")
    alone = {s: _dropout_run(train_backend, s) for s in (1, 2)}
    together = {}
    threads = [threading.Thread(target=lambda s=s: together.__setitem__(s, _dropout_run(train_backend, s)))
               for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in (1, 2):
        for a, b in zip(alone[s], together[s]):
            np.testing.assert_array_equal(a, b)


def test_warmup_leaves_the_models_stream_alone(train_backend):
    model = nk.Sequential([Dense(8, input_dim=3), Dropout(0.5), Dense(1)], backend=train_backend, seed=0)
    model.compile("sgd", "mse").build()
    stream = model.stream
    state = getattr(stream.bit_generator, "state", None)
    model.warmup(batch_size=4)
    assert model.stream is stream
    if state is not None:  # NumPy's generators (CuPy's keep theirs on the device)
        assert model.stream.bit_generator.state == state


def test_an_absurd_network_is_refused_before_allocation(train_backend):
    # the first layer knows its input, so the model is built (here: refused) at construction
    with pytest.raises(ValueError, match=r"fit in this machine's memory"):
        nk.Sequential([Dense(100_000_000, input_dim=2), Dense(100_000_000), Dense(1)], backend=train_backend)
    model = nk.Sequential([Dense(100_000_000), Dense(100_000_000), Dense(1)], backend=train_backend)
    with pytest.raises(ValueError, match=r"fit in this machine's memory"):
        model.build(2)
    assert not model.built


def test_an_absurd_playground_link_is_refused_before_allocation():
    import tracemalloc

    config = nk.parse_playground_url("https://playground.tensorflow.org/#activation=tanh&networkShape="
                                     "100000000,100000000&dataset=circle")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"Dense \(layer 2\): .* nothing was allocated"):
            nk.playground.build_model(config, n_inputs=2)
        assert tracemalloc.get_traced_memory()[1] < 50 * 2**20  # the peak: no layer was drawn
    finally:
        tracemalloc.stop()


def test_the_finiteness_check_works_in_chunks(monkeypatch):
    from nnkit import validation

    seen = []
    real_isfinite = np.isfinite
    monkeypatch.setattr(validation, "FINITE_CHUNK_ELEMENTS", 1000)
    model = nk.Sequential([Dense(1, input_dim=10)], dtype="float64").compile("sgd", "mse")
    big = np.ones((5000, 10))

    class Spy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def isfinite(a):
            seen.append(a.size)
            return real_isfinite(a)

    validation.check_finite(Spy(), big, "X")
    assert max(seen) <= 1000 and sum(seen) == big.size
    big[4321, 3] = np.nan
    with pytest.raises(ValueError, match=r"row 4321"):
        model.predict(big)


def test_an_update_that_overflows_the_weights_on_the_last_step_is_caught(train_backend):
    """The loss of the only step is finite; the weights it leaves are not: fit still stops."""
    model = nk.Sequential([Dense(4, input_dim=3), Dense(1)], backend=train_backend, seed=0)
    model.compile(nk.optimizers.SGD(lr=1e37), "mse").build()
    initial = model.get_weights()
    with np.errstate(all="ignore"), pytest.raises(nk.TrainingDiverged, match="epoch 1, batch 1: the update") as info:
        model.fit(X, X[:, :1] * 50, epochs=1, batch_size=24, verbose=0, shuffle=False)
    assert info.value.history.epoch == [] and not any(info.value.history.history.values())
    for a, b in zip(initial, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
