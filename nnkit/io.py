"""Saving and loading models: one .npz file, a JSON config and host arrays, never a pickle.

The file holds ``__nnkit__`` (the JSON config as bytes: format, version, architecture, dtype,
input shape, compile settings, the source backend), ``w/<i>`` (every parameter in get_weights'
order) and ``opt/<key>`` (the optimizer's state). It is written to a temporary file beside the
target and renamed, so a crash never leaves half a model under the real name.

Loading reads the zip directory and every array's header first and checks the whole file (entry
names, flags, compression, declared sizes against the arrays' shapes and dtypes, the config's
types, the weights' and state's values) before building anything, so a damaged, foreign,
truncated or hostile file is a ValueError saying what is wrong, read with bounded memory.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from nnkit import validation

FORMAT = "nnkit-model"
VERSION = 1

__all__ = ["save_model", "load_model", "FORMAT", "VERSION"]

# what reading a damaged archive may raise: the zip module's own errors and those beneath it
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
              NotImplementedError, zlib.error, struct.error, UnicodeDecodeError, OverflowError)
MAX_CONFIG_BYTES = 16 << 20  # a config is a few kB; a larger one is not ours
NPY_MAGIC = b"\x93NUMPY"
_ENTRY = re.compile(r"^(__nnkit__|w/(0|[1-9][0-9]*)|opt/[A-Za-z0-9_/]+)\.npy$")
# optimizer state arrays that are sums of squares, never negative
NON_NEGATIVE_STATE = {"Adam": ("v",), "AdamW": ("v",), "RMSprop": ("sq",), "Adagrad": ("s",)}


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
        # layers set to trainable = False (Keras' frozen BatchNormalization), by sublayers() index
        "frozen": [i for i, layer in enumerate(model.sublayers()) if getattr(layer, "trainable", True) is False],
    }
    if model.loss is not None and model.optimizer is not None:
        config["compile"] = {
            "optimizer": model.optimizer.get_config(),
            "loss": model.loss.get_config(),
            "metrics": [m.name for m in model.metrics],
        }
    return config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (architecture, dtype, weights, optimizer and its state).

    A symbolic link at ``path`` is followed (its target is replaced); the file gets the mode a
    new file would (0666 less the umask)."""
    if not model.built:
        raise ValueError("save: the model is not built; call model.build(input_dim) or fit it first")
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"save: path must be a str or os.PathLike, got {type(path).__name__}") from None
    weights = model.get_weights()
    if not all(np.isfinite(w).all() for w in weights):
        raise ValueError(f"save: the model's weights are not all finite (a diverged model); {path!r} not written")
    arrays = {"__nnkit__": np.frombuffer(json.dumps(_config(model)).encode("utf-8"), dtype=np.uint8)}
    for i, w in enumerate(weights):
        arrays[f"w/{i}"] = w
    if model.optimizer is not None and model.optimizer.iterations:
        for key, value in model.optimizer.get_state(model.parameters()).items():
            arrays[f"opt/{key}"] = np.asarray(value)
    target = os.path.realpath(path)  # follow a symlink: write its target, keep the link
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nnkit-", suffix=".tmp", dir=os.path.dirname(target))
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise type(exc)(exc.errno, f"save: cannot write the model: {exc.strerror}", path) from None
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- reading ------------------------------------------------------------------------------------
class _Entry:
    """One array of the archive, described by its zip record and its .npy header."""

    def __init__(self, info, shape, dtype, fortran, offset):
        self.info, self.shape, self.dtype, self.offset = info, shape, dtype, offset
        self.order = "F" if fortran else "C"
        self.name = info.filename[:-4]

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


def _bad(path, what):
    return ValueError(f"load_model: {path!r} is not a readable nnkit model file: {what}")


