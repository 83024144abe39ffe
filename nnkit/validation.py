"""The checks every public entry point shares: numbers, seeds, data, labels and sizes.

Each raises a ValueError or TypeError whose message names the argument, what was expected and
what came (DESIGN.md, "Bad input"). NumPy scalars are accepted wherever Python numbers are. Data
checks run on the backend's arrays batch by batch, so checking a large data set never allocates
a temporary of its size.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
import os
import threading

import numpy as np

__all__ = ["integer", "number", "flag", "seed", "numeric_kind", "check_finite", "check_labels",
           "rollback_build", "check_plan", "check_allocation", "allocation_limit", "all_finite", "describe"]

# rows of a large array checked at a time: the boolean temporary stays near this many elements
FINITE_CHUNK_ELEMENTS = 1 << 20


def describe(value) -> str:
    """A short description of what came: its repr, or for an array its type, shape and dtype."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "ndim", 0) > 0:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _prefix(owner):
    return f"{owner}: " if owner else ""


def integer(name: str, value, minimum=None, owner=None) -> int:
    """``value`` as an int (a Python or NumPy integer, never a bool) >= ``minimum``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = operator.index(value)
    if not ok or (minimum is not None and value < minimum):
        bound = "" if minimum is None else (" >= 1 (a positive int)" if minimum == 1 else f" >= {minimum}")
        raise ValueError(f"{_prefix(owner)}{name}: expected an int{bound}, got {describe(value)}")
    return value


def number(name: str, value, *, low=None, high=None, high_open=False, low_open=False, owner=None) -> float:
    """``value`` as a finite float in the interval given, else an error naming ``name``."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Real) and (
            getattr(value, "ndim", 0) != 0 or not hasattr(value, "__float__")):
        raise TypeError(f"{_prefix(owner)}{name}: expected a number, got {describe(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{_prefix(owner)}{name}: expected a number, got {describe(value)} ({exc})") from None
    if not math.isfinite(x):
        raise ValueError(f"{_prefix(owner)}{name}: expected a finite number, got {value!r}")
    too_low = low is not None and (x < low or (low_open and x == low))
    too_high = high is not None and (x > high or (high_open and x == high))
    if too_low or too_high:
        if high is None:
            expected = f"a number {'>' if low_open else '>='} {low}"
        else:
            expected = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{_prefix(owner)}{name}: expected {expected}, got {value!r}")
    return x


def flag(name: str, value, owner=None) -> bool:
    """``value`` as a bool (True, False or a NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_prefix(owner)}{name}: expected True or False, got {describe(value)}")
    return bool(value)


def seed(value, name: str = "seed"):
    """``value`` as a seed: None, a non-negative int (Python or NumPy) or a numpy Generator."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = operator.index(value)
        if value < 0:
            raise ValueError(f"{name}: expected a non-negative int, got {value}")
        return value
    raise TypeError(f"{name}: expected None, a non-negative int or a numpy.random.Generator, "
                    f"got {describe(value)}")


# -- data ---------------------------------------------------------------------------------------
_KIND_NAMES = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "b": "booleans", "M": "datetimes", "m": "timedeltas", "V": "raw records"}


def _missing_value(a) -> str | None:
    """'None', 'pd.NA', 'NaN', ... for the first missing entry of an object array, else None."""
    for v in np.asarray(a, dtype=object).reshape(-1):
        if v is None:
            return "None"
        kind = type(v).__name__
        if kind in ("NAType", "NaTType"):
            return "pd.NA" if kind == "NAType" else "pd.NaT"
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
    return None


def numeric_kind(a, argument: str, allowed: str = "fiu", hint: str = "") -> None:
    """Refuse data whose dtype is not a number (strings, objects, complex, booleans, ...)."""
    dtype = getattr(a, "dtype", None)
    if dtype is None and type(a).__module__.startswith("cupy"):
        return  # the model says which backend a CuPy array needs
    if dtype is None:
        try:
            dtype = np.asarray(a).dtype
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{argument}: expected a numeric array, got {type(a).__name__} ({exc})") from None
    kind = getattr(dtype, "kind", None)
    if kind is None or kind in allowed:
        return
    if kind == "O":
        missing = _missing_value(a)
        if missing is not None:
            raise ValueError(f"{argument}: contains missing values ({missing}); drop or fill them first")
    what = _KIND_NAMES.get(kind, str(dtype))
    raise TypeError(f"{argument}: expected a numeric array, got dtype {dtype} ({what}){hint}")


