"""nnkit.serve: the live Playground's server, its origin checks, its control checks and its tabs."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the serve extra (starlette) is not installed")
try:
    from starlette.testclient import TestClient
except (ImportError, RuntimeError) as exc:  # starlette's TestClient needs httpx2 (the dev extra)
    pytest.skip(f"starlette's TestClient is unusable here: {exc}", allow_module_level=True)
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import nnkit as nk  # noqa: E402
from nnkit.serve import app as serve_app  # noqa: E402
from nnkit.serve import experiment as serve_experiment  # noqa: E402
from nnkit.serve.controls import LIMITS, ControlError, parse_state  # noqa: E402

ORIGIN = {"origin": "http://testserver"}
XOR = "activation=tanh&dataset=xor&networkShape=8,8&learningRate=0.03&batchSize=10&seed=0.5"
LINK = ("https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral&"
        "regDataset=reg-plane&learningRate=0.1&regularizationRate=0.003&noise=15&networkShape=5,3&"
        "seed=0.99530&showTestData=true&discretize=false&percTrainData=70&x=true&y=true&"
        "xTimesY=true&xSquared=false&ySquared=false&cosX=false&sinX=true&cosY=false&sinY=false&"
        "collectStats=false&problem=classification&initZero=false&hideText=false&regularization=L2")


@pytest.fixture
def app():
    return serve_app.create_app(LINK, hosts={"testserver"})


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def sessions(app):
    return list(app.app.state.sessions)


def receive(ws, kind):
    """The next message of the given type (others are skipped)."""
    for _ in range(1000):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def open_tab(ws, link=""):
    ws.send_json({"type": "hello", "hash": link})
    state = receive(ws, "state")
    data = receive(ws, "data")
    frame = receive(ws, "frame")
    return state, data, frame


# -- the page and its files ---------------------------------------------------------------------

def test_page_and_its_two_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    for path, media in (("/playground.js", "text/javascript"), ("/playground.css", "text/css")):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
        assert f'"{path}"' in page.text  # the page loads it from its own server
    # no network at run time: nothing in the page's files points anywhere but its own server
    for path in ("/", "/playground.js", "/playground.css"):
        text = client.get(path).text
        addresses = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text)
        assert addresses in ([], ["https://playground.tensorflow.org"]), (path, addresses)
        assert "<script src=\"http" not in text and "@import" not in text


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/static/index.html",
                                  "/index.html", "/app.py", "/..%2fapp.py", "/playground.js/../app.py",
                                  "//etc/passwd", "/ws/../../../etc/passwd"])
def test_no_file_outside_the_static_folder_is_read(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text and "root:" not in response.text


def test_the_page_files_ship_in_the_package():
    from importlib import resources

    folder = resources.files("nnkit.serve") / "static"
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert names == ["index.html", "playground.css", "playground.js"]
    assert set(serve_app.STATIC_FILES.values()) == {("index.html", "text/html; charset=utf-8"),
                                                    ("playground.js", "text/javascript; charset=utf-8"),
                                                    ("playground.css", "text/css; charset=utf-8")}


# -- origins ----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"},
    {"origin": "null"},
    {"origin": "http://testserver.evil.example"},
    {"host": "evil.example"},  # DNS rebinding: a foreign name resolving to this machine
    {"host": "evil.example", "origin": "http://evil.example"},
])
def test_a_cross_origin_http_request_is_refused(client, headers):
    response = client.get("/", headers=headers)
    assert response.status_code == 403
    assert "refused" in response.text


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {}, {"origin": "null"},
                                     {"host": "evil.example", "origin": "http://evil.example"}])
def test_a_cross_origin_websocket_is_refused(app, client, headers):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws", headers=headers) as ws:
            ws.send_json({"type": "hello", "hash": XOR})
            ws.receive_json()
    assert refused.value.code == 1008
    assert sessions(app) == []  # no experiment was made for it


def test_the_guard_lets_the_page_own_origin_through():
    guard = serve_app.OriginGuard(None, {"127.0.0.1:8000", "localhost:8000"})

    def scope(kind, **headers):
        return {"type": kind, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}

    assert guard.allows(scope("http", host="127.0.0.1:8000"))
    assert guard.allows(scope("websocket", host="localhost:8000", origin="http://localhost:8000"))
    assert not guard.allows(scope("websocket", host="localhost:8000", origin="http://127.0.0.1:8000"))
    assert not guard.allows(scope("http", host="127.0.0.1:8001"))
    assert not guard.allows(scope("http", host="127.0.0.1:8000", origin="https://127.0.0.1:8000"))
    assert not guard.allows(scope("http"))


# -- a tab ------------------------------------------------------------------------------------

def test_a_tab_without_hash_opens_the_served_link(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        state, data, frame = open_tab(ws, "")
    s = state["state"]
    assert (s["activation"], s["dataset"], s["networkShape"], s["learningRate"]) == ("sigmoid", "spiral", [5, 3], 0.1)
    assert (s["regularization"], s["regularizationRate"], s["noise"], s["percTrainData"]) == ("L2", 0.003, 15, 70)
    assert (s["batchSize"], s["seed"], s["showTestData"], s["xTimesY"], s["sinX"]) == (8, "0.99530", True, True, True)
    assert len(data["train"]) == 350 and len(data["test"]) == 150
    assert frame["epoch"] == 0 and len(frame["neurons"]) == 2
    assert [len(layer) for layer in frame["neurons"]] == [5, 3]
    assert state["choices"]["backend"] == nk.available_backends()
    assert state["choices"]["limits"] == LIMITS


def test_a_playground_link_in_the_hash_opens_with_its_settings_and_the_fragment_reads_back(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        state, _, _ = open_tab(ws, "#" + XOR + "&backend=numpy&optimizer=adam")
    s = state["state"]
    assert (s["dataset"], s["networkShape"], s["backend"], s["optimizer"], s["seed"]) == (
        "xor", [8, 8], "numpy", "adam", "0.5")
    # the page's link opens in the Playground: its parser reads every Playground key back alike,
    # and ignores only nnkit's two keys
    config = nk.parse_playground_url(state["fragment"])
    assert (config.dataset, config.network_shape, config.learning_rate, config.seed) == ("xor", [8, 8], 0.03, "0.5")
    assert len(config.warnings) == 2
    assert "'backend'" in config.warnings[0] and "'optimizer'" in config.warnings[1], config.warnings
    assert parse_state(state["fragment"]).as_dict() == s


REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "playground"


@pytest.mark.parametrize("name", ["xor_tanh", "lecture"])
def test_a_playground_link_opens_with_the_browser_points_and_first_network(client, app, name):
    path = REFERENCE_DIR / f"{name}.json"
    if not path.exists():
        pytest.skip(f"the Playground's reference runs are not here ({REFERENCE_DIR})")
    reference = json.loads(path.read_text())
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        _, data, frame = open_tab(ws, reference["location_hash"])
        experiment = sessions(app)[0].experiment
        weights = experiment.model.get_weights()
    assert len(data["train"]) == reference["n_train"] and len(data["test"]) == reference["n_test"]
    for row, point in zip(experiment.data["train_xy"], reference["train_first5"]):
        assert row.tolist() == [point["x"], point["y"]]  # the browser's points, bit for bit
    assert experiment.data["y_train"][:5].tolist() == [p["label"] for p in reference["train_first5"]]
    params = []  # the Playground's node order: per node, its bias then its input links' weights
    for kernel, bias in zip(weights[::2], weights[1::2]):
        for j in range(kernel.shape[1]):
            params += [bias[j], *kernel[:, j]]
    assert params == reference["initial_params"]
    assert frame["train_loss"] == pytest.approx(reference["history"]["train_loss"][0], rel=1e-12)


def test_a_link_without_seed_gets_one_so_the_page_link_reproduces_its_data():
    state = parse_state("dataset=circle")
    assert re.fullmatch(r"0\.\d{5}", state.config.seed)
    again = parse_state(state.fragment())
    first = serve_experiment.Experiment(state).data
    second = serve_experiment.Experiment(again).data
    np.testing.assert_array_equal(first["train_xy"], second["train_xy"])


def test_a_refused_link_in_the_hash_opens_the_default_with_a_warning(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        state, _, _ = open_tab(ws, "networkShape=100000")
    assert state["state"]["dataset"] == "spiral"
    assert "networkShape: at most 64 neurons per layer, got 100000" in state["warnings"][0]


def test_play_trains_xor_and_the_training_loss_falls(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        _, _, first = open_tab(ws, XOR)
        ws.send_json({"type": "play"})
        frames = [receive(ws, "frame") for _ in range(15)]
        ws.send_json({"type": "pause"})
        paused = receive(ws, "state")
        assert paused["playing"] is False
        stopped_at = sessions(app)[0].experiment.epoch
        ws.send_json({"type": "step"})  # no frame of the stretch before the pause comes after it
        assert receive(ws, "frame")["epoch"] == stopped_at + 1
    epochs = [f["epoch"] for f in frames]
    assert epochs == sorted(epochs) and epochs[-1] > epochs[0] >= 1
    assert frames[-1]["train_loss"] < 0.5 * first["train_loss"]
    history = first["history"] + [row for f in frames for row in f["history"]]
    assert [row[0] for row in history] == list(range(len(history)))  # one loss entry per epoch


def test_a_page_that_acknowledges_frames_gets_the_next_one_only_after_drawing(client, monkeypatch):
    monkeypatch.setattr(serve_app, "PAGE_DRAW_TIMEOUT", 120.0)
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "hash": XOR, "ack": True})
        receive(ws, "frame")
        ws.send_json({"type": "ack"})
        ws.send_json({"type": "play"})
        assert receive(ws, "state")["playing"] is True
        first = receive(ws, "frame")
        ws.send_json({"type": "pause"})  # not acknowledged: training waits, so no frame comes first
        message = ws.receive_json()
        assert (message["type"], message["playing"]) == ("state", False)
        ws.send_json({"type": "play"})
        assert receive(ws, "state")["playing"] is True
        ws.send_json({"type": "ack"})
        second = receive(ws, "frame")
        ws.send_json({"type": "pause"})
    assert second["epoch"] > first["epoch"] >= 1


def test_step_trains_one_epoch_and_reset_starts_over_with_new_weights(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        _, _, first = open_tab(ws, XOR)
        experiment = sessions(app)[0].experiment
        initial = experiment.model.get_weights()
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["epoch"] == 1
        ws.send_json({"type": "reset"})
        frame = receive(ws, "frame")
        assert frame["epoch"] == 0 and frame["model_version"] == first["model_version"] + 1
        assert frame["history"] == [[0, frame["train_loss"], frame["test_loss"]]]
        assert not np.allclose(experiment.model.get_weights()[0], initial[0])


def test_activation_and_width_rebuild_the_network_and_the_learning_rate_does_not(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["epoch"] == 1
        ws.send_json({"type": "set", "values": {"learningRate": 0.1}})
        kept = receive(ws, "frame")
        assert kept["epoch"] == 1 and kept["model_version"] == 0
        assert sessions(app)[0].experiment.model.optimizer.lr == 0.1
        ws.send_json({"type": "set", "values": {"activation": "relu"}})
        state = receive(ws, "state")
        rebuilt = receive(ws, "frame")
        assert "activation=relu" in state["fragment"] and rebuilt["epoch"] == 0 and rebuilt["model_version"] == 1
        assert sessions(app)[0].experiment.model.layers[0].activation == "relu"
        ws.send_json({"type": "set", "values": {"networkShape": [8, 3]}})
        state = receive(ws, "state")
        rebuilt = receive(ws, "frame")
        assert "networkShape=8,3" in state["fragment"] and rebuilt["model_version"] == 2
        assert [len(layer) for layer in rebuilt["neurons"]] == [8, 3]
        kernels = [w for w in sessions(app)[0].experiment.model.get_weights() if w.ndim == 2]
        assert [np.array(w).shape for w in rebuilt["weights"]] == [(2, 8), (8, 3), (3, 1)]
        for sent, kernel in zip(rebuilt["weights"], kernels):  # the page's links are the weights
            np.testing.assert_allclose(sent, kernel, atol=5e-4)
        assert [w.shape for w in sessions(app)[0].experiment.model.get_weights()] == [
            (2, 8), (8,), (8, 3), (3,), (3, 1), (1,)]
        ws.send_json({"type": "set", "values": {"activation": "elu"}})  # an nnkit-only activation
        assert "activation=elu" in receive(ws, "state")["fragment"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_network_stops_with_its_message_and_the_page_stays_usable(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, "problem=regression&activation=linear&learningRate=10&networkShape=8,8&batchSize=1&"
                     "xSquared=true&ySquared=true&seed=0.5")
        ws.send_json({"type": "step"})
        error = ws.receive_json()
        while error["type"] != "error":  # an error, never a frame of NaN (strict JSON reaches the page)
            assert error["type"] != "frame", "a diverged step sent a frame"
            error = ws.receive_json()
        assert "training diverged at epoch 1, batch 5" in error["message"]
        weights = sessions(app)[0].experiment.model.get_weights()
        assert all(np.isfinite(w).all() for w in weights)  # the last finite weights are kept
        ws.send_json({"type": "reset"})
        assert receive(ws, "frame")["train_loss"] is not None


def test_a_data_change_sends_new_points_and_regenerate_draws_a_new_seed(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        _, data, _ = open_tab(ws, XOR)
        ws.send_json({"type": "set", "values": {"dataset": "circle", "noise": 20}})
        state = receive(ws, "state")
        circle = receive(ws, "data")
        assert state["state"]["dataset"] == "circle" and "noise=20" in state["fragment"]
        assert circle["version"] == data["version"] + 1 and circle["train"] != data["train"]
        ws.send_json({"type": "regenerate"})
        again = receive(ws, "state")
        assert again["state"]["seed"] != "0.5" and receive(ws, "data")["train"] != circle["train"]


# (values, what the error must say: the control and the value, or the server's own rule)
BAD_VALUES = [
    ({"networkShape": [100000]}, ["networkShape: at most 64 neurons per layer, got 100000"]),
    ({"networkShape": [2] * 13}, ["networkShape: at most 12 hidden layers, got 13"]),
    ({"networkShape": "4,-2"}, ["networkShape", "4,-2"]),
    ({"activation": "bogus"}, ["activation: expected one of", "bogus"]),
    ({"learningRate": 0}, ["learningRate: expected a number in (0, 10]"]),
    ({"learningRate": 1e9}, ["learningRate: expected a number in (0, 10]"]),
    ({"learningRate": "nan"}, ["learningRate", "nan"]),
    ({"batchSize": 0}, ["batchSize: expected an integer >= 1"]),
    ({"batchSize": 2.5}, ["batchSize", "2.5"]),
    ({"batchSize": 5000}, ["batchSize: expected at most 1200"]),
    ({"regularizationRate": -1}, ["regularizationRate", "-1"]),
    ({"backend": "cuda9"}, ["backend: expected one of the backends available here", "cuda9"]),
    ({"optimizer": "lbfgs"}, ["optimizer: expected one of sgd, adam", "lbfgs"]),
    ({"noise": "loud"}, ["noise", "loud"]),
    ({"percTrainData": 0}, ["percTrainData", "0"]),
    ({"dataset": "../../etc/passwd"}, ["dataset", "../../etc/passwd"]),
    ({"x": False, "y": False}, ["features: enable at least one input"]),
    ({"seed": "9" * 65}, ["seed: at most 64 characters"]),
    ({"evil": 1}, ["'evil' is not a control"]),
    ({"x": "maybe"}, ["x", "maybe"]),
    ({"networkShape": {"a": 1}}, ["networkShape: a shape value was expected"]),
    ({"dataset": "xor&networkShape=9999"}, ["dataset: a str value was expected"]),
    (None, ["set: expected an object of control values"]),
]


@pytest.mark.parametrize("values, message", BAD_VALUES, ids=[str(v)[:40] for v, _ in BAD_VALUES])
def test_a_bad_control_value_gets_a_clear_error_and_the_running_experiment_is_unchanged(
        client, app, monkeypatch, values, message):
    built = []
    original = serve_experiment.build_network
    monkeypatch.setattr(serve_experiment, "build_network",
                        lambda state, *a: built.append(state) or original(state, *a))
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        ws.send_json({"type": "step"})
        receive(ws, "frame")
        experiment = sessions(app)[0].experiment
        before = (experiment.state, experiment.model, experiment.epoch, experiment.data,
                  [w.copy() for w in experiment.model.get_weights()], len(built))
        ws.send_json({"type": "set", "values": values})
        error = receive(ws, "error")
        assert all(part in error["message"] for part in message), error["message"]
        assert error["state"] == before[0].as_dict() and error["fragment"] == before[0].fragment()
        assert (experiment.state, experiment.model, experiment.epoch, experiment.data) == before[:4]
        for now, then in zip(experiment.model.get_weights(), before[4]):
            np.testing.assert_array_equal(now, then)
        assert len(built) == before[5]  # nothing was allocated for the refused value
        ws.send_json({"type": "step"})  # and the tab goes on
        assert receive(ws, "frame")["epoch"] == 2


@pytest.mark.parametrize("text, message", [
    ("not json", "a message must be a JSON object"),
    ("[1, 2]", "a message must be a JSON object with a 'type'"),
    ('{"type": "fly"}', "unknown message type 'fly'"),
    ('{"type": "open", "hash": 5}', "open: expected"),
    ('{"type": "set", "values": {"seed": "' + "x" * 20000 + '"}}', "message too long"),
])
def test_a_malformed_message_gets_a_clear_error(client, text, message):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        ws.send_text(text)
        assert message in receive(ws, "error")["message"]


def test_an_absurd_link_is_refused_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(serve_experiment, "build_network", lambda *a: pytest.fail("allocated"))
    for link in ("networkShape=1000000000", "networkShape=" + ",".join(["8"] * 1000), "batchSize=1e12"):
        with pytest.raises(ControlError):
            serve_experiment.Experiment(parse_state(link))


def test_two_tabs_train_independently(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as a, \
            client.websocket_connect("/ws", headers=ORIGIN) as b:
        open_tab(a, XOR)
        _, _, b_first = open_tab(b, "dataset=circle&networkShape=3&activation=relu&seed=0.7")
        tab_a, tab_b = sorted(sessions(app), key=lambda s: s.experiment.state.config.dataset != "xor")
        b_weights = [w.copy() for w in tab_b.experiment.model.get_weights()]
        a.send_json({"type": "play"})
        a_frames = [receive(a, "frame") for _ in range(5)]
        # tab b answers while tab a trains, and is untouched by it
        b.send_json({"type": "set", "values": {"learningRate": 0.3}})
        b_state = receive(b, "state")
        assert receive(b, "frame")["epoch"] == 0
        assert b_state["state"]["dataset"] == "circle" and b_state["state"]["networkShape"] == [3]
        assert tab_b.experiment.epoch == 0
        for now, then in zip(tab_b.experiment.model.get_weights(), b_weights):
            np.testing.assert_array_equal(now, then)
        b.send_json({"type": "step"})
        assert receive(b, "frame")["epoch"] == 1
        more = receive(a, "frame")
        a.send_json({"type": "pause"})
        assert more["epoch"] > a_frames[0]["epoch"] and tab_a.experiment.state.config.dataset == "xor"
        assert tab_a.experiment.state.config.learning_rate == 0.03
        assert tab_b.experiment.epoch == 1
        assert tab_a.experiment.model is not tab_b.experiment.model
    assert b_first["epoch"] == 0


def test_regression_serves_the_regression_data_and_a_linear_output(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        ws.send_json({"type": "set", "values": {"problem": "regression", "regDataset": "reg-gauss"}})
        state = receive(ws, "state")
        data = receive(ws, "data")
        frame = receive(ws, "frame")
        assert sessions(app)[0].experiment.model.layers[-1].activation == "linear"
    assert state["state"]["problem"] == "regression" and "regDataset=reg-gauss" in state["fragment"]
    assert len(data["train"]) == 600 and len(data["test"]) == 600
    labels = np.array([row[2] for row in data["train"]])
    assert labels.min() >= -1 and labels.max() <= 1 and len(np.unique(labels)) > 100  # targets, not classes
    assert frame["epoch"] == 0 and frame["train_loss"] > 0


def test_the_loss_history_stays_bounded_and_the_page_gets_the_thinned_curve(client, app, monkeypatch):
    monkeypatch.setattr(serve_experiment, "MAX_HISTORY", 8)
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        _, _, first = open_tab(ws, XOR)
        curve = list(first["history"])
        for _ in range(40):
            ws.send_json({"type": "step"})
            frame = receive(ws, "frame")
            if frame["history_version"] != first["history_version"]:
                curve, first = list(frame["history"]), frame
            else:
                curve += frame["history"]
        experiment = sessions(app)[0].experiment
        assert experiment.epoch == 40 and len(experiment.history) <= 8
        assert experiment.history_stride >= 4
        assert curve == experiment.history  # what the page drew is the server's curve
        epochs = [row[0] for row in curve]
        assert epochs == sorted(set(epochs)) and epochs[0] == 0 and epochs[-1] == 40


def test_tabs_beyond_the_limit_are_refused(client, app, monkeypatch):
    monkeypatch.setattr(serve_app, "MAX_TABS", 1)
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws", headers=ORIGIN) as second:
                second.send_json({"type": "hello", "hash": XOR})
                second.receive_json()
        assert refused.value.code == 1013
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["epoch"] == 1
    assert sessions(app) == []


def test_the_server_answers_other_requests_and_tabs_while_a_tab_is_training(client, app, monkeypatch):
    started, release = threading.Event(), threading.Event()
    train_for = serve_experiment.Experiment.train_for

    def held(self, seconds, max_epochs):  # a training stretch that lasts until the test lets it go
        started.set()
        assert release.wait(60)
        return train_for(self, seconds, max_epochs)

    monkeypatch.setattr(serve_experiment.Experiment, "train_for", held)
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        open_tab(ws, XOR)
        ws.send_json({"type": "play"})
        assert started.wait(60)
        try:
            assert client.get("/").status_code == 200
            with client.websocket_connect("/ws", headers=ORIGIN) as other:
                _, _, frame = open_tab(other, "dataset=gauss&networkShape=2&seed=0.1")
                assert frame["epoch"] == 0
        finally:
            release.set()
        assert receive(ws, "frame")["epoch"] >= 1
        ws.send_json({"type": "pause"})


@pytest.mark.parametrize("backend_name", ["numpy", "numba", "cupy"])
def test_pictures_are_the_model_outputs_on_the_grid(backend_name):
    if backend_name not in nk.available_backends():
        pytest.skip(f"{backend_name} backend unavailable on this machine")
    state = parse_state(XOR + f"&backend={backend_name}")
    experiment = serve_experiment.Experiment(state)
    experiment.train(3)
    output, neurons = experiment.pictures()
    grid = experiment.data["grid"]
    expected = np.clip(experiment.model.predict(grid)[:, 0], -1, 1)
    decoded = np.frombuffer(__import__("base64").b64decode(output), dtype=np.uint8) / 127.5 - 1
    np.testing.assert_allclose(decoded, expected, atol=1 / 127.5)
    assert [len(layer) for layer in neurons] == [8, 8]
    assert experiment.model.backend.name == backend_name
    # the top-left cell is (x1, x2) = (-5.94, 5.94)
    np.testing.assert_allclose(grid[0], [-5.94, 5.94])


# -- the command line --------------------------------------------------------------------------

def _start(*args):
    proc = subprocess.Popen([sys.executable, "-m", "nnkit", "playground", "--serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in range(2 if "--host" in args else 1)]
    return proc, lines


def test_the_command_serves_on_loopback_and_prints_the_address():
    proc, lines = _start(LINK)
    try:
        match = re.search(r"serving on (http://127\.0\.0\.1:(\d+)/)", lines[0])
        assert match, lines
        with urllib.request.urlopen(match.group(1), timeout=30) as response:
            assert response.status == 200 and b"nnkit Playground" in response.read()
        request = urllib.request.Request(match.group(1), headers={"Origin": "http://evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_another_interface_needs_an_explicit_host_and_prints_a_warning():
    proc, lines = _start("--host", "0.0.0.0", "--port", "0")
    try:
        assert lines[0].startswith("warning: serving on 0.0.0.0, not only this machine"), lines
        assert "serving on http://127.0.0.1:" in lines[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_bad_link_stops_the_command_with_a_clear_message():
    out = subprocess.run([sys.executable, "-m", "nnkit", "playground", "--serve", "#networkShape=99999"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "networkShape: at most 64 neurons per layer, got 99999" in out.stderr
