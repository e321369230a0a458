"""Dataset, TensorDataset, DataLoader and random_split, as ``torch.utils.data``.

The loader batches by fancy indexing whole arrays (no per-sample Python loop) when
the dataset is a TensorDataset, which is what tutorial programs use. With
``num_workers=N`` the batches are made in N worker processes (``_workers.py``) and come
back in the order ``num_workers=0`` gives.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.reduction import ForkingPickler

import numpy as np

from .. import _args
from ..random import generator
from ..tensor import Tensor
from ..tensor_ops import stack
from ._workers import WorkerInfo, WorkerIterator, get_worker_info

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "get_worker_info", "WorkerInfo"]


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the rows of the given tensors (all of the same length)."""

    def __init__(self, *tensors):
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t)) for t in tensors)
        lengths = {len(t) for t in self.tensors}
        if len(lengths) > 1:
            raise ValueError(f"TensorDataset: tensors of different lengths {sorted(lengths)}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths) -> list[Subset]:
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1.0) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths sum to {sum(lengths)}, the dataset has {n} samples")
    order = generator().permutation(n)
    bounds = np.cumsum([0] + list(lengths))
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _collate(samples):
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[i] for s in samples]) for i in range(len(first)))
    return stack([s if isinstance(s, Tensor) else Tensor._wrap(np.asarray(s)) for s in samples])


class _Fetcher:
    """Makes the batch of given indices: one fancy index for a TensorDataset (or a Subset of
    one), else one sample at a time and ``collate_fn``. Picklable, for spawned workers."""

    def __init__(self, dataset: Dataset, collate_fn):
        self.dataset, self.collate_fn = dataset, collate_fn

    def __call__(self, idx: np.ndarray):
        if self.collate_fn is None and isinstance(self.dataset, (TensorDataset, Subset)):
            return self.dataset[idx]
        return (self.collate_fn or _collate)([self.dataset[int(i)] for i in idx])


def _rebuild_tensor(array, requires_grad: bool, device: str) -> Tensor:
    t = Tensor._wrap(array)
    if device != "cpu":
        t = t.to(device)
    return t.requires_grad_(True) if requires_grad else t


def _reduce_tensor(t: Tensor):
    """How a Tensor crosses to and from worker processes: its values, not its tape slot."""
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError("a Tensor that requires grad and is not a leaf cannot be sent to or from a DataLoader "
                           "worker: detach() it")
    return _rebuild_tensor, (t.numpy(force=True), t.requires_grad, t.device.type)


ForkingPickler.register(Tensor, _reduce_tensor)


def _context(multiprocessing_context):
    if multiprocessing_context is None:
        return multiprocessing.get_context()
    if isinstance(multiprocessing_context, str):
        try:
            return multiprocessing.get_context(multiprocessing_context)
        except ValueError:
            raise ValueError(f"DataLoader: multiprocessing_context must be one of "
                             f"{multiprocessing.get_all_start_methods()}, got {multiprocessing_context!r}") from None
    return multiprocessing_context


class DataLoader:
    """Iterate a dataset in batches, optionally shuffled each epoch, as torch's DataLoader.

    num_workers: 0 makes the batches in this process; N > 0 in N worker processes (started
    each epoch with ``multiprocessing_context``: None for the default start method, "fork",
    "spawn", "forkserver" or a context), each seeded base_seed + worker id as torch does,
    then ``worker_init_fn(worker_id)``; the batches come in the same order either way.
    prefetch_factor: batches in flight per worker (default 2). timeout: seconds to wait
    for a worker's batch before a RuntimeError (0: no limit). pin_memory: accepted, and
    nothing to do on the CPU. sampler: an iterable of dataset indices drawn anew each epoch
    (e.g. ``kiln.distributed.DistributedSampler``: this rank's shard), instead of shuffle.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn=None, num_workers: int = 0, pin_memory: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, sampler=None):
        fn = "DataLoader"
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if sampler is not None and not hasattr(sampler, "__iter__"):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices, got {type(sampler).__name__}")
        self.sampler = sampler
        self.batch_size = _args.integer(fn, "batch_size", batch_size, minimum=1)
        self.num_workers = _args.integer(fn, "num_workers", num_workers, minimum=0)
        if prefetch_factor is not None and not self.num_workers:
            raise ValueError("DataLoader: prefetch_factor needs num_workers > 0")
        self.prefetch_factor = _args.integer(fn, "prefetch_factor", 2 if prefetch_factor is None else prefetch_factor,
                                             minimum=1)
        if persistent_workers:
            raise NotImplementedError("DataLoader: persistent_workers is not supported (workers start each epoch)")
        self.timeout = _args.real(fn, "timeout", timeout)
        if not self.timeout >= 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout}")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"DataLoader: worker_init_fn must be callable, got {type(worker_init_fn).__name__}")
        self.dataset, self.shuffle, self.drop_last = dataset, shuffle, drop_last
        self.collate_fn, self.pin_memory, self.worker_init_fn = collate_fn, pin_memory, worker_init_fn
        self.multiprocessing_context = _context(multiprocessing_context) if self.num_workers else None

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self) -> list[np.ndarray]:
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), np.int64)
        else:
            n = len(self.dataset)
            order = generator().permutation(n) if self.shuffle else np.arange(n)
        return [order[start:start + self.batch_size] for start in range(0, len(self) * self.batch_size,
                                                                         self.batch_size)]

    def __iter__(self):
        batches = self._batches()
        # Drawn with or without workers (as torch), so kiln's random stream, and so the next
        # epoch's order, does not depend on num_workers.
        base_seed = int(generator().integers(0, 2**62))
        fetch = _Fetcher(self.dataset, self.collate_fn)
        if not self.num_workers:
            return (fetch(idx) for idx in batches)
        return WorkerIterator(fetch, batches, self.num_workers, self.multiprocessing_context, self.worker_init_fn,
                              base_seed, self.prefetch_factor, self.timeout)
