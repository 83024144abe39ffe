"""The README's Python examples run as written and say what they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    return match.group(1)


def _run(code: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    return out.getvalue()


@pytest.fixture(scope="module")
def namespace():
    return {}


def test_the_example_trains_xor(namespace):
    out = _run(_block("Example"), namespace)
    scores = eval(out.strip().splitlines()[-1])
    assert scores["accuracy"] >= 0.95 and scores["loss"] < 0.2
    assert namespace["dx"].shape == (4, 2)


def test_the_images_example_builds_its_cnn(namespace):
    pytest.importorskip("sklearn")  # the digits come from scikit-learn
    pytest.importorskip("numba")
    _run(_block("Images"), namespace)
    model = namespace["model"]
    assert model.predict(namespace["X_test"][:3]).shape == (3, 10)


def test_the_sequences_example_learns_to_recall_the_first_token(namespace):
    pytest.importorskip("numba")
    out = _run(_block("Sequences"), namespace)
    scores = eval(out.strip().splitlines()[-1])
    assert scores["accuracy"] >= 0.99  # 0.996 (255 of 256) with float32 here
