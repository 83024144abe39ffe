"""A convolutional network on the 8x8 digits: Conv2D - MaxPool2D - Conv2D - BatchNormalization -
GlobalAvgPool2D - Dense softmax, and the filters its first layer learned."""

from __future__ import annotations

import time

import numpy as np

DESCRIPTION = "a small CNN on the 8x8 digits (>= 0.98 test accuracy) and its learned first-layer filters"

EPOCHS, QUICK_EPOCHS = 20, 6


def digits_cnn(backend="numpy", seed=0, epochs=EPOCHS):
    """The demo's network, compiled: Adam with a rate decayed by a cosine over ``epochs`` epochs."""
    import nnkit as nk

    L = nk.layers
    model = nk.Sequential([
        L.Conv2D(32, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        L.MaxPool2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.BatchNormalization(momentum=0.9),  # 45 steps an epoch: statistics that settle in a few epochs
        L.GlobalAvgPool2D(),
        L.Dense(10, activation="softmax"),
    ], backend=backend, seed=seed)
    steps = epochs * 45  # 1,437 training digits in batches of 32
    model.compile(nk.optimizers.Adam(lr=nk.schedules.CosineDecay(3e-3, steps)),
                  "sparse_categorical_crossentropy", ["accuracy"])
    return model


def train_digits_cnn(backend="numpy", seed=0, epochs=EPOCHS):
    """(model, X_test, y_test, test accuracy, training seconds) for the digits as (n, 8, 8, 1) images."""
    import nnkit as nk

    X_train, y_train, X_test, y_test = nk.datasets.digits(return_split=True, seed=seed, images=True)
    model = digits_cnn(backend, seed, epochs)
    start = time.perf_counter()
    model.fit(X_train, y_train, epochs=epochs, batch_size=32, verbose=0, seed=seed)
    seconds = time.perf_counter() - start
    return model, X_test, y_test, model.evaluate(X_test, y_test)["accuracy"], seconds


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    epochs = QUICK_EPOCHS if quick else EPOCHS
    model, X_test, y_test, accuracy, seconds = train_digits_cnn(backend, seed, epochs)
    print("A convolutional network sees each 8x8 digit as an image: 3x3 filters slide over it")
    print("(the same weights at every position), pooling keeps the strongest responses, batch")
    print("normalization rescales each channel, and a global average feeds the softmax.\n")
    model.summary()
    print(f"\n{epochs} epochs on the {model.backend.name} backend in {seconds:.1f} s: test accuracy "
          f"{accuracy:.3f} on {len(y_test)} digits ({model.count_params():,} parameters).")
    kernel = model.get_weights()[0]  # (3, 3, 1, 32)
    result = {"test_accuracy": accuracy, "seconds": seconds, "epochs": epochs,
              "filters_shape": tuple(kernel.shape), "figures": []}
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_image_grid

        filters = [kernel[:, :, 0, k] for k in range(kernel.shape[-1])]
        result["figures"].append(plot_image_grid(
            filters, [f"filter {k}" for k in range(len(filters))], figure(plot_dir, "cnn_filters.png"),
            image_shape=kernel.shape[:2], ncols=8, cmaps=["RdBu"] * len(filters),
            suptitle=f"the first layer's 3x3 filters (test accuracy {accuracy:.3f})"))
    return result
