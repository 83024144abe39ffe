"""The browser replay against the Playground's own runs (../shared/playground/*.json, node 20).

Each reference file holds what the Playground's unchanged code computed for one link: the first
seedrandom doubles, the draw counts, the shuffled data, every parameter after every epoch and the
per-epoch losses. With V8's math (nnkit.jsmath) the replay must give all of them bit for bit;
with the platform's libm the points must be within 1 ulp and the losses within 1e-12 relative.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from nnkit.playground import run_playground
from nnkit.playground_browser import browser_session, thumbnail_draws
from nnkit.playground_config import parse_playground_url
from nnkit.seedrandom import SeedRandom

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "playground"
NAMES = ("lecture", "xor_tanh")
EPOCHS = 50

if not REFERENCE_DIR.is_dir():
    pytest.skip(f"the Playground's reference runs are not here ({REFERENCE_DIR}: CI lays shared/ "
                "beside the clone)", allow_module_level=True)


def _hex(x: float) -> str:
    return struct.pack(">d", x).hex()


def _ulps(a: float, b: float) -> int:
    """Distance in units in the last place between two finite doubles of the same sign."""
    ia, ib = (struct.unpack(">q", struct.pack(">d", v))[0] for v in (a, b))
    return abs(ia - ib)


@pytest.fixture(scope="module", params=NAMES)
def reference(request):
    with open(REFERENCE_DIR / f"{request.param}.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def replays(reference):
    """The 50-epoch replay of the reference's link with each math library, once per module."""
    config = parse_playground_url(reference["url"])
    return {m: run_playground(config, epochs=EPOCHS, math=m, verbose=0) for m in ("v8", "platform")}


def test_the_link_reads_as_the_browser_read_it(reference):
    config = parse_playground_url(reference["url"])
    state = reference["state"]
    assert config.activation == state["activation"] and config.batch_size == state["batchSize"]
    assert config.dataset == state["dataset"] and config.reg_dataset == state["regDataset"]
    assert config.learning_rate == state["learningRate"] and config.noise == state["noise"]
    assert config.network_shape == state["networkShape"] and config.seed == state["seed"]
    assert config.perc_train_data == state["percTrainData"] and config.init_zero is state["initZero"]
    assert config.regularization == state["regularization"] and config.problem == state["problem"]
    assert config.input_ids() == reference["input_ids"]
    # the page re-serializes the state it read: the same link as the browser writes it
    assert config.to_fragment() == reference["serialized_hash_after_reset"].rstrip("&")


def test_seedrandom_doubles_bit_for_bit(reference):
    stream = SeedRandom(reference["state"]["seed"])
    doubles = [stream.random() for _ in range(20)]
    assert [_hex(d) for d in doubles] == reference["seedrandom_first20_bits"]
    assert doubles == reference["seedrandom_first20"]


def test_draw_counts(reference):
    config = parse_playground_url(reference["url"])
    assert thumbnail_draws(config.seed, config.problem) == reference["random_draws"]["thumbnails_before_reseed"]
    session = browser_session(config)
    assert session.draws == reference["random_draws"]
    assert (len(session.train), len(session.test)) == (reference["n_train"], reference["n_test"])


def test_initial_parameters_bit_for_bit(reference):
    session = browser_session(parse_playground_url(reference["url"]))
    params = session.network.params()
    assert [_hex(p) for p in params] == [_hex(p) for p in reference["initial_params"]]
    first = reference["first_hidden_node_initial"]
    assert [_hex(p) for p in params[:1 + len(first["weights"])]] == [first["bias_bits"]] + first["weights_bits"]


def test_data_points_bit_for_bit(reference):
    session = browser_session(parse_playground_url(reference["url"]))
    shuffled = reference["data_shuffled"]
    points = session.train + session.test
    assert len(points) == len(shuffled["x"]) == reference["num_samples"]
    assert [p[0] for p in points] == shuffled["x"]
    assert [p[1] for p in points] == shuffled["y"]
    assert [p[2] for p in points] == shuffled["label"]
    assert max(_ulps(p[0], x) for p, x in zip(points, shuffled["x"])) == 0
    for key, part in (("train_first5", session.train), ("test_first5", session.test)):
        for (x, y, label), want in zip(part, reference[key]):
            assert [_hex(x), _hex(y), _hex(label)] == want["bits"]


