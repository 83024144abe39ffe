"""One tab's experiment: the link's data, an nnkit network on the chosen backend, and the pictures.

The points and every network's initial weights are the browser's for the link (nnkit.serve.adapter).
The network is the Playground's (hidden layers of the link's activation, one tanh output for
classification and a linear one for regression, half squared error) trained by nnkit's ``fit``
on the tab's backend and optimizer,
the training points in their fixed order as in the Playground (never reshuffled). Penalties are
nnkit's regularizers with the Playground's step: L1(rate), L2(rate / 2) (its L2 derivative is w).
The losses shown are the Playground's: the mean over the points of 1/2 (out - label)^2, without
the penalty. Pictures: the output and every hidden neuron evaluated by the model, layer by layer,
on a grid over [-6, 6]^2 on the same backend.
"""

from __future__ import annotations

import base64
import math
import time

import numpy as np

import nnkit as nk
from nnkit.serve import adapter
from nnkit.serve.controls import PageState, check_optimizer

__all__ = ["Experiment", "GRID", "NEURON_GRID", "DOMAIN"]

DOMAIN = (-6.0, 6.0)
GRID = 100  # the Playground's output heatmap: 100 x 100 cells
NEURON_STRIDE = 5  # a neuron's picture takes every 5th cell: 20 x 20
NEURON_GRID = GRID // NEURON_STRIDE
MAX_DRAWN_WEIGHTS = 5000
MAX_HISTORY = 4000


