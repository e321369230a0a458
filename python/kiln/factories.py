"""Making Tensors, as the torch namespace does: ``kiln.tensor``, ``zeros``, ``randn`` ...

Every factory takes ``device=`` (default "cpu"). Random tensors are drawn from kiln's one
generator (``kiln.manual_seed``) in host memory and then moved, so a seed gives the same
numbers on every device.
"""

from __future__ import annotations

import numpy as np

from . import backends
from .random import generator
from .tensor import Tensor, device as _device


def _on(array: np.ndarray, device, requires_grad: bool = False) -> Tensor:
    target = "cpu" if device is None else _device(device).type
    t = Tensor._wrap(backends.for_device(target).from_numpy(array))
    return t.requires_grad_(True) if requires_grad else t


def _shape_of(shape) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new Tensor copying ``data`` (floats become float32, ints int64, as torch.tensor)."""
    t = Tensor(data, dtype=dtype)
    return _on(t._array, device, requires_grad)


as_tensor = tensor


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(np.zeros(_shape_of(shape), dtype=dtype), device, requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(np.ones(_shape_of(shape), dtype=dtype), device, requires_grad)


def full(shape, fill_value, dtype=np.float32, device=None) -> Tensor:
    return _on(np.full(tuple(shape), fill_value, dtype=dtype), device)


def zeros_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return _on(np.zeros(t.shape, dtype=dtype or t.dtype), device or t.device)


def ones_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return _on(np.ones(t.shape, dtype=dtype or t.dtype), device or t.device)


def arange(*args, dtype=None, device=None) -> Tensor:
    arr = np.arange(*args)
    return _on(arr.astype(dtype or (np.int64 if arr.dtype.kind in "iu" else np.float32)), device)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(generator().standard_normal(_shape_of(shape)).astype(dtype), device, requires_grad)


def rand(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(generator().random(_shape_of(shape)).astype(dtype), device, requires_grad)


def randint(low, high=None, size=(), dtype=np.int64, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _on(generator().integers(low, high, size=tuple(size)).astype(dtype), device)


def randperm(n: int, device=None) -> Tensor:
    return _on(generator().permutation(n).astype(np.int64), device)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like", "arange",
           "randn", "rand", "randint", "randperm", "is_tensor"]
