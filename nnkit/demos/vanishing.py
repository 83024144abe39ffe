"""Vanishing gradients: one deep network with sigmoid, with ReLU, and with ReLU plus skip connections;
then through time: a tanh SimpleRNN against an LSTM on the adding problem (``through_time``)."""

from __future__ import annotations

DESCRIPTION = ("vanishing gradients: 10 hidden layers with sigmoid, ReLU, ReLU + residual skips; "
               "through time: tanh RNN against LSTM")

DEPTH = 10


def residual_branch_init(rng, shape):
    """He-uniform scaled by 0.3: each block starts close to the identity, so ten of them neither
    blow the activations up nor damp the gradient (the idea of Fixup and SkipInit)."""
    from nnkit import initializers

    return 0.3 * initializers.he_uniform(rng, shape)


def build(kind: str, width: int, backend="numpy", seed=0):
    """64 -> ``DEPTH`` hidden layers of ``width`` -> 10 softmax; kind: sigmoid | relu | residual."""
    import nnkit as nk

    act = "sigmoid" if kind == "sigmoid" else "relu"
    init = "glorot_uniform" if kind == "sigmoid" else "he_uniform"
    layers = [nk.layers.Dense(width, activation=act, input_dim=64, kernel_initializer=init)]
    for _ in range(DEPTH - 1):
        if kind == "residual":
            # y = x + f(x): the identity path carries the gradient back untouched
            layers.append(nk.layers.Residual(nk.layers.Dense(width, activation=act,
                                                             kernel_initializer=residual_branch_init)))
        else:
            layers.append(nk.layers.Dense(width, activation=act, kernel_initializer=init))
    layers.append(nk.layers.Dense(10, activation="softmax"))
    model = nk.Sequential(layers, backend=backend, seed=seed)
    model.compile(nk.optimizers.SGD(lr=0.01, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk
    from nnkit.diagnostics import GradientFlow, gradient_norms

    X_train, y_train, X_test, y_test = nk.datasets.digits(return_split=True, seed=seed)
    width, epochs = (16, 3) if quick else (32, 15)
    if quick:
        X_train, y_train = X_train[:400], y_train[:400]
    print(f"The same network, 64 -> {DEPTH} hidden layers of {width} -> 10, on digits; ||dE/dW|| per layer")
    print("at initialisation (the whole training set, one backward pass) and the epoch mean while training.\n")
    result = {"runs": {}, "figures": []}
    for kind in ("sigmoid", "relu", "residual"):
        model = build(kind, width, backend, seed)
        at_init = gradient_norms(model, X_train, y_train)
        flow = GradientFlow()
        history = model.fit(X_train, y_train, epochs=epochs, batch_size=32, verbose=0, seed=seed, callbacks=[flow])
        norms = list(at_init.values())
        ratio = norms[0] / norms[-1]
        test = model.evaluate(X_test, y_test)
        label = {"sigmoid": "sigmoid", "relu": "ReLU", "residual": "ReLU + skips"}[kind]
        print(f"{label:>12}: first layer {norms[0]:.2e}, last layer {norms[-1]:.2e}, first/last {ratio:.1e}; "
              f"while training first/last {history.history['grad_norm_ratio'][-1]:.1e}; "
              f"test accuracy after {epochs} epochs {test['accuracy']:.3f}")
        result["runs"][kind] = {"norms_at_init": norms, "ratio_at_init": ratio,
                                "ratio_training": history.history["grad_norm_ratio"],
                                "test_accuracy": test["accuracy"], "loss": history.history["loss"]}
    print("\nThe sigmoid's derivative is at most 1/4, so the chain rule shrinks the gradient at every layer;")
    print("ReLU's derivative is 1 where active, and a skip connection adds the identity to the chain.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves, plot_layer_norms

        runs = result["runs"]
        result["figures"].append(plot_layer_norms({k: v["norms_at_init"] for k, v in runs.items()},
                                                  figure(plot_dir, "vanishing_gradient_norms.png"),
                                                  title=f"||dE/dW|| per layer, {DEPTH} hidden layers, at initialisation"))
        result["figures"].append(plot_curves({k: v["loss"] for k, v in runs.items()},
                                             figure(plot_dir, "vanishing_loss.png"), logy=True,
                                             title="training loss per epoch"))
    result["through_time"] = through_time(quick, plot_dir, backend, seed, result["figures"])
    return result


def through_time(quick=False, plot_dir=None, backend="numpy", seed=0, figures=None) -> dict:
    """||dE/dx_t|| at every step back from the answer, for a tanh SimpleRNN and an LSTM on the adding
    problem (nnkit demo rnn), at initialisation and after training."""
    from nnkit.demos.rnn import adding_problem, build
    from nnkit.recurrent_diagnostics import gradient_through_time

    steps, n_train, epochs = (30, 2048, 10) if quick else (50, 4096, 12)
    X, y = adding_problem(n_train, steps, seed)
    probe = slice(0, 256)
    print(f"\nThrough time: the adding problem over {steps} steps (nnkit demo rnn); ||dE/dx_t|| over 256 "
          f"sequences, k steps back from the answer, at initialisation and after {epochs} epochs:")
    backs = sorted({0, steps // 4, steps // 2, 3 * steps // 4, steps - 1})
    print(f"{'':>22}" + "".join(f"{'k=' + str(k):>10}" for k in backs) + f"{'oldest/newest':>15}")
    out = {"steps": steps, "epochs": epochs, "runs": {}}
    for kind in ("SimpleRNN", "LSTM"):
        model = build(kind, 32, backend, seed)
        run = {}
        for when in ("init", "trained"):
            if when == "trained":
                model.fit(X, y, epochs=epochs, batch_size=64, verbose=0, seed=seed)
            norms = gradient_through_time(model, X[probe], y[probe])[::-1]  # index k = steps back
            run[when] = norms
            print(f"{kind + ' ' + when:>22}" + "".join(f"{norms[k]:>10.1e}" for k in backs)
                  + f"{norms[-1] / norms[0]:>15.1e}")
        out["runs"][kind] = run
    print("At initialisation both lose the gradient geometrically (the LSTM's forget gate starts at")
    print("sigmoid(1) = 0.73 per step). A tanh RNN can only multiply it by diag(1 - h^2) U once per step")
    print("back, and after training it vanishes faster still; the LSTM's cell passes it on scaled by the")
    print("forget gate, which training holds near 1 where the memory is needed.")
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_curves

        curves = {f"{kind} {when}": out["runs"][kind][when] for kind in out["runs"] for when in ("init", "trained")}
        styles = {label: ("--" if label.endswith("init") else "-") for label in curves}
        path = plot_curves(curves, figure(plot_dir, "vanishing_through_time.png"), logy=True, styles=styles,
                           x=list(range(steps)), xlabel="steps back from the answer", ylabel="||dE/dx_t||",
                           title=f"gradient through time, the adding problem, T = {steps}")
        if figures is not None:
            figures.append(path)
    return out
