"""Data-parallel training over MPI (mpi4py; the ``mpich`` wheel by default: ``pip install nnkit[mpi]``).

The design is ChainerMN's: every rank holds the whole model and the whole data set, draws the same
global shuffle from the seed, and computes on its contiguous rows of each global batch of
``batch_size`` rows. Random layers (Dropout, the augmentations) draw the numbers of the whole
global batch on every rank and use their rows, so the masks are those one rank would draw. After
the local backward pass the gradients, each weighted by n_local / n_global, are summed with ONE
Allreduce over a single flat buffer, so every rank applies

    g = sum_r (n_r / n) * mean_{i in rank r} grad_i = mean_{i in batch} grad_i

and the same call trains the same way on 1 or N ranks. Rank 0's initial weights (and optimizer
state) are broadcast first; epoch metrics are summed so History is identical on every rank; only
rank 0 prints and writes checkpoints. On CuPy the flat buffer is reduced with NCCL where it is
available and every rank has its own GPU, else staged through host memory and reduced by MPI;
``path`` says which ran.

Launch with ``mpiexec -n N python script.py`` (or ``mpiexec -n N nnkit train --distributed``).
An uncaught exception on one rank aborts the whole job (MPI_Abort, as ``python -m mpi4py`` does)
instead of leaving the other ranks waiting in a collective forever.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time

import numpy as np

__all__ = ["world", "rank", "size", "install_excepthook", "data_parallel", "DataParallel",
           "DataParallelEngine", "shard_bounds", "find_mpiexec", "cli_setup"]

log = logging.getLogger("nnkit")

PATH_SINGLE = "single rank (no reduction)"
PATH_MPI = "MPI Allreduce on host buffers"
PATH_STAGED = "MPI Allreduce through host buffers (staged from the GPU)"
PATH_NCCL = "NCCL allReduce (cupy.cuda.nccl)"


# -- the communicator ---------------------------------------------------------------------------
def _mpi():
    """mpi4py's MPI module, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "distributed training needs mpi4py and an MPI library: pip install nnkit[mpi] "
            f"(mpi4py + the mpich wheel), then launch with mpiexec -n N ... ({exc})") from None
    except RuntimeError as exc:  # mpi4py found no loadable libmpi
        raise ImportError(f"distributed training: mpi4py could not load an MPI library ({exc}); "
                          "pip install mpich, or point MPI4PY_LIBMPI at one") from None
    return MPI


# launchers announce the job size in the environment; a process that sees it but is alone in
# COMM_WORLD was started by another MPI's mpiexec than the library mpi4py loaded
_LAUNCHER_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def _launcher_size() -> tuple[str, int] | None:
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return var, int(value)
    return None


def world():
    """mpi4py's COMM_WORLD, checked: raises when the launcher and the MPI library disagree."""
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    launched = _launcher_size()
    if comm.Get_size() == 1 and launched is not None:
        var, n = launched
        raise RuntimeError(
            f"distributed: the launcher started {n} processes ({var}={n}) but MPI sees only 1: "
            f"this mpiexec belongs to another MPI than the one mpi4py loaded "
            f"({MPI.Get_library_version().splitlines()[0].strip()}); launch with {find_mpiexec() or 'its mpiexec'}")
    if comm.Get_size() > 1:
        install_excepthook()
    return comm


def __getattr__(name):
    # nk.distributed.comm: COMM_WORLD, initialised (and checked) only when first asked for
    if name == "comm":
        return world()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rank(comm=None) -> int:
    """This process's rank in ``comm`` (COMM_WORLD by default)."""
    return (comm or world()).Get_rank()


def size(comm=None) -> int:
    """The number of ranks in ``comm`` (COMM_WORLD by default)."""
    return (comm or world()).Get_size()


