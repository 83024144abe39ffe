"""Stream capture and CUDA graphs on the simulated GPU, strict where a GPU is.

``stream.begin_capture()`` on a non-default stream starts recording: every op writing into an
existing array (``out=``, in-place operators, ``fill``, slice assignment, kernel launches) is put on
the graph's tape, not run, exactly as CUDA records instead of executing. What a capture cannot
hold raises at once and invalidates it: an allocation (CuPy's pool would hand the graph's memory
to others after it), a host synchronisation or read, a host-to-device copy. ``end_capture()``
returns the Graph, or raises cudaErrorStreamCaptureInvalidated with the first violation;
``graph.launch()`` replays the tape on the same buffers with the same scalar arguments.
"""

from __future__ import annotations

__all__ = ["Graph", "capturing", "record", "violate"]

_state = {"tape": None, "invalid": None}


class Graph:
    def __init__(self, tape):
        self._tape = tape
        self.launches = 0

    def launch(self, stream=None):
        import cupy

        for fn, args, kwargs in self._tape:
            fn(*args, **kwargs)
        self.launches += 1
        cupy.calls["graph_launches"] += 1

    def upload(self, stream=None):
        pass

    @property
    def nodes(self) -> int:
        return len(self._tape)


def capturing() -> bool:
    return _state["tape"] is not None


def record(fn, args, kwargs) -> None:
    _state["tape"].append((fn, args, kwargs))


def violate(what: str):
    """Invalidate the capture and raise, as the CUDA call would fail."""
    from .runtime import CUDARuntimeError

    where = _caller()
    what = f"{what} at {where}" if where else what
    if _state["invalid"] is None:
        _state["invalid"] = what
    raise CUDARuntimeError(f"cudaErrorStreamCaptureUnsupported: {what} inside a stream capture")


def _caller() -> str:
    """file:line of the innermost frame of nnkit (else of anything but the simulated CuPy and
    array-api-compat): the code that broke capture."""
    import os
    import sys

    frame, fallback = sys._getframe(2), None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if f"{os.sep}nnkit{os.sep}" in path or f"{os.sep}kernels{os.sep}" in path:
            return f"{os.sep.join(path.split(os.sep)[-2:])}:{frame.f_lineno}"
        if fallback is None and "_simulated_gpu" not in path and "array_api_compat" not in path:
            fallback = f"{os.sep.join(path.split(os.sep)[-2:])}:{frame.f_lineno}"
        frame = frame.f_back
    return fallback or ""


def begin(stream) -> None:
    from .runtime import CUDARuntimeError

    if stream is None or getattr(stream, "_null", False):
        raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported: the legacy default stream cannot be captured")
    if capturing():
        raise CUDARuntimeError("cudaErrorIllegalState: a capture is already in progress")
    _state["tape"], _state["invalid"] = [], None


def end() -> Graph:
    from .runtime import CUDARuntimeError

    tape, invalid = _state["tape"], _state["invalid"]
    if tape is None:
        raise CUDARuntimeError("cudaErrorIllegalState: the stream is not capturing")
    _state["tape"] = _state["invalid"] = None
    if invalid is not None:
        raise CUDARuntimeError(f"cudaErrorStreamCaptureInvalidated: {invalid}")
    return Graph(tape)