def _header(path, archive, info) -> _Entry:
    """The entry's shape and dtype from its .npy header, checked against the zip's sizes."""
    where = f"entry {info.filename!r}"
    if info.flag_bits & 0x1:
        raise _bad(path, f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _bad(path, f"{where} uses compression method {info.compress_type}; expected stored or deflated")
    try:
        with archive.open(info) as f:
            magic = f.read(8)
            if len(magic) < 8 or magic[:6] != NPY_MAGIC:
                raise _bad(path, f"{where} is not a .npy array")
            major = magic[6]
            if major not in (1, 2, 3):
                raise _bad(path, f"{where} has .npy format version {major}")
            size_bytes = 2 if major == 1 else 4
            raw = f.read(size_bytes)
            if len(raw) < size_bytes:
                raise _bad(path, f"{where} ends inside its header")
            header_len = int.from_bytes(raw, "little")
            if header_len > 65536:
                raise _bad(path, f"{where} declares a header of {header_len} bytes")
            text = f.read(header_len)
            if len(text) < header_len:
                raise _bad(path, f"{where} ends inside its header")
    except ZIP_ERRORS as exc:
        if str(exc).startswith("load_model:"):
            raise
        raise _bad(path, f"{where} is damaged or truncated ({type(exc).__name__}: {exc})") from None
    try:
        header = ast.literal_eval(text.decode("latin1" if major < 3 else "utf8"))
        shape, descr, fortran = header["shape"], header["descr"], header["fortran_order"]
        if not isinstance(shape, tuple) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0
                                               for d in shape):
            raise ValueError(f"shape {shape!r}")
        if fortran not in (False, True):
            raise ValueError(f"fortran_order {fortran!r}")
        if not isinstance(descr, str):  # a record or object layout: nothing nnkit writes
            raise ValueError(f"dtype {descr!r}")
        dtype = np.dtype(descr)
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise _bad(path, f"{where} has a damaged .npy header ({exc})") from None
    offset = 8 + size_bytes + header_len
    entry = _Entry(info, shape, dtype, fortran, offset)
    if dtype.kind not in "fiu" or dtype.hasobject:
        raise _bad(path, f"{where} holds dtype {dtype}; expected real numbers")
    if offset + entry.nbytes != info.file_size:
        raise _bad(path, f"{where} declares shape {shape} of {dtype} ({entry.nbytes} bytes) but the archive "
                         f"records {info.file_size - offset} bytes of data")
    return entry


def _data(path, archive, entry) -> np.ndarray:
    """The entry's array, read in exactly the bytes its header declares (the CRC checked)."""
    try:
        with archive.open(entry.info) as f:
            f.read(entry.offset)
            raw = f.read(entry.nbytes)
            if len(raw) != entry.nbytes or f.read(1):
                raise zipfile.BadZipFile("the data ends early or runs on")
    except ZIP_ERRORS as exc:
        raise _bad(path, f"entry {entry.info.filename!r} is damaged or truncated "
                         f"({type(exc).__name__}: {exc})") from None
    return np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape, order=entry.order).copy()