def find_mpiexec() -> str | None:
    """The mpiexec beside this Python (the mpich wheel installs it there), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(here, os.X_OK):
        return here
    return shutil.which("mpiexec")


def install_excepthook() -> None:
    """Make an uncaught exception on any rank abort the whole job (MPI_Abort) after printing it."""
    if getattr(sys.excepthook, "_nnkit_abort", False):
        return
    previous = sys.excepthook

    def abort_on_error(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        try:
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            MPI = _mpi()
            # the other ranks may be waiting in a collective that will never complete
            MPI.COMM_WORLD.Abort(1)

    abort_on_error._nnkit_abort = True
    sys.excepthook = abort_on_error


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a batch of n rows that ``rank`` of ``size`` computes: lo = rank*n // size."""
    return rank * n // size, (rank + 1) * n // size


def cli_setup() -> bool:
    """For ``nnkit train --distributed``: check MPI, silence ranks other than 0; True on rank 0."""
    comm = world()
    if comm.Get_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # only rank 0 prints; errors still reach stderr
    return comm.Get_rank() == 0


# -- the engine fit drives -----------------------------------------------------------------------
class DataParallelEngine:
    """What ``fit(..., distributed=...)`` calls: start, shard, loss_and_grad, average_gradients,
    reduce_epoch. ``path`` names the gradient reduction; ``timings`` holds the seconds spent in it."""

    def __init__(self, comm=None, gradient_path: str = "auto"):
        if gradient_path not in ("auto", "nccl", "host"):
            raise ValueError(f"gradient_path: expected 'auto', 'nccl' or 'host', got {gradient_path!r}")
        if comm is None:
            comm = world()
        elif not all(hasattr(comm, a) for a in ("Get_rank", "Get_size", "Allreduce", "allgather")):
            raise TypeError(f"distributed: expected True or an mpi4py communicator, got {type(comm).__name__}")
        elif comm.Get_size() > 1:
            install_excepthook()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        self.gradient_path = gradient_path
        self.path = None
        self.path_reason = ""
        self.model = None
        self.n_local = self.n_global = 0
        self._layout = None
        self._flat = self._host = None
        self._nccl = None
        self.timings = {"steps": 0, "allreduce_s": 0.0, "pack_s": 0.0}

    # -- before start: every rank's checks ------------------------------------------------------
    def agree(self, error) -> None:
        """Every rank's outcome of fit's checks (``error``: this rank's exception or None): when
        any rank failed, every rank raises, naming the failing ranks and their messages, so none
        is left waiting in a collective (also where the failing rank catches its error)."""
        if self.size == 1:
            if error is not None:
                raise error
            return
        mine = None if error is None else (type(error).__name__, str(error))
        failed = [(r, o) for r, o in enumerate(self.comm.allgather(mine)) if o is not None]
        if not failed:
            return
        listing = "; ".join(f"rank {r}: {kind}: {text}" for r, (kind, text) in failed)
        kind = failed[0][1][0] if error is None else type(error).__name__
        cls = {"ValueError": ValueError, "TypeError": TypeError}.get(kind, RuntimeError)
        raise cls(f"distributed: fit refused on {len(failed)} of {self.size} ranks, so no rank trains: "
                  f"{listing}") from error

    # -- start: agree, broadcast, choose the reduction ------------------------------------------
    def start(self, model, callbacks, X, y, *, epochs, batch_size, shuffle, seed, verbose=0):
        """Check every rank trains the same model on the same data, broadcast rank 0's weights
        and optimizer state, keep checkpoints and printing on rank 0; returns the shuffle seed
        (drawn on rank 0 and broadcast when ``seed`` is None)."""
        self.model = model
        be, params = model.backend, model.parameters()
        xp = be.xp
        local = {
            "parameter shapes": [p.shape for p in params],
            "dtype": be.dtype_name(model.dtype),
            "backend": be.name,
            "layers": [type(layer).__name__ for layer in getattr(model, "layers", [])],
            "loss": type(model.loss).__name__,
            "optimizer": type(model.optimizer).__name__,
            "data shape": (tuple(X.shape), tuple(y.shape)),
            # a fingerprint of the data: the shuffle and the shards assume the same rows everywhere
            "data sums": _data_sums(X, y, xp),
            "epochs, batch_size, shuffle": (epochs, batch_size, bool(shuffle)),
            "seed": _describe_seed(seed),
        }
        local["device"] = be.arrays.device_key()  # None on the host
        infos = self.comm.allgather(local)
        for key in local:
            if key == "device":
                continue
            values = [info[key] for info in infos]
            if any(v != values[0] for v in values[1:]):
                listing = "; ".join(f"rank {r}: {v}" for r, v in enumerate(values))
                what = "the model's shape" if key in ("parameter shapes", "layers") else key
                raise ValueError(f"distributed: ranks disagree on {what} ({key}): {listing}")
        if seed is None:
            # every rank must draw the same global shuffle
            seed = self.comm.bcast(int(np.random.SeedSequence().entropy % 2**63) if self.is_root else None)
        self._broadcast_state(model, params)
        from nnkit.callbacks import ModelCheckpoint

        if not self.is_root:
            for cb in callbacks:
                if isinstance(cb, ModelCheckpoint):
                    cb.enabled = False
                if isinstance(getattr(cb, "verbose", None), (bool, int)):
                    cb.verbose = 0
        self._choose_path(be, [info["device"] for info in infos])
        message = f"data-parallel over {self.size} rank(s); gradients reduced with {self.path}"
        if self.path_reason:
            message += f" ({self.path_reason})"
        log.info(message)
        if verbose and self.is_root:
            print(message, flush=True)
        return seed

    def _broadcast_state(self, model, params):
        """Rank 0's weights (one Bcast of a flat host buffer) and optimizer state to every rank."""
        if self.size == 1:
            return
        be = model.backend
        sizes = [int(np.prod(p.shape)) for p in params]
        buf = np.empty(sum(sizes), dtype=be.dtype_name(model.dtype))
        if self.is_root:
            offset = 0
            for p, n in zip(params, sizes):
                buf[offset:offset + n] = be.to_numpy(p.value).reshape(-1)
                offset += n
        self.comm.Bcast(buf, root=0)
        if not self.is_root:
            weights, offset = [], 0
            for p, n in zip(params, sizes):
                weights.append(buf[offset:offset + n].reshape(p.shape))
                offset += n
            model.set_weights(weights)
        opt = model.optimizer
        steps = self.comm.allgather(int(getattr(opt, "iterations", 0)) + len(getattr(opt, "_state", {}) or {}))
        if any(steps) and hasattr(opt, "get_state"):
            state = self.comm.bcast(opt.get_state(params) if self.is_root else None)
            if not self.is_root:
                opt.set_state(state, params, be)

    def _choose_path(self, be, devices):
        """NCCL where every rank is on CuPy with NCCL and its own GPU; else MPI on host buffers."""
        self.path_reason = ""
        self._nccl = None
        if self.size == 1:
            self.path = PATH_SINGLE
            return
        if be.is_host:
            self.path = PATH_MPI
            return
        _array_module(be)  # other array-API namespaces: refuse now, not at the first step
        reason = None
        if self.gradient_path == "host":
            reason = "gradient_path='host'"
        elif any(d is None or d[0] is None for d in devices):
            reason = "cupy.cuda.nccl is not available on every rank"
        elif len({d[1:] for d in devices}) < len(devices):
            reason = "some ranks share a GPU, which NCCL refuses"
        if reason is not None:
            if self.gradient_path == "nccl":
                raise ValueError(f"gradient_path='nccl': cannot use NCCL: {reason}")
            self.path, self.path_reason = PATH_STAGED, reason
            return
        self._nccl = be.arrays.communicator(self.comm)  # made once per process, reused
        self.path = PATH_NCCL

    # -- per step -----------------------------------------------------------------------------
    def shard(self, xb, yb):
        """This rank's contiguous rows of the global batch (xb, yb); remembers n_local, n_global
        and tells the model's layers, whose random draws then cover the global batch."""
        n = xb.shape[0]
        lo, hi = shard_bounds(n, self.rank, self.size)
        self.n_local, self.n_global = hi - lo, n
        if self.size == 1:
            return xb, yb
        for layer in self.model.sublayers():
            layer.global_rows = (n, lo, hi)
        return xb[lo:hi], yb[lo:hi]

    def finish(self):
        """The end of fit: the layers draw for their own batches again."""
        if self.model is not None:
            for layer in self.model.sublayers():
                layer.global_rows = None

    def loss_and_grad(self, xb, yb):
        """(global-batch loss, out): the model's step on this rank's rows (``shard``'s), then the
        gradients averaged over the ranks. A rank without rows runs it with a zero loss (the mean
        over no rows is undefined) and still joins the Allreduce, with zeros."""
        model = self.model
        loss, out, _ = model._step(xb, yb, loss_op=None if self.n_local else self._no_rows)
        total = self.average_gradients(model.parameters(), loss)
        self._average_replica_statistics(model)
        return total, out

    def _average_replica_statistics(self, model):
        """Layers that normalise each rank's rows (BatchNormalization) leave their batch statistics in
        ``replica_statistics``: their mean over the ranks, weighted by n_r/n, in one Allreduce, goes
        to the layers' update_moving_statistics."""
        layers = [layer for layer in model.sublayers() if getattr(layer, "replica_statistics", None) is not None]
        if not layers:
            return
        be, weight = model.backend, (self.n_local / self.n_global if self.n_global else 0.0)
        stats = [be.to_numpy(s).astype(np.float64).reshape(-1) for layer in layers for s in layer.replica_statistics]
        flat = np.concatenate(stats) * weight if weight else np.zeros(sum(s.size for s in stats))
        self.comm.Allreduce(_mpi().IN_PLACE, flat, op=_mpi().SUM)
        offset = 0
        for layer in layers:
            means = []
            for s in layer.replica_statistics:
                means.append(be.asarray(flat[offset:offset + s.size].reshape(s.shape), dtype=model.dtype))
                offset += s.size
            layer.update_moving_statistics(*means)

    def _no_rows(self, out, yb):
        """(0, zeros): the loss and its gradient on a rank's empty share of a batch."""
        xp = self.model.backend.xp
        return xp.zeros((), dtype=out.dtype), xp.zeros_like(out)

    def average_gradients(self, params, loss):
        """Set each p.grad to the global-batch gradient, sum_r (n_r/n) grad_r, with ONE Allreduce
        over a flat buffer [gradients..., loss]; returns the global-batch loss."""
        if self.size == 1:
            return loss
        t0 = time.perf_counter()
        be = self.model.backend
        weight = self.n_local / self.n_global if self.n_global else 0.0
        buffers = getattr(self.model, "flat_buffers", None) or ()
        if len(buffers) == 1 and buffers[0].holds(params):
            return self._reduce_flat(buffers[0], loss, weight, be, t0)
        flat, segments = self._buffer(params, be)
        mod = _array_module(be)
        for p, (lo, hi) in zip(params, segments):
            if p.grad is None or weight == 0.0:
                flat[lo:hi] = 0  # a rank without rows (or without this gradient) adds nothing
            else:
                mod.multiply(p.grad.reshape(-1), weight, out=flat[lo:hi])
        flat[-1] = float(loss) * weight if be.is_host else loss * weight
        t1 = time.perf_counter()
        self._allreduce(flat, be)
        t2 = time.perf_counter()
        for p, (lo, hi) in zip(params, segments):
            # a parameter without a gradient has none on any rank (same model): it stays None;
            # the others become views of the buffer, read by the optimizer before the next pack
            if p.grad is not None:
                p.grad = flat[lo:hi].reshape(p.shape)
        total = flat[-1] if be.is_host else flat[-1].copy()
        self.timings["steps"] += 1
        self.timings["pack_s"] += (t1 - t0) + (time.perf_counter() - t2)
        self.timings["allreduce_s"] += t2 - t1
        return total

    def _reduce_flat(self, buffer, loss, weight, be, t0):
        """The model's flat gradient buffer, weighted, reduced in place with the loss in its spare
        entry: nothing is packed or unpacked."""
        flat = buffer.reduction
        if not be.is_host and (self._host is None or self._host.shape != tuple(flat.shape)):
            self._host = np.zeros(flat.shape, dtype=be.dtype_name(flat.dtype))  # for staging
        flat[:-1] *= weight
        flat[-1] = float(loss) * weight if be.is_host else loss * weight
        t1 = time.perf_counter()
        self._allreduce(flat, be)
        t2 = time.perf_counter()
        total = flat[-1] if be.is_host else flat[-1].copy()
        self.timings["steps"] += 1
        self.timings["pack_s"] += (t1 - t0) + (time.perf_counter() - t2)
        self.timings["allreduce_s"] += t2 - t1
        return total

    def _buffer(self, params, be):
        layout = tuple(p.shape for p in params)
        if layout != self._layout:
            segments, offset = [], 0
            for shape in layout:
                n = int(np.prod(shape))
                segments.append((offset, offset + n))
                offset += n
            dtype = be.dtype_name(self.model.dtype)
            self._flat = _array_module(be).zeros(offset + 1, dtype=dtype)
            self._host = np.zeros(offset + 1, dtype=dtype) if not be.is_host else None
            self._segments, self._layout = segments, layout
        return self._flat, self._segments

    def _allreduce(self, flat, be):
        # by NCCL where the path chose it, else by MPI (on a device through the host buffer)
        be.allreduce(self.comm, flat, self._nccl, self._host)

    # -- per epoch ----------------------------------------------------------------------------
    def reduce_epoch(self, loss_sum, metric_sums):
        """(loss_sum, metric_sums) over the whole data: metric sums over samples are summed over
        ranks; loss_sum already adds global-batch losses, so it is left as it is."""
        if self.size == 1 or not metric_sums:
            return loss_sum, metric_sums
        buf = np.array([float(s) for s in metric_sums], dtype=np.float64)
        self.comm.Allreduce(_mpi().IN_PLACE, buf, op=_mpi().SUM)
        return loss_sum, [float(s) for s in buf]