def _chunks(a):
    n = a.shape[0] if a.ndim else 1
    per_row = max(1, math.prod(a.shape[1:]) if a.ndim > 1 else 1)
    rows = max(1, FINITE_CHUNK_ELEMENTS // per_row)
    if a.ndim == 0:
        yield 0, a
        return
    for start in range(0, n, rows):
        yield start, a[start:min(start + rows, n), ...]


def all_finite(xp, a) -> bool:
    """Whether every element of ``a`` is finite, checked chunk by chunk (no full-size temporary)."""
    if a.size <= FINITE_CHUNK_ELEMENTS:
        return bool(xp.all(xp.isfinite(a)))
    return all(bool(xp.all(xp.isfinite(part))) for _, part in _chunks(a))


def check_finite(xp, a, argument: str, source=None) -> None:
    """Refuse NaN or inf in ``a``, naming the first bad row; ``source``, the array ``a`` was
    converted from, tells an overflow of the model's dtype from a NaN or inf that came in."""
    for start, part in _chunks(a):
        if bool(xp.all(xp.isfinite(part))):
            continue
        bad = ~xp.isfinite(part)
        if part.ndim > 1:
            bad = xp.any(xp.reshape(bad, (part.shape[0], -1)), axis=1)
        row = start + int(xp.argmax(xp.astype(bad, xp.int8) if part.ndim else bad))
        where = f" (row {row})" if a.ndim else ""
        came = _source_values(source, row if a.ndim else None)
        if came is not None and np.all(np.isfinite(came)):
            big = float(np.max(np.abs(came)))
            raise ValueError(f"{argument}: the value {big:g}{where} overflows {a.dtype} (largest "
                             f"{float(np.finfo(np.dtype(str(a.dtype))).max):g}); rescale the data or use dtype='float64'")
        what = "NaN" if bool(xp.any(xp.isnan(part))) else "inf"
        raise ValueError(f"{argument}: contains NaN or inf ({what}{where})")


def _source_values(source, row):
    """Row ``row`` of the caller's array as float64 NumPy values, or None when it cannot tell."""
    if source is None or type(source).__module__.startswith("cupy"):
        return None
    try:
        a = np.asarray(source)
        if a.dtype.kind not in "fiu":
            return None
        return np.asarray(a if row is None or a.ndim == 0 else a[row], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        return None


def check_labels(xp, y, argument: str, n_classes: int) -> None:
    """Integer labels in [0, n_classes): finite, whole, in range, checked on the values as they
    came (a float label of 1e20 is reported as 1e20, not as the integer it would wrap to)."""
    if xp.isdtype(y.dtype, "real floating"):
        for start, part in _chunks(y):
            if not bool(xp.all(xp.isfinite(part))):
                row = start + int(xp.argmax(xp.astype(~xp.isfinite(part), xp.int8)))
                value = float(part[row - start])
                raise ValueError(f"{argument}: contains {'NaN' if value != value else value} labels "
                                 f"(row {row}); labels must be integers in [0, {n_classes})")
            if not bool(xp.all(part == xp.round(part))):
                raise ValueError(f"{argument}: sparse labels must be integers, got non-integer values "
                                 f"near row {start}")
    low, high = xp.min(y), xp.max(y)
    if bool((low < 0) | (high >= n_classes)):  # one read of the device, not two
        fmt = (lambda v: f"{float(v):g}") if xp.isdtype(y.dtype, "real floating") else (lambda v: str(int(v)))
        raise ValueError(f"{argument}: labels must lie in [0, {n_classes}) for {n_classes} outputs, "
                         f"got range [{fmt(low)}, {fmt(high)}]")


# -- a rejected call leaves an unbuilt model unbuilt ---------------------------------------------
@contextlib.contextmanager
def rollback_build(model):
    """Undo a build the checks inside the block did, when they raise: the model stays unbuilt."""
    was_built = model.built
    try:
        yield
    except BaseException:
        if not was_built and model.built:
            for layer in model.sublayers():
                layer.built = False
            model.built = False
        raise


# -- sizes --------------------------------------------------------------------------------------
def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


_local = threading.local()


def _stack() -> list:
    """This thread's builds in progress: [bytes allocated so far, limit or None, what it is]."""
    if not hasattr(_local, "budgets"):
        _local.budgets = []
    return _local.budgets


@contextlib.contextmanager
def allocation_limit(nbytes=None, what="what the file holds"):
    """Inside the block the parameters built, all together, may take at most ``nbytes`` (a loaded
    file's architecture may not ask for more than the file holds) and this machine's memory."""
    _budgets = _stack()
    if _budgets and nbytes is None:
        yield  # a layer inside a model's build: the model's budget counts
        return
    _budgets.append([0, None if nbytes is None else int(nbytes), what])
    try:
        yield
    finally:
        _budgets.pop()


def _limits():
    """(bytes, what) a build may not exceed: this machine's memory, and an enclosing limit."""
    limits = [(_physical_memory(), "this machine's memory")]
    budgets = _stack()
    if budgets and budgets[-1][1] is not None:
        limits.append((budgets[-1][1], budgets[-1][2]))
    return [(limit, what) for limit, what in limits if limit is not None]


def check_plan(layers, input_shape) -> None:
    """Refuse a stack of layers whose parameters, as far as the layers can tell before building
    (``Layer._parameter_plan``), would not fit: before any of them is allocated."""
    total, shape = 0, tuple(input_shape)
    for i, layer in enumerate(layers):
        plan = layer._parameter_plan(shape)
        if plan is None:
            return  # the rest is checked as it is built
        count, shape = plan
        total += count
        for limit, what in _limits():
            if 8 * total > limit:  # initial weights are drawn in float64
                raise ValueError(f"{type(layer).__name__} (layer {i + 1}): the network's parameters up to this "
                                 f"layer ({total:.3g} numbers, {8 * total / 2**30:.3g} GiB as drawn) do not fit "
                                 f"in {what} ({limit / 2**30:.3g} GiB); nothing was allocated")


def check_allocation(owner: str, shape, itemsize: int) -> None:
    """Refuse, before allocating, a parameter of ``shape`` that with the build's others would not
    fit in this machine's memory (or in the limit an enclosing ``allocation_limit`` sets)."""
    count = math.prod(int(d) for d in shape)
    nbytes = count * int(itemsize)
    _budgets = _stack()
    used = _budgets[-1][0] if _budgets else 0
    for limit, what in _limits():
        if used + nbytes > limit:
            raise ValueError(f"{owner}: a parameter of shape {tuple(shape)} ({count:.3g} numbers, "
                             f"{nbytes / 2**30:.3g} GiB, {(used + nbytes) / 2**30:.3g} GiB with the layers "
                             f"before it) does not fit in {what} ({limit / 2**30:.3g} GiB)")
    if _budgets:
        _budgets[-1][0] = used + nbytes
