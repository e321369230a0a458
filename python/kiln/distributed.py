"""Data-parallel training over MPI (mpi4py), in the PyTorch idiom; kiln.keras's fit uses it too.

Launch N copies of one program, ``mpiexec -n N python train.py`` (or ``srun``); each is a
rank. ``init()`` reads the MPI world; ``DistributedDataParallel(model)`` makes each backward
average the gradients across ranks; ``DistributedSampler`` gives each rank its shard of the
data. Run alone (no mpiexec), a program behaves as without this module: world size 1.

How gradients travel: the optimizer keeps its parameters' gradients in one flat buffer
(kiln.optim's ``GradBuffer``; the tape writes each gradient straight into its slice).
The parameters are grouped, last first (the order the backward finishes them), into buckets
of about 25 MB of that buffer. Each leaf of the tape carries a hook (``Leaf.hook``, run once
a backward has accumulated that leaf's gradient); when a bucket's last gradient is written,
its slice of the flat buffer starts a non-blocking ``Iallreduce`` in place while the backward
goes on, and the backward's last hook waits for them all, so ``optimizer.step()`` sees the
averaged gradients. A bucket whose gradients do not lie side by side in one host buffer (no
optimizer yet, device arrays on an MPI that is not CUDA-aware) is packed into a host staging
buffer and unpacked after its reduction.

mpi4py is optional (``pip install "kiln[mpi]"``): ``import kiln`` never imports it, and
nothing here does until ``init()`` (or a call that needs MPI) runs with more than one rank
launched.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
import weakref

import numpy as np

from . import backends, versions
from .tensor import Tensor

# Environment variables that say a launcher started this process as one of several
# (Hydra/MPICH, Open MPI, PMIx, Slurm's srun): read without importing mpi4py.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")
_LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")

BUCKET_BYTES = 25 * 1024 * 1024  # PyTorch DDP's default bucket_cap_mb; what fit's buckets hold


class _World:
    initialized = False  # init() has run (alone: a world of one, no MPI)
    comm = None          # mpi4py's COMM_WORLD after init() with a launcher
    MPI = None           # the mpi4py.MPI module
    rank = 0
    size = 1
    local_size = 1
    cuda_aware = False


_world = _World()


def _env_int(names) -> int | None:
    for name in names:
        value = os.environ.get(name, "")
        head = value.split("(")[0].split(",")[0]  # Slurm writes e.g. "2(x3)"
        if head.isdigit():
            return int(head)
    return None


def launched_size() -> int:
    """How many ranks the launcher started, from its environment (1 when run alone): what
    kiln.keras's ``fit`` reads to decide whether to ``init()``; imports nothing."""
    return _env_int(_SIZE_VARIABLES) or 1


def _threads_per_rank(local_ranks: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, local_ranks))


def default_threads() -> None:
    """At ``import kiln``: under a launcher with several ranks, cores / ranks-on-this-node
    kernel threads (from the launcher's environment), unless OMP_NUM_THREADS is set; nothing
    when run alone. init() sets it again from the MPI world's count."""
    if "OMP_NUM_THREADS" in os.environ or launched_size() == 1:
        return
    backends.set_num_threads(_threads_per_rank(_env_int(_LOCAL_SIZE_VARIABLES) or launched_size()))


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError("kiln.distributed needs mpi4py and an MPI library: pip install \"kiln[mpi]\" "
                          "(mpi4py and the MPICH wheel), or mpi4py built against your cluster's MPI") from error
    return MPI


def _cuda_aware(MPI) -> bool:
    """Whether this MPI accepts device pointers (MPICH and Open MPI say so through MPIX_Query_cuda_support)."""
    query = getattr(MPI, "Query_cuda_support", None)
    if query is not None:
        try:
            return bool(query())
        except Exception:  # an MPI without the MPIX extension raises NotImplementedError; nothing else is known
            return False
    return False