def _array_module(be):
    """The backend's own array library (NumPy on the host, CuPy on the GPU), for out= and in-place
    slices."""
    if be.array_module is not None:
        return be.array_module
    raise ValueError(f"distributed: backend {be.name!r} is not supported; expected numpy, numba or cupy")


def _data_sums(X, y, xp):
    """(sum X, sum y) in float64, where the data is: on the host when fit stages it from there."""
    xs = np if isinstance(X, np.ndarray) else xp
    return float(xs.sum(X, dtype=xs.float64)), float(xs.sum(y, dtype=xs.float64))


def _describe_seed(seed):
    if seed is None or isinstance(seed, (int, np.integer)):
        return seed if seed is None else int(seed)
    if isinstance(seed, np.random.Generator):
        return repr(seed.bit_generator.state)
    return repr(seed)


def data_parallel(distributed, model) -> DataParallelEngine:
    """The engine for ``fit(..., distributed=...)``: True (COMM_WORLD), a communicator, or a
    DataParallel wrapper (whose engine is reused so its path and timings stay readable)."""
    if isinstance(distributed, DataParallel):
        return distributed.engine
    if isinstance(distributed, DataParallelEngine):
        return distributed
    if distributed is True:
        return DataParallelEngine()
    return DataParallelEngine(distributed)


