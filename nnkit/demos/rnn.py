"""Memory through time: the adding problem, where an LSTM and a GRU learn and a tanh RNN does not."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "recurrent networks: the adding problem (T=50), SimpleRNN against LSTM and GRU"

KINDS = ("SimpleRNN", "LSTM", "GRU")
BASELINE = 1.0 / 6.0  # the MSE of always answering 1: the variance of a sum of two U(0, 1)


def adding_problem(n: int, steps: int, seed=0):
    """(X (n, steps, 2), y (n, 1)): channel 0 holds U(0, 1) numbers, channel 1 marks two of them,
    one in each half of the sequence; the target is their sum (Hochreiter & Schmidhuber 1997)."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, steps))
    marks = np.zeros((n, steps))
    rows = np.arange(n)
    first, second = rng.integers(0, steps // 2, n), rng.integers(steps // 2, steps, n)
    marks[rows, first] = marks[rows, second] = 1.0
    X = np.stack([values, marks], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).reshape(-1, 1).astype(np.float32)
    return X, y


def build(kind: str, units: int, backend="numpy", seed=0):
    """kind(units) over the sequence, its last state into Dense(1); MSE, Adam(0.01)."""
    import nnkit as nk

    layer = getattr(nk.layers, kind)(units)
    model = nk.Sequential([layer, nk.layers.Dense(1)], backend=backend, seed=seed)
    model.compile(nk.optimizers.Adam(0.01, clipnorm=1.0), "mse")
    return model


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    steps, n_train, epochs = (30, 2048, 8) if quick else (50, 4096, 12)
    units = 32
    X, y = adding_problem(n_train, steps, seed)
    X_val, y_val = adding_problem(512, steps, seed + 1)
    print(f"The adding problem: {steps} steps of (number, mark); the answer is the sum of the two marked numbers,")
    print(f"one in each half. Always answering 1 gives MSE {BASELINE:.3f} (nnkit's MSE halves it: "
          f"{BASELINE / 2:.4f}); {n_train} sequences, batch 64, Adam(0.01), {units} units.\n")
    result = {"steps": steps, "baseline": BASELINE / 2, "runs": {}, "figures": []}
    for kind in KINDS:
        model = build(kind, units, backend, seed)
        history = model.fit(X, y, epochs=epochs, batch_size=64, verbose=0, seed=seed, validation_data=(X_val, y_val))
        val = history.history["val_loss"]
        learned = val[-1] < 0.25 * result["baseline"]
        print(f"{kind:>10}: validation loss per epoch " + " ".join(f"{v:.4f}" for v in val)
              + ("  -> learned" if learned else "  -> stays at the baseline"))
        result["runs"][kind] = {"val_loss": val, "loss": history.history["loss"], "learned": learned}
    print("\nThe tanh RNN's gradient from the answer back to the first marked number shrinks with every step")
    print("(nnkit demo vanishing); the LSTM's cell and the GRU's update gate carry it through unchanged.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves

        curves = {k: v["val_loss"] for k, v in result["runs"].items()}
        curves["always 1"] = [result["baseline"]] * epochs
        result["figures"].append(plot_curves(curves, figure(plot_dir, "rnn_adding_problem.png"), logy=True,
                                             ylabel="validation MSE",
                                             title=f"the adding problem, T = {steps}: learning curves"))
    return result
