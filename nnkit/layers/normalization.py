"""BatchNormalization over the last axis (Ioffe & Szegedy 2015), with Keras' defaults."""

from __future__ import annotations

import numbers

from nnkit.layers._checks import CheckedLayer
from nnkit.layers.base import Parameter


class BatchNormalization(CheckedLayer):
    """y = gamma (x - mu) / sqrt(var + epsilon) + beta per feature of the last axis.

    Training normalises with the batch's mean and biased variance and updates the moving
    statistics (moving = momentum moving + (1 - momentum) batch); inference uses them.
    get_weights(): [gamma, beta, moving_mean, moving_variance] (gamma without ``scale``, beta
    without ``center``, left out); the moving statistics never get a gradient, so optimizers
    leave them alone. ``trainable = False`` (as Keras) runs the layer in inference mode even in
    training: the moving statistics normalise and stay as they are (what an attack on the input
    of a trained model differentiates).

    Data-parallel training (nnkit.distributed) normalises each rank's rows by their own statistics,
    Keras' and PyTorch's default; the moving statistics then move by the mean of the ranks' batch
    statistics weighted by their rows (the global batch's mean, and the mean of the ranks'
    variances), averaged by the engine in one Allreduce, so every rank keeps the same ones.
    """

    trainable = True

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, name: str | None = None):
        super().__init__(name)
        for arg, value, low in (("momentum", momentum, 0.0), ("epsilon", epsilon, 0.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"BatchNormalization: {arg} must be a real number, got {value!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must lie in [0, 1], got {momentum!r}")
        if not epsilon > 0.0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        # data-parallel: this rank's batch (mean, variance), until the engine averages them
        self.replica_statistics = None

    def _build(self, input_shape, rng):
        be = self.backend
        c = input_shape[-1]
        param = lambda fill, what: Parameter(be.asarray([fill] * c, dtype=self.dtype), f"{self.name}/{what}")  # noqa: E731
        self.gamma = param(1.0, "gamma") if self.scale else None
        self.beta = param(0.0, "beta") if self.center else None
        self.moving_mean = param(0.0, "moving_mean")
        self.moving_variance = param(1.0, "moving_variance")
        return input_shape

    def _forward(self, x, training=False):
        ops = self.backend.ops
        gamma = None if self.gamma is None else self.gamma.value
        beta = None if self.beta is None else self.beta.value
        if not training or not self.trainable:
            mean, var = self.moving_mean.value, self.moving_variance.value
            y = ops.batch_norm_inference(x, mean, var, gamma, beta, self.epsilon)

            def frozen_backward(dy, need_dx=True):
                dx, dgamma, dbeta = ops.batch_norm_inference_backward(dy, x, mean, var, gamma, self.epsilon)
                self._set_grads(dgamma, dbeta)
                return dx

            return y, frozen_backward
        if self.global_rows is not None and x.shape[0] == 0:
            return self._no_rows(x)
        y, xhat, inv_std, mu, var = ops.batch_norm(x, gamma, beta, self.epsilon)
        if self.global_rows is not None:
            self.replica_statistics = (mu, var)
        else:
            self.update_moving_statistics(mu, var)

        def backward(dy, need_dx=True):
            dx, dgamma, dbeta = ops.batch_norm_backward(dy, xhat, inv_std, gamma)
            self._set_grads(dgamma, dbeta)
            return dx

        return y, backward

    def _no_rows(self, x):
        """A rank without rows in this batch: nothing to normalise, zero gradients, statistics that
        the engine weighs by 0."""
        xp = self.backend.xp
        zeros = xp.zeros_like(self.moving_mean.value)
        self.replica_statistics = (zeros, zeros)

        def backward(dy, need_dx=True):
            self._set_grads(zeros, zeros)
            return dy

        return x, backward

    def update_moving_statistics(self, mean, variance) -> None:
        """moving = momentum moving + (1 - momentum) batch, for the mean and the variance."""
        ops = self.backend.ops
        self.moving_mean.value = ops.moving_average(self.moving_mean.value, mean, self.momentum)
        self.moving_variance.value = ops.moving_average(self.moving_variance.value, variance, self.momentum)
        self.replica_statistics = None

    def _set_grads(self, dgamma, dbeta):
        if self.gamma is not None:
            self.gamma.inc_grad(dgamma)
        if self.beta is not None:
            self.beta.inc_grad(dbeta)

    def parameters(self):
        return [p for p in (self.gamma, self.beta, self.moving_mean, self.moving_variance) if p is not None]

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
