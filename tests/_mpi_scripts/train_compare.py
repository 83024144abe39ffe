"""Train three small models data-parallel (or, with --reference, in one process) and save each
rank's weights after every epoch, final weights and History to OUT/<mode>_rank<r>.npz."""

import sys

import numpy as np

import nnkit as nk
from nnkit.callbacks import LambdaCallback

EPOCHS = 4


def data(kind):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(101, 5))
    if kind == "classes":
        y = rng.integers(0, 3, 101)
    elif kind == "binary":
        y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
    else:
        y = X[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]]) + 0.1 * rng.normal(size=(101, 2))
    return X, y


# name: (data kind, output layer, loss, metrics, optimizer, batch_size, regularized, dropout rate)
# batch 20 of 101 rows leaves a last batch of 1 row: rank 0 of 2 gets no rows there
CONFIGS = {
    "sgd": ("classes", ("softmax", 3), "sparse_categorical_crossentropy", ["accuracy"],
            lambda: nk.optimizers.SGD(lr=0.1), 20, False, 0.0),
    "momentum_l2": ("regression", (None, 2), "mse", ["mae"],
                    lambda: nk.optimizers.SGD(lr=0.02, momentum=0.9), 15, True, 0.0),
    "adam": ("binary", ("sigmoid", 1), "binary_crossentropy", ["accuracy"],
             lambda: nk.optimizers.Adam(lr=0.01), 32, False, 0.0),
    # the masks of a rank's rows are those one rank draws for them
    "dropout": ("classes", ("softmax", 3), "sparse_categorical_crossentropy", ["accuracy"],
                lambda: nk.optimizers.SGD(lr=0.1, momentum=0.5), 20, False, 0.4),
}


def build(name):
    kind, (activation, units), loss, metrics, optimizer, batch_size, regularized, rate = CONFIGS[name]
    reg = nk.regularizers.L2(0.01) if regularized else None
    layers = [nk.layers.Dense(8, activation="tanh", input_dim=5, kernel_regularizer=reg)]
    if rate:
        layers.append(nk.layers.Dropout(rate))
    model = nk.Sequential(layers + [nk.layers.Dense(units, activation=activation)],
                          backend="numpy", dtype="float64", seed=3)
    model.compile(optimizer(), loss, metrics)
    return model, batch_size


def train(name, distributed):
    model, batch_size = build(name)
    X, y = data(CONFIGS[name][0])
    per_epoch = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.append(model.get_weights()))
    history = model.fit(X[:81], y[:81], epochs=EPOCHS, batch_size=batch_size, verbose=0, seed=11,
                        validation_data=(X[81:], y[81:]), callbacks=[record], distributed=distributed)
    out = {}
    for e, weights in enumerate(per_epoch):
        for i, w in enumerate(weights):
            out[f"{name}/epoch{e}/w{i}"] = w
    for key, values in history.history.items():
        out[f"{name}/history/{key}"] = np.asarray(values, dtype=np.float64)
    return out


def main():
    out_dir, mode = sys.argv[1], sys.argv[2]
    results, rank = {}, 0
    for name in CONFIGS:
        if mode == "reference":
            results.update(train(name, distributed=False))
        else:
            results.update(train(name, distributed=True))
            from nnkit.distributed import rank as mpi_rank

            rank = mpi_rank()
    np.savez(f"{out_dir}/{mode}_rank{rank}.npz", **results)


if __name__ == "__main__":
    main()
