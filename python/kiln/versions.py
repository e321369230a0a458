"""Write counts of array storage, for caches of data derived from weights (the LSTM cell's
packed weights, nn.functional.lstm_cell).

Every in-place write kiln makes to an array calls ``bump(array)``: Tensor in-place ops
(copy_, fill_, setitem, the init functions, ``.data =``; load_state_dict and Keras weight
assignment go through copy_), an optimizer's step (once per group, on its flat buffer),
and the data-parallel broadcasts. ``version(array)`` is the count of the storage the array
views, so a write through any view of it, through ``.data`` or through the flat buffer
counts for every Tensor over that memory; ``Tensor._version`` reads it, as torch's does.
Writes made outside kiln (NumPy on ``t.numpy()``) are not seen, as in torch.

The storage of an ndarray is the array its ``.base`` chain ends at; another backend's
array counts on itself. Counts live in one table keyed by the storage's id and leave it
when the storage is freed (a weak reference), so a new array at the same id starts at 0.
"""

from __future__ import annotations

import weakref

import numpy as np

_counts: dict[int, list] = {}  # id(storage) -> [count, weak reference to the storage]


def _storage(array):
    while isinstance(array, np.ndarray) and isinstance(array.base, np.ndarray):
        array = array.base
    return array


def version(array) -> int:
    """How many times kiln has written into ``array``'s storage (0 if never)."""
    root = _storage(array)
    entry = _counts.get(id(root))
    return entry[0] if entry is not None and entry[1]() is root else 0


def bump(array) -> None:
    """Record an in-place write into ``array`` (or any view of its storage)."""
    root = _storage(array)
    key = id(root)
    entry = _counts.get(key)
    if entry is not None and entry[1]() is root:
        entry[0] += 1
        return
    try:
        ref = weakref.ref(root, lambda _, key=key: _counts.pop(key, None))
    except TypeError:  # storage that cannot be weakly referenced is not counted
        return
    _counts[key] = [1, ref]