def _check_config(path, config) -> dict:
    """Every key load_model reads, of the JSON type it needs."""
    def damaged(what):
        return ValueError(f"load_model: {path!r} has a damaged config: {what}")

    if not isinstance(config, dict):
        raise ValueError(f"load_model: {path!r} is not an nnkit model file (its config is a "
                         f"{type(config).__name__}, not an object)")
    if config.get("format") != FORMAT:
        raise ValueError(f"load_model: {path!r} is not an nnkit model file (format {config.get('format')!r})")
    version = config.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise damaged(f"format version {version!r}; expected an int from 1 to {VERSION}")
    if version > VERSION:
        raise ValueError(f"load_model: {path!r} has format version {version}; this nnkit reads up to "
                         f"version {VERSION}: upgrade nnkit")
    for key in ("architecture", "dtype", "input_shape", "n_weights"):
        if key not in config:
            raise damaged(f"missing {key!r}")
    checks = [
        ("architecture", lambda v: isinstance(v, list) and v and all(isinstance(s, dict) for s in v),
         "a non-empty list of layer configs"),
        ("dtype", lambda v: v in ("float32", "float64"), "'float32' or 'float64'"),
        ("input_shape", lambda v: isinstance(v, list) and v and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in v), "a list of positive ints"),
        ("n_weights", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative int"),
        ("seed", lambda v: v is None or isinstance(v, int) and not isinstance(v, bool) and v >= 0,
         "null or a non-negative int"),
        ("backend", lambda v: v is None or isinstance(v, str), "null or a backend name"),
        ("frozen", lambda v: v is None or isinstance(v, list) and all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v), "null or a list of layer indices"),
        ("compile", lambda v: v is None or isinstance(v, dict) and isinstance(v.get("optimizer"), dict)
         and isinstance(v.get("loss"), (str, dict)) and isinstance(v.get("metrics", []), list)
         and all(isinstance(m, str) for m in v.get("metrics", [])),
         "null or {optimizer: {...}, loss: ..., metrics: [names]}"),
    ]
    for key, ok, expected in checks:
        if not ok(config.get(key)):
            raise damaged(f"{key!r} is {config.get(key)!r}; expected {expected}")
    return config


