"""keras.utils: set_random_seed, to_categorical, pad_sequences, PyDataset."""

from __future__ import annotations

import random

import numpy as np

from ..random import manual_seed


def set_random_seed(seed: int) -> None:
    """Seed kiln's generator, NumPy's global one and Python's ``random``: repeatable runs."""
    manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Integer labels (...,) -> one-hot (..., num_classes)."""
    y = np.asarray(y, dtype=np.int64)
    if y.ndim and y.shape[-1] == 1 and y.ndim > 1:
        y = y[..., 0]
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes})")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Lists of token ids -> a (num_sequences, maxlen) array, padded and truncated as Keras."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError("pad_sequences: padding and truncating must be 'pre' or 'post'")
    sequences = [list(s) for s in sequences]
    maxlen = max((len(s) for s in sequences), default=0) if maxlen is None else int(maxlen)
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not seq or maxlen == 0:
            continue
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "post":
            out[i, :len(seq)] = seq
        else:
            out[i, -len(seq):] = seq
    return out


class PyDataset:
    """Batches by index, for fit, evaluate and predict (Keras 3's ``keras.utils.PyDataset``):
    subclass it and define ``__len__`` (the number of batches) and ``__getitem__(index)``
    returning (x, y), (x, y, sample_weight), or x alone for predict; ``on_epoch_end()`` runs
    after each epoch (``on_epoch_begin()`` before). Call ``super().__init__(**kwargs)``.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted; kiln reads the
    batches in the training thread, one at a time, in order (shuffled per epoch by fit's
    ``shuffle``).
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self._workers, self._use_multiprocessing, self._max_queue_size = workers, use_multiprocessing, max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    @property
    def num_batches(self):
        """The number of batches: ``len(self)`` (None where __len__ is not defined)."""
        try:
            return len(self)
        except TypeError:
            return None

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


Sequence = PyDataset  # the Keras 2 name
