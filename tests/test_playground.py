"""nnkit.playground: a Playground link trained the Playground's way (src/nn.ts, src/playground.ts)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnkit import datasets
from nnkit.cli import main
from nnkit.playground import _batches, build_model, plot_playground, run_playground
from nnkit.playground_config import parse_playground_url

LECTURE_LINK = (
    "https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral&regDataSet=reg-plane"
    "&learningRate=0.003&regularizationRate=0&noise=20&networkShape=1,2&seed=0.99530&showTestData=false"
    "&discretize=false&percTrainData=70&x=true&y=true&xTimesY=true&xSquared=false&ySquared=false&cosX=false"
    "&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification&initZero=f")

ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
}


def playground_reference(config, X, y, weights, epochs):
    """nn.ts, transcribed: per-point backprop of 1/2 (out - y)^2, derivatives accumulated and an update
    (divided by the count) when (i + 1) % batchSize == 0; L1/L2 as updateWeights applies them."""
    Ws = [w.copy() for w in weights[0::2]]
    bs = [b.copy() for b in weights[1::2]]
    acts = [config.activation] * len(config.network_shape)
    acts.append("tanh" if config.problem == "classification" else "linear")
    dead = [np.zeros(W.shape, bool) for W in Ws]
    accW = [np.zeros_like(W) for W in Ws]
    accb = [np.zeros_like(b) for b in bs]
    count = 0
    lr, rate = config.learning_rate, config.regularization_rate
    for _ in range(epochs):
        for i in range(len(X)):
            outs, zs = [X[i]], []
            for W, b, a in zip(Ws, bs, acts):
                zs.append(outs[-1] @ W + b)
                outs.append(ACTIVATIONS[a][0](zs[-1]))
            d_out = outs[-1] - y[i]
            for k in range(len(Ws) - 1, -1, -1):
                d_in = d_out * ACTIVATIONS[acts[k]][1](zs[k])
                accb[k] += d_in
                accW[k] += np.outer(outs[k], d_in)
                d_out = Ws[k] @ d_in
            count += 1
            if (i + 1) % config.batch_size:
                continue
            for k in range(len(Ws)):
                bs[k] -= lr * accb[k] / count
                if config.regularization == "L1":
                    reg = np.sign(Ws[k])
                elif config.regularization == "L2":
                    reg = Ws[k].copy()
                else:
                    reg = np.zeros_like(Ws[k])
                mid = Ws[k] - lr / count * accW[k]
                new = mid - lr * rate * reg
                if config.regularization == "L1":
                    crossed = mid * new < 0
                    dead[k] |= crossed
                Ws[k] = np.where(dead[k], 0.0, new)
                accW[k][:] = 0.0
                accb[k][:] = 0.0
            count = 0
    return [a for pair in zip(Ws, bs) for a in pair]


@pytest.mark.parametrize("fragment", [
    # 350 training points in batches of 8: 6 carry over into the next epoch
    "dataset=xor&activation=tanh&networkShape=3,2&batchSize=8&percTrainData=70&learningRate=0.03&seed=a",
    "dataset=gauss&activation=relu&networkShape=4&batchSize=7&learningRate=0.1&noise=10&seed=b"
    "&regularization=L2&regularizationRate=0.03",
    "dataset=circle&activation=sigmoid&networkShape=3&batchSize=10&learningRate=0.3&seed=c"
    "&regularization=L1&regularizationRate=0.1&xSquared=true&ySquared=true",
    "problem=regression&regDataset=reg-gauss&activation=tanh&networkShape=5&batchSize=30&learningRate=0.01"
    "&seed=d&percTrainData=20",
])
def test_weights_follow_the_playground_update_rule(fragment):
    config = parse_playground_url(fragment)
    epochs = 3
    result = run_playground(config, epochs=epochs, verbose=0)
    start = build_model(config, result.X_train.shape[1], seed=config.seed_int()).get_weights()
    expected = playground_reference(config, result.X_train, result.y_train, start, epochs)
    for got, want in zip(result.model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if config.regularization == "L1":
        assert result.dead_weights == sum(int(np.sum(w == 0)) for w in expected[0::2])
        assert result.dead_weights > 0


def test_circle_with_the_playground_defaults_reaches_test_loss_under_0_1():
    # the Playground's defaults: tanh, 4,2, lr 0.03, batch 10, x and y, no noise, 50% train
    for seed in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        result = run_playground(f"#seed={seed}", epochs=80, verbose=0)
        assert result.config.dataset == "circle" and result.config.network_shape == [4, 2]
        assert len(result.X_train) == 250 and len(result.X_test) == 250
        assert result.history["test_loss"][0] > 0.4  # untrained: about 1/2
        assert result.test_loss < 0.1, seed
        assert result.history["test_accuracy"][-1] >= 0.98


def test_lecture_link_runs_as_pasted(capsys):
    result = run_playground(LECTURE_LINK, epochs=20, print_every=5)
    config = result.config
    assert (config.activation, config.batch_size, config.dataset, config.learning_rate) == ("sigmoid", 8, "spiral",
                                                                                          0.003)
    assert (config.noise, config.network_shape, config.seed, config.perc_train_data) == (20, [1, 2], "0.99530", 70)
    assert config.features() == ["x1", "x2", "x1*x2"] and config.problem == "classification"
    assert config.init_zero is False
    assert result.X_train.shape == (350, 3) and result.X_test.shape == (150, 3)
    assert [layer.activation for layer in result.model.layers] == ["sigmoid", "sigmoid", "tanh"]
    assert [w.shape for w in result.model.get_weights()] == [(3, 1), (1,), (1, 2), (2,), (2, 1), (1,)]
    assert result.history["epoch"] == list(range(21))
    assert all(math.isfinite(v) for v in result.history["train_loss"] + result.history["test_loss"])
    # a sigmoid 1-2 network at lr 0.003 barely moves on a spiral in 20 epochs: near the untrained 1/2
    assert 0.4 < result.test_loss < 0.6
    printed = capsys.readouterr().out
    assert "initZero=f read as false" in printed
    assert printed.count("train loss") == 5  # epochs 0, 5, 10, 15, 20


def test_losses_are_the_playground_half_squared_error():
    result = run_playground("#seed=x&dataset=gauss", epochs=2, verbose=0)
    out = result.model.predict(result.X_test)[:, 0]
    assert result.test_loss == pytest.approx(np.mean(0.5 * (out - result.y_test) ** 2), rel=1e-12)
    # the same points and split as PlaygroundConfig.generate_data
    X_train, y_train, X_test, y_test = result.config.generate_data()
    np.testing.assert_array_equal(result.X_train, X_train)
    np.testing.assert_array_equal(result.y_test, y_test)
    np.testing.assert_array_equal(datasets.playground_features(result.raw_train, ["x1", "x2"]), X_train)


def test_initial_weights_and_init_zero():
    config = parse_playground_url("#networkShape=8,8&seed=w")
    weights = build_model(config, 2, seed=1).get_weights()
    kernels = np.concatenate([w.ravel() for w in weights[0::2]])
    assert kernels.min() >= -0.5 and kernels.max() <= 0.5 and kernels.std() > 0.2
    assert all(np.all(b == 0.1) for b in weights[1::2])
    zero = build_model(parse_playground_url("#networkShape=8,8&initZero=true"), 2, seed=1).get_weights()
    assert all(np.all(w == 0) for w in zero)


def test_regression_uses_a_linear_output_and_learns():
    result = run_playground("#problem=regression&regDataset=reg-plane&seed=r&networkShape=2", epochs=15, verbose=0)
    assert result.model.layers[-1].activation in (None, "linear")
    assert len(result.X_train) == 600  # 1200 points, half for training
    assert "train_accuracy" not in result.history
    assert result.test_loss < 0.1 * result.history["test_loss"][0] or result.test_loss < 0.005


def test_backends_agree(train_backend):
    ref = run_playground("#seed=b1&networkShape=3", epochs=3, verbose=0)
    result = run_playground("#seed=b1&networkShape=3", epochs=3, verbose=0, backend=train_backend)
    np.testing.assert_allclose(result.history["test_loss"], ref.history["test_loss"], rtol=1e-9)


def test_batches_carry_the_leftover():
    batches, left = _batches(7, 3, [])
    assert batches == [[0, 1, 2], [3, 4, 5]] and left == [6]
    batches, left = _batches(7, 3, left)
    assert batches == [[6, 0, 1, 2], [3, 4, 5]] and left == [6]
    batches, left = _batches(2, 5, [])
    assert batches == [] and left == [0, 1]
    # (i + 1) % 5 is never 0 for i < 2: with fewer points than batchSize the Playground never updates
    batches, left = _batches(2, 5, left)
    assert batches == [] and left == [0, 1, 0, 1]


def test_cli_prints_losses_and_plots(tmp_path, capsys):
    path = tmp_path / "boundary.png"
    code = main(["playground", "https://playground.tensorflow.org/#seed=0.2&dataset=xor&x=true&y=true",
                 "--epochs", "4", "--plot", str(path), "--every", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("test loss") == 4  # epochs 0, 2, 4 and the final line
    assert path.stat().st_size > 10_000
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_regression_and_no_test_points(tmp_path):
    result = run_playground("#problem=regression&percTrainData=100&seed=p", epochs=1, verbose=0)
    assert len(result.X_test) == 0 and math.isnan(result.test_loss)
    plot_playground(result, tmp_path / "r.png", resolution=20)
    assert (tmp_path / "r.png").stat().st_size > 5_000


def test_bad_input(capsys):
    assert main(["playground", "#activation=softsign"]) == 2
    assert "activation" in capsys.readouterr().err
    with pytest.raises(ValueError, match="epochs"):
        run_playground("#seed=1", epochs=-1)
    with pytest.raises(ValueError, match="no input feature"):
        run_playground("#x=false&y=false", epochs=1)
    result = run_playground("#percTrainData=1&batchSize=10&seed=1", epochs=2, verbose=0)
    assert len(result.X_train) == 5
    assert any("never updates" in w for w in result.warnings)
    np.testing.assert_array_equal(result.model.get_weights()[1], np.full(4, 0.1))
    with pytest.raises(TypeError, match="url_or_config"):
        run_playground(42)
