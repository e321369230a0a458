"""Shapes, indexing and joins of Tensors, with their gradients.

reshape and permute record the tape's native nodes (their backward is a reshape or a
transpose of the gradient, on any backend); the rest record closures over primitives.
"""

from __future__ import annotations

from builtins import max as builtins_max, sum as builtins_sum

import numpy as np

from .. import backends, versions
from ..autograd import PermuteBackward, ReshapeBackward, edges
from ..tensor import Tensor
from ._common import _operand, _record, _shape_arg, as_tensor
from .math import where


def reshape(x, *shape):
    shape = _shape_arg(shape)
    a = x._array
    out = backends.select(None, a).reshape(a, shape)
    e = edges((x,))
    return Tensor._wrap(out) if e is None else Tensor._recorded(out, ReshapeBackward(e, tuple(a.shape)))


def view_as(x, other):
    return reshape(x, other.shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


def unsqueeze(x, dim: int):
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if x.shape[dim] != 1:
        return x
    dim = dim % x.ndim
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def permute(x, *dims):
    dims = tuple(d % x.ndim for d in _shape_arg(dims))
    a = x._array
    out = backends.select(None, a).transpose(a, dims)
    e = edges((x,))
    if e is None:
        return Tensor._wrap(out)
    return Tensor._recorded(out, PermuteBackward(e, tuple(int(i) for i in np.argsort(dims))))


def transpose(x, dim0: int, dim1: int):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def t(x):
    return transpose(x, 0, 1) if x.ndim == 2 else x


def T(x):  # noqa: N802 (torch's name)
    return permute(x, *reversed(range(x.ndim)))


def contiguous(x):
    """The same tensor when its memory is already in row-major order (kiln's kernels copy
    strided inputs themselves, so a copy here would be a second one)."""
    return x


def expand(x, *shape):
    shape = _shape_arg(shape)
    a = x._array
    lead = len(shape) - a.ndim
    shape = tuple(a.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    be = backends.select(None, a)
    return _record(be.broadcast_to(a, shape), (x,), lambda g: (be.unbroadcast(g, tuple(a.shape)),))


def repeat(x, *reps):
    reps = _shape_arg(reps)
    a = x._array
    be = backends.select(None, a)
    out = be.tile(a, reps)

    def backward(g):
        shape = (1,) * (len(reps) - a.ndim) + tuple(a.shape)
        split = []
        for r, n in zip(reps, shape):
            split += [r, n]
        return (be.reshape(be.sum(be.reshape(g, split), tuple(range(0, 2 * len(reps), 2))), a.shape),)
    return _record(out, (x,), backward)


def _index_of(index):
    if isinstance(index, Tensor):
        return index._array
    if isinstance(index, tuple):
        return tuple(i._array if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(x, index):
    index = _index_of(index)
    a = x._array
    be = backends.select(None, a)

    def backward(g):
        grad = be.full(a.shape, 0, a.dtype)
        be.index_add(grad, index, g)
        return (grad,)
    return _record(be.getitem(a, index), (x,), backward)


def _index_array(fn: str, index, be, size: int, what: str):
    """An integer index Tensor/array on ``be``'s device, every entry in [0, size) (torch refuses
    negative indices here)."""
    array = index._array if isinstance(index, Tensor) else index if backends.is_array(index) else \
        be.from_numpy(np.asarray(index))
    if array.dtype.kind not in "iu":
        raise TypeError(f"{fn}: index must be an integer tensor, got {array.dtype}")
    if array.size:
        lo, hi = int(be.to_numpy(be.min(array))), int(be.to_numpy(be.max(array)))
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{fn}: index {bad} is out of bounds for {what} with size {size}")
    return array


def index_select(x, dim: int, index) -> Tensor:
    """The slices of x at ``index`` (1-D integers) along ``dim``: shape x.shape with dim -> len(index)."""
    x = as_tensor(x)
    be = backends.select(None, x._array)
    dim = dim % max(x.ndim, 1)
    array = _index_array("index_select", index, be, x.shape[dim] if x.ndim else 1, f"dimension {dim}")
    if array.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {tuple(array.shape)}")
    return getitem(x, (slice(None),) * dim + (be.reshape(array, (-1,)),))


def gather(x, dim: int, index) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and likewise for any dim), as torch.gather.

    index has x's number of dimensions and, off ``dim``, sizes no larger than x's; out has
    index's shape. The gradient adds into x's positions (repeated indices add up).
    """
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a, getattr(index, "_array", None))
    if x.ndim == 0:
        raise ValueError("gather: the input needs at least one dimension")
    dim = dim % x.ndim
    idx = _index_array("gather", index, be, x.shape[dim], f"dimension {dim}")
    if idx.ndim != x.ndim or any(i > n for d, (i, n) in enumerate(zip(idx.shape, x.shape)) if d != dim):
        raise ValueError(f"gather: index of shape {tuple(idx.shape)} does not fit input of shape {x.shape} "
                         f"(same number of dimensions, sizes no larger off dim {dim})")
    window = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))
    out = be.take_along_axis(be.getitem(a, window), idx, dim)

    def backward(g):
        grid = [be.reshape(be.arange(0, n, 1, np.int64), (1,) * d + (n,) + (1,) * (idx.ndim - d - 1))
                for d, n in enumerate(idx.shape)]
        grid[dim] = idx
        grad = be.full(a.shape, 0, a.dtype)
        be.index_add(grad, tuple(grid), g)
        return (grad,)
    return _record(out, (x,), backward)


def masked_fill(x, mask, value) -> Tensor:
    """x with ``value`` (a number, or a 0-d tensor) where the bool ``mask`` (broadcast to x's
    shape) is True; the gradient flows to x where it is False (and to a 0-d tensor value where True)."""
    x = as_tensor(x)
    be = backends.select(None, x._array, getattr(mask, "_array", None))
    mask_array = _operand(mask, x._array, be)
    if mask_array.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask_array.dtype}")
    try:
        fits = np.broadcast_shapes(tuple(mask_array.shape), x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {tuple(mask_array.shape)} does not broadcast to {x.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        if value.dtype != x.dtype:
            value = value.type(x.dtype)
    else:
        value = Tensor._wrap(be.from_numpy(np.asarray(value, dtype=x.dtype)))
    return where(Tensor._wrap(mask_array), value, x)


def setitem(x, index, value):
    x._check_inplace()
    be = backends.select(None, x._array)
    be.setitem(x._array, _index_of(index), _operand(value, x._array, be))
    versions.bump(x._array)


def iterate(x):
    for i in range(len(x)):
        yield getitem(x, i)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    arrays = [t._array for t in tensors]
    be = backends.select(None, *arrays)
    out = be.concatenate(arrays, dim)
    bounds = np.cumsum([0] + [a.shape[dim] for a in arrays])
    dim = dim % out.ndim
    slices = [(slice(None),) * dim + (slice(int(lo), int(hi)),) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return _record(out, tensors, lambda g: tuple(be.getitem(g, s) for s in slices))


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    arrays = [t._array for t in tensors]
    be = backends.select(None, *arrays)
    out = be.stack(arrays, dim)
    dim = dim % out.ndim
    picks = [(slice(None),) * dim + (i,) for i in range(len(arrays))]
    return _record(out, tensors, lambda g: tuple(be.getitem(g, p) for p in picks))


def pad(x, widths, value: float = 0.0) -> Tensor:
    """Constant padding: ``widths`` one (before, after) pair per axis, first axis first."""
    a = x._array
    be = backends.select(None, a)
    inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, a.shape))
    return _record(be.pad(a, widths, value), (x,), lambda g: (be.contiguous(be.getitem(g, inner)),))


def _triangle(x, diagonal: int, lower: bool) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'}: expected at least 2 dimensions, got shape {x.shape}")
    be = backends.select(None, x._array)
    rows, cols = x.shape[-2:]
    offset = be.subtract(be.reshape(be.arange(0, cols, 1, np.int64), (1, cols)),
                         be.reshape(be.arange(0, rows, 1, np.int64), (rows, 1)))  # column - row
    keep = be.less_equal(offset, diagonal) if lower else be.greater_equal(offset, diagonal)
    zero = Tensor._wrap(be.full((), 0, x.dtype))
    return where(Tensor._wrap(keep), x, zero)


def tril(x, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (column - row <= diagonal), the rest 0."""
    return _triangle(x, diagonal, lower=True)


def triu(x, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (column - row >= diagonal), the rest 0."""
    return _triangle(x, diagonal, lower=False)


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of x along ``dim``: of ``split_size`` each (the last smaller), or of the sizes listed."""
    x = as_tensor(x)
    dim = dim % x.ndim
    n = x.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if builtins_sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to dimension {dim}'s size {n}")
    else:
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(x, (slice(None),) * dim + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """x split into ``chunks`` pieces along ``dim`` (each ceil(n / chunks), the last smaller), as torch."""
    x = as_tensor(x)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[dim % x.ndim]
    return split(x, builtins_max(-(-n // chunks), 1), dim)


def flip(x, dims) -> Tensor:
    """x with the order of the given axes reversed."""
    x = as_tensor(x)
    dims = {d % x.ndim for d in ((dims,) if isinstance(dims, int) else dims)}
    be = backends.select(None, x._array)
    index = tuple(be.arange(n - 1, -1, -1, np.int64) if d in dims else slice(None) for d, n in enumerate(x.shape))
    out = x
    for d in sorted(dims):
        out = getitem(out, (slice(None),) * d + (index[d],))
    return out


def narrow(x, dim: int, start: int, length: int) -> Tensor:
    """x[..., start:start + length, ...] along ``dim`` (torch's narrow; start may be negative)."""
    x = as_tensor(x)
    dim = dim % x.ndim
    n = x.shape[dim]
    start = start + n if start < 0 else start
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} are outside dimension {dim} of size {n}")
    return getitem(x, (slice(None),) * dim + (slice(start, start + length),))


__all__ = ["tril", "triu", "split", "chunk", "flip", "index_select", "gather", "masked_fill", "reshape", "view_as",
           "flatten", "unsqueeze", "squeeze", "permute", "transpose", "t", "T",
           "contiguous", "expand", "repeat", "getitem", "setitem", "iterate", "cat", "stack", "pad", "narrow"]
