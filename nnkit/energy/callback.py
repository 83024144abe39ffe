"""EnergyMeter: a callback putting joules per epoch and per sample into History."""

from __future__ import annotations

from typing import Callable

from nnkit.callbacks import Callback
from nnkit.energy._base import METHODS
from nnkit.energy.measure import Measurement, _check_watts, _Window, make_meter


class EnergyMeter(Callback):
    """Callback: joules per epoch and per sample into History ("energy_j",
    "energy_j_per_sample", and "energy_j_net"/"energy_j_net_per_sample" when idle_watts is given).

    It keeps Callback's no-op batch hooks on purpose: a callback that overrides one makes fit
    read the loss back every batch and skip the backend's compiled train step, which would change
    the very work being metered (the meters poll in their own threads instead).

    Parameters
    ----------
    method, idle_watts, tdp_watts:
        As for ``measure``.
    sync:
        Called before each reading; None uses ``model.backend.synchronize`` where the model has one.
    meter:
        A ready meter to use instead of making one (kept open at the end of training).
    """

    model = None

    def __init__(self, method: str = "auto", sync: Callable | None = None,
                 idle_watts: float | None = None, tdp_watts: float | None = None, *,
                 meter=None, **meter_kwargs):
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        if sync is not None and not callable(sync):
            raise TypeError(f"sync: expected a callable or None, got {type(sync).__name__}")
        self.method, self.sync = method, sync
        self.idle_watts = _check_watts("idle_watts", idle_watts)
        self.tdp_watts, self._meter_kwargs = tdp_watts, meter_kwargs
        self.meter, self._owns_meter = meter, meter is None
        self.measurements: list[Measurement] = []
        self._window = None

    def set_model(self, model) -> None:
        self.model = model

    def _sync(self):
        if self.sync is not None:
            return self.sync
        backend = getattr(self.model, "backend", None)
        return getattr(backend, "synchronize", None)

    def on_train_begin(self, logs=None) -> None:
        self.measurements = []
        if self.meter is None:
            self.meter = make_meter(self.method, tdp_watts=self.tdp_watts, **self._meter_kwargs)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if self.meter is None:  # used without on_train_begin
            self.on_train_begin(logs)
        self._window = _Window(self.meter, self._sync(), self.idle_watts, owns_meter=False)
        self._window.__enter__()

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self._window is None:
            return
        self._window.__exit__(None, None, None)
        m, self._window = self._window.result, None
        self.measurements.append(m)
        if logs is None:
            return
        logs["energy_j"] = m.joules
        samples = logs.get("samples")
        if isinstance(samples, int) and samples > 0:
            logs["energy_j_per_sample"] = m.joules / samples
        if m.net_joules is not None:
            logs["energy_j_net"] = m.net_joules
            if isinstance(samples, int) and samples > 0:
                logs["energy_j_net_per_sample"] = m.net_joules / samples

    def on_train_end(self, logs=None) -> None:
        if self._window is not None:  # training stopped mid-epoch
            self._window.__exit__(None, None, None)
            self._window = None
        if self._owns_meter and self.meter is not None:
            self.meter.close()
            self.meter = None
