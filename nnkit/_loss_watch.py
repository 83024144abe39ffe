"""TerminateOnNaN without a wait for the device every batch.

Reading each batch's loss to test it makes the host wait for the GPU once a step. fit already sums
the losses on the device, and a sum is finite only while every loss in it is, so on a device the
sum is read once every WINDOW batches (and at an epoch's end); only when it is not finite are that
window's losses read, once, to name the first bad batch to the callback as if it had seen each
one. Training then stops at most WINDOW - 1 batches after the bad one (whose weights are NaN by
then anyway). On the host, where a read costs nothing, every batch is tested as before.
"""

from __future__ import annotations

import math

__all__ = ["LossWatch", "WINDOW"]

WINDOW = 32  # batches between reads of the running loss sum on a device


class LossWatch:
    def __init__(self, callbacks, backend):
        from nnkit.callbacks import TerminateOnNaN

        # exactly TerminateOnNaN: a subclass may want every batch's logs
        self.callbacks = [cb for cb in callbacks if type(cb) is TerminateOnNaN]
        self.backend = backend
        self.every = 1 if backend.is_host else WINDOW
        self._window: list = []

    def after_batch(self, batch: int, size: int, loss, loss_sum, last: bool) -> None:
        """Note the batch's (device) loss; on a window's last batch read the sum, and hand the
        first non-finite loss to the callbacks."""
        if not self.callbacks:
            return
        self._window.append((batch, size, loss))
        if len(self._window) < self.every and not last:
            return
        window, self._window = self._window, []
        if math.isfinite(float(loss_sum)):
            return
        xp = self.backend.xp
        losses = [loss for _, _, loss in window]
        values = (self.backend.to_numpy(xp.stack([xp.asarray(v) for v in losses]))
                  if not self.backend.is_host else [float(v) for v in losses])
        for (bad, bad_size, _), value in zip(window, values):
            if not math.isfinite(float(value)):
                for cb in self.callbacks:
                    cb.on_batch_end(bad, {"loss": float(value), "size": bad_size})
                return
