"""The lecture's 2-2-2 worked example (Mazur 2015), one step of backpropagation by the chain rule."""

from __future__ import annotations

import numpy as np

DESCRIPTION = "the 2-2-2 sigmoid worked example: every partial derivative of the chain rule, one step"

X = np.array([[0.05, 0.10]])
TARGET = np.array([[0.01, 0.99]])
# w1..w8 as the example names them: w1 i1->h1, w2 i2->h1, w3 i1->h2, w4 i2->h2, w5 h1->o1, w6 h2->o1,
# w7 h1->o2, w8 h2->o2; nnkit's W is (in, out), so W[i, j] connects input i to unit j
W1 = np.array([[0.15, 0.25], [0.20, 0.30]])
B1 = np.array([0.35, 0.35])
W2 = np.array([[0.40, 0.50], [0.45, 0.55]])
B2 = np.array([0.60, 0.60])
LR = 0.5
NAMES = {"w1": (0, 0, 0), "w2": (0, 1, 0), "w3": (0, 0, 1), "w4": (0, 1, 1),
         "w5": (1, 0, 0), "w6": (1, 1, 0), "w7": (1, 0, 1), "w8": (1, 1, 1)}


def build(backend="numpy"):
    """The example's network in nnkit: Dense(2, sigmoid) -> Dense(2, sigmoid), mse, SGD(lr=0.5), float64."""
    import nnkit as nk

    model = nk.Sequential([nk.layers.Dense(2, activation="sigmoid", input_dim=2),
                           nk.layers.Dense(2, activation="sigmoid")], backend=backend, dtype="float64")
    model.build(2)
    model.set_weights([W1, B1, W2, B2])
    model.compile(nk.optimizers.SGD(lr=LR), "mse")
    return model


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    import nnkit as nk

    model = build(backend)
    be = model.backend
    hidden, output = model.layers
    x, t = be.asarray(X, dtype="float64"), be.asarray(TARGET, dtype="float64")
    # forward pass, layer by layer, keeping what the backward pass needs
    out_h = hidden.forward(x, training=True)
    out_o = output.forward(out_h, training=True)
    mse = nk.losses.MeanSquaredError()
    loss, dE_dout_o = be.ops.mse(out_o, t)  # E_total = 1/N sum 1/2 (target - out)^2, N = 1
    # backward pass: the layers' own backward fills dE/dW and hands dE/d(input) down
    dE_dout_h = output.backward(dE_dout_o)
    hidden.backward(dE_dout_h)
    ones = be.xp.ones_like(out_o)
    net_o = be.xp.matmul(out_h, output.W.value) + output.b.value
    net_h = be.xp.matmul(x, hidden.W.value) + hidden.b.value
    dout_dnet_o = be.ops.activation_backward(ones, net_o, out_o, "sigmoid")  # out (1 - out)
    dout_dnet_h = be.ops.activation_backward(be.xp.ones_like(out_h), net_h, out_h, "sigmoid")
    n = be.to_numpy
    out_h, out_o, dE_dout_o, dE_dout_h = n(out_h)[0], n(out_o)[0], n(dE_dout_o)[0], n(dE_dout_h)[0]
    dout_dnet_o, dout_dnet_h = n(dout_dnet_o)[0], n(dout_dnet_h)[0]
    grads = [n(hidden.W.grad), n(output.W.grad)]
    print("The lecture's 2-2-2 network: i1=0.05 i2=0.10, w1..w8 = 0.15 0.20 0.25 0.30 0.40 0.45 0.50 0.55,")
    print("b1=0.35 b2=0.60, targets 0.01 0.99, sigmoid everywhere, E = 1/2 sum (target - out)^2, lr 0.5\n")
    print("Forward pass")
    print(f"  out_h1 = {out_h[0]:.9f}  out_h2 = {out_h[1]:.9f}")
    print(f"  out_o1 = {out_o[0]:.9f}  out_o2 = {out_o[1]:.9f}")
    print(f"  E_total = {float(loss):.9f}\n")
    print("Backward pass, output layer: dE/dw = dE/dout_o * dout_o/dnet_o * dnet_o/dw")
    partials = {}
    for name in ("w5", "w6", "w7", "w8"):
        _, i, j = NAMES[name]
        chain = dE_dout_o[j] * dout_dnet_o[j] * out_h[i]
        partials[name] = float(grads[1][i, j])
        print(f"  dE/d{name} = {dE_dout_o[j]:.9f} * {dout_dnet_o[j]:.9f} * {out_h[i]:.9f} = {chain:.9f}"
              f"   (nnkit's dW: {grads[1][i, j]:.9f})")
    print("Backward pass, hidden layer: dE/dw = (sum over outputs of delta_o * w) * dout_h/dnet_h * input")
    for name in ("w1", "w2", "w3", "w4"):
        _, i, j = NAMES[name]
        chain = dE_dout_h[j] * dout_dnet_h[j] * X[0, i]
        partials[name] = float(grads[0][i, j])
        print(f"  dE/d{name} = {dE_dout_h[j]:.9f} * {dout_dnet_h[j]:.9f} * {X[0, i]:.2f} = {chain:.9f}"
              f"   (nnkit's dW: {grads[0][i, j]:.9f})")
    # the update: one step of fit, batch of one, is w <- w - lr dE/dw (the biases learn too)
    model.fit(X, TARGET, epochs=1, batch_size=1, shuffle=False, verbose=0)
    w = model.get_weights()
    updated = {name: float(w[2 * layer][i, j]) for name, (layer, i, j) in NAMES.items()}
    print("\nAfter one step w <- w - 0.5 dE/dw:")
    print("  " + "  ".join(f"{k} = {updated[k]:.9f}" for k in ("w1", "w2", "w3", "w4")))
    print("  " + "  ".join(f"{k} = {updated[k]:.9f}" for k in ("w5", "w6", "w7", "w8")))
    print(f"  (biases too: b1 = {w[1][0]:.9f} {w[1][1]:.9f}, b2 = {w[3][0]:.9f} {w[3][1]:.9f}; "
          "the worked example leaves them fixed)")
    new_loss = float(mse(model.predict(X), TARGET))
    print(f"  E_total after the step: {new_loss:.9f} (was {float(loss):.9f})")
    result = {"E_total": float(loss), "out_h": out_h.tolist(), "out_o": out_o.tolist(),
              "dE_dout_o": dE_dout_o.tolist(), "dout_dnet_o": dout_dnet_o.tolist(),
              "dE_dout_h": dE_dout_h.tolist(), "dout_dnet_h": dout_dnet_h.tolist(),
              "gradients": partials, "updated": updated, "E_total_after": new_loss, "figures": []}
    if plot_dir is not None:
        from nnkit.demos import figure
        from nnkit.plotting import plot_bars

        result["figures"].append(plot_bars({f"dE/d{k}": abs(v) for k, v in sorted(partials.items())},
                                           figure(plot_dir, "backprop_gradients.png"),
                                           title="|dE/dw| of the 2-2-2 example: hidden weights learn slower",
                                           ylabel="|dE/dw|", logy=True))
    return result
