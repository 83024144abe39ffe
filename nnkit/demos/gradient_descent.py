"""Gradient descent on one error surface with a learning rate too small, about right, too large."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "gradient descent on one error surface: learning rate too small, right, too large"

W_TRUE = np.array([1.0, -0.5])


def _data(n, seed):
    rng = np.random.default_rng(seed)
    # correlated features of unequal scale: an elongated bowl, where the step size matters most
    X = rng.standard_normal((n, 2)) @ np.array([[1.0, 0.0], [0.6, 0.5]])
    return X, X @ W_TRUE


class _Path:
    """Records the two weights after every epoch (a callback)."""

    def __init__(self, model):
        from nnkit.callbacks import Callback

        class Recorder(Callback):
            def on_epoch_end(inner, epoch, logs=None):
                self.points.append(model.get_weights()[0].ravel().copy())

        self.points = [model.get_weights()[0].ravel().copy()]
        self.callback = Recorder()


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    n, epochs = (64, 15) if quick else (256, 30)
    X, y = _data(n, seed)
    # E(w) = 1/N sum 1/2 (x.w - y)^2 = 1/2 (w - w*)^T C (w - w*), C = X^T X / N
    C = X.T @ X / n
    lam = np.linalg.eigvalsh(C)
    print(f"A linear neuron y = w1 x1 + w2 x2, E = 1/N sum 1/2 (y - target)^2: a bowl with curvatures "
          f"{lam[0]:.3f} and {lam[1]:.3f}.")
    print(f"Gradient descent w <- w - alpha dE/dw converges for alpha < 2 / {lam[1]:.3f} = {2 / lam[1]:.3f}.\n")
    rates = {"too small": 0.05 / lam[1], "about right": 1.0 / lam[1], "too large": 2.1 / lam[1]}
    result = {"curvatures": lam.tolist(), "runs": {}, "figures": []}
    paths = {}
    start = np.array([[-1.5], [1.5]])
    for label, lr in rates.items():
        model = nk.Sequential([nk.layers.Dense(1, use_bias=False, input_dim=2)], backend=backend,
                              dtype="float64", seed=seed)
        model.build(2)
        model.set_weights([start])
        model.compile(nk.optimizers.SGD(lr=float(lr)), "mse")
        path = _Path(model)
        history = model.fit(X, y, epochs=epochs, batch_size=n, shuffle=False, verbose=0, callbacks=[path.callback])
        losses = history.history["loss"]
        final = model.evaluate(X, y)["loss"]
        dist = float(np.linalg.norm(path.points[-1] - W_TRUE))
        print(f"alpha = {lr:7.4f} ({label:>11}): E after {epochs} steps {final:10.3e}, |w - w*| = {dist:.3e}")
        result["runs"][label] = {"lr": float(lr), "loss": losses, "final_loss": final, "distance": dist}
        paths[f"{label} (alpha={lr:.3f})"] = np.array(path.points)
    print("\nToo small crawls, too large overshoots across the valley and diverges.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_contour_paths, plot_curves

        def surface(w1, w2):
            d1, d2 = w1 - W_TRUE[0], w2 - W_TRUE[1]
            return 0.5 * (C[0, 0] * d1 * d1 + 2 * C[0, 1] * d1 * d2 + C[1, 1] * d2 * d2)

        result["figures"].append(plot_contour_paths(surface, paths, figure(plot_dir, "gradient_descent_paths.png"),
                                                    xlim=(-3, 4), ylim=(-3.5, 3.5),
                                                    title="the same error surface, three learning rates"))
        result["figures"].append(plot_curves({k: v["loss"] for k, v in result["runs"].items()},
                                             figure(plot_dir, "gradient_descent_loss.png"), logy=True,
                                             title="loss per step", xlabel="step"))
    return result
