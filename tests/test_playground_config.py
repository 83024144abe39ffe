"""The link parser against the browser's reading (state.ts deserializeState, playground.ts makeGUI).

Every key type: numbers (JavaScript's Number), booleans (only "false" is false), objects (the
Playground's tables), arrays (networkShape), strings (seed, tutorial), hide keys, unknown and
misspelled keys, repeated keys, blank values, a missing seed; the strict reading refuses what the
browser would read otherwise than written.
"""

from __future__ import annotations

import math

import pytest

from nnkit.playground_config import PlaygroundConfig, js_number, parse_playground_url

LECTURE_URL = (
    "https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral"
    "&regDataSet=reg-plane&learningRate=0.003&regularizationRate=0&noise=20&networkShape=1,2"
    "&seed=0.99530&showTestData=false&discretize=false&percTrainData=70&x=true&y=true"
    "&xTimesY=true&xSquared=false&ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false"
    "&collectStats=false&problem=classification&initZero=f"
)


def test_lecture_link_as_the_browser_reads_it():
    c = parse_playground_url(LECTURE_URL)
    assert (c.activation, c.batch_size, c.dataset, c.learning_rate) == ("sigmoid", 8, "spiral", 0.003)
    assert (c.noise, c.network_shape, c.seed, c.perc_train_data) == (20, [1, 2], "0.99530", 70)
    assert c.init_zero is True  # "f" is not "false"
    assert c.reg_dataset == "reg-plane"  # regDataSet is not a key: the default stays
    assert c.input_ids() == ["x", "y", "xTimesY"] and c.features() == ["x1", "x2", "x1*x2"]
    assert any("initZero=f is read as true" in w for w in c.warnings)
    assert any("regDataSet" in w and "regDataset" in w for w in c.warnings)  # with a suggestion


def test_defaults_are_state_ts():
    c = parse_playground_url("https://playground.tensorflow.org/")
    assert c == PlaygroundConfig() and c.warnings == []
    assert (c.learning_rate, c.regularization_rate, c.noise, c.batch_size) == (0.03, 0, 0, 10)
    assert (c.network_shape, c.dataset, c.reg_dataset, c.perc_train_data) == ([4, 2], "circle", "reg-plane", 50)
    assert (c.activation, c.regularization, c.problem, c.init_zero, c.seed) == ("tanh", "none",
                                                                                "classification", False, None)
    assert c.input_ids() == ["x", "y"]
    assert c.n_samples == 500 and c.data_name == "circle"
    assert parse_playground_url("#") == PlaygroundConfig()
    assert parse_playground_url("#learningRate=0.1").network_shape == [4, 2]


@pytest.mark.parametrize("raw, value", [
    ("0.1", 0.1), ("1e-2", 0.01), (".5", 0.5), ("5.", 5), ("+3", 3), ("0x10", 16), ("0b101", 5),
    ("0o17", 15), ("00012", 12), ("-1", -1), ("Infinity", math.inf), ("-Infinity", -math.inf),
])
def test_numbers_are_javascripts_number(raw, value):
    c = parse_playground_url(f"#learningRate={raw}")
    assert c.learning_rate == value
    assert c.warnings == []


@pytest.mark.parametrize("raw", ["fast", "1_0", "inf", "nan", "0x", "1e", "-0x10", "1,5", "%201"])
def test_numbers_the_browser_reads_as_nan(raw):
    c = parse_playground_url(f"#batchSize={raw}")
    assert math.isnan(c.batch_size)
    assert any("NaN" in w and "batchSize" in w for w in c.warnings)
    with pytest.raises(ValueError, match="batchSize"):
        parse_playground_url(f"#batchSize={raw}", strict=True)


def test_js_number_trims_javascripts_white_space():
    assert js_number(" 5\t") == 5 and js_number("\u00a05\ufeff") == 5 and js_number("") == 0
    assert math.isnan(js_number("\x1c5"))  # Python's strip would remove \x1c; JavaScript's trim does not


@pytest.mark.parametrize("raw, value, noted", [
    ("true", True, False), ("false", False, False), ("f", True, True), ("0", True, True),
    ("False", True, True), ("no", True, True), ("1", True, True),
])
def test_booleans_only_false_is_false(raw, value, noted):
    c = parse_playground_url(f"#initZero={raw}&showTestData={raw}")
    assert c.init_zero is value and c.show_test_data is value
    assert any(f"initZero={raw} is read as true" in w for w in c.warnings) is noted
    if noted:
        with pytest.raises(ValueError, match="initZero"):
            parse_playground_url(f"#initZero={raw}", strict=True)


def test_blank_and_valueless_items_keep_the_default():
    c = parse_playground_url("#initZero=&learningRate=%20&seed=&x&batchSize")
    assert c.init_zero is False and c.x is True and c.seed is None and c.batch_size == 10
    # "%20" is not decoded: it is not blank, it is NaN
    assert math.isnan(c.learning_rate)
    assert any("'x' has no '=value'" in w for w in c.warnings)
    assert parse_playground_url("#learningRate=").learning_rate == 0.03
    assert parse_playground_url("#initZero= ").init_zero is False  # trimmed blank


