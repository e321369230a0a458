"""Dataset, TensorDataset, DataLoader and random_split, as ``torch.utils.data``.

The loader batches by fancy indexing whole arrays (no per-sample Python loop) when
the dataset is a TensorDataset, which is what tutorial programs use.
"""

from __future__ import annotations

import numpy as np

from ..random import generator
from ..tensor import Tensor
from ..tensor_ops import stack


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


class DataLoader:
    """Iterate a dataset in batches, optionally shuffled each epoch."""

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn=None, **_ignored):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = generator().permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                return
            if self.collate_fn is None and isinstance(self.dataset, (TensorDataset, Subset)):
                yield self.dataset[idx]
            else:
                batch = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or _collate)(batch)
