"""Train a model with BatchNormalization data-parallel (mode "ranks"), or emulate the same
per-replica normalisation in one process (mode "reference": each shard's gradients by
loss_and_grad, weighted n_r/n; the moving statistics by the shards' weighted mean), or train it
plainly on whole batches (mode "global"); save each epoch's weights and the History to
OUT/<mode>_rank<r>.npz."""

import sys

import numpy as np

import nnkit as nk
from nnkit.callbacks import LambdaCallback
from nnkit.distributed import shard_bounds

EPOCHS, BATCH, RANKS = 3, 16, 2


def data():
    rng = np.random.default_rng(5)
    X = rng.normal(1.0, 2.0, size=(97, 3))
    y = np.tanh(X @ np.array([[0.5], [-1.0], [0.25]])) + 0.05 * rng.normal(size=(97, 1))
    return X[:81], y[:81], X[81:], y[81:]  # 81 rows of batch 16: the last batch has 1 row, rank 0 none


def build():
    model = nk.Sequential([nk.layers.Dense(6, activation="tanh", input_dim=3),
                           nk.layers.BatchNormalization(momentum=0.8), nk.layers.Dense(1)],
                          backend="numpy", dtype="float64", seed=2)
    return model.compile(nk.optimizers.SGD(lr=0.05, momentum=0.5), "mse")


def reference_epoch(model, X, y):
    """One epoch of the data-parallel step, shard by shard in this process (shuffle off)."""
    norm = model.layers[1]
    params = model.parameters()
    for start in range(0, X.shape[0], BATCH):
        xb, yb = X[start:start + BATCH], y[start:start + BATCH]
        n = xb.shape[0]
        grads, stats = [np.zeros(p.shape) for p in params], [np.zeros(6), np.zeros(6)]
        for r in range(RANKS):
            lo, hi = shard_bounds(n, r, RANKS)
            if hi == lo:
                continue
            norm.global_rows = (n, lo, hi)
            model.loss_and_grad(xb[lo:hi], yb[lo:hi])
            for g, p in zip(grads, params):
                if p.grad is not None:
                    g += (hi - lo) / n * np.asarray(p.grad)
            for total, s in zip(stats, norm.replica_statistics):
                total += (hi - lo) / n * s
        norm.global_rows = None
        for g, p in zip(grads, params):
            p.grad = g
        model.apply_gradients()
        norm.update_moving_statistics(*stats)


def main():
    out_dir, mode = sys.argv[1], sys.argv[2]
    X, y, X_val, y_val = data()
    model, per_epoch, rank = build(), [], 0
    if mode == "reference":
        for _ in range(EPOCHS):
            reference_epoch(model, X, y)
            per_epoch.append(model.get_weights())
        history = {"val_loss": [model.evaluate(X_val, y_val)["loss"]]}
    else:
        record = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.append(model.get_weights()))
        fit = model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0,
                        validation_data=(X_val, y_val), callbacks=[record], distributed=mode == "ranks")
        history = {key: values[-1:] for key, values in fit.history.items()}
        if mode == "ranks":
            from nnkit.distributed import rank as mpi_rank

            rank = mpi_rank()
    out = {f"epoch{e}/w{i}": w for e, weights in enumerate(per_epoch) for i, w in enumerate(weights)}
    out.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in history.items()})
    np.savez(f"{out_dir}/{mode}_rank{rank}.npz", **out)


if __name__ == "__main__":
    main()