class DataParallel:
    """``DataParallel(model, comm=None).fit(...)`` = ``model.fit(..., distributed=comm or True)``;
    other attributes are the model's. ``path`` and ``timings`` report the gradient reduction."""

    def __init__(self, model, comm=None, gradient_path: str = "auto"):
        if not hasattr(model, "fit") or not hasattr(model, "parameters"):
            raise TypeError(f"model: expected an nnkit model, got {type(model).__name__}")
        self.model = model
        self.engine = DataParallelEngine(comm, gradient_path)
        self.comm = self.engine.comm

    def fit(self, X, y, **kwargs):
        """Train data-parallel over the communicator's ranks (see Model.fit)."""
        if kwargs.pop("distributed", None) not in (None, True, False, self, self.comm):
            raise ValueError("DataParallel.fit: distributed= is set by the wrapper")
        return self.model.fit(X, y, distributed=self, **kwargs)

    @property
    def rank(self) -> int:
        return self.engine.rank

    @property
    def size(self) -> int:
        return self.engine.size

    @property
    def is_root(self) -> bool:
        return self.engine.is_root

    @property
    def path(self):
        return self.engine.path

    @property
    def timings(self) -> dict:
        return self.engine.timings

    def __getattr__(self, name):
        if name == "model":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.model, name)
