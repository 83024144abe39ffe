"""The simulated ``cupy.cuda``: the devices of one node, one stream each, events that read the host
clock. ``SYNCS["count"]`` counts the host's explicit waits for a device (stream, event and device
synchronisation); every read to the host (cupy.transfers["to_host"]) is a wait as well."""

from __future__ import annotations

import time

from . import driver, graph, memory, runtime
from .device import Device

__all__ = ["Device", "Event", "Stream", "get_current_stream", "get_elapsed_time", "runtime", "memory", "driver", "graph", "Graph"]
Graph = graph.Graph
SYNCS = {"count": 0}


def count_sync() -> None:
    if graph.capturing():
        graph.violate("a host synchronisation")
    SYNCS["count"] += 1


class Stream:
    """Work on the simulated device runs when it is queued, so a stream is always idle."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptr=None):
        self.ptr = 0
        self._null = null

    def begin_capture(self, mode=None):
        graph.begin(self)

    def end_capture(self):
        return graph.end()

    def is_capturing(self):
        return graph.capturing()

    def synchronize(self):
        count_sync()

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def use(self):
        _current_stream[0] = self
        return self

    def __enter__(self):
        self._previous = _current_stream[0]
        _current_stream[0] = self
        return self

    def __exit__(self, *exc):
        _current_stream[0] = self._previous
        return False


Stream.null = Stream(null=True)
_current_stream = [Stream.null]


def get_current_stream(device_id=None):
    return _current_stream[0]


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._time = None

    def record(self, stream=None):
        self._time = time.perf_counter()

    def synchronize(self):
        count_sync()

    @property
    def done(self):
        return True


def get_elapsed_time(start_event: Event, end_event: Event) -> float:
    """Milliseconds between two recorded events."""
    return (end_event._time - start_event._time) * 1000.0
