"""Saving and loading models: one .npz file, a JSON config and host arrays, never a pickle.

The file holds ``__nnkit__`` (the JSON config as bytes: format, version, architecture, dtype,
input shape, compile settings, the source backend), ``w/<i>`` (every parameter in get_weights'
order) and ``opt/<key>`` (the optimizer's state). It is written to a temporary file beside the
target and renamed, so a crash never leaves half a model under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "nnkit-model"
VERSION = 1

__all__ = ["save_model", "load_model", "FORMAT", "VERSION"]


def _config(model) -> dict:
    config = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.get_config()["layers"],
        "dtype": model.backend.dtype_name(model.dtype),
        "input_shape": list(model.input_shape),
        "seed": model.seed if isinstance(model.seed, int) else None,
        "backend": model.backend.name,
        "n_weights": len(model.parameters()),
        "compile": None,
    }
    if model.loss is not None and model.optimizer is not None:
        config["compile"] = {
            "optimizer": model.optimizer.get_config(),
            "loss": model.loss.get_config(),
            "metrics": [m.name for m in model.metrics],
        }
    return config


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (architecture, dtype, weights, optimizer and its state)."""
    if not model.built:
        raise ValueError("save: the model is not built; call model.build(input_dim) or fit it first")
    path = os.fspath(path)
    arrays = {"__nnkit__": np.frombuffer(json.dumps(_config(model)).encode("utf-8"), dtype=np.uint8)}
    for i, w in enumerate(model.get_weights()):
        arrays[f"w/{i}"] = w
    if model.optimizer is not None and model.optimizer.iterations:
        for key, value in model.optimizer.get_state(model.parameters()).items():
            arrays[f"opt/{key}"] = np.asarray(value)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nnkit-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path):
    """(config dict, {name: array}) from a file, or a ValueError saying what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"load_model: {path!r} is not a readable nnkit model file (damaged, truncated or "
                         f"foreign): {type(exc).__name__}: {exc}") from None
    if "__nnkit__" not in arrays:
        raise ValueError(f"load_model: {path!r} is not an nnkit model file (no __nnkit__ entry)")
    try:
        config = json.loads(arrays.pop("__nnkit__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"load_model: {path!r} has a damaged config: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"load_model: {path!r} is not an nnkit model file (format {config.get('format')!r})")
    version = config.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"load_model: {path!r} has format version {version!r}; this nnkit reads up to "
                         f"version {VERSION}: upgrade nnkit")
    for key in ("architecture", "dtype", "input_shape", "n_weights"):
        if key not in config:
            raise ValueError(f"load_model: {path!r} has a damaged config: missing {key!r}")
    return config, arrays


def load_model(path, backend=None):
    """The model saved at ``path``, on ``backend`` (default: the backend it was saved from when
    available here, else the current default), compiled with its optimizer state when it was."""
    from nnkit import losses, optimizers
    from nnkit.backend import available_backends, current_backend
    from nnkit.layers import Sequential, layer_from_config

    config, arrays = _read(path)
    if backend is None:
        backend = config["backend"] if config.get("backend") in available_backends() else current_backend()
    try:
        layers = [layer_from_config(spec) for spec in config["architecture"]]
        model = Sequential(layers, backend=backend, dtype=config["dtype"], seed=config.get("seed"))
        model.build(tuple(config["input_shape"]))
    except (TypeError, KeyError) as exc:
        raise ValueError(f"load_model: the architecture in {path!r} is damaged: {exc}") from None
    n = len(model.parameters())
    if config["n_weights"] != n:
        raise ValueError(f"load_model: {path!r} declares {config['n_weights']} weights, the architecture has {n}")
    try:
        weights = [arrays[f"w/{i}"] for i in range(n)]
    except KeyError as exc:
        raise ValueError(f"load_model: {path!r} lacks weight array {exc}") from None
    model.set_weights(weights)
    compiled = config.get("compile")
    if compiled:
        model.compile(optimizers.from_config(compiled["optimizer"]), losses.get(compiled["loss"]),
                      compiled.get("metrics") or [])
        state = {key[4:]: value for key, value in arrays.items() if key.startswith("opt/")}
        if state:
            model.optimizer.set_state(state, model.parameters(), model.backend)
    return model
