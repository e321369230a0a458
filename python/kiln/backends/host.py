"""The primitives over NumPy arrays: what both backends of the "cpu" device share.

The reference backend and the native cpu backend hold the same arrays (ndarrays in host
memory), so they share these plain NumPy implementations of ``base.PRIMITIVES`` and differ
only in their kernels. Semantics are NumPy's; shapes are checked by NumPy itself.
"""

from __future__ import annotations

import numpy as np

from .base import Backend


class HostArrays(Backend):
    """Primitives on ndarrays (see base.PRIMITIVES and the table in docs/DESIGN.md)."""

    device = "cpu"
    array_type = np.ndarray

    # ---- moving data -------------------------------------------------------------------

    def from_numpy(self, a: np.ndarray) -> np.ndarray:
        return a

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        return a

    def empty(self, shape, dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    def full(self, shape, value, dtype) -> np.ndarray:
        return np.full(shape, value, dtype)

    def arange(self, start, stop, step, dtype) -> np.ndarray:
        return np.arange(start, stop, step, dtype=dtype)

    def astype(self, a, dtype, copy: bool = True) -> np.ndarray:
        return a.astype(dtype, copy=copy)

    def copy(self, a) -> np.ndarray:
        return np.array(a, copy=True)

    def copy_into(self, dst, src) -> None:
        np.copyto(dst, src, casting="unsafe")

    def fill(self, dst, value) -> None:
        dst[...] = value

    # ---- elementwise ---------------------------------------------------------------------

    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    multiply = staticmethod(np.multiply)
    divide = staticmethod(np.true_divide)
    power = staticmethod(np.power)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    equal = staticmethod(np.equal)
    not_equal = staticmethod(np.not_equal)
    less = staticmethod(np.less)
    less_equal = staticmethod(np.less_equal)
    greater = staticmethod(np.greater)
    greater_equal = staticmethod(np.greater_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_not = staticmethod(np.logical_not)
    negative = staticmethod(np.negative)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    round = staticmethod(np.round)

    def clip(self, a, low, high) -> np.ndarray:
        return np.clip(a, low, high)

    def where(self, condition, a, b) -> np.ndarray:
        return np.where(condition, a, b)

    def add_into(self, dst, src) -> None:
        """dst += src, in place (src broadcast to dst's shape)."""
        np.add(dst, src, out=dst, casting="unsafe")

    # ---- reductions ------------------------------------------------------------------------

    def sum(self, a, axis=None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.sum(a, axis=axis, keepdims=keepdims))

    def max(self, a, axis=None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.max(a, axis=axis, keepdims=keepdims))

    def min(self, a, axis=None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.min(a, axis=axis, keepdims=keepdims))

    def argmax(self, a, axis=None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.argmax(a, axis=axis, keepdims=keepdims), dtype=np.int64)

    def argmin(self, a, axis=None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.argmin(a, axis=axis, keepdims=keepdims), dtype=np.int64)

    def unbroadcast(self, grad, shape: tuple) -> np.ndarray:
        """Sum a broadcast gradient back down to ``shape``."""
        if grad.shape == shape:
            return grad
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = grad.sum(axis=tuple(range(extra)))
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
        return grad.reshape(shape)

    # ---- shapes ------------------------------------------------------------------------------

    def reshape(self, a, shape) -> np.ndarray:
        return a.reshape(shape)

    def transpose(self, a, axes) -> np.ndarray:
        return np.transpose(a, axes)

    def broadcast_to(self, a, shape) -> np.ndarray:
        return np.broadcast_to(a, shape)

    def contiguous(self, a) -> np.ndarray:
        return np.asarray(a, order="C")  # not ascontiguousarray: it makes 0-D arrays 1-D

    def concatenate(self, arrays, axis: int) -> np.ndarray:
        return np.concatenate(arrays, axis=axis)

    def stack(self, arrays, axis: int) -> np.ndarray:
        return np.stack(arrays, axis=axis)

    def tile(self, a, reps) -> np.ndarray:
        return np.tile(a, reps)

    def pad(self, a, widths, value) -> np.ndarray:
        return np.pad(a, widths, constant_values=value)

    # ---- indexing ------------------------------------------------------------------------------

    def getitem(self, a, index) -> np.ndarray:
        return np.asarray(a[index])  # a view; a 0-D array rather than a NumPy scalar

    def setitem(self, a, index, value) -> None:
        a[index] = value

    def index_add(self, a, index, values) -> None:
        """a[index] += values, repeated indices adding up (np.add.at)."""
        np.add.at(a, index, values)

    def take_along_axis(self, a, indices, axis: int) -> np.ndarray:
        return np.take_along_axis(a, indices, axis)

    def put_along_axis(self, a, indices, values, axis: int) -> None:
        np.put_along_axis(a, indices, values, axis)


def check_indices(fn: str, indices: np.ndarray, count: int, name: str = "indices") -> None:
    """ValueError naming the first index outside [0, count) (host arrays)."""
    bad = (indices < 0) | (indices >= count)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{fn}: {name}[{', '.join(map(str, where))}] = {indices[tuple(where)]} "
                         f"is out of range [0, {count})")


def check_class_targets(fn: str, target: np.ndarray, classes: int, ignore_index: int) -> None:
    """ValueError naming the first class index outside [0, classes) that is not ignore_index."""
    bad = (target != ignore_index) & ((target < 0) | (target >= classes))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{fn}: target[{i}] = {target[i]} is out of range [0, {classes}) "
                         f"and is not ignore_index ({ignore_index})")
