"""Figures for the demos: curves, decision boundaries, image grids, contours (matplotlib, Agg).

matplotlib is imported only when a figure is asked for, with the non-interactive Agg backend, so
nothing here needs a display and nnkit does not need matplotlib unless it draws. Every function
writes one PNG to ``path`` (its folder is created) and returns the path.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_curves", "plot_decision_boundary", "plot_image_grid", "plot_contour_paths",
           "plot_layer_norms", "plot_bars", "plot_grouped_bars"]

# the TensorFlow Playground's colours: orange for the negative class, blue for the positive
ORANGE, BLUE = "#f59322", "#0877bd"


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install matplotlib (or nnkit[plot])") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_curves(curves: dict, path, title="", xlabel="epoch", ylabel="loss", logy=False, styles=None, x=None):
    """One line per label -> sequence of values (e.g. loss per epoch), against ``x`` or 1, 2, ..."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, values in curves.items():
        style = (styles or {}).get(label, "-")
        xs = np.arange(1, len(values) + 1) if x is None else np.asarray(x, dtype=float)
        ax.plot(xs, np.asarray(values, dtype=float), style, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_decision_boundary(predict_fn, X_train, y_train, X_test=None, y_test=None, path="boundary.png",
                           title="", resolution=100, margin=0.5, xlabel="x1", ylabel="x2", score_label="output"):
    """The Playground's picture: predict_fn(points (m, 2)) -> scores (m,) or (m, 1) as a heatmap
    over the plane (orange to blue), training points as circles and test points as edged squares,
    each coloured by its class (orange below the labels' midpoint, blue above)."""
    plt = _pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("playground", [ORANGE, "#ffffff", BLUE])
    X_train = np.asarray(X_train, dtype=float)
    pts = X_train if X_test is None else np.vstack([X_train, np.asarray(X_test, dtype=float)])
    (x0, y0), (x1, y1) = pts.min(axis=0) - margin, pts.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    scores = np.asarray(predict_fn(grid), dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(5.6, 5))
    mesh = ax.pcolormesh(gx, gy, scores.reshape(gx.shape), cmap=cmap, shading="auto", alpha=0.6)
    fig.colorbar(mesh, ax=ax, shrink=0.8, label=score_label)
    labels = [np.asarray(y_train, dtype=float).reshape(-1)]
    if X_test is not None:
        labels.append(np.asarray(y_test, dtype=float).reshape(-1))
    everything = np.concatenate(labels)
    middle = (everything.min() + everything.max()) / 2

    def colours(y):
        return np.where(np.asarray(y, dtype=float).reshape(-1) > middle, BLUE, ORANGE)

    ax.scatter(X_train[:, 0], X_train[:, 1], c=colours(y_train), s=14, edgecolors="white", linewidths=0.5,
               label="train")
    if X_test is not None:
        X_test = np.asarray(X_test, dtype=float)
        ax.scatter(X_test[:, 0], X_test[:, 1], c=colours(y_test), s=16, marker="s", edgecolors="black",
                   linewidths=0.5, label="test")
        ax.legend(fontsize="small", loc="upper right")
    ax.set(title=title, xlim=(x0, x1), ylim=(y0, y1), xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def plot_image_grid(images, titles, path, image_shape=(8, 8), ncols=3, cmaps=None, suptitle=""):
    """Images (each flattened or shaped) in a grid, row by row, one title each; ``cmaps`` per image."""
    plt = _pyplot()
    images = [np.asarray(im, dtype=float).reshape(image_shape) for im in images]
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.3 * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(images):
            continue
        cmap = (cmaps[i] if cmaps else None) or "gray_r"
        if cmap == "RdBu":  # a signed image: centre the colour scale on zero
            m = float(np.abs(images[i]).max()) or 1.0
            ax.imshow(images[i], cmap=cmap, vmin=-m, vmax=m)
        else:
            ax.imshow(images[i], cmap=cmap, vmin=0.0, vmax=1.0)
        ax.set_title(titles[i], fontsize="small")
    if suptitle:
        fig.suptitle(suptitle)
    return _save(fig, path)


def plot_contour_paths(f, paths: dict, path, xlim=(-2, 2), ylim=(-2, 2), title="", resolution=120):
    """Contours of f(w1, w2) (vectorised over grids) with each optimisation path drawn on top."""
    plt = _pyplot()
    gx, gy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.contour(gx, gy, f(gx, gy), levels=25, cmap="viridis", linewidths=0.7)
    for label, points in paths.items():
        p = np.asarray(points, dtype=float)
        ax.plot(p[:, 0], p[:, 1], "o-", ms=3, lw=1, label=label)
    ax.set(title=title, xlabel="w1", ylabel="w2", xlim=xlim, ylim=ylim)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_layer_norms(norms: dict, path, title="", ylabel="||dE/dW||"):
    """Per network (label -> norms of layers 1..L), the gradient norm by layer on a log axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, values in norms.items():
        ax.semilogy(np.arange(1, len(values) + 1), np.asarray(values, dtype=float), "o-", label=label)
    ax.set(title=title, xlabel="layer (input -> output)", ylabel=ylabel)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_bars(values: dict, path, title="", ylabel="", logy=False):
    """A bar per label; long labels turn the chart on its side, so every label reads whole."""
    plt = _pyplot()
    labels = list(values)
    heights = [float(values[k]) for k in labels]
    if max(map(len, labels), default=0) <= 12:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.bar(range(len(labels)), heights)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
        if logy:
            ax.set_yscale("log")
        ax.set(title=title, ylabel=ylabel)
        return _save(fig, path)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * len(labels)))
    rows = range(len(labels) - 1, -1, -1)  # the first label on top
    ax.barh(list(rows), heights)
    ax.set_yticks(list(rows), labels, fontsize="small")
    if logy:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=ylabel)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_grouped_bars(values: dict, path, title="", ylabel="", logy=False):
    """Bars grouped by label -> {series: value} (train and test, say): one colour per series."""
    plt = _pyplot()
    labels = list(values)
    series = list(dict.fromkeys(name for group in values.values() for name in group))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.0 * len(labels) + 2), 4.2))
    for j, name in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i, label in enumerate(labels) if name in values[label]]
        ys = [float(values[label][name]) for label in labels if name in values[label]]
        ax.bar(xs, ys, width=width, label=name, color=f"C{j}")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
