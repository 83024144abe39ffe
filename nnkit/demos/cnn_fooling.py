"""Fooling an image classifier (the lecture's labrador read as a greyhound): targeted gradient
ascent and FGSM on the input of the digits CNN, until a chosen wrong class wins with > 99%."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "fooling the digits CNN: a correct digit read as a chosen wrong class at > 99% by a small change"

EPSILONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
CONFIDENCE = 0.99
CANDIDATES = 20  # correctly classified test digits tried


def _smallest_epsilon(model, x, target, attack):
    """Per row of x: the smallest epsilon of EPSILONS at which attack(eps) makes the model give
    ``target`` more than CONFIDENCE, with the adversarial rows and probabilities at it (None: never)."""
    n = x.shape[0]
    found = [None] * n
    for eps in EPSILONS:
        x_adv = model.backend.to_numpy(attack(x, target, eps))
        p = model.predict(x_adv)
        for i in range(n):
            if found[i] is None and p[i, target[i]] > CONFIDENCE:
                found[i] = (eps, x_adv[i], float(p[i, target[i]]))
    return found


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    from nnkit.adversarial import fgsm, gradient_ascent
    from nnkit.demos.cnn import EPOCHS, QUICK_EPOCHS, train_digits_cnn

    model, X_test, y_test, accuracy, _ = train_digits_cnn(backend, seed, QUICK_EPOCHS if quick else EPOCHS)
    p = model.predict(X_test)
    correct = np.flatnonzero(p.argmax(1) == y_test)[:CANDIDATES]
    x = X_test[correct]
    # the chosen wrong class: the one the network ranks second for that digit
    target = np.argsort(p[correct], axis=1)[:, -2]

    def ascent(xb, t, eps):
        return gradient_ascent(model, xb, target=t, steps=40, step_size=eps / 10, epsilon=eps)

    def fast(xb, t, eps):
        return fgsm(model, xb, target=t, epsilon=eps)

    print(f"The digits CNN (test accuracy {accuracy:.3f}). For {len(correct)} digits it reads correctly,")
    print("choose a wrong class (the one it ranks second) and step the input towards it,")
    print(f"x <- x - a sign(d loss(x, target)/dx), until it says that class with > {CONFIDENCE:.0%},")
    print("each pixel kept within epsilon of the original and inside [0, 1]:\n")
    result = {"test_accuracy": accuracy, "candidates": len(correct), "figures": []}
    rows = []
    for name, attack in (("gradient ascent (40 steps)", ascent), ("FGSM (one step)", fast)):
        found = _smallest_epsilon(model, x, target, attack)
        hits = [(i, f) for i, f in enumerate(found) if f is not None]
        key = "gradient_ascent" if name.startswith("gradient") else "fgsm"
        eps_found = [f[0] for _, f in hits]
        result[key] = {"fooled": len(hits), "median_epsilon": float(np.median(eps_found)) if hits else None}
        print(f"{name:<28} fooled {len(hits):>2} of {len(correct)}"
              + (f", median epsilon {np.median(eps_found):.2f}" if hits else ""))
        if hits:
            i, (eps, x_adv, conf) = min(hits, key=lambda h: h[1][0])
            change = float(np.abs(x_adv - x[i]).max())
            result[key].update({"digit": int(y_test[correct[i]]), "target": int(target[i]), "epsilon": eps,
                                "confidence": conf, "linf": change,
                                "original_confidence": float(p[correct[i], y_test[correct[i]]])})
            rows.append((name, i, x_adv, conf))
    for key in ("gradient_ascent", "fgsm"):
        r = result[key]
        if "digit" in r:
            print(f"  {key}: a {r['digit']} ({r['original_confidence']:.1%}) now reads {r['target']} "
                  f"({r['confidence']:.2%}), no pixel changed by more than {r['linf']:.2f}")
    if plot_dir is not None and rows:
        from nnkit.demos import figure
        from nnkit.plotting import plot_image_grid

        images, titles, cmaps = [], [], []
        for name, i, x_adv, conf in rows:
            j = correct[i]
            images += [x[i], x_adv - x[i], x_adv]
            titles += [f"{y_test[j]}, {p[j, y_test[j]]:.1%}", f"{name.split(' (')[0]}: <= {np.abs(x_adv - x[i]).max():.2f}",
                       f"{target[i]}, {conf:.2%}"]
            cmaps += ["gray_r", "RdBu", "gray_r"]
        result["figures"].append(plot_image_grid(images, titles, figure(plot_dir, "cnn_fooling.png"), cmaps=cmaps,
                                                 suptitle="original + perturbation = a chosen wrong class"))
    return result
