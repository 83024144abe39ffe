"""The lecture's brain versus GPU slide, with this machine's own training run on the same axis."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "brain vs GPU: synaptic updates per joule, this machine's training run beside the brain"


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk
    from nnkit import brain, energy

    widths = [784, 256, 10] if not quick else [784, 64, 10]
    n, epochs = (1024, 1) if quick else (8192, 2)
    X, y = nk.datasets.mnist_like(n, seed=seed)
    model = nk.Sequential([nk.layers.Dense(widths[1], activation="relu", input_dim=widths[0]),
                           nk.layers.Dense(widths[2], activation="softmax")], backend=backend, seed=seed)
    model.compile(nk.optimizers.SGD(lr=0.01, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(X[:128], y[:128], epochs=1, batch_size=128, verbose=0)  # warm-up: JIT, allocations
    with energy.measure(sync=model.backend.synchronize) as m:
        model.fit(X, y, epochs=epochs, batch_size=128, verbose=0, seed=seed)
    macs = brain.mlp_macs_per_sample(widths, training=True)
    name = f"{model.backend.name}, MLP {'-'.join(map(str, widths))} (this run)"
    row = brain.measured_row(name, m, macs, n * epochs)
    rows = brain.brain_table([row])
    print("The lecture: the brain has ~10^12 neurons with 1,000-100,000 inputs each and runs on 20 W;")
    print("a GeForce draws 250 W. One multiply-accumulate counts as one synaptic update.\n")
    kind = "an estimate, not a measurement" if m.is_estimate else "measured"
    print(f"This run: {n * epochs} samples in {m.seconds:.2f} s, {m.joules:.1f} J (method {m.method}: {kind}), "
          f"{macs:,} MACs per sample\n")
    print(brain.format_markdown(rows))
    result = {"rows": rows, "measured_updates_per_joule": row["synaptic_updates_per_joule"], "figures": []}
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_bars

        values = {r["name"]: float(np.sqrt(r["updates_per_joule"][0] * r["updates_per_joule"][1]))
                  for r in rows}
        result["figures"].append(plot_bars(values, figure(plot_dir, "brain_updates_per_joule.png"), logy=True,
                                           title="synaptic updates per joule (geometric mean of each range)",
                                           ylabel="updates / J"))
    return result