@pytest.mark.parametrize("key, good, field_name", [
    ("activation", "relu", "activation"), ("regularization", "L1", "regularization"),
    ("dataset", "xor", "dataset"), ("regDataset", "reg-gauss", "reg_dataset"),
    ("problem", "regression", "problem"),
])
def test_objects_take_the_playgrounds_tables(key, good, field_name):
    assert getattr(parse_playground_url(f"#{key}={good}"), field_name) == good
    default = getattr(PlaygroundConfig(), field_name)
    c = parse_playground_url(f"#{key}=Softsign")
    assert getattr(c, field_name) == default  # the browser keeps the default
    assert any(key in w and "keeps" in w for w in c.warnings)
    with pytest.raises(ValueError, match=key):
        parse_playground_url(f"#{key}=Softsign", strict=True)
    assert getattr(parse_playground_url(f"#{key}={good.upper()}x"), field_name) == default  # case-sensitive


def test_an_object_prototype_name_breaks_the_page():
    with pytest.raises(ValueError, match="toString"):
        parse_playground_url("#activation=toString")


@pytest.mark.parametrize("raw, shape, noted", [
    ("3,2", [3, 2], False), ("", [], False), (" ", [], False), ("8", [8], False),
    ("4,,2", [4, 0, 2], True), ("2.5", [2.5], True), ("-1,3", [-1, 3], True), ("0x4", [4], False),
])
def test_network_shape_is_split_and_numbered(raw, shape, noted):
    c = parse_playground_url(f"#networkShape={raw}")
    assert c.network_shape == shape
    assert any("networkShape" in w for w in c.warnings) is noted


def test_network_shape_nan_and_no_value():
    c = parse_playground_url("#networkShape=4,a")
    assert c.network_shape[0] == 4 and math.isnan(c.network_shape[1])
    with pytest.raises(ValueError, match="networkShape"):
        parse_playground_url("#networkShape")  # parseArray(undefined) throws in the browser
    with pytest.raises(ValueError, match="networkShape"):
        parse_playground_url("#networkShape=4,a", strict=True)


def test_strings_are_kept_as_typed():
    c = parse_playground_url("#seed=0.50000&tutorial=spiral")
    assert c.seed == "0.50000" and c.tutorial == "spiral"  # a string, never a number
    assert parse_playground_url("#seed=a%20b").seed == "a%20b"  # not percent-decoded
    assert parse_playground_url("#seed=a=b").seed == "a"  # only the first two pieces count
    assert parse_playground_url("#seed=abc").seed == "abc"


def test_unknown_misspelled_and_repeated_keys():
    c = parse_playground_url("#regDataSet=reg-gauss&problem=regression&foo=bar&Activation=relu")
    assert c.reg_dataset == "reg-plane" and c.data_name == "reg-plane" and c.activation == "tanh"
    assert any("'foo'" in w for w in c.warnings)
    assert any("'Activation'" in w and "'activation'" in w for w in c.warnings)
    c = parse_playground_url("#learningRate=0.1&learningRate=0.3")
    assert c.learning_rate == 0.3 and any("more than once" in w for w in c.warnings)
    for bad in ("#foo=bar", "#regDataSet=reg-gauss", "#learningRate=0.1&learningRate=0.3"):
        with pytest.raises(ValueError, match="strict"):
            parse_playground_url(bad, strict=True)
    assert parse_playground_url("#learningRate=0.1&activation=relu", strict=True).activation == "relu"


def test_hidden_inputs_leave_the_network_and_cos_does_nothing():
    c = parse_playground_url("#x=true&y=true&sinY=true&xSquared=true&x_hide=true&cosX=true&problem_hide=1")
    assert c.hidden == ["x"] and c.x is True
    assert c.input_ids() == ["y", "xSquared", "sinY"]  # INPUTS order, x hidden
    assert c.features() == ["x2", "x1^2", "sin(x2)"]
    assert any("hidden" in w for w in c.warnings) and any("cosX" in w for w in c.warnings)


@pytest.mark.parametrize("raw, noise", [("90", 50), ("80", 80), ("65", 65), ("-5", 0), ("Infinity", 50)])
def test_noise_slider_clamp(raw, noise):
    assert parse_playground_url(f"#noise={raw}").noise == noise


def test_missing_seed_stays_none_for_the_runner_to_draw():
    assert parse_playground_url("#dataset=xor").seed is None


@pytest.mark.parametrize("text", ["not a url", "", "   ", "playground", "dataset xor"])
def test_not_a_link(text):
    with pytest.raises(ValueError, match="not a Playground link"):
        parse_playground_url(text)


def test_link_forms():
    fragment = "dataset=xor&seed=1"
    for text in (fragment, "#" + fragment, "https://playground.tensorflow.org/#" + fragment,
                 "  https://playground.tensorflow.org/#" + fragment):
        c = parse_playground_url(text)
        assert (c.dataset, c.seed) == ("xor", "1")
    # the query string is not the state: only the part after '#'
    assert parse_playground_url("https://playground.tensorflow.org/?dataset=xor").dataset == "circle"
    with pytest.raises(TypeError, match="url_or_fragment"):
        parse_playground_url(None)


def test_round_trip_through_fragment():
    c = parse_playground_url(LECTURE_URL)
    fragment = c.to_fragment()
    assert "regDataset=reg-plane" in fragment and "initZero=true" in fragment and "seed=0.99530" in fragment
    again = parse_playground_url(fragment)
    assert again == c and again.warnings == []
