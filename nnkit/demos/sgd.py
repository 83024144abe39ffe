"""Full-batch, stochastic and mini-batch gradient descent on the same problem."""

from __future__ import annotations

import time

DESCRIPTION = "full-batch vs stochastic vs mini-batch gradient descent on the same problem"


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    n, epochs = (200, 15) if quick else (500, 40)
    X, y = nk.datasets.playground("circle", n_samples=n, noise=0.1, seed=seed, labels="01")
    X_train, y_train, X_test, y_test = X[: n * 7 // 10], y[: n * 7 // 10], X[n * 7 // 10:], y[n * 7 // 10:]
    m = len(X_train)
    print(f"A 2-8-1 tanh/sigmoid network on the Playground's circle, {m} training points, {epochs} epochs,")
    print("SGD lr 0.1 each time; only the batch size changes (the gradient of a batch estimates the full one)\n")
    result = {"runs": {}, "figures": []}
    for label, batch in (("full batch", m), ("mini-batch 16", 16), ("stochastic (1)", 1)):
        model = nk.Sequential([nk.layers.Dense(8, activation="tanh", input_dim=2),
                               nk.layers.Dense(1, activation="sigmoid")], backend=backend, seed=seed)
        model.compile(nk.optimizers.SGD(lr=0.1), "binary_crossentropy", ["accuracy"])
        start = time.perf_counter()
        history = model.fit(X_train, y_train, epochs=epochs, batch_size=batch, verbose=0, seed=seed)
        seconds = time.perf_counter() - start
        test = model.evaluate(X_test, y_test)
        updates = epochs * -(-m // batch)
        print(f"{label:>15}: {updates:6d} weight updates, {seconds:6.2f} s, final train loss "
              f"{history.history['loss'][-1]:.4f}, test accuracy {test['accuracy']:.3f}")
        result["runs"][label] = {"batch_size": batch, "updates": updates, "seconds": seconds,
                                 "loss": history.history["loss"], "test_accuracy": test["accuracy"]}
    print("\nPer epoch, more (noisier) updates learn faster; per update, bigger batches are smoother and")
    print("cheaper on vector hardware. Mini-batches take the middle road.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves

        result["figures"].append(plot_curves({k: v["loss"] for k, v in result["runs"].items()},
                                             figure(plot_dir, "sgd_loss.png"),
                                             title="training loss per epoch, by batch size"))
    return result
