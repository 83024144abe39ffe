"""A training step replayed from a CUDA graph, with an automatic fallback to running it.

Launching a small network's step costs the host more than the GPU spends on it (W3: ~30 kernel
launches of 5-10 us each against ~0.1 ms of GPU work). Captured once into a CUDA graph on a
non-default stream (``cupy.cuda.Graph`` through stream capture), the step is replayed per batch by
one launch: the batch is copied into the step's static input buffers, the graph is launched, and
the loss and outputs are read from its static output buffers.

A step can be captured only if every call writes into the same buffers (no pool allocation: the
pool would give the graph's memory to other arrays afterwards), never waits for the device or
reads a value back, and copies nothing from the host (step counters and learning rates must live
on the device). When capture fails, ``GraphStep`` runs the step as it is and logs why, once.
"""

from __future__ import annotations

import logging
import os

__all__ = ["GraphStep", "graph_step", "ENABLE"]

log = logging.getLogger("nnkit")
ENABLE = "NNKIT_CUDA_GRAPH"  # =1: fit replays its step from a graph (until a device has confirmed it)


def graph_step(step, backend):
    """fit's step, wrapped in a GraphStep on the cupy backend when NNKIT_CUDA_GRAPH=1, else as it is."""
    if backend.name != "cupy" or os.environ.get(ENABLE) != "1":
        return step
    return GraphStep(step, backend)


class GraphStep:
    """``step(xb, yb) -> (loss, out)`` replayed from a graph after its first (eager) call."""

    def __init__(self, step, backend):
        self.step, self.backend = step, backend
        self.graph = None
        self.reason = None  # why the step runs uncaptured, once capture failed
        self._calls = 0

    def __call__(self, xb, yb):
        self._calls += 1
        if self.reason is not None:
            return self.step(xb, yb)
        if self.graph is None:
            if self._calls == 1:
                # the first call runs eagerly, as the warm-up capture needs: kernels loaded, CuPy's
                # workspaces and the step's own buffers allocated
                return self.step(xb, yb)
            if not self._capture(xb, yb):
                return self.step(xb, yb)
        if tuple(xb.shape) != self._shapes[0] or tuple(yb.shape) != self._shapes[1]:
            return self.step(xb, yb)  # a last, shorter batch: the graph holds one shape
        cp = self.backend._device_module
        cp.copyto(self._x, xb)
        cp.copyto(self._y, yb)
        self.graph.launch(self._stream)
        return self._result

    def _capture(self, xb, yb) -> bool:
        cp = self.backend._device_module
        self._x, self._y = cp.empty_like(xb), cp.empty_like(yb)
        self._shapes = (tuple(xb.shape), tuple(yb.shape))
        cp.copyto(self._x, xb)
        cp.copyto(self._y, yb)
        # blocking: ordered with the legacy default stream the eager steps ran on
        self._stream = cp.cuda.Stream(non_blocking=False)
        try:
            with self._stream:
                self._stream.begin_capture()
                try:
                    self._result = self.step(self._x, self._y)
                finally:
                    graph = self._stream.end_capture()
        except Exception as exc:  # any refusal of the capture: the step runs uncaptured
            self.reason = f"{type(exc).__name__}: {exc}"
            log.info("cupy: the training step runs uncaptured (no CUDA graph): %s", self.reason)
            return False
        self.graph = graph
        return True
