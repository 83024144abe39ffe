"""Hebbian learning, no backward pass: Sanger features and a delta-rule read-out against backprop."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "Hebbian features + delta-rule read-out vs a backprop network of the same size, on digits"

UNITS = 32


def hebbian_classifier(X_train, y_train, units=UNITS, epochs=30, readout_epochs=50, backend="numpy", seed=0):
    """(features, readout, scale): Sanger's rule learns ``units`` features with no error signal, the
    delta rule learns a softmax read-out of the (unit-variance) features from its own error."""
    from nnkit.hebbian import DeltaRule, Sanger

    features = Sanger(units, lr=0.5, decay=0.01).fit(X_train, epochs=epochs, batch_size=64, seed=seed,
                                                     backend=backend)
    F = features.backend.to_numpy(features.transform(X_train))
    scale = F.std(axis=0) + 1e-6  # the read-out learns evenly when every feature has unit variance
    readout = DeltaRule(10, lr=0.5).fit(F / scale, y_train, epochs=readout_epochs, batch_size=32, seed=seed,
                                        backend=backend)
    return features, readout, scale


def hebbian_accuracy(features, readout, scale, X, y) -> float:
    F = features.backend.to_numpy(features.transform(X))
    return readout.score(F / scale, y)


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    X_train, y_train, X_test, y_test = nk.datasets.digits(return_split=True, seed=seed)
    epochs, readout_epochs, bp_epochs = (10, 20, 20) if quick else (30, 50, 50)
    print(f"Digits, a 64-{UNITS}-10 network two ways. Hebbian: the hidden layer learns by Sanger's rule")
    print("dW = lr <x y^T - W triu(y y^T)> from its own input and output, the read-out by the delta rule")
    print("w += lr (l - y) x from its own error; nothing flows backward. Backprop: the same sizes, trained")
    print("end to end by the chain rule.\n")
    features, readout, scale = hebbian_classifier(X_train, y_train, UNITS, epochs, readout_epochs, backend, seed)
    hebb_acc = hebbian_accuracy(features, readout, scale, X_test, y_test)
    model = nk.Sequential([nk.layers.Dense(UNITS, activation="tanh", input_dim=64),
                           nk.layers.Dense(10, activation="softmax")], backend=backend, seed=seed)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(X_train, y_train, epochs=bp_epochs, batch_size=32, verbose=0, seed=seed)
    bp_acc = model.evaluate(X_test, y_test)["accuracy"]
    # how close the Hebbian units came to the principal components they converge to
    Xc = X_train - X_train.mean(axis=0)
    _, eigvecs = np.linalg.eigh(Xc.T @ Xc)
    Vt = eigvecs[:, ::-1].T  # principal components as rows, largest variance first
    W = features.components()
    cos = np.abs(np.sum(W[:5] * Vt[:5], axis=1)) / np.linalg.norm(W[:5], axis=1)
    print(f"Hebbian features + delta rule: test accuracy {hebb_acc:.3f}")
    print(f"backpropagation:               test accuracy {bp_acc:.3f}")
    print(f"|cos| of Hebbian units 1-5 with principal components 1-5: {' '.join(f'{c:.3f}' for c in cos)}")
    print("\nNo backward pass but similar outcome: local rules found the directions of largest variance.")
    result = {"hebbian_accuracy": hebb_acc, "backprop_accuracy": bp_acc, "pc_cosines": cos.tolist(),
              "readout_errors": list(readout.errors_), "figures": []}
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_image_grid

        k = min(8, UNITS)
        images = [w / (np.abs(w).max() or 1.0) for w in W[:k]] + [v / np.abs(v).max() for v in Vt[:k]]
        titles = [f"Hebbian unit {i + 1}" for i in range(k)] + [f"PC {i + 1}" for i in range(k)]
        result["figures"].append(plot_image_grid(images, titles, figure(plot_dir, "hebbian_features.png"),
                                                 ncols=k, cmaps=["RdBu"] * (2 * k),
                                                 suptitle="Sanger's rule learns the principal components (up to sign)"))
    return result
