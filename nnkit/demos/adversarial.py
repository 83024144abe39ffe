"""Fooling a network with backpropagation: gradient ascent on the input of a digits classifier."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "fooling a digits classifier by gradient ascent on its input: flips per epsilon, image grid"

EPSILONS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
DEMO_EPSILON = 0.2  # a pixel moves by at most 0.2 of its range (about 3 of the 16 grey levels)


def train_classifier(backend="numpy", seed=0, epochs=30):
    """A 64-64-10 ReLU/softmax network on digits; returns (model, X_test, y_test)."""
    import nnkit as nk

    X_train, y_train, X_test, y_test = nk.datasets.digits(return_split=True, seed=seed)
    model = nk.Sequential([nk.layers.Dense(64, activation="relu", input_dim=64),
                           nk.layers.Dense(10, activation="softmax")], backend=backend, seed=seed)
    model.compile(nk.optimizers.Adam(lr=0.003), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(X_train, y_train, epochs=epochs, batch_size=32, verbose=0, seed=seed)
    return model, X_test, y_test


def attack(model, X, y, epsilon, steps=10):
    """Untargeted projected gradient ascent inside the epsilon ball and [0, 1]."""
    from nnkit.adversarial import gradient_ascent

    return gradient_ascent(model, X, y, steps=steps, step_size=epsilon / 4, epsilon=epsilon, clip=(0.0, 1.0))


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    from nnkit.adversarial import fgsm, fooling_rate, gradient_ascent

    model, X_test, y_test = train_classifier(backend, seed, epochs=10 if quick else 30)
    be = model.backend
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    print(f"A 64-64-10 network on 8x8 digits, test accuracy {accuracy:.3f}. Backprop gives d loss / d x;")
    print("step the input up that gradient (x <- x + a sign(dloss/dx), 10 steps), the weights fixed,")
    print("staying within |x_adv - x| <= epsilon per pixel and inside [0, 1]:\n")
    print(f"{'epsilon':>8} {'flipped (10 steps)':>19} {'flipped (FGSM)':>15}")
    result = {"test_accuracy": accuracy, "epsilons": list(EPSILONS), "rates": {}, "fgsm_rates": {}, "figures": []}
    for eps in EPSILONS:
        rate = fooling_rate(model, X_test, attack(model, X_test, y_test, eps), y_test)
        fast = fooling_rate(model, X_test, fgsm(model, X_test, y_test, epsilon=eps), y_test)
        result["rates"][eps], result["fgsm_rates"][eps] = rate["rate"], fast["rate"]
        print(f"{eps:8.2f} {rate['rate']:12.1%} of {rate['correct']:<4d} {fast['rate']:12.1%}")
    x_adv = be.to_numpy(attack(model, X_test, y_test, DEMO_EPSILON))
    delta = x_adv - X_test
    result["max_perturbation"] = float(np.abs(delta).max())
    result["range"] = (float(x_adv.min()), float(x_adv.max()))
    # the lecture's targeted turn: make every digit read as a chosen class
    target = np.full(len(X_test), 3)
    x_tgt = be.to_numpy(gradient_ascent(model, X_test, target=target, steps=20, step_size=DEMO_EPSILON / 8,
                                        epsilon=DEMO_EPSILON))
    result["targeted_rate"] = float((model.predict(x_tgt).argmax(axis=1) == 3).mean())
    print(f"\nAt epsilon {DEMO_EPSILON}: {result['rates'][DEMO_EPSILON]:.1%} flipped, largest pixel change "
          f"{result['max_perturbation']:.3f}, pixels within [{result['range'][0]:.2f}, {result['range'][1]:.2f}];")
    print(f"targeted (lower the loss of class 3 instead): {result['targeted_rate']:.1%} of test digits now read 3.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves, plot_image_grid

        p_orig, p_adv = model.predict(X_test), model.predict(x_adv)
        fooled = np.flatnonzero((p_orig.argmax(1) == y_test) & (p_adv.argmax(1) != y_test))[:4]
        images, titles, cmaps = [], [], []
        for i in fooled:
            a, b = p_orig[i].argmax(), p_adv[i].argmax()
            images += [X_test[i], delta[i], x_adv[i]]
            titles += [f"{a}, {p_orig[i, a]:.0%} confident", f"perturbation (<= {DEMO_EPSILON})",
                       f"{b}, {p_adv[i, b]:.0%} confident"]
            cmaps += ["gray_r", "RdBu", "gray_r"]
        result["figures"].append(plot_image_grid(images, titles, figure(plot_dir, "adversarial_digits.png"),
                                                 cmaps=cmaps, suptitle="original + perturbation = adversarial"))
        result["figures"].append(plot_curves({"gradient ascent, 10 steps": list(result["rates"].values()),
                                              "FGSM": list(result["fgsm_rates"].values())},
                                             figure(plot_dir, "adversarial_rates.png"),
                                             x=EPSILONS, xlabel="epsilon (largest change per pixel)",
                                             ylabel="fraction of correct digits flipped",
                                             title="fooling rate by epsilon"))
    return result
