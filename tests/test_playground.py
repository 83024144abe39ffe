"""nnkit.playground: a link run as the browser runs it, the batched replay, the picture, the command."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from nnkit.cli import main
from nnkit.playground import _batches, plot_playground, run_playground
from nnkit.playground_browser import browser_session, to_fixed
from nnkit.playground_config import parse_playground_url

LECTURE_LINK = (
    "https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral&regDataSet=reg-plane"
    "&learningRate=0.003&regularizationRate=0&noise=20&networkShape=1,2&seed=0.99530&showTestData=false"
    "&discretize=false&percTrainData=70&x=true&y=true&xTimesY=true&xSquared=false&ySquared=false&cosX=false"
    "&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification&initZero=f")

# links covering every activation, both penalties, regression, a batch that does not divide the
# training set (350 = 43 * 8 + 6: 6 points carry over), and every input
LINKS = [
    "dataset=xor&activation=tanh&networkShape=3,2&batchSize=8&percTrainData=70&learningRate=0.03&seed=a",
    "dataset=gauss&activation=relu&networkShape=4&batchSize=7&learningRate=0.1&noise=10&seed=b"
    "&regularization=L2&regularizationRate=0.03",
    "dataset=circle&activation=sigmoid&networkShape=3&batchSize=10&learningRate=0.3&seed=c"
    "&regularization=L1&regularizationRate=0.01&xSquared=true&ySquared=true",
    "problem=regression&regDataset=reg-gauss&activation=linear&networkShape=5&batchSize=30&learningRate=0.01"
    "&seed=d&percTrainData=20&sinX=true&sinY=true&xTimesY=true",
]


def test_lecture_link_runs_as_in_the_browser(capsys):
    result = run_playground(LECTURE_LINK, epochs=50, print_every=10)
    config = result.config
    assert config.init_zero is True and not result.batched
    assert result.X_train.shape == (350, 3) and result.X_test.shape == (150, 3)
    # all-zero weights: the output is tanh(0) = 0, the loss exactly 1/2, and it barely moves
    assert result.history["train_loss"][0] == 0.5 and result.history["test_loss"][0] == 0.5
    assert abs(result.train_loss - 0.5) < 1e-3 and abs(result.test_loss - 0.5) < 1e-3
    assert result.history["epoch"] == list(range(51))
    assert [w.shape for w in result.model.get_weights()] == [(3, 1), (1,), (1, 2), (2,), (2, 1), (1,)]
    printed = capsys.readouterr().out
    assert "initZero=f is read as true" in printed and "regDataSet" in printed
    assert printed.count("train loss") == 6  # epochs 0, 10, ..., 50
    assert result.draws == {"thumbnails_before_reseed": 3032, "data": 1000, "shuffle": 500, "weights": 7}


def test_a_misspelled_key_does_what_it_does_in_the_browser():
    # regDataSet is ignored: the regression runs on reg-plane
    result = run_playground("#problem=regression&regDataSet=reg-gauss&seed=s&networkShape=3", epochs=2, verbose=0)
    assert result.config.data_name == "reg-plane"
    session = browser_session(parse_playground_url("#problem=regression&regDataset=reg-plane&seed=s"))
    assert [p[2] for p in session.train[:20]] == list(result.y_train[:20])


@pytest.mark.parametrize("link", LINKS)
def test_batched_replay_follows_the_browser_to_rounding(link):
    exact = run_playground("#" + link, epochs=3, verbose=0)
    batched = run_playground("#" + link, epochs=3, verbose=0, batched=True)
    assert batched.batched and batched.network is None
    np.testing.assert_array_equal(batched.X_train, exact.X_train)  # the same data and split
    np.testing.assert_allclose(batched.history["train_loss"], exact.history["train_loss"], rtol=1e-9)
    np.testing.assert_allclose(batched.history["test_loss"], exact.history["test_loss"], rtol=1e-9)
    for got, want in zip(batched.model.get_weights(), exact.model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
    assert batched.dead_weights == exact.dead_weights


def test_l1_kills_weights_for_good():
    link = ("#dataset=gauss&networkShape=4,3&regularization=L1&regularizationRate=0.3&learningRate=0.1"
            "&seed=l1&batchSize=5")
    session = browser_session(parse_playground_url(link))
    dead_before = []
    for _ in range(6):
        session.step()
        network = session.network
        dead = [(layer, i, j) for layer, rows in enumerate(network.dead) for i, row in enumerate(rows)
                for j, flag in enumerate(row) if flag]
        assert all(network.weights[layer][i][j] == 0.0 for layer, i, j in dead)
        assert set(dead_before) <= set(dead)  # once dead, dead for good
        dead_before = dead
    assert len(dead_before) > 0
    result = run_playground(link, epochs=6, verbose=0)
    assert result.dead_weights == len(dead_before) == result.history["dead_links"][-1]
    assert result.history["dead_links"] == sorted(result.history["dead_links"])


def test_backends_agree(train_backend):
    ref = run_playground("#seed=b1&networkShape=3", epochs=3, verbose=0, batched=True)
    result = run_playground("#seed=b1&networkShape=3", epochs=3, verbose=0, batched=True, backend=train_backend)
    np.testing.assert_allclose(result.history["test_loss"], ref.history["test_loss"], rtol=1e-9)


def test_platform_math_is_close_to_v8_math():
    link = "#dataset=spiral&activation=tanh&networkShape=5,3&learningRate=0.1&seed=m&sinX=true&noise=10"
    v8 = run_playground(link, epochs=5, verbose=0)
    platform = run_playground(link, epochs=5, verbose=0, math="platform")
    np.testing.assert_allclose(platform.history["train_loss"], v8.history["train_loss"], rtol=1e-11)
    assert platform.math == "platform"


def test_missing_seed_is_drawn_and_reproduces():
    result = run_playground("#dataset=xor&networkShape=2", epochs=2, verbose=0)
    seed = result.config.seed
    assert re.fullmatch(r"[01]\.\d{5}", seed)
    assert any(seed in w for w in result.warnings)
    again = run_playground(f"#dataset=xor&networkShape=2&seed={seed}", epochs=2, verbose=0)
    assert again.history["train_loss"] == result.history["train_loss"]
    override = run_playground("#dataset=xor&networkShape=2&seed=zzz", epochs=2, verbose=0, seed=seed)
    assert override.history["train_loss"] == result.history["train_loss"]
    # the page load alone draws one too (for the live page), and leaves the parsed link alone
    config = parse_playground_url("#dataset=xor")
    session = browser_session(config)
    assert re.fullmatch(r"[01]\.\d{5}", session.config.seed) and config.seed is None


def test_to_fixed_is_javascripts():
    assert to_fixed(0.5) == "0.50000" and to_fixed(0.123456) == "0.12346"
    assert to_fixed(1 / 64) == "0.01563"  # an exact tie goes to the larger, as toFixed does
    assert to_fixed(0.999999) == "1.00000"


def test_shapes_the_browser_builds_and_nnkit_does_not():
    # a hidden layer of width 0 (from "4,,2") and a fractional width: the browser builds them
    result = run_playground("#networkShape=4,,2.5&seed=w&dataset=xor", epochs=2, verbose=0)
    assert result.network.shape == [2, 4, 0, 3, 1]
    assert result.model is None
    # with no node before it, the output is tanh(bias): the same for every point
    assert np.unique(result.predict_points(result.raw_test)).size == 1
    with pytest.raises(ValueError, match="batched"):
        run_playground("#networkShape=4,,2.5&seed=w", epochs=1, verbose=0, batched=True)


def test_nan_settings_compute_as_the_browser_computes():
    result = run_playground("#learningRate=fast&seed=n", epochs=1, verbose=0)
    assert result.history["train_loss"][0] == result.history["train_loss"][0]  # finite before training
    assert math.isnan(result.train_loss)
    with pytest.raises(ValueError, match="learningRate"):
        run_playground("#learningRate=fast&seed=n", epochs=1, verbose=0, batched=True)


def test_regression_learns():
    result = run_playground("#problem=regression&regDataset=reg-plane&seed=r&networkShape=2", epochs=10, verbose=0)
    assert len(result.X_train) == 600 and "train_accuracy" not in result.history
    assert result.test_loss < 0.1 * result.history["test_loss"][0]


def test_batches_carry_the_leftover():
    batches, left = _batches(7, 3, [])
    assert batches == [[0, 1, 2], [3, 4, 5]] and left == [6]
    batches, left = _batches(7, 3, left)
    assert batches == [[6, 0, 1, 2], [3, 4, 5]] and left == [6]
    batches, left = _batches(2, 5, [])
    assert batches == [] and left == [0, 1]
    batches, left = _batches(2, 5, left)
    assert batches == [] and left == [0, 1, 0, 1]


def test_too_few_points_for_a_batch_never_update():
    result = run_playground("#percTrainData=1&batchSize=10&seed=1", epochs=2, verbose=0)
    assert len(result.X_train) == 5
    assert any("never updates" in w for w in result.warnings)
    start = browser_session(result.config).network.params()
    assert result.network.params() == start


def test_cli_prints_losses_and_plots(tmp_path, capsys):
    path = tmp_path / "boundary.png"
    code = main(["playground", "https://playground.tensorflow.org/#seed=0.2&dataset=xor&x=true&y=true",
                 "--epochs", "4", "--plot", str(path), "--every", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("test loss") == 4  # epochs 0, 2, 4 and the final line
    assert "point by point, as the browser" in out
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert main(["playground", "#seed=0.2&dataset=xor", "--epochs", "1", "--backend", "numpy"]) == 0
    assert "batched on nnkit's numpy backend" in capsys.readouterr().out


def test_picture_shows_test_points_only_with_show_test_data(tmp_path):
    hidden = run_playground("#seed=p&dataset=gauss&showTestData=false", epochs=1, verbose=0)
    shown = run_playground("#seed=p&dataset=gauss&showTestData=true", epochs=1, verbose=0)
    a = plot_playground(hidden, tmp_path / "a.png", resolution=20)
    b = plot_playground(shown, tmp_path / "b.png", resolution=20)
    c = plot_playground(hidden, tmp_path / "c.png", resolution=20, show_test=True)
    assert a.read_bytes() != b.read_bytes()
    assert b.read_bytes() == c.read_bytes()


def test_plot_regression_and_no_test_points(tmp_path):
    result = run_playground("#problem=regression&percTrainData=100&seed=p", epochs=1, verbose=0)
    assert len(result.X_test) == 0 and math.isnan(result.test_loss)
    plot_playground(result, tmp_path / "r.png", resolution=20)
    assert (tmp_path / "r.png").stat().st_size > 5_000


@pytest.mark.parametrize("argv, message", [
    (["not a url"], "not a Playground link"),
    (["#initZero=f", "--strict"], "initZero"),
    (["#seed=1", "--epochs", "-1"], "--epochs"),
    (["#networkShape=4&batchSize=2.5", "--batched"], "batchSize"),
    (["#networkShape=5000"], "networkShape"),
])
def test_cli_bad_links_are_one_line_usage_errors(capsys, argv, message):
    assert main(["playground", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        run_playground("#seed=1", epochs=-1)
    with pytest.raises(ValueError, match="math"):
        run_playground("#seed=1", epochs=1, math="fdlibm")
    with pytest.raises(ValueError, match="no input"):
        run_playground("#x=false&y=false&seed=1", epochs=1, batched=True)
    with pytest.raises(TypeError, match="url_or_config"):
        run_playground(42)
    with pytest.raises(TypeError, match="seed"):
        run_playground("#seed=1", epochs=1, seed=0.5)
    # with no input at all the browser still runs: every output is f(bias)
    result = run_playground("#x=false&y=false&seed=1", epochs=1, verbose=0)
    assert result.network.shape[0] == 0 and np.unique(result.predict_points(result.raw_train)).size == 1
