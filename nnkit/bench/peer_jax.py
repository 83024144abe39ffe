"""JAX peer: the whole forward-backward-update compiled as one jit call, fed NumPy batches."""

from __future__ import annotations

import functools

import numpy as np

from nnkit.bench.trainers import EpochLoop
from nnkit.bench.workloads import Workload

__all__ = ["JaxTrainer", "JaxEpochs"]


def _make_step(workload: Workload):
    import jax
    import jax.numpy as jnp

    hidden = jnp.tanh if workload.hidden == "tanh" else jax.nn.relu
    lr, mu = workload.lr, workload.momentum

    def loss_fn(params, x, t):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = hidden(h)
        n = x.shape[0]
        if workload.loss == "binary_crossentropy":
            return jnp.sum(jnp.logaddexp(0.0, h) - h * t) / n
        if workload.loss == "sparse_categorical_crossentropy":
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.sum(jnp.take_along_axis(logp, t[:, None], axis=1)) / n
        return 0.5 * jnp.sum((h - t) ** 2) / n

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, velocity, x, t):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, t)
        if mu:
            # torch.optim.SGD's momentum: V = mu V + g, W -= lr V
            velocity = jax.tree_util.tree_map(lambda v, g: mu * v + g, velocity, grads)
            params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocity)
        else:
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return params, velocity, loss

    return step


class JaxEpochs(EpochLoop):
    """EpochLoop on JAX: the batches' device losses stacked and read back once; the set-up, sync
    and description every JAX trainer shares."""

    def _start(self, workload, X, y, seed) -> None:
        """jax imported and labelled by its platform; the data kept on the host, as nnkit's is."""
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.workload = jax, jnp, workload
        self.platform = jax.devices()[0].platform
        self.label = "jax" if self.platform == "cpu" else f"jax-{self.platform}"
        self.version = jax.__version__
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.y = np.ascontiguousarray(y)
        self.steps_per_epoch = X.shape[0] // workload.batch
        self.rng = np.random.default_rng(seed)

    def sync(self) -> None:
        self.jax.block_until_ready(self.params)

    def describe(self) -> dict:
        return {"platform": self.platform}

    def _mean_loss(self, losses) -> float:
        return float(self.jnp.sum(self.jnp.stack(losses))) / self.steps_per_epoch


class JaxTrainer(JaxEpochs):
    """A jitted training step over NumPy batches (the data stays on the host, as nnkit's does)."""

    library = "jax"

    def __init__(self, workload: Workload, X, y, *, seed=0):
        self._start(workload, X, y, seed)
        weights = workload.initial_weights(seed)
        self.params = [(self.jnp.asarray(weights[i]), self.jnp.asarray(weights[i + 1]))
                       for i in range(0, len(weights), 2)]
        self.velocity = self.jax.tree_util.tree_map(self.jnp.zeros_like, self.params)
        self._step = self._make_step(workload)

    @staticmethod
    def _make_step(workload):
        return _make_step(workload)

    def _train_batch(self, xb, yb):
        self.params, self.velocity, loss = self._step(self.params, self.velocity, xb, yb)
        return loss

    def get_weights(self) -> list:
        return [np.asarray(a).copy() for pair in self.params for a in pair]
