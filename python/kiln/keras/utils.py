"""keras.utils: set_random_seed, to_categorical, pad_sequences."""

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
