"""SGD, momentum, Nesterov, Adagrad, RMSprop and Adam: loss curves on one problem."""

from __future__ import annotations

DESCRIPTION = "SGD, momentum, Nesterov, Adagrad, RMSprop, Adam: loss curves on one problem"


def optimizers():
    """The contenders, each with a learning rate that suits it."""
    from nnkit import optimizers as o

    return {
        "SGD": o.SGD(lr=0.05),
        "momentum 0.9": o.SGD(lr=0.05, momentum=0.9),
        "Nesterov 0.9": o.SGD(lr=0.05, momentum=0.9, nesterov=True),
        "Adagrad": o.Adagrad(lr=0.05),
        "RMSprop": o.RMSprop(lr=0.003),
        "Adam": o.Adam(lr=0.003),
    }


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    n, epochs = (200, 30) if quick else (500, 60)
    X, y = nk.datasets.playground("spiral", n_samples=n, noise=0.0, seed=seed, labels="01")
    print(f"A 2-16-16-1 tanh network on the Playground's spiral ({n} points), batch 16, {epochs} epochs,")
    print("the same initial weights for every optimizer\n")
    result = {"runs": {}, "figures": []}
    for label, optimizer in optimizers().items():
        model = nk.Sequential([nk.layers.Dense(16, activation="tanh", input_dim=2),
                               nk.layers.Dense(16, activation="tanh"),
                               nk.layers.Dense(1, activation="sigmoid")], backend=backend, seed=seed)
        model.compile(optimizer, "binary_crossentropy", ["accuracy"])
        history = model.fit(X, y, epochs=epochs, batch_size=16, verbose=0, seed=seed)
        loss, acc = history.history["loss"], history.history["accuracy"]
        print(f"{label:>13}: loss {loss[0]:.4f} -> {loss[-1]:.4f}, accuracy {acc[-1]:.3f}")
        result["runs"][label] = {"loss": loss, "accuracy": acc[-1]}
    print("\nMomentum accumulates past gradients (V = gamma V + alpha grad), Nesterov looks ahead;")
    print("Adagrad, RMSprop and Adam give every weight its own step size.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves

        result["figures"].append(plot_curves({k: v["loss"] for k, v in result["runs"].items()},
                                             figure(plot_dir, "optimizers_loss.png"), logy=True,
                                             title="training loss per epoch, spiral"))
    return result
