"""Regularization against overfitting: none, L1, L2, elastic net, dropout, early stopping."""

from __future__ import annotations

DESCRIPTION = "none, L1, L2, elastic net, dropout, early stopping: train vs test loss on few digits"


def _model(backend, seed, regularizer=None, dropout=0.0, width=128):
    import nnkit as nk

    layers = [nk.layers.Dense(width, activation="relu", input_dim=64, kernel_regularizer=regularizer)]
    if dropout:
        layers.append(nk.layers.Dropout(dropout))
    layers.append(nk.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer))
    model = nk.Sequential(layers, backend=backend, seed=seed)
    model.compile(nk.optimizers.Adam(lr=0.003), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    X_train, y_train, X_test, y_test = nk.datasets.digits(return_split=True, seed=seed)
    n_train, epochs = (150, 40) if quick else (300, 150)
    X_train, y_train = X_train[:n_train], y_train[:n_train]
    data_loss = nk.losses.SparseCategoricalCrossEntropy()
    R = nk.regularizers
    variants = {
        "none": dict(),
        "L1 1e-4": dict(regularizer=R.L1(1e-4)),
        "L2 1e-3": dict(regularizer=R.L2(1e-3)),
        "elastic net": dict(regularizer=R.ElasticNet(5e-5, 5e-4)),
        "dropout 0.5": dict(dropout=0.5),
        "early stopping": dict(),
    }
    print(f"Few digits ({n_train} training images), a wide 64-128-10 network, {epochs} epochs of Adam:")
    print("the data loss (cross-entropy, penalties left out) on the training and the test set\n")
    result = {"runs": {}, "figures": []}
    curves = {}
    for label, kw in variants.items():
        model = _model(backend, seed, **kw)
        callbacks, fit_kw = [], {}
        if label == "early stopping":
            # the validation set is carved from the training set: the test set stays unseen
            callbacks = [nk.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)]
            fit_kw = dict(validation_split=0.2)
        history = model.fit(X_train, y_train, epochs=epochs, batch_size=16, verbose=0, seed=seed,
                            callbacks=callbacks, **fit_kw)
        train = float(data_loss(model.predict(X_train), y_train))
        test = float(data_loss(model.predict(X_test), y_test))
        acc = float((model.predict(X_test).argmax(axis=1) == y_test).mean())
        stopped = f" (stopped after {len(history.epoch)} epochs)" if label == "early stopping" else ""
        print(f"{label:>15}: train loss {train:.4f}  test loss {test:.4f}  gap {test - train:.4f}  "
              f"test accuracy {acc:.3f}{stopped}")
        result["runs"][label] = {"train_loss": train, "test_loss": test, "test_accuracy": acc,
                                 "epochs": len(history.epoch)}
        curves[label] = history.history["loss"]
    runs = result["runs"]
    best = min(runs, key=lambda k: runs[k]["test_loss"])
    narrowest = min(runs, key=lambda k: runs[k]["test_loss"] - runs[k]["train_loss"])
    print(f"\nWithout a penalty the training loss goes towards 0 while the test loss stays "
          f"{runs['none']['test_loss'] / max(runs['none']['train_loss'], 1e-12):.0f}x higher (overfitting).")
    print(f"Lowest test loss here: {best}; narrowest train-test gap: {narrowest}.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves, plot_grouped_bars

        runs = result["runs"]
        result["figures"].append(plot_grouped_bars({k: {"train": v["train_loss"], "test": v["test_loss"]}
                                                    for k, v in runs.items()},
                                                   figure(plot_dir, "regularization_losses.png"),
                                                   title="data loss, train and test", ylabel="cross-entropy"))
        result["figures"].append(plot_curves(curves, figure(plot_dir, "regularization_training.png"), logy=True,
                                             title="training loss per epoch (penalties included)"))
    return result
