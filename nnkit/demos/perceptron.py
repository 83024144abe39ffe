"""Rosenblatt's perceptron and its delta rule: it converges on separable data, stalls on XOR."""

from __future__ import annotations

DESCRIPTION = "Rosenblatt's perceptron, delta rule: converges on separable data, stalls on XOR"


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    from nnkit import datasets
    from nnkit.perceptron import Perceptron

    n = 100 if quick else 400
    max_epochs = 30 if quick else 100
    result = {"figures": []}
    print("The delta rule: w <- w + alpha (l - y) x, y = step(w . x + b); stop when an epoch makes no")
    print(f"mistake (converged), after {max_epochs} epochs, or when the fewest mistakes stop improving (stalled)\n")
    for name in ("gauss", "xor"):
        X, y = datasets.playground(name, n_samples=n, noise=0.0, seed=seed, labels="01")
        p = Perceptron(lr=1.0, max_epochs=max_epochs, patience=10, seed=seed, backend=backend).fit(X, y)
        accuracy = float((p.predict(X) == y).mean())
        shown = " ".join(map(str, p.errors_[:12])) + (" ..." if len(p.errors_) > 12 else "")
        print(f"{name:>5}: stop_reason={p.stop_reason} after {len(p.errors_)} epochs, "
              f"accuracy {accuracy:.3f}; mistakes per epoch: {shown}")
        result[name] = {"stop_reason": p.stop_reason, "errors": list(p.errors_), "accuracy": accuracy}
        if plot_dir is not None:
            from nnkit.demos import figure
            from nnkit.plotting import plot_decision_boundary

            result["figures"].append(plot_decision_boundary(
                lambda pts, p=p: p.decision_function(pts), X, y, path=figure(plot_dir, f"perceptron_{name}.png"),
                title=f"perceptron on {name}: {p.stop_reason}, accuracy {accuracy:.2f}",
                score_label="w·x + b"))
    print("\nA single linear unit separates only linearly separable classes: XOR needs a hidden layer.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves

        result["figures"].append(plot_curves(
            {k: result[k]["errors"] for k in ("gauss", "xor")}, figure(plot_dir, "perceptron_errors.png"),
            title="misclassified samples per epoch", ylabel="mistakes"))
    return result
