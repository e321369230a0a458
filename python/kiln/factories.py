"""Making Tensors, as the torch namespace does: ``kiln.tensor``, ``zeros``, ``randn`` ...

Every factory takes ``device=`` (default: ``get_default_device()``, "cpu" unless
``set_default_device`` said otherwise, as torch's). Random tensors are drawn from kiln's one
generator (``kiln.manual_seed``) in host memory and then moved, so a seed gives the same
numbers on every device.
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import backends
from .random import generator
from .tensor import Tensor, device as _device


_default_device = "cpu"


def set_default_device(device) -> None:
    """Where factories, new parameters (nn layers, Keras weights) and Keras inputs go from now on
    (as ``torch.set_default_device``): "cpu" or "cuda". Data passed in explicitly stays where it is."""
    global _default_device
    target = _device(device).type
    if target != "cpu":
        backends.for_device(target)  # RuntimeError now, rather than at the first tensor, if there is none
    _default_device = target


@contextlib.contextmanager
def default_device_scope(device: "str | None"):
    """The default device set to ``device`` inside the block (None: left as it is)."""
    global _default_device
    previous = _default_device
    if device is not None:
        _default_device = device
    try:
        yield
    finally:
        _default_device = previous


def get_default_device() -> _device:
    return _device(_default_device)


def default_device_type() -> str:
    return _default_device


def _on(array: np.ndarray, device, requires_grad: bool = False) -> Tensor:
    target = _default_device if device is None else _device(device).type
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


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _on(np.full(t.shape, fill_value, dtype=dtype or t.dtype), device or t.device, requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (1-D, float32 unless
    ``dtype``), as torch.linspace: the first half counted up from start, the second down from
    end, in the result's float dtype (integer dtypes: computed in float64, then truncated)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    dtype = np.dtype(dtype or np.float32)
    work = dtype if dtype.kind == "f" else np.dtype(np.float64)
    start, end = (float(v.item()) if isinstance(v, Tensor) else v for v in (start, end))
    first, last = work.type(start), work.type(end)
    step = (last - first) / work.type(max(steps - 1, 1))
    index = np.arange(steps)
    halfway = steps // 2
    values = np.where(index < halfway, first + step * index.astype(work),
                      last - step * (steps - index - 1).astype(work)).astype(work)
    if steps == 1:
        values = np.array([first], dtype=work)
    return _on(values.astype(dtype), device, requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(generator().standard_normal(_shape_of(shape)).astype(dtype), device, requires_grad)


def rand(*shape, dtype=np.float32, requires_grad: bool = False, device=None) -> Tensor:
    return _on(generator().random(_shape_of(shape)).astype(dtype), device, requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal values of t's shape (t's dtype and device unless given)."""
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) values of t's shape (t's dtype and device unless given)."""
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _on(generator().integers(low, high, size=tuple(size)).astype(dtype), device)


def randperm(n: int, device=None) -> Tensor:
    return _on(generator().permutation(n).astype(np.int64), device)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False) -> Tensor:
    """Indices drawn from each row of ``input`` (1-D (C,) or 2-D (N, C) non-negative weights, not
    necessarily summing to 1) -> int64 (num_samples,) or (N, num_samples), on input's device, as
    torch.multinomial; drawn from kiln's generator on the host."""
    weights = np.asarray(input.numpy(force=True), dtype=np.float64)
    if weights.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected a 1-D or 2-D tensor of weights, got shape {weights.shape}")
    rows = weights.reshape(-1, weights.shape[-1])
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("multinomial: weights must be finite and non-negative")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: every row of weights must have a positive sum")
    if not replacement and num_samples > int((rows > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                         f"fewer nonzero weights")
    rng = generator()
    drawn = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=row / total)
                      for row, total in zip(rows, totals)]).astype(np.int64)
    return _on(drawn.reshape(weights.shape[:-1] + (num_samples,)), input.device)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like",
           "arange", "linspace", "randn", "rand", "randn_like", "rand_like", "randint", "randperm", "multinomial",
           "is_tensor"]


def eye(n: int, m: int | None = None, dtype=np.float32, device=None, requires_grad: bool = False) -> Tensor:
    """The (n, m) identity (m = n unless given), as torch.eye."""
    return _on(np.eye(n, m, dtype=dtype), device, requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None) -> Tensor:
    """base ** linspace(start, end, steps), as torch.logspace."""
    exponents = linspace(start, end, steps, dtype=np.float64).numpy()
    return _on((float(base) ** exponents).astype(np.dtype(dtype or np.float32)), device)


def randint_like(t: Tensor, low, high=None, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (or [0, low)) of t's shape, t's dtype and device unless given."""
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype, device=device or t.device)


def _new(maker):
    """Tensor.new_zeros / new_ones / new_full / new_empty: t's dtype and device unless given."""
    def method(t: Tensor, *args, dtype=None, device=None, requires_grad: bool = False):
        *size, fill = args if maker is full else (*args, None)
        shape = _shape_of(tuple(size))
        dtype, device = dtype or t.dtype, device or t.device
        made = full(shape, fill, dtype=dtype, device=device) if maker is full else \
            maker(shape, dtype=dtype, device=device)
        return made.requires_grad_(requires_grad) if requires_grad else made
    return method


new_zeros, new_ones, new_full, new_empty = _new(zeros), _new(ones), _new(full), _new(zeros)


def new_tensor(t: Tensor, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return tensor(data, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)
