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


def graph_step(step, backend, model=None):
    """fit's step, wrapped in a GraphStep on the cupy backend (whose kernels take a step's own
    buffers) when NNKIT_CUDA_GRAPH=1, else as it is."""
    if backend.step_buffers is None or os.environ.get(ENABLE) != "1":  # a family without them: no graphs
        return step
    return GraphStep(step, backend, model)


class GraphStep:
    """``step(xb, yb) -> (loss, out)`` replayed from a graph after its first (eager) call.

    The first call runs the step with the backend's step buffers recording (every kernel output
    made then is the step's own); the second captures it, handed the same buffers in the same
    order, so nothing is allocated inside the capture. ``model``: the one the step trains; its
    optimizer's host bookkeeping (the step count, the scalars it keeps on the device) runs around
    each replay, and a graph whose arrays the model or optimizer replaced (reset, set_state,
    set_weights) is captured again, after one eager step.
    """

    def __init__(self, step, backend, model=None):
        optimizer = getattr(model, "optimizer", None)
        self.step, self.backend, self.model, self.optimizer = step, backend, model, optimizer
        self.graph = None
        self._arrays = None  # what the graph's arrays were when it was captured
        self._stream = None  # the warm-up's and the capture's
        self.reason = None  # why the step runs uncaptured, once capture failed
        self._calls = 0
        self.buffers = backend.step_buffers() if backend.step_buffers is not None else None
        why = None if optimizer is None else optimizer.replay_refusal(backend)
        if why is not None:
            self._refuse(why)

    def __call__(self, xb, yb):
        self._calls += 1
        if self.reason is not None:
            return self.step(xb, yb)
        if self.graph is None:
            if self._calls == 1:
                # the first call runs eagerly, as the warm-up capture needs: kernels loaded, CuPy's
                # workspaces, the step's buffers and the optimizer's state allocated
                return self._eager(xb, yb)
            if not self._capture(xb, yb):
                return self.step(xb, yb)
            # the captured call ran the step's host part (the optimizer counted it): launch only
            return self._launch(xb, yb)
        if tuple(xb.shape) != self._shapes[0] or tuple(yb.shape) != self._shapes[1]:
            return self.step(xb, yb)  # a last, shorter batch: the graph holds one shape
        if self._arrays != self._current_arrays():  # replaced since the capture: capture anew
            self.graph, self._calls = None, 1
            return self._eager(xb, yb)
        if self.optimizer is not None:
            self.optimizer.replay_begin(self.backend)
        result = self._launch(xb, yb)
        if self.optimizer is not None:
            self.optimizer.replay_end()
        return result

    def _current_arrays(self):
        """Which arrays a captured step holds: the parameters' and the optimizer state's."""
        if self.model is None:
            return None
        params = tuple((id(p.value), id(p.grad)) for p in self.model.parameters())
        return params, getattr(self.optimizer, "state_version", None)

    def _eager(self, xb, yb):
        """The step run, on the stream it is captured on: libraries that set up per stream (cuBLAS's
        workspace) do so here, not inside the capture."""
        if self._stream is None:
            # blocking: ordered with the legacy default stream the uncaptured steps run on
            self._stream = self.backend.array_module.cuda.Stream(non_blocking=False)
        with self._stream:
            if self.buffers is None:
                return self.step(xb, yb)
            with self.buffers:
                return self.step(xb, yb)

    def _launch(self, xb, yb):
        cp = self.backend.array_module
        cp.copyto(self._x, xb)
        cp.copyto(self._y, yb)
        self.graph.launch(self._stream)
        return self._result

    def _refuse(self, why: str) -> None:
        self.reason = why
        log.info("cupy: the training step runs uncaptured (no CUDA graph): %s", why)

    def _capture(self, xb, yb) -> bool:
        cp = self.backend.array_module
        self._x, self._y = cp.empty_like(xb), cp.empty_like(yb)
        self._shapes = (tuple(xb.shape), tuple(yb.shape))
        if self.optimizer is not None:
            self.optimizer.replay_begin(self.backend)  # its device scalars written outside the capture
        try:
            with self._stream:
                self._stream.begin_capture()
                try:
                    if self.buffers is None:
                        self._result = self.step(self._x, self._y)
                    else:
                        with self.buffers:
                            self._result = self.step(self._x, self._y)
                finally:
                    graph = self._stream.end_capture()
        except Exception as exc:  # any refusal of the capture: the step runs uncaptured
            self._refuse(f"{type(exc).__name__}: {exc}")
            return False
        self.graph = graph
        self._arrays = self._current_arrays()
        log.info("cupy: the training step replays from a CUDA graph (%d buffers of its own, %d bytes)",
                 0 if self.buffers is None else len(self.buffers.arrays),
                 0 if self.buffers is None else self.buffers.nbytes)
        return True
