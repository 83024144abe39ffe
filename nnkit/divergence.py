"""Divergence: fit stops at the first NaN or inf loss or weight and keeps the last finite state.

The guard costs one copy of the weights and optimizer state at each epoch's start (of the flat
buffers that hold them, where they do) and one check of the step's loss, the number every step
already returns: the compiled numba step keeps its fast path. On the host each batch's loss is
checked as it comes; on a device the epoch's summed loss is, so no step waits for a read-back. When something went non-finite the epoch is replayed from
its snapshot, step by step and checked after each, to find the batch where it happened and to
stop there with the weights and optimizer state from just before it.
"""

from __future__ import annotations

import copy
import math

from nnkit import validation

__all__ = ["TrainingDiverged", "DivergenceGuard"]


class TrainingDiverged(FloatingPointError):
    """fit stopped because the loss or the weights became NaN or inf.

    ``epoch`` and ``batch`` (1-based) name the step; the model holds the last finite weights and
    optimizer state; ``history`` holds the epochs completed before it.
    """

    def __init__(self, message, epoch, batch, history=None):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


def _stream_state(stream):
    """What restores ``stream`` later: its bit generator's state, else a copy, else None."""
    try:
        return ("state", stream.bit_generator.state)
    except AttributeError:
        pass
    try:
        return ("copy", copy.deepcopy(stream))
    except Exception:  # a device generator that cannot be copied: replays draw other masks
        return None


def _set_stream_state(stream, saved):
    if saved is None or stream is None:
        return
    kind, value = saved
    if kind == "state":
        stream.bit_generator.state = value
    elif hasattr(stream, "__dict__"):
        stream.__dict__.update(copy.deepcopy(value).__dict__)


def _arrays(model, params):
    """[(key, array)] of every parameter and optimizer state array, in one fixed order: a flat
    buffer's value and state arrays where the parameters live in one, a few arrays in all."""
    flat = params[0].flat if params else None
    if flat is not None and flat.holds(params):
        out = [(("flat", "value"), flat.value)]
    else:
        out = [(("w", i), p.value) for i, p in enumerate(params)]
    return out + model.optimizer.state_arrays(params)


def _flat(xp, arrays):
    """The arrays' elements in one vector: one copy, one check (per-array calls cost more than
    the arrays of a small network)."""
    if not arrays:
        return xp.zeros((0,))
    # the arrays' own reshape where they have one (NumPy, CuPy): a C call, not a Python wrapper
    return xp.concat([a.reshape(-1) if hasattr(a, "reshape") else xp.reshape(a, (-1,)) for _, a in arrays])


class _Snapshot:
    """One flat copy of the parameters and the optimizer state, the step count and the stream."""

    def __init__(self, model, params):
        arrays = _arrays(model, params)
        self.keys = [key for key, _ in arrays]
        self.flat = _flat(model.backend.xp, arrays)
        self.iterations = model.optimizer.iterations
        self.stream = _stream_state(getattr(model, "stream", None))

    def restore(self, model, params):
        """Write the copies back in place: compiled steps keep pointers to these very arrays."""
        xp, opt = model.backend.xp, model.optimizer
        where, offset = {}, 0
        arrays = dict(_arrays(model, params))
        for key in self.keys:
            size = int(math.prod(arrays[key].shape))
            where[key] = (offset, offset + size)
            offset += size
        for key, a in arrays.items():
            if key in where:
                lo, hi = where[key]
                a[...] = xp.reshape(self.flat[lo:hi], a.shape)
            else:  # optimizer state allocated after the snapshot: back to its initial value
                a[...] = opt._init_state(a, xp)[key[1]]
        opt.iterations = self.iterations
        _set_stream_state(getattr(model, "stream", None), self.stream)


class DivergenceGuard:
    """What fit calls: ``begin_epoch``, ``check_batch``, ``epoch_loss``; ``stop`` replays."""

    def __init__(self, model, params, history=None):
        self.model, self.params, self.history = model, params, history
        self.xp = model.backend.xp
        self.each_batch = model.backend.is_host  # reading a host loss costs nothing
        self.snapshot = self.epoch = self.replay = None
        self.n_steps = 0

    def begin_epoch(self, epoch, replay):
        """Copy the state the epoch starts from; ``replay(i)`` reruns its i-th step (-> loss).
        On the host the copy is also the check of the state the previous epoch ended with."""
        snapshot = _Snapshot(self.model, self.params)
        if self.each_batch and self.snapshot is not None and not validation.all_finite(self.xp, snapshot.flat):
            self.stop(self.n_steps)  # the previous epoch's: its snapshot and replay
        self.epoch, self.replay, self.snapshot = epoch, replay, snapshot

    def finish(self) -> None:
        """After the last epoch: the state training ends with is finite (on a device the last
        epoch's read-back checked it)."""
        if self.each_batch and self.snapshot is not None and not self._state_finite():
            self.stop(self.n_steps)

    def check_batch(self, batch, loss) -> None:
        """Stop at a non-finite batch loss where reading it is free (on the host)."""
        if self.each_batch and not math.isfinite(loss):
            self.stop(batch, f"the loss became {float(loss)}")

    def epoch_loss(self, loss_sum, n_batches) -> float:
        """The epoch's summed loss read as a float; stops when it, the weights or the optimizer
        state the epoch ends with are not all finite. On a device the check is folded into the
        one read-back the epoch's logs need: loss_sum + sum(0 * a) over every array (NaN as soon
        as one element is NaN or inf, else exactly loss_sum)."""
        self.n_steps = n_batches
        if self.each_batch:  # the weights are checked with the next epoch's snapshot
            value = float(loss_sum)
            finite = math.isfinite(value)
        else:
            xp, total = self.xp, loss_sum
            for a in self._arrays():
                total = total + xp.sum(a * 0)
            value = float(total)
            finite = math.isfinite(value)
        if not finite:
            self.stop(n_batches)
        return value

    def _arrays(self):
        return [a for _, a in _arrays(self.model, self.params)]

    def _state_finite(self) -> bool:
        return validation.all_finite(self.xp, _flat(self.xp, _arrays(self.model, self.params)))

    def stop(self, n_steps, bad_loss=None):
        """Replay the epoch's first ``n_steps`` steps from the snapshot, checking after each, and
        leave the model as it was before the first that went non-finite; raises TrainingDiverged."""
        epoch, step, history = self.epoch, self.replay, self.history
        if history is not None and history.epoch and history.epoch[-1] == epoch:
            history.epoch.pop()  # found after the epoch was logged: it is not a completed epoch
            for values in history.history.values():
                if values:
                    values.pop()
        self.snapshot.restore(self.model, self.params)
        last = self.snapshot
        batch, what = n_steps, bad_loss
        for i in range(n_steps):
            loss = step(i)
            if not math.isfinite(float(loss)):
                batch, what = i, f"the loss became {float(loss)}"
                break
            if not self._state_finite():
                batch, what = i, "the update made the weights or the optimizer state NaN or inf"
                break
            last = _Snapshot(self.model, self.params)
        last.restore(self.model, self.params)
        if what is None:
            what = "the weights became NaN or inf"
        message = (f"fit: training diverged at epoch {epoch + 1}, batch {batch + 1}: {what}; the model "
                   f"keeps the weights and optimizer state from before that step (try a smaller "
                   f"learning rate, scaled inputs or gradient clipping)")
        raise TrainingDiverged(message, epoch + 1, batch + 1, history)