def _abort_on_exception(kind, value, tb) -> None:
    """sys.excepthook on every rank of a world > 1: print the error, then end the whole job
    (MPI_Abort), so the other ranks do not wait forever in a collective for this one."""
    # One write, then a moment for the launcher to forward it: MPI_Abort kills every rank,
    # and output still in a pipe (this rank's or another's) can be lost with them.
    message = (f"kiln.distributed: rank {_world.rank} of {_world.size} raised; aborting the job\n"
               + "".join(traceback.format_exception(kind, value, tb)))
    sys.stdout.flush()
    sys.stderr.write(message)
    sys.stderr.flush()
    time.sleep(0.5)
    _world.comm.Abort(1)


def init(verbose: bool = True) -> None:
    """Join the MPI world (idempotent). Run alone (no launcher, or one rank) it is a world
    of one and MPI (mpi4py) is not even imported. With more than one rank:

    - each rank's CPU kernels use cores / ranks-on-this-node threads, unless OMP_NUM_THREADS
      is set (it wins) or ``kiln.set_num_threads`` is called afterwards;
    - an uncaught exception on any rank prints its traceback and aborts the whole job
      (``MPI_Abort``, exit code 1), never leaving the others waiting;
    - rank 0 prints one line: ranks, threads, and how device buffers travel (passed to MPI
      directly when it is CUDA-aware, staged through host memory otherwise).
    """
    if _world.initialized:
        return
    if launched_size() == 1:  # alone (or mpiexec -n 1): a world of one; MPI is never started
        _world.initialized = True
        return
    MPI = _mpi()
    _world.initialized = True
    comm = MPI.COMM_WORLD
    _world.MPI, _world.comm = MPI, comm
    _world.rank, _world.size = comm.Get_rank(), comm.Get_size()
    if _world.size == 1:
        return
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    _world.local_size = local.Get_size()
    local.Free()
    _world.cuda_aware = _cuda_aware(MPI)
    if "OMP_NUM_THREADS" not in os.environ:
        backends.set_num_threads(_threads_per_rank(_world.local_size))
    sys.excepthook = _abort_on_exception
    if verbose and _world.rank == 0:
        library = MPI.Get_library_version().splitlines()[0].strip()
        device = ("passed to MPI directly (CUDA-aware MPI)" if _world.cuda_aware
                  else "staged through host memory (MPI not CUDA-aware)")
        print(f"kiln.distributed: {_world.size} ranks ({_world.local_size} on this node), "
              f"{backends.get_num_threads()} kernel threads each; device buffers {device}; {library}",
              file=sys.stderr, flush=True)


def is_initialized() -> bool:
    """Whether ``init()`` has run (alone: a world of one)."""
    return _world.initialized


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 when not initialized)."""
    return _world.rank


def world_size() -> int:
    """The number of ranks (1 when not initialized)."""
    return _world.size


def barrier() -> None:
    """Wait until every rank gets here (nothing to do in a world of one)."""
    if _world.size > 1:
        _world.comm.Barrier()


def _require_world(fn: str) -> None:
    if not _world.initialized and launched_size() > 1:
        raise RuntimeError(f"kiln.distributed.{fn}: call kiln.distributed.init() first")


# ---- buffers -----------------------------------------------------------------------------------

def _host_view(array):
    """(buffer MPI can read and write, write_back or None): an ndarray as it is, a device
    array itself on a CUDA-aware MPI, else a host copy and the function that copies it back."""
    if isinstance(array, np.ndarray):
        return array, None
    be = backends.select(None, array)
    if _world.cuda_aware and hasattr(array, "__cuda_array_interface__"):
        from . import cuda

        cuda.synchronize()  # the kernels that wrote it may still be running
        return array, None
    host = np.ascontiguousarray(be.to_numpy(array))
    return host, lambda: be.copy_into(array, be.from_numpy(host))


_OPS = ("sum", "mean", "max", "min")


def all_reduce(tensor: Tensor, op: str = "mean") -> Tensor:
    """Reduce ``tensor`` (any shape) across ranks in place: "mean" (default), "sum", "max" or
    "min"; every rank ends with the result. Returns the tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"all_reduce: tensor must be a kiln.Tensor, got {type(tensor).__name__}")
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
    _require_world("all_reduce")
    if _world.size == 1:
        return tensor
    MPI = _world.MPI
    array = tensor._array
    if isinstance(array, np.ndarray) and not array.flags.c_contiguous:
        buf = np.ascontiguousarray(array)
        write_back = lambda: np.copyto(array, buf)  # noqa: E731
    else:
        buf, write_back = _host_view(array)
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    _world.comm.Allreduce(MPI.IN_PLACE, buf, op=mpi_op)
    if op == "mean":
        if isinstance(buf, np.ndarray):
            buf /= _world.size
        else:
            be = backends.select(None, buf)
            be.copy_into(buf, be.divide(buf, be.full((), _world.size, buf.dtype)))
    if write_back is not None:
        write_back()
    versions.bump(array)
    return tensor