def test_data_points_with_platform_math(reference):
    # libm's sin/cos/log differ from V8's by 1 ulp for some arguments; a point is r sin(t) plus
    # the noise, so the difference is at most about an ulp of r (<= 6): 2e-15 absolute
    session = browser_session(parse_playground_url(reference["url"]), math="platform")
    shuffled = reference["data_shuffled"]
    points = session.train + session.test
    worst = max(max(abs(p[0] - x), abs(p[1] - y)) for p, x, y in zip(points, shuffled["x"], shuffled["y"]))
    assert worst <= 2 * math.ulp(6.0)
    assert [p[2] for p in points] == shuffled["label"]


def test_generated_order_before_the_shuffle(reference):
    from nnkit.playground_browser import generate_points

    config = parse_playground_url(reference["url"])
    stream = SeedRandom(config.seed)
    points = generate_points(config.data_name, config.n_samples, config.noise / 100, stream)
    for (x, y, label), want in zip(points, reference["generated_first5"]):
        assert [_hex(x), _hex(y), _hex(label)] == want["bits"]
    assert stream.draws == reference["random_draws"]["data"]


def test_per_epoch_losses_bit_for_bit_with_v8_math(reference, replays):
    history = replays["v8"].history
    want = reference["history"]
    assert history["epoch"] == want["epoch"] == list(range(EPOCHS + 1))
    assert [_hex(v) for v in history["train_loss"]] == [_hex(v) for v in want["train_loss"]]
    assert [_hex(v) for v in history["test_loss"]] == [_hex(v) for v in want["test_loss"]]
    assert history["dead_links"] == want["dead_links"]


def test_per_epoch_losses_within_1e_12_with_platform_math(reference, replays):
    history = replays["platform"].history
    want = reference["history"]
    worst = max(abs(a - b) / abs(b)
                for key in ("train_loss", "test_loss") for a, b in zip(history[key], want[key]))
    assert worst <= 1e-12


def test_parameters_after_every_epoch_bit_for_bit(reference, replays):
    # the final parameters, and those after each epoch (replayed again to read them per epoch)
    result = replays["v8"]
    assert [_hex(p) for p in result.network.params()] == [_hex(p) for p in reference["final_params"]]
    session = browser_session(parse_playground_url(reference["url"]))
    for epoch in range(1, 6):
        session.step()
        assert session.network.params() == reference["params_per_epoch"][epoch], epoch
    assert result.dead_weights == reference["history"]["dead_links"][-1]


def test_the_nnkit_model_holds_the_browser_network(reference, replays):
    import numpy as np

    result = replays["v8"]
    out = result.model.predict(result.X_test)[:, 0]
    browser = result.predict_points(result.raw_test)
    np.testing.assert_allclose(out, browser, rtol=1e-12, atol=1e-15)
    loss = float(np.mean(0.5 * (out - result.y_test) ** 2))
    assert math.isclose(loss, reference["history"]["test_loss"][-1], rel_tol=1e-12)


def test_the_playground_demo_runs_the_lecture_link_the_browser_ran():
    from nnkit.demos.playground import LECTURE_URL

    with open(REFERENCE_DIR / "lecture.json") as fh:
        reference = json.load(fh)
    assert LECTURE_URL == reference["url"]
    config = parse_playground_url(LECTURE_URL)
    assert config.init_zero is True is reference["state"]["initZero"]  # "initZero=f" reads as true
    run = run_playground(config, epochs=3, verbose=0)
    assert [_hex(v) for v in run.history["train_loss"]] == [_hex(v) for v in reference["history"]["train_loss"][:4]]
