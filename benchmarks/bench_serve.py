"""The live Playground page: how fast heatmaps stream, and how fast the page opens.

    pytest benchmarks/bench_serve.py --benchmark-only

- ``test_frames``: ``nnkit playground --serve`` in its own process, one tab (a WebSocket client
  with the page's Origin) playing xor on a 2-8-8-1 tanh network; one round is 40 frames (each a
  stretch of training, the output heatmap on the 100 x 100 grid, 16 neuron pictures, losses and
  weights); frames per second = 40 / the round's time (in extra_info).
- ``test_page_load``: headless chromium (Debian's, as tests/test_serve_browser.py) from
  navigation to the first frame drawn; the browser's load event time in extra_info.
- ``test_page_frames``: the same page playing the 2-8-8-1 xor network; one round is 40 frames
  drawn by the page (heatmap, neurons, links, loss curve); frames per second in extra_info.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from benchmarks.conftest import backend_params

pytest.importorskip("uvicorn", reason="the serve extra is not installed")
websockets_client = pytest.importorskip("websockets.sync.client", reason="websockets is not installed")

XOR_2_8_8_1 = "activation=tanh&batchSize=10&dataset=xor&learningRate=0.03&networkShape=8,8&seed=0.5"
FRAMES = 40
CHROMIUM = "/usr/bin/chromium"


class Served:
    def __init__(self, backend: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "nnkit", "playground", "--serve", XOR_2_8_8_1,
                                      "--backend", backend], stdout=subprocess.PIPE, text=True)
        self.url = re.search(r"(http://127\.0\.0\.1:\d+/)", self.proc.stdout.readline()).group(1)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _receive(ws, kind):
    while True:
        message = json.loads(ws.recv())
        if message["type"] == kind:
            return message


@pytest.mark.parametrize("backend", backend_params())
def test_frames(benchmark, backend):
    served = Served(backend)
    origin = served.url.rstrip("/")
    try:
        with websockets_client.connect(origin.replace("http", "ws") + "/ws", origin=origin,
                                       max_size=1 << 24) as ws:
            ws.send(json.dumps({"type": "hello", "hash": ""}))
            _receive(ws, "frame")
            ws.send(json.dumps({"type": "play"}))
            _receive(ws, "frame")  # the first stretch compiles what it needs
            epochs = []

            def frames():
                for _ in range(FRAMES):
                    epochs.append(_receive(ws, "frame")["epoch"])

            benchmark.pedantic(frames, rounds=5, iterations=1)
            ws.send(json.dumps({"type": "pause"}))
        median = benchmark.stats.stats.median
        benchmark.extra_info.update(frames_per_second=FRAMES / median,
                                    epochs_per_frame=(epochs[-1] - epochs[0]) / (len(epochs) - 1))
    finally:
        served.close()


def _browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"])


def _frames(page) -> int:
    return page.evaluate("Number(document.body.dataset.frames || 0)")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")
@pytest.mark.parametrize("backend", backend_params(["numpy", "numba"]))
def test_page_frames(benchmark, backend):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    served = Served(backend)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = _browser(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            page.goto(served.url)
            while _frames(page) < 1:
                time.sleep(0.005)
            page.click("#play-pause")
            while _frames(page) < 3:
                time.sleep(0.005)

            def frames():
                start = _frames(page)
                while _frames(page) < start + FRAMES:
                    time.sleep(0.002)

            benchmark.pedantic(frames, rounds=5, iterations=1)
            page.click("#play-pause")
            browser.close()
        benchmark.extra_info.update(frames_per_second=FRAMES / benchmark.stats.stats.median)
    finally:
        served.close()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")
def test_page_load(benchmark):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    served = Served("numba" if "numba" in __import__("nnkit").available_backends() else "numpy")
    loads = []
    try:
        with sync_api.sync_playwright() as playwright:
            browser = _browser(playwright)

            def load():
                page = browser.new_page()
                page.goto(served.url)
                while _frames(page) < 1:
                    time.sleep(0.005)
                loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                page.close()

            load()  # the server's first tab compiles the backend's kernels
            benchmark.pedantic(load, rounds=5, iterations=1)
            browser.close()
        benchmark.extra_info.update(load_event_ms=sorted(loads[1:])[len(loads[1:]) // 2])
    finally:
        served.close()