def _read(path):
    """(config dict, {name: entry}, archive) with every header checked, or a ValueError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no file at {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"load_model: {path!r} is a directory, not a model file")
    with open(path, "rb") as f:
        start = f.read(6)
    if start == NPY_MAGIC:
        raise ValueError(f"load_model: {path!r} is a plain .npy array, not an nnkit model (.npz archive)")
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except ZIP_ERRORS as exc:
        raise _bad(path, f"not a zip archive, or a damaged or truncated one ({exc})") from None
    try:
        entries = {}
        limit = MAX_CONFIG_BYTES + 64 * os.path.getsize(path) + (1 << 20)
        total = 0
        for info in infos:
            if not _ENTRY.match(info.filename):
                if "__nnkit__.npy" not in archive.namelist():
                    raise ValueError(f"load_model: {path!r} is not an nnkit model file (no __nnkit__ entry)")
                raise _bad(path, f"unexpected entry {info.filename!r}")
            if info.filename[:-4] in entries:
                raise _bad(path, f"entry {info.filename!r} appears twice")
            total += info.file_size
            if total > limit:  # deflate inflates at most ~1000:1; nnkit stores arrays uncompressed
                raise _bad(path, f"its entries declare {total} bytes, far more than a {os.path.getsize(path)}-byte "
                                 "file can hold (a zip bomb?)")
            entries[info.filename[:-4]] = _header(path, archive, info)
        if "__nnkit__" not in entries:
            raise ValueError(f"load_model: {path!r} is not an nnkit model file (no __nnkit__ entry)")
        meta = entries.pop("__nnkit__")
        if meta.dtype != np.uint8 or len(meta.shape) != 1 or meta.nbytes > MAX_CONFIG_BYTES:
            raise _bad(path, f"the config entry holds {meta.dtype} of shape {meta.shape}; expected JSON bytes")
        try:
            config = json.loads(_data(path, archive, meta).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"load_model: {path!r} has a damaged config: {exc}") from None
        config = _check_config(path, config)
    except BaseException:
        archive.close()
        raise
    return config, entries, archive


def _check_arrays(path, config, entries):
    """Weights and state entries: names, dtypes and 0-d iterations, before reading any data."""
    n = config["n_weights"]
    names = {f"w/{i}" for i in range(n)}
    weights = {k for k in entries if k.startswith("w/")}
    if weights != names:
        missing, extra = sorted(names - weights), sorted(weights - names)
        raise ValueError(f"load_model: {path!r} lacks weight array(s) {missing}" if missing else
                         f"load_model: {path!r} declares {n} weights but holds {extra}")
    dtype = np.dtype(config["dtype"])
    for name, entry in entries.items():
        if name == "opt/iterations":
            if entry.shape != () or entry.dtype.kind not in "iu":
                raise _bad(path, f"opt/iterations holds {entry.dtype} of shape {entry.shape}; expected one int")
        elif entry.dtype != dtype:
            raise _bad(path, f"{name} holds {entry.dtype}; the model's dtype is {dtype}")
    return sum(math.prod(entries[f"w/{i}"].shape) for i in range(n))


def load_model(path, backend=None):
    """The model saved at ``path``, on ``backend`` (default: the backend it was saved from when
    available here, else the current default), compiled with its optimizer state when it was."""
    from nnkit.backend import available_backends, current_backend

    path = os.fspath(path)
    config, entries, archive = _read(path)
    with archive:
        n_numbers = _check_arrays(path, config, entries)
        arrays = {name: _data(path, archive, entry) for name, entry in entries.items()}
    if backend is None:
        backend = config["backend"] if config.get("backend") in available_backends() else current_backend()
    return _build(path, config, arrays, backend, n_numbers)


def _build(path, config, arrays, backend, n_numbers):
    from nnkit import losses, optimizers
    from nnkit.layers import Sequential, layer_from_config

    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise ValueError(f"load_model: {path!r} holds NaN or inf in {name}")
    compiled = config.get("compile")
    try:
        # the architecture may not ask for more parameters than the file holds (drawn in float64)
        with validation.allocation_limit(8 * n_numbers + 1024, "the weights the file holds"):
            layers = [layer_from_config(spec) for spec in config["architecture"]]
            model = Sequential(layers, backend=backend, dtype=config["dtype"], seed=config.get("seed"))
            if not model.built:  # a first layer with input_dim builds the model when it is made
                model.build(tuple(config["input_shape"]))
            elif tuple(model.input_shape) != tuple(config["input_shape"]):
                raise ValueError(f"input_shape {tuple(config['input_shape'])} disagrees with the first "
                                 f"layer's input_dim ({tuple(model.input_shape)})")
        optimizer = optimizers.from_config(compiled["optimizer"]) if compiled else None
        loss = losses.get(compiled["loss"]) if compiled else None
    except (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise ValueError(f"load_model: the architecture or compile settings in {path!r} are damaged: "
                         f"{type(exc).__name__}: {exc}") from None
    sublayers = list(model.sublayers())
    for i in config.get("frozen") or ():
        if i >= len(sublayers) or not hasattr(sublayers[i], "trainable"):
            raise ValueError(f"load_model: {path!r} freezes layer {i}, which the architecture does not "
                             f"have or cannot freeze")
        sublayers[i].trainable = False
    params = model.parameters()
    if config["n_weights"] != len(params):
        raise ValueError(f"load_model: {path!r} declares {config['n_weights']} weights, the architecture "
                         f"has {len(params)}")
    for i, p in enumerate(params):
        if tuple(arrays[f"w/{i}"].shape) != p.shape:
            raise ValueError(f"load_model: {path!r}: w/{i} has shape {arrays[f'w/{i}'].shape}, "
                             f"the architecture's {p.name} has {p.shape}")
    state = {key[4:]: value for key, value in arrays.items() if key.startswith("opt/")}
    if state:
        if not compiled:
            raise ValueError(f"load_model: {path!r} holds optimizer state but no compile settings")
        for key, value in state.items():
            name = key.rpartition("/")[2] if "/" in key else None
            if name in NON_NEGATIVE_STATE.get(type(optimizer).__name__, ()) and (value < 0).any():
                raise ValueError(f"load_model: {path!r}: optimizer state {key} holds negative values "
                                 f"(a sum of squares cannot be negative)")
    try:
        model.set_weights([arrays[f"w/{i}"] for i in range(len(params))])
        if compiled:
            model.compile(optimizer, loss, compiled.get("metrics") or [])
            if state:
                model.optimizer.set_state(state, model.parameters(), model.backend)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"load_model: {path!r} has damaged weights or state: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"load_model: {path!r}: {exc}") from None
    return model
