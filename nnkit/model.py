"""Model: compile / fit / evaluate / predict, weights, saving and moving between backends.

Every public entry point validates what it is given before any weight changes (DESIGN.md, "Bad
input"); the loops behind them run unchecked on backend arrays.
"""

from __future__ import annotations

import math

from nnkit import losses as _losses
from nnkit import metrics as _metrics
from nnkit import validation
from nnkit.backend import get_backend

DEFAULT_EVAL_BATCH = 256


class Model:
    """What a trainable network adds to a layer stack (mixed into Sequential)."""

    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self.stop_training = False
        self.history = None
        self._fused = None  # the output activation fused into the loss, or None
        self._loss_op = None  # (backend, the bound loss op) for the current loss and fusion
        self.step_path = None  # (path, why) of the last fit: "compiled" or "per-layer"

    def _on_built(self):
        self._set_fusion()
        if self.stream is None or any(layer.stream is not self.stream for layer in self.sublayers()):
            self._set_stream(self.stream or self.backend.generator(None))

    def _set_stream(self, generator) -> None:
        """Make ``generator`` the random stream of the model and every layer in it: each model
        draws its dropout masks from its own, so models never share one across threads."""
        for layer in self.sublayers():
            layer.stream = generator

    # -- validation ---------------------------------------------------------------------------
    def _staging_backend(self, *arrays):
        """The host backend when these host arrays are too large to move to the device whole, else None.

        fit, evaluate and predict then check them on the host and move one batch at a time.
        """
        from nnkit._cupy_data import fits

        if self.backend.is_host or fits(self, arrays):  # counted in the bytes they take on the device
            return None
        return get_backend("numpy")

    def _as_array(self, a, argument: str, dtype=None, backend=None):
        be = backend or self.backend
        if a is None:
            raise ValueError(f"{argument}: expected an array, got None")
        if not be.is_array(a) and be.name != "cupy" and type(a).__module__.startswith("cupy"):
            raise TypeError(f"{argument}: a CuPy array was given to a model on the {be.name!r} backend; "
                            "call model.to('cupy') or pass a NumPy array")
        try:
            return be.asarray(a, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{argument}: expected a numeric array, got {type(a).__name__} ({exc})") from None

    def _check_input(self, x, argument="x", backend=None):
        """x as a backend array of the model's dtype, with the shape the model takes, finite.

        ``backend``: where x is checked and kept (the host for data staged batch by batch). An
        unbuilt model is built for x's shape only once x has passed every check.
        """
        validation.numeric_kind(x, argument, "fiub")
        source = x
        x = self._as_array(x, argument, self.dtype, backend)
        if x.ndim < 2:
            raise ValueError(f"{argument}: expected shape (n_samples, features), got ndim {x.ndim} "
                             f"(shape {tuple(x.shape)}); reshape a single sample with x[None, :]")
        if x.shape[0] == 0:
            raise ValueError(f"{argument}: the data set is empty (shape {tuple(x.shape)})")
        validation.check_finite((backend or self.backend).xp, x, argument, source)
        if not self.built:
            try:
                self.build(tuple(x.shape[1:]))
            except ValueError as exc:
                raise ValueError(f"{argument}: samples of shape {tuple(x.shape[1:])} do not fit the "
                                 f"model: {exc}") from None
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f"{argument}: the model takes samples of shape {tuple(self.input_shape)}, "
                             f"got {tuple(x.shape[1:])}")
        first = self.layers[0] if getattr(self, "layers", None) else None
        if backend is None and hasattr(first, "check_input"):
            first.check_input(x)  # the first layer's own rule for its data (Embedding: token ids)
        return x

    def _check_finite(self, a, argument, backend=None):
        validation.check_finite((backend or self.backend).xp, a, argument)

    def _check_target(self, y, n: int, argument="y", backend=None):
        """y as a backend array the loss takes: integer labels or float targets of the output's shape."""
        be = backend or self.backend
        xp = be.xp
        out_width = self.output_shape[-1]
        sparse = self.loss is not None and self.loss.sparse
        validation.numeric_kind(y, argument, hint=" (encode labels as integers 0..n_classes-1, "
                                "e.g. with numpy.unique(y, return_inverse=True))" if sparse else
                                " (targets must be numbers; convert with y.astype(float))")
        source = y
        if sparse:
            y = self._as_array(y, argument, None, backend)
            if y.ndim == 2 and y.shape[1] == 1:
                y = xp.reshape(y, (-1,))
            if y.ndim != 1:
                raise ValueError(f"{argument}: sparse labels must have shape (n,), got {tuple(y.shape)}")
            if y.shape[0]:
                validation.check_labels(xp, y, argument, out_width)
            y = xp.astype(y, be.dtype("int64"))
        else:
            y = self._as_array(y, argument, self.dtype, backend)
            if y.ndim == 1 and out_width == 1:
                y = xp.reshape(y, (-1, 1))
            if y.ndim != 2 or y.shape[1] != out_width:
                hint = (" (integer labels need loss='sparse_categorical_crossentropy')"
                        if y.ndim == 1 else "")
                raise ValueError(f"{argument}: targets must have shape (n, {out_width}) for a model with "
                                 f"{out_width} outputs, got {tuple(y.shape)}{hint}")
            validation.check_finite(xp, y, argument, source)
            if isinstance(self.loss, (_losses.BinaryCrossEntropy, _losses.CategoricalCrossEntropy)):
                if bool(xp.any(y < 0)) or bool(xp.any(y > 1)):
                    raise ValueError(f"{argument}: {self.loss.name} needs targets in [0, 1], got values "
                                     f"in [{float(xp.min(y))}, {float(xp.max(y))}] (labels of +-1? map them to 0/1)")
        if y.shape[0] != n:
            raise ValueError(f"{argument}: {y.shape[0]} targets for {n} samples")
        return y

    def _check_output_gradient(self, dy):
        dy = self._as_array(dy, "dy", self.dtype)
        expected = tuple(self.output_shape)
        if dy.ndim < 2 or tuple(dy.shape[1:]) != expected:
            raise ValueError(f"dy: expected shape (n, {', '.join(map(str, expected))}), got {tuple(dy.shape)}")
        return dy

    # -- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="sgd", loss="mse", metrics=None):
        """Choose the optimizer, the loss and the metrics (names or objects)."""
        from nnkit import optimizers as _optimizers

        optimizer = _optimizers.get(optimizer)
        loss = _losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
            if not isinstance(metrics, str) and not hasattr(metrics, "batch_sum"):
                raise TypeError(f"metrics: expected a list of metric names or objects, got {validation.describe(metrics)}")
            metrics = [metrics]
        metrics = [_metrics.get(m, loss) for m in metrics]
        takes = "labels" if loss.sparse else "dense"
        kinds = {"labels": "integer labels", "dense": "targets of the outputs' shape"}
        for m in metrics:
            if m.targets not in (None, takes):
                raise ValueError(f"metrics: {m.name!r} compares the outputs with {kinds[m.targets]}, but "
                                 f"the loss {loss.name!r} takes {kinds[takes]} ('accuracy' follows the loss)")
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self._set_fusion()
        return self

    def _output_layer(self):
        layers = getattr(self, "layers", [])
        return layers[-1] if layers else None

    def _set_fusion(self):
        """Fuse a softmax/sigmoid output layer into its cross-entropy: the chain hands the loss
        the logits (see ``_chain``)."""
        last = self._output_layer()
        self._fused = None
        self._loss_op = None
        loss = self.loss
        if last is None or loss is None or loss.fused_activation is None or loss.from_logits:
            return
        if getattr(last, "can_emit_logits", False) and last.activation == loss.fused_activation:
            self._fused = loss.fused_activation

    def _require_compiled(self, what):
        if self.loss is None or self.optimizer is None:
            raise ValueError(f"{what}: the model is not compiled; call model.compile(optimizer, loss) first")

    # -- the step -----------------------------------------------------------------------------
    def _chain(self, x, training):
        """(out, backward) of the layer stack: out is the logits where the output activation is
        fused into the loss, else the outputs."""
        return self._forward(x, training, logits=self._fused is not None)

    def step_table(self):
        """The model's layers as the plain table a compiled whole step takes, or the reason it
        has none (``nnkit.layers.step_table``)."""
        from nnkit.layers.step_table import step_table

        return step_table(self)

    def zero_grad(self) -> None:
        """Every parameter's gradient to zero: one fill per flat buffer."""
        flats = getattr(self, "flat_buffers", None)
        if flats:
            for flat in flats:
                flat.grad[...] = 0
        else:
            for p in self.parameters():
                p.zero_grad()

    def _outputs(self, out):
        """The model's outputs (probabilities) from what the layer stack returned (maybe logits)."""
        if self._fused is None:
            return out
        return self.backend.ops.activation(out, self._fused)

    def _loss_and_grad(self, out, target):
        """(0-d loss, d loss / d out) where ``out`` is what the layer stack returned."""
        op = self._loss_op
        if op is None or op[0] is not self.backend:
            name = self.loss.op_name(self._fused is not None)
            op = self._loss_op = (self.backend, getattr(self.backend.ops, name))
        return op[1](out, target)

    def _accumulate_metrics(self, out, target, sums) -> None:
        """Add each metric's batch sum to ``sums``; ``out`` is what the layer stack returned."""
        xp = self.backend.xp
        logits = self._fused is not None
        outputs = None
        for i, metric in enumerate(self.metrics):
            if logits and metric.on_outputs:
                if outputs is None:
                    outputs = self._outputs(out)
                sums[i] = sums[i] + metric.batch_sum(outputs, target, False, xp)
            else:
                sums[i] = sums[i] + metric.batch_sum(out, target, logits, xp)

    def _penalties(self, params, add_gradient: bool):
        """Sum of the regularizers' penalties; their gradients added to the parameters' grads."""
        total = None
        for p in params:
            if p.regularizer is None:
                continue
            penalty, grad = p.regularizer.penalty_and_gradient(p.value, self.backend)
            if add_gradient:
                p.inc_grad(grad)
            total = penalty if total is None else total + penalty
        return total

    def _step(self, x, y, *, training=True, wrt_input=False, loss_op=None, weights=None):
        """(loss, out, dx) on backend arrays: the forward pass, the loss and its gradient, the
        backward pass and the regularizers' penalties; every Parameter.grad then holds
        d loss / d parameter, and dx = d loss / d x (None unless ``wrt_input``). ``out`` is what
        the chain returned (logits where the loss is fused). ``loss_op(out, y) -> (loss, dout)``
        replaces the compiled loss: it sees the outputs, and the penalties are left out.
        ``weights``: the batch's host sample weights (nnkit.weighting), or None."""
        self.zero_grad()
        out, backward = self._forward(x, training, logits=loss_op is None and self._fused is not None)
        if weights is not None:
            from nnkit.weighting import weighted_loss_and_grad

            loss, dout = weighted_loss_and_grad(self, out, y, weights)
        else:
            loss, dout = (self._loss_and_grad if loss_op is None else loss_op)(out, y)
        dx = backward(dout, wrt_input)
        if loss_op is None:
            penalty = self._penalties(self.parameters(), add_gradient=True)
            if penalty is not None:
                loss = loss + penalty
        return loss, out, dx

    def _loss(self, x, y, training=False):
        """The batch's loss with the penalties, a 0-d array, by the forward pass alone."""
        out, _ = self._chain(x, training)
        loss, _ = self._loss_and_grad(out, y)
        penalty = self._penalties(self.parameters(), add_gradient=False)
        return loss if penalty is None else loss + penalty

    def apply_gradients(self) -> None:
        """One optimizer update of every parameter from its gradient."""
        self.optimizer.step(self.parameters(), self.backend)

    def _train_step(self, x, y, loss_and_grad=None, compiled=None):
        """(loss, out) of one training step on backend arrays: the gradients by ``_step`` (or
        ``loss_and_grad(x, y) -> (loss, out)``, e.g. data-parallel), then the update; ``compiled``:
        the backend's whole-step kernel for this model, which does both in one call."""
        if compiled is not None:
            return compiled(x, y)
        if loss_and_grad is None:
            loss, out, _ = self._step(x, y)
        else:
            loss, out = loss_and_grad(x, y)
        self.apply_gradients()
        return loss, out

    def _fast_path(self):
        """(compiled step or None, why): the backend's whole-step kernel where it takes this model."""
        factory = self.backend.train_step_factory
        if factory is None:
            return None, f"the {self.backend.name} backend has no compiled step"
        step = factory(self)
        if step is None:
            refusal = self.backend.train_step_refusal
            return None, (refusal(self) if refusal is not None else None) or "the compiled step refuses it"
        how = getattr(step, "path", None)
        return step, f"the {self.backend.name} backend compiles this model's whole step" + (f": {how}" if how else "")

    # -- public training API --------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, shuffle=True, validation_data=None,
            validation_split=0.0, callbacks=None, verbose=1, seed=None, distributed=False, sample_weight=None,
            class_weight=None):
        """Train by mini-batch gradient descent and return the History: batch_size=1 is stochastic
        gradient descent, batch_size >= len(X) the lecture's full-batch gradient descent.
        ``distributed=True`` (or a communicator) trains data-parallel over MPI ranks, batch_size
        staying the global batch of one step. On the cupy backend the data set moves to the GPU once
        when it takes at most DEVICE_DATA_FRACTION (40%) of the free device memory; a larger one
        stays on the host and moves one batch at a time. ``sample_weight`` (n,) and ``class_weight``
        {class: weight} weigh each sample's loss as Keras does (nnkit.weighting)."""
        from nnkit.training import fit

        return fit(self, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                   validation_data=validation_data, validation_split=validation_split,
                   callbacks=callbacks, verbose=verbose, seed=seed, distributed=distributed,
                   sample_weight=sample_weight, class_weight=class_weight)

    def loss_and_grad(self, x, y, *, training=True, wrt_input=False):
        """One forward and backward pass on the batch (x, y); returns (loss, dx): the loss with the
        penalties, a float, and d loss / d x where ``wrt_input`` (else None). Every
        Parameter.grad then holds d loss / d parameter; the weights do not change. ``training``:
        dropout and the other random layers act, as in fit."""
        self._require_compiled("loss_and_grad")
        with validation.rollback_build(self):
            x = self._check_input(x, "x")
            y = self._check_target(y, x.shape[0], "y")
        loss, _, dx = self._step(x, y, training=training, wrt_input=wrt_input)
        return float(loss), dx

    def train_step(self, x, y) -> float:
        """One gradient-descent step on the batch (x, y): loss_and_grad, then the optimizer's
        update; returns the batch's loss (penalties included)."""
        from nnkit._cupy_data import host_checked

        self._require_compiled("train_step")
        host = host_checked(self, x, y)  # host batches of a device model: checked without a wait
        with validation.rollback_build(self):
            x = self._check_input(x, "x", host)
            y = self._check_target(y, x.shape[0], "y", host)
        if host is not None:
            x, y = self.backend.asarray(x), self.backend.asarray(y)
        return float(self._train_step(x, y)[0])

    def train_on_batch(self, x, y) -> float:
        """Keras' name for ``train_step``."""
        return self.train_step(x, y)

    def evaluate(self, X, y, batch_size=DEFAULT_EVAL_BATCH, verbose=0) -> dict:
        """{"loss": mean loss incl. penalties, metric name: value, ...} over the data, in batches."""
        self._require_compiled("evaluate")
        host = self._staging_backend(X, y)
        batch_size = _check_batch_size(batch_size)
        with validation.rollback_build(self):
            X = self._check_input(X, "X", host)
            y = self._check_target(y, X.shape[0], "y", host)
        return self._evaluate_arrays(X, y, batch_size)

    def _rows(self, A, start, stop, order=None):
        """Rows start:stop of A (of ``order``'s rows when given) as a backend array: sliced where A
        is a backend array, gathered on the host and moved when A is staged there."""
        if self.backend.is_array(A):
            return A[start:stop, ...]
        return self.backend.asarray(A[start:stop] if order is None else A[order[start:stop]])

    def _evaluate_arrays(self, X, y, batch_size=DEFAULT_EVAL_BATCH) -> dict:
        n = X.shape[0]
        loss_sum = 0.0
        sums = [0.0] * len(self.metrics)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)  # array-API slices may not run past the end
            xb, yb = self._rows(X, start, stop), self._rows(y, start, stop)
            out, _ = self._chain(xb, False)
            loss, _ = self._loss_and_grad(out, yb)
            loss_sum = loss_sum + loss * xb.shape[0]
            self._accumulate_metrics(out, yb, sums)
        result = {"loss": float(loss_sum) / n}
        penalty = self._penalties(self.parameters(), add_gradient=False)
        if penalty is not None:
            result["loss"] += float(penalty)
        for metric, s in zip(self.metrics, sums):
            result[metric.name] = float(s) / n
        return result

    def predict(self, X, batch_size=DEFAULT_EVAL_BATCH):
        """The model's outputs for X, computed in batches, as a NumPy array."""
        batch_size = _check_batch_size(batch_size)
        with validation.rollback_build(self):
            X = self._check_input(X, "X", self._staging_backend(X))
        be = self.backend
        n = X.shape[0]
        parts = [self._forward(self._rows(X, s, min(s + batch_size, n)), False)[0]
                 for s in range(0, n, batch_size)]
        out = parts[0] if len(parts) == 1 else be.xp.concat(parts, axis=0)
        return be.to_numpy(out)

    def warmup(self, batch_size=32) -> float:
        """Compile now what the first fit, evaluate and predict would: the backend's kernels for
        the model's dtype and, on the numba backend, the model's training step. Runs one step on a
        copy of the model (with a stream of its own) and zeros, so the model, its optimizer and
        its random stream are left as they were; returns the seconds it took (the numba cache
        keeps the compiled code for later processes)."""
        import copy
        import time

        self._require_compiled("warmup")
        self._require_built("warmup")
        batch_size = _check_batch_size(batch_size)
        be, xp = self.backend, self.backend.xp
        start = time.perf_counter()
        # the copy shares the backends, their namespaces and bound ops: only the model's own
        # arrays and state are copied
        shared = {}
        for layer in self.sublayers():
            for obj in (layer.backend, layer.backend.xp, layer.backend.ops, layer.stream):
                shared[id(obj)] = obj
        twin = copy.deepcopy(self, memo=shared)
        twin._set_stream(be.generator(0))
        x = xp.zeros((batch_size,) + tuple(self.input_shape), dtype=self.dtype)
        y = (xp.zeros((batch_size,), dtype=be.dtype("int64")) if self.loss.sparse
             else xp.zeros((batch_size,) + tuple(self.output_shape), dtype=self.dtype))
        twin.fit(x, y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        twin.evaluate(x, y, batch_size=batch_size)
        twin.predict(x, batch_size=batch_size)
        be.synchronize()
        return time.perf_counter() - start

    # -- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list:
        """NumPy copies of every parameter in layer order (Dense: W (in, out), then b (out,))."""
        self._require_built("get_weights")
        be = self.backend
        return [be.to_numpy(p.value).copy() for p in self.parameters()]

    def set_weights(self, weights) -> None:
        """Set every parameter from arrays in get_weights' order; shapes must match."""
        self._require_built("set_weights")
        params = self.parameters()
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"set_weights: expected {len(params)} arrays, got {len(weights)}")
        be = self.backend
        new = []
        for p, w in zip(params, weights):
            shape = tuple(getattr(w, "shape", ()))
            if shape != p.shape:
                raise ValueError(f"set_weights: {p.name} has shape {p.shape}, got {shape}")
            new.append(be.asarray(be.to_numpy(w) if not be.is_array(w) else w, dtype=self.dtype))
        for p, value in zip(params, new):
            self._check_finite(value, f"set_weights[{p.name}]")
        for p, value in zip(params, new):
            # always a copy: updates happen in place and must never write into the caller's arrays
            p.value = be.xp.asarray(value, copy=True)
            p.grad = None

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: the model is not built; call model.build(input_dim) or run it on data")

    def count_params(self) -> int:
        return sum(math.prod(p.shape) for p in self.parameters())

    # -- moving and saving ----------------------------------------------------------------------
    def to(self, backend):
        """Move the model (and its optimizer state) to another backend; returns the model."""
        new = get_backend(backend)
        if new == self.backend:
            return self
        old = self.backend
        if self.built:
            self._move(new)
            self._set_stream(new.generator(None))  # a generator of the new backend's kind
        else:
            self.backend = new
            self.dtype = new.dtype(old.dtype_name(self.dtype))
        if self.optimizer is not None and hasattr(self.optimizer, "to"):
            self.optimizer.to(new)
        return self

    def save(self, path) -> None:
        """Write the model (architecture, weights, optimizer and its state) to one file."""
        from nnkit.io import save_model

        save_model(self, path)


def _check_batch_size(batch_size):
    return validation.integer("batch_size", batch_size, 1)