def _grid_points() -> np.ndarray:
    """(GRID * GRID, 2) cell centres, row by row from the top (x2 = 6) down, x1 from -6 across."""
    lo, hi = DOMAIN
    step = (hi - lo) / GRID
    centres = lo + step * (np.arange(GRID) + 0.5)
    gx, gy = np.meshgrid(centres, centres[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _picture(values: np.ndarray) -> str:
    """Values clipped to [-1, 1] as bytes 0..255 (-1 -> 0, +1 -> 255), base64 for the page."""
    scaled = np.rint((np.clip(np.nan_to_num(values, nan=0.0), -1.0, 1.0) + 1.0) * 127.5)
    return base64.b64encode(scaled.astype(np.uint8).tobytes()).decode("ascii")


def _regularizer(state: PageState):
    config = state.config
    if config.regularization == "none" or config.regularization_rate == 0:
        return None
    if config.regularization == "L1":
        return nk.regularizers.L1(config.regularization_rate)
    return nk.regularizers.L2(config.regularization_rate / 2)


def build_network(state: PageState, n_inputs: int, seed: int):
    """The Playground's network for the state, built and compiled on its backend (float64)."""
    config = state.config
    kernel_init = "zeros" if config.init_zero else "playground"
    bias_init = "zeros" if config.init_zero else "playground_bias"
    output = "tanh" if config.problem == "classification" else "linear"
    widths = [int(width) for width in config.network_shape] + [1]
    layers = [nk.layers.Dense(width, activation=output if i == len(widths) - 1 else state.activation,
                              kernel_initializer=kernel_init, bias_initializer=bias_init,
                              kernel_regularizer=_regularizer(state), input_dim=n_inputs if i == 0 else None)
              for i, width in enumerate(widths)]
    model = nk.Sequential(layers, backend=state.backend, dtype="float64", seed=seed)
    model.build(n_inputs)
    model.compile(check_optimizer(state), "mse")
    return model


class Experiment:
    """A tab's data, network and training state; every method runs in one worker thread at a time."""

    def __init__(self, state: PageState):
        data = self._make_data(state)
        self._install(state, data, self._make_model(state, data))

    # -- building ------------------------------------------------------------------------------
    @staticmethod
    def _make_data(state: PageState) -> dict:
        link = adapter.LinkData(state.config)
        config = state.config
        return {"link": link, "train_xy": link.train_xy, "y_train": link.y_train, "test_xy": link.test_xy,
                "y_test": link.y_test, "X_train": adapter.features(link.train_xy, config),
                "X_test": adapter.features(link.test_xy, config) if len(link.test_xy) else None,
                "grid": adapter.features(_grid_points(), config)}

    def _make_model(self, state: PageState, data: dict):
        """The network for the state with the browser's initial weights for it (the link's first
        network, then the next one the browser's stream draws)."""
        model = build_network(state, data["X_train"].shape[1], adapter.seed_number(state.config))
        model.set_weights(data["link"].initial_weights(state.config))
        return model

    def _install(self, state: PageState, data: dict, model) -> None:
        self.state, self.data, self.model = state, data, model
        self.epoch = 0
        self.history = []  # [epoch, train loss, test loss] every history_stride epochs
        self.history_stride = 1
        self.data_version = getattr(self, "data_version", -1) + 1
        self.model_version = getattr(self, "model_version", -1) + 1
        self.history_version = getattr(self, "history_version", -1) + 1
        self._record()

    def update(self, new_state: PageState) -> str:
        """Apply checked settings: 'data' (new points and network), 'model' (new network),
        'optimizer' (same weights, new optimizer or rate) or 'view' (nothing to rebuild).
        Everything new is built before anything is replaced, so a failure changes nothing."""
        old = self.state
        if new_state.data_key() != old.data_key() or new_state.config.features() != old.config.features():
            data = self._make_data(new_state)
            self._install(new_state, data, self._make_model(new_state, data))
            return "data"
        if new_state.model_key() != old.model_key():
            self._install(new_state, self.data, self._make_model(new_state, self.data))
            return "model"
        if new_state.optimizer_key() != old.optimizer_key():
            optimizer = check_optimizer(new_state)
            self.model.compile(optimizer, "mse")
            self.state = new_state
            return "optimizer"
        self.state = new_state
        return "view"

    def reset(self) -> None:
        """A fresh network (new initial weights, as the Playground's reset draws them), epoch 0."""
        self._install(self.state, self.data, self._make_model(self.state, self.data))

    # -- training ------------------------------------------------------------------------------
    def train(self, epochs: int = 1) -> None:
        """``epochs`` passes over the training points in their fixed order."""
        data = self.data
        self.model.fit(data["X_train"], data["y_train"].reshape(-1, 1), epochs=epochs,
                       batch_size=int(self.state.config.batch_size), shuffle=False, verbose=0)
        self.epoch += epochs
        if self.epoch % self.history_stride == 0:
            self._record()

    def train_for(self, seconds: float, max_epochs: int) -> int:
        """Epochs, one at a time, until ``seconds`` have passed or ``max_epochs`` ran (at least one)."""
        start = time.perf_counter()
        done = 0
        while done < max_epochs:
            self.train(1)
            done += 1
            if time.perf_counter() - start >= seconds:
                break
        return done

    def _loss(self, X, y) -> float:
        if X is None:
            return float("nan")
        out = self.model.predict(X)[:, 0]
        return float(np.mean(0.5 * (out - y) ** 2))

    def _record(self) -> None:
        """The losses now, appended to the history; past MAX_HISTORY entries every other one is
        dropped and the stride doubles, so hours of training keep a bounded curve."""
        data = self.data
        self.train_loss = self._loss(data["X_train"], data["y_train"])
        self.test_loss = self._loss(data["X_test"], data["y_test"])
        if self.history and self.history[-1][0] == self.epoch:
            self.history.pop()
        self.history.append([self.epoch, _finite(self.train_loss), _finite(self.test_loss)])
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::2]
            self.history_stride *= 2
            self.history_version += 1

    # -- what the page draws -------------------------------------------------------------------
    def pictures(self) -> tuple[str, list]:
        """(the output over the grid, [[picture of each neuron] per hidden layer]), by the model
        on its backend, one forward pass layer by layer."""
        be = self.model.backend
        activations = be.asarray(self.data["grid"])
        per_layer = []
        for layer in self.model.layers:
            activations = layer.forward(activations, training=False)
            per_layer.append(be.to_numpy(activations))
        output = per_layer.pop()[:, 0]
        neurons = []
        for values in per_layer:
            cells = values.reshape(GRID, GRID, -1)[NEURON_STRIDE // 2::NEURON_STRIDE,
                                                   NEURON_STRIDE // 2::NEURON_STRIDE]
            neurons.append([_picture(cells[:, :, j]) for j in range(cells.shape[2])])
        return _picture(output), neurons

    def points(self) -> dict:
        """The train and test points as [x1, x2, label] rows, and the data version."""
        d = self.data
        return {"type": "data", "version": self.data_version,
                "train": np.column_stack([d["train_xy"], d["y_train"]]).round(4).tolist(),
                "test": np.column_stack([d["test_xy"], d["y_test"]]).round(4).tolist()}

    def frame(self, history_since: int = 0) -> dict:
        """What the page needs after a change or some training: counters, losses, pictures, and the
        history from entry ``history_since`` on (of history_version; the page restarts its curve
        when that changes)."""
        if self.history[-1][0] != self.epoch:
            self._record()  # the losses shown are the current epoch's
        output, neurons = self.pictures()
        return {"type": "frame", "epoch": self.epoch, "train_loss": _finite(self.train_loss),
                "test_loss": _finite(self.test_loss), "model_version": self.model_version,
                "data_version": self.data_version, "history_version": self.history_version,
                "history": self.history[history_since:], "output": output, "neurons": neurons,
                "grid": GRID, "neuron_grid": NEURON_GRID, "weights": self.kernels()}

    def kernels(self):
        """Every Dense kernel, (in, out), rounded for the page's links: inputs -> first hidden layer,
        ..., last hidden layer -> output; None for a network too large to draw."""
        if self.model.count_params() > MAX_DRAWN_WEIGHTS:
            return None
        # a diverged network's inf and NaN weights are drawn as the widest links, not sent as NaN
        return [np.round(np.nan_to_num(w, nan=0.0, posinf=1e6, neginf=-1e6), 3).tolist()
                for w in self.model.get_weights() if w.ndim == 2]


def _finite(value: float):
    return value if math.isfinite(value) else None
