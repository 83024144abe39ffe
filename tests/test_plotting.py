"""What each figure shows a reader: whole labels, distinct colours per series, labelled axes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from nnkit import plotting  # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions draw and save, kept open (pyplot.close is held back)."""
    import matplotlib.pyplot as plt

    plotting._pyplot()
    kept = []
    close = plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for fig in kept:
        fig.canvas.draw()
    monkeypatch.undo()
    for fig in kept:
        close(fig)


def _inside(fig, artist) -> bool:
    fig.canvas.draw()
    box = artist.get_window_extent(fig.canvas.get_renderer())
    width, height = fig.canvas.get_width_height()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height


def test_long_bar_labels_read_whole_inside_the_figure(figures, tmp_path):
    labels = ["GeForce GTX 1080 Ti (lecture's GeForce), peak",
              "brain, lecture: 10¹² neurons × 10³–10⁵ inputs × 1 Hz", "numpy, MLP 784-64-10 (this run)"]
    plotting.plot_bars({k: 10.0 ** i for i, k in enumerate(labels, 9)}, tmp_path / "b.png", logy=True,
                       title="synaptic updates per joule (geometric mean of each range)", ylabel="updates / J")
    fig = figures[0]
    ax = fig.axes[0]
    ticks = [t for t in ax.get_yticklabels() if t.get_text()]
    assert sorted(t.get_text() for t in ticks) == sorted(labels)
    for artist in ticks + [ax.title]:
        assert _inside(fig, artist), artist.get_text()


def test_grouped_bars_give_train_and_test_their_own_colours(figures, tmp_path):
    plotting.plot_grouped_bars({"none": {"train": 0.02, "test": 0.26}, "L2": {"train": 0.04, "test": 0.27}},
                               tmp_path / "g.png", title="data loss, train and test", ylabel="cross-entropy")
    ax = figures[0].axes[0]
    bars = ax.patches
    assert [round(b.get_height(), 2) for b in bars] == [0.02, 0.04, 0.26, 0.27]
    train, test = {b.get_facecolor() for b in bars[:2]}, {b.get_facecolor() for b in bars[2:]}
    assert len(train) == len(test) == 1 and train != test
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]


def test_decision_boundary_has_labelled_axes_and_class_colours(figures, tmp_path):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    y = np.array([-1, 1, 1])
    plotting.plot_decision_boundary(lambda p: p[:, 0] + p[:, 1] - 0.5, X, y, path=tmp_path / "d.png",
                                    title="perceptron", score_label="w·x + b")
    fig = figures[0]
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    assert fig.axes[1].get_ylabel() == "w·x + b"  # the colour bar
    colours = ax.collections[1].get_facecolors()
    np.testing.assert_allclose(colours[1], colours[2])
    assert not np.allclose(colours[0], colours[1])
