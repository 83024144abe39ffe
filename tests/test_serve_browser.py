"""The live Playground page in a real headless browser: Debian's chromium driven by Playwright.

Runs ``nnkit playground --serve`` as a user would and works the page's controls. Skips, saying
why, where chromium (``bash .ci/browser-setup`` installs it) or Playwright is missing. The
screenshot goes to $NNKIT_SCREENSHOT_DIR when set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

import nnkit as nk

CHROMIUM = os.environ.get("NNKIT_CHROMIUM", "/usr/bin/chromium")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"no chromium at {CHROMIUM}: install Debian's package (bash .ci/browser-setup) or set "
                "NNKIT_CHROMIUM", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="Playwright's Python API is not installed (the dev extra)")
pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")

from playwright.sync_api import sync_playwright  # noqa: E402

BACKEND = "numba" if "numba" in nk.available_backends() else "numpy"
XOR = ("https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=xor&"
       "regDataset=reg-plane&learningRate=0.03&regularizationRate=0&noise=0&networkShape=8,8&seed=0.5&"
       "showTestData=false&discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&"
       "xSquared=false&ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false&"
       "collectStats=false&problem=classification&initZero=false&hideText=false")
SPIRAL = ("https://playground.tensorflow.org/#activation=sigmoid&regularization=L2&batchSize=8&"
          "dataset=spiral&learningRate=0.1&regularizationRate=0.003&noise=15&networkShape=5,3,2&"
          "seed=0.99530&showTestData=true&percTrainData=70&x=true&y=true&xTimesY=true&sinX=true&"
          "problem=classification&problem_hide=true&noise_hide=true&sinY_hide=true")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Served:
    """``nnkit playground --serve LINK`` in a child process, and its printed address."""

    def __init__(self, link: str):
        env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", ""))
        if not env["NUMBA_CACHE_DIR"]:
            env.pop("NUMBA_CACHE_DIR")
        self.proc = subprocess.Popen([sys.executable, "-m", "nnkit", "playground", "--serve", link,
                                      "--backend", BACKEND], stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
        if not match:
            self.close()
            raise AssertionError(f"the server printed no address: {line!r}")
        self.url = match.group(1)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def xor_server():
    served = Served(XOR)
    yield served
    served.close()


@pytest.fixture
def open_page(browser):
    """open_page(url) -> a loaded page showing its first frame; its console errors in page.errors."""
    pages = []

    def opener(url):
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        pages.append(page)
        page.goto(url)
        wait_for(page, "Number(document.body.dataset.frames || 0) >= 1", timeout=120)
        return page

    yield opener
    for page in pages:
        page.close()


def wait_for(page, expression: str, timeout: float = 60.0):
    """Poll a JavaScript expression until it is truthy (the page's policy forbids eval, which
    Playwright's wait_for_function needs; page.evaluate goes through the debugger instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


def epoch(page) -> int:
    return int(page.text_content("#epoch-number").replace(",", ""))


def hash_items(page) -> dict:
    return dict(item.split("=", 1) for item in page.evaluate("location.hash").lstrip("#").split("&"))


def test_the_page_loads_with_no_console_error(open_page, xor_server):
    page = open_page(xor_server.url)
    assert page.title() == "nnkit Playground"
    assert page.text_content("#epoch-number") == "000,000"
    assert re.fullmatch(r"\d\.\d{3}", page.text_content("#loss-train"))
    assert page.locator("canvas.neuron").count() == 16
    assert page.evaluate("document.querySelectorAll('#datasets canvas').length") == 4
    assert "connected" in page.text_content("#connection")
    timing = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    print(f"page load {timing:.0f} ms, first frame {page.evaluate('document.body.dataset.firstFrameMs')} ms")
    assert page.errors == []


def test_play_raises_the_epoch_and_lowers_the_training_loss_on_xor(open_page, xor_server):
    page = open_page(xor_server.url)
    first = float(page.text_content("#loss-train"))
    page.click("#play-pause")
    wait_for(page, "document.getElementById('play-pause').classList.contains('playing')")
    seen = [epoch(page)]
    for _ in range(3):
        wait_for(page, f"Number(document.body.dataset.epoch) > {seen[-1]}")
        seen.append(epoch(page))
    wait_for(page, "Number(document.body.dataset.epoch) >= 150", timeout=120)
    page.click("#play-pause")
    wait_for(page, "!document.getElementById('play-pause').classList.contains('playing')")
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    final = float(page.text_content("#loss-train"))
    assert final < 0.5 * first, (first, final)
    paused = epoch(page)
    time.sleep(0.5)
    assert epoch(page) == paused  # pause stops the training
    page.click("#step-button")
    wait_for(page, f"Number(document.body.dataset.epoch) === {paused + 1}")
    assert page.errors == []


def test_changing_the_activation_and_a_layer_width_rebuilds_the_network(open_page, xor_server):
    page = open_page(xor_server.url)
    page.click("#step-button")
    wait_for(page, "Number(document.body.dataset.epoch) === 1")
    version = int(page.evaluate("document.body.dataset.modelVersion"))
    page.select_option("#activation", "relu")
    wait_for(page, f"Number(document.body.dataset.modelVersion) === {version + 1}")
    assert epoch(page) == 0 and hash_items(page)["activation"] == "relu"
    page.click(".layer[data-layer='0'] .add-neuron")
    wait_for(page, f"Number(document.body.dataset.modelVersion) === {version + 2}")
    assert page.locator("canvas.neuron[data-layer='0']").count() == 9
    assert page.text_content(".layer[data-layer='0'] .count") == "9 neurons"
    assert hash_items(page)["networkShape"] == "9,8"
    page.click(".layer[data-layer='1'] .remove-neuron")
    wait_for(page, "document.querySelectorAll(\"canvas.neuron[data-layer='1']\").length === 7")
    page.click("#add-layer")
    wait_for(page, "document.querySelectorAll('.layer').length === 3")
    assert hash_items(page)["networkShape"] == "9,7,2" and page.text_content("#layer-count") == "3"
    page.click("#remove-layer")
    wait_for(page, "document.querySelectorAll('.layer').length === 2")
    page.click("#remove-layer")
    wait_for(page, "document.querySelectorAll('.layer').length === 1")
    assert hash_items(page)["networkShape"] == "9"
    assert page.errors == []


def test_the_url_hash_follows_the_controls(open_page, xor_server):
    page = open_page(xor_server.url)
    page.click("#datasets canvas[data-dataset='circle']")
    wait_for(page, "location.hash.includes('dataset=circle')")
    page.select_option("#learningRate", "0.3")
    wait_for(page, "location.hash.includes('learningRate=0.3')")
    page.select_option("#regularization", "L1")
    page.select_option("#regularizationRate", "0.01")
    wait_for(page, "location.hash.includes('regularizationRate=0.01')")
    page.evaluate("(() => { const s = document.getElementById('noise'); s.value = 25;"
                  " s.dispatchEvent(new Event('change')); })()")
    wait_for(page, "location.hash.includes('noise=25')")
    page.click("#features .feature[data-feature='xSquared']")
    wait_for(page, "location.hash.includes('xSquared=true')")
    page.check("#showTestData")
    wait_for(page, "location.hash.includes('showTestData=true')")
    page.select_option("#optimizer", "adam")
    wait_for(page, "location.hash.includes('optimizer=adam')")
    page.select_option("#problem", "regression")
    wait_for(page, "location.hash.includes('problem=regression')")
    wait_for(page, "document.querySelectorAll('#datasets canvas').length === 2")
    items = hash_items(page)
    assert (items["dataset"], items["learningRate"], items["regularization"], items["regularizationRate"],
            items["noise"], items["xSquared"], items["showTestData"], items["optimizer"], items["problem"]) == (
        "circle", "0.3", "L1", "0.01", "25", "true", "true", "adam", "regression")
    assert page.get_attribute("#playground-link", "href") == (
        "https://playground.tensorflow.org/" + page.evaluate("location.hash"))
    # a link pasted into the address bar opens that experiment; a refused one says why
    page.evaluate("location.hash = '#dataset=gauss&networkShape=3&seed=0.2'")
    # the server's canonical link replaces the pasted one (it has every key, nnkit's too)
    wait_for(page, "location.hash.includes('dataset=gauss') && location.hash.includes('backend=')")
    assert page.locator("canvas.neuron").count() == 3
    page.evaluate("location.hash = '#networkShape=100000'")
    wait_for(page, "document.getElementById('message').className === 'error'")
    assert "at most 64 neurons per layer" in page.text_content("#message")
    assert "networkShape=3&" in page.evaluate("location.hash")  # the running experiment's
    assert page.errors == []


def test_a_playground_link_given_to_serve_opens_with_its_settings(open_page):
    served = Served(SPIRAL)
    try:
        page = open_page(served.url)
        values = {key: page.input_value(f"#{key}") for key in (
            "activation", "learningRate", "regularization", "regularizationRate", "problem", "noise",
            "percTrainData", "batchSize", "backend", "optimizer")}
        assert values == {"activation": "sigmoid", "learningRate": "0.1", "regularization": "L2",
                          "regularizationRate": "0.003", "problem": "classification", "noise": "15",
                          "percTrainData": "70", "batchSize": "8", "backend": BACKEND, "optimizer": "sgd"}
        assert page.is_checked("#showTestData") and not page.is_checked("#discretize")
        assert [page.locator(f"canvas.neuron[data-layer='{i}']").count() for i in range(3)] == [5, 3, 2]
        on = page.evaluate("[...document.querySelectorAll('#features .feature.on')].map(f => f.dataset.feature)")
        assert on == ["x", "y", "xTimesY", "sinX"]
        assert page.get_attribute("#datasets canvas.selected", "data-dataset") == "spiral"
        # the controls the link hides are hidden, the others shown
        assert not page.is_visible("#problem") and not page.is_visible("#noise")
        assert not page.is_visible("#features .feature[data-feature='sinY']")
        assert page.is_visible("#activation") and page.is_visible("#features .feature[data-feature='sinX']")
        assert "problem_hide=true" in page.evaluate("location.hash")
        items = hash_items(page)
        assert (items["seed"], items["dataset"], items["networkShape"]) == ("0.99530", "spiral", "5,3,2")
        assert page.errors == []
    finally:
        served.close()


def test_a_screenshot_of_xor_training(open_page, xor_server, tmp_path):
    page = open_page(xor_server.url)
    page.check("#showTestData")
    wait_for(page, "location.hash.includes('showTestData=true')")
    page.click("#play-pause")
    wait_for(page, "Number(document.body.dataset.epoch) >= 300", timeout=120)
    page.click("#play-pause")
    wait_for(page, "!document.getElementById('play-pause').classList.contains('playing')")
    folder = pathlib.Path(os.environ.get("NNKIT_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "playground-serve-xor.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 20_000
    # the heatmap took the xor pattern: blue where x1 x2 > 0 and orange where x1 x2 < 0
    colours = page.evaluate("""(() => {
        const c = document.getElementById('heatmap').getContext('2d');
        const at = (x, y) => Array.from(c.getImageData(x, y, 1, 1).data.slice(0, 3));
        return [at(80, 20), at(20, 20), at(20, 80), at(80, 80)];
    })()""")
    blue, orange = [8, 119, 189], [245, 147, 34]
    near = lambda a, b: max(abs(p - q) for p, q in zip(a, b)) < 60  # noqa: E731
    assert near(colours[0], blue) and near(colours[2], blue), colours
    assert near(colours[1], orange) and near(colours[3], orange), colours
    assert page.errors == []