def _parameters(module_or_params) -> list[Tensor]:
    """The tensors a model is made of: a kiln.nn Module's parameters and buffers, a Keras
    model's weights (trainable or not), or a sequence of Tensors."""
    if hasattr(module_or_params, "named_parameters") and hasattr(module_or_params, "named_buffers"):
        tensors = [p for _, p in module_or_params.named_parameters()]
        tensors += [b for _, b in module_or_params.named_buffers() if isinstance(b, Tensor)]
        return tensors
    if hasattr(module_or_params, "weights") and not isinstance(module_or_params, (list, tuple)):
        return [getattr(w, "value", w) if not isinstance(w, Tensor) else w for w in module_or_params.weights]
    tensors = list(module_or_params)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"broadcast_parameters: item {i} is a {type(t).__name__}, not a kiln.Tensor")
    return tensors


def broadcast_parameters(module_or_params, root: int = 0) -> None:
    """Overwrite every rank's parameters (and a Module's buffers) with ``root``'s, in place.

    First every rank's list of (shape, dtype) is compared with root's: ranks that built
    different models raise the same ValueError on every rank (naming the first parameter that
    differs and the rank), instead of exchanging mismatched bytes or hanging."""
    _require_world("broadcast_parameters")
    tensors = _parameters(module_or_params)
    if _world.size == 1:
        return
    comm = _world.comm
    if not 0 <= root < _world.size:
        raise ValueError(f"broadcast_parameters: root must be a rank in [0, {_world.size}), got {root}")
    layout = [(tuple(t.shape), str(t.dtype)) for t in tensors]
    layouts = comm.allgather(layout)
    want = layouts[root]
    for r, got in enumerate(layouts):
        if got == want:
            continue
        if len(got) != len(want):
            raise ValueError(f"broadcast_parameters: rank {r} has {len(got)} parameters, rank {root} has "
                             f"{len(want)}: the ranks built different models")
        i = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        raise ValueError(f"broadcast_parameters: parameter {i} has shape {got[i][0]} ({got[i][1]}) on rank {r} "
                         f"but {want[i][0]} ({want[i][1]}) on rank {root}: the ranks built different models")
    # One message: every parameter packed into one host buffer per dtype.
    by_dtype: dict[str, list[Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(str(t.dtype), []).append(t)
    for group in by_dtype.values():
        be_arrays = [(backends.select(None, t._array), t) for t in group]
        if _world.rank == root:
            flat = np.concatenate([np.asarray(be.to_numpy(t._array)).reshape(-1) for be, t in be_arrays])
        else:
            flat = np.empty(sum(t.numel() for t in group), np.dtype(str(group[0].dtype)))
        comm.Bcast(flat, root=root)
        if _world.rank == root:
            continue
        offset = 0
        for be, t in be_arrays:
            n = t.numel()
            part = flat[offset:offset + n].reshape(t.shape)
            offset += n
            if isinstance(t._array, np.ndarray):
                t._array[...] = part
            else:
                be.copy_into(t._array, be.from_numpy(np.ascontiguousarray(part)))
            versions.bump(t._array)


# ---- gradient averaging -------------------------------------------------------------------------

class _Bucket:
    __slots__ = ("indices", "remaining", "buffer", "staged", "request")

    def __init__(self, indices):
        self.indices = indices      # parameter indices, in the order their gradients arrive
        self.remaining = len(indices)
        self.buffer = None          # what MPI reduces: a slice of the flat buffer, or a staging array
        self.staged = None          # [(gradient array, offset, size)] when buffer is a staging copy
        self.request = None


def _address(array) -> int | None:
    if isinstance(array, np.ndarray) and array.flags.c_contiguous:
        return array.__array_interface__["data"][0]
    return None


class _Hook:
    """Leaf.hook for parameter ``index`` of a reducer, held weakly: a model dropped with its
    reducer leaves no cycle through the tape's leaves."""

    __slots__ = ("reducer", "index")

    def __init__(self, reducer, index: int):
        self.reducer, self.index = weakref.ref(reducer), index

    def __call__(self):
        reducer = self.reducer()
        if reducer is not None:
            reducer.ready(self.index)


class GradientReducer:
    """Sums (``scale`` x gradient) across ranks for ``params`` during each backward, in
    buckets of ``bucket_bytes``: what DistributedDataParallel and Keras's fit use. ``scale``
    is 1 / world size for an average; fit sets it per batch to local rows / global rows so
    uneven shards still give the gradient of the global batch's mean loss.

    Statistics for the overlap: ``wait_seconds`` (time the backward's end spent waiting for
    reductions still in flight), ``steps``, ``reduced_bytes`` (per step)."""

    def __init__(self, params, bucket_bytes: int | None = None):
        _require_world("DistributedDataParallel")
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("DistributedDataParallel: the model has no parameter that requires grad")
        self.bucket_bytes = int(BUCKET_BYTES if bucket_bytes is None else bucket_bytes)
        if self.bucket_bytes < 1:
            raise ValueError(f"DistributedDataParallel: the bucket size must be >= 1 byte, got {bucket_bytes}")
        self.scale = 1.0 / _world.size
        self.enabled = True
        self.buckets: list[_Bucket] = []
        self.bucket_of: list[int] = []
        self._layout_key = None
        self._pending = 0       # buckets not yet started this backward
        self._in_step = False   # a backward has written some gradient and not finished
        self._nodes = []
        self.wait_seconds = 0.0
        self.steps = 0
        self.reduced_bytes = 0
        if _world.size > 1:
            self.attach()

    def attach(self) -> None:
        """Put the hooks on the parameters' current leaves (again after a leaf was replaced)."""
        self._nodes = [p._node for p in self.params]
        for i, node in enumerate(self._nodes):
            node.hook = _Hook(self, i)

    def detach(self) -> None:
        for node in self._nodes:
            node.hook = None
        self._nodes = []

    # -- layout: which parameters share a bucket, and where each bucket's bytes are
    def _plan(self) -> None:
        """Buckets over the gradients' current destinations (the optimizer's flat buffer once
        it exists), last parameter first; planned again whenever the destinations change."""
        dests = [node.destination for node in self._nodes]
        key = tuple(id(d) for d in dests)
        if key == self._layout_key:
            for b in self.buckets:
                b.remaining, b.request = len(b.indices), None
            self._pending = len(self.buckets)
            return
        self._layout_key = key
        self.buckets, self.bucket_of = [], [0] * len(self.params)
        current, size = [], 0
        for i in reversed(range(len(self.params))):
            nbytes = self.params[i].numel() * np.dtype(str(self.params[i].dtype)).itemsize
            if current and (size + nbytes > self.bucket_bytes or
                            str(self.params[i].dtype) != str(self.params[current[0]].dtype)):
                self.buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(i)
            size += nbytes
        if current:
            self.buckets.append(_Bucket(current))
        for b, bucket in enumerate(self.buckets):
            for i in bucket.indices:
                self.bucket_of[i] = b
        self._pending = len(self.buckets)

    def _flat_slice(self, bucket: _Bucket):
        """The bucket's gradients as one slice of the flat host buffer, or None when they are
        not side by side there (then they are staged)."""
        views = [self._nodes[i].destination for i in bucket.indices]
        if any(v is None or _address(v) is None for v in views):
            return None
        bases = {id(v.base) for v in views}
        base = views[0].base
        if len(bases) != 1 or base is None or not isinstance(base, np.ndarray) or base.ndim != 1 \
                or not base.flags.c_contiguous:
            return None
        order = sorted(views, key=_address)
        for a, b in zip(order, order[1:]):
            if _address(a) + a.nbytes != _address(b):
                return None
        start = (_address(order[0]) - _address(base)) // base.itemsize
        return base[start:start + sum(v.size for v in views)]

    # -- the hook
    def ready(self, index: int) -> None:
        if not self.enabled:
            return
        if not self._in_step:
            self._plan()
            self._in_step = True
        bucket = self.buckets[self.bucket_of[index]]
        bucket.remaining -= 1
        if bucket.remaining == 0:
            self._start(bucket)
            if self._pending == 0:
                self.finish()
                return
        self._progress()

    def _start(self, bucket: _Bucket) -> None:
        MPI = _world.MPI
        flat = self._flat_slice(bucket)
        if flat is not None:
            bucket.buffer, bucket.staged = flat, None
        else:
            grads = [self._grad_array(i) for i in bucket.indices]
            staged, offset = [], 0
            hosts = []
            for g in grads:
                host = np.asarray(backends.select(None, g).to_numpy(g)).reshape(-1)
                staged.append((g, offset, host.size))
                hosts.append(host)
                offset += host.size
            bucket.buffer, bucket.staged = np.concatenate(hosts), staged
        if self.scale != 1.0:
            bucket.buffer *= bucket.buffer.dtype.type(self.scale)
        bucket.request = _world.comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
        self._pending -= 1

    def _grad_array(self, i: int):
        g = self._nodes[i].grad
        if g is None:  # no gradient on this rank (unused parameter): it contributes zeros
            p = self.params[i]
            be = backends.select(None, p._array)
            g = be.full(tuple(p.shape), 0, p._array.dtype)
            view = self._nodes[i].destination
            if view is not None:
                be.copy_into(view, g)
                g = view
            self._nodes[i].grad = g
        return g

    def _progress(self) -> None:
        """Let MPI move bytes of the reductions in flight (MPICH and Open MPI progress a
        non-blocking collective only inside MPI calls)."""
        requests = [b.request for b in self.buckets if b.request is not None]
        if requests:
            _world.MPI.Request.Testall(requests)

    def finish(self) -> None:
        """Start every bucket not started yet (a parameter with no gradient on this rank
        counts as zeros), wait for all, and unpack the staged ones: after it, every rank holds
        the same reduced gradients. The backward's last hook calls it; kiln.keras's fit calls
        it (through contribute_zeros) for a rank without rows in a batch."""
        if not self._in_step:
            return
        for bucket in self.buckets:
            if bucket.request is None:
                bucket.remaining = 0
                for i in bucket.indices:
                    self._grad_array(i)
                self._start(bucket)
        start = time.perf_counter()
        _world.MPI.Request.Waitall([b.request for b in self.buckets])
        self.wait_seconds += time.perf_counter() - start
        for bucket in self.buckets:
            if bucket.staged is not None:
                for g, offset, size in bucket.staged:
                    be = backends.select(None, g)
                    part = bucket.buffer[offset:offset + size].reshape(g.shape)
                    if isinstance(g, np.ndarray):
                        g[...] = part
                    else:
                        be.copy_into(g, be.from_numpy(np.ascontiguousarray(part)))
            bucket.request, bucket.staged = None, None
        self.reduced_bytes = sum(b.buffer.nbytes for b in self.buckets)
        self.steps += 1
        self._in_step = False

    def contribute_zeros(self) -> None:
        """Take part in a step without a backward (this rank has no rows of the batch): every
        bucket is reduced with zero gradients, so the other ranks' reductions are matched."""
        if not self.enabled or _world.size == 1:
            return
        self._plan()
        self._in_step = True
        self.finish()

    @property
    def in_progress(self) -> bool:
        return self._in_step


class DistributedDataParallel:
    """Wrap a kiln.nn Module for data-parallel training, as torch's
    ``torch.nn.parallel.DistributedDataParallel``: rank 0's parameters and buffers are
    broadcast to every rank now, and each backward through the wrapper's output averages the
    parameters' gradients across ranks (in ~25 MB buckets, overlapped with the backward;
    ``bucket_cap_mb`` as torch). Calls go to the module's ``forward``; ``.module`` is the
    model itself (save its ``state_dict`` on rank 0). Build the optimizer over
    ``ddp.parameters()`` (the module's) before or after wrapping.

    Every parameter must get a gradient in every backward (torch's default,
    find_unused_parameters=False): a backward that leaves some without one raises at the
    next forward. ``no_sync()`` skips the averaging (gradient accumulation), as torch."""

    def __init__(self, module, device_ids=None, bucket_cap_mb: float = 25, broadcast_buffers: bool = True):
        init()
        self.module = module
        broadcast_parameters(module)
        self.reducer = GradientReducer(list(module.parameters()), int(bucket_cap_mb * 1024 * 1024))

    def __call__(self, *args, **kwargs):
        reducer = self.reducer
        if reducer.in_progress:
            raise RuntimeError("DistributedDataParallel: the previous backward left some parameters without a "
                               "gradient, so their averaging never finished on this rank (every parameter must "
                               "take part in the loss; torch's find_unused_parameters is not supported)")
        if any(p._node is not n for p, n in zip(reducer.params, reducer._nodes)):
            reducer.attach()  # a parameter's leaf was replaced (e.g. requires_grad toggled)
        return self.module(*args, **kwargs)

    forward = __call__

    def parameters(self, recurse: bool = True):
        return self.module.parameters(recurse)

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        return self.module.named_parameters(prefix, recurse)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict: bool = True):
        return self.module.load_state_dict(state_dict, strict)

    def train(self, mode: bool = True):
        self.module.train(mode)
        return self

    def eval(self):
        self.module.eval()
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.module.zero_grad(set_to_none)

    def no_sync(self):
        """A context in which backwards accumulate gradients locally, without averaging."""
        import contextlib

        @contextlib.contextmanager
        def context():
            previous, self.reducer.enabled = self.reducer.enabled, False
            try:
                yield
            finally:
                self.reducer.enabled = previous
        return context()


# ---- data ------------------------------------------------------------------------------------

class DistributedSampler:
    """The indices of this rank's shard of a dataset, as torch's
    ``torch.utils.data.DistributedSampler``: every epoch one permutation of all indices (seeded
    ``seed + epoch``, the same on every rank: call ``set_epoch(epoch)`` before each epoch to
    reshuffle), padded by repeating its first indices to a multiple of ``num_replicas`` (so
    every rank gets the same number of samples, hence of batches, even for a dataset smaller
    than the world) or, with ``drop_last``, cut to one; rank r takes every num_replicas-th
    index from r. Use it as ``DataLoader(dataset, batch_size, sampler=sampler)``."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            init()
        self.num_replicas = world_size() if num_replicas is None else int(num_replicas)
        self.rank = globals()["rank"]() if rank is None else int(rank)
        if self.num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {self.num_replicas}), got {rank}")
        self.dataset, self.shuffle, self.seed, self.drop_last = dataset, bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if n == 0:
            raise ValueError("DistributedSampler: the dataset is empty")
        if self.drop_last and n < self.num_replicas:
            raise ValueError(f"DistributedSampler: drop_last with {n} samples and {self.num_replicas} ranks leaves "
                             "no sample per rank")
        self.num_samples = n // self.num_replicas if self.drop_last else math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        n = len(self.dataset)
        order = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        if self.total_size > n:
            order = np.resize(order, self.total_size)  # repeats from the start, as torch's padding
        order = order[:self.total_size]
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())


__all__ = ["init", "is_initialized", "rank", "world_size", "barrier", "broadcast_parameters", "all_reduce",
           "DistributedDataParallel", "DistributedSampler", "GradientReducer", "launched_size", "BUCKET_BYTES"]
