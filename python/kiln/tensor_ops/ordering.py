"""Orders, running sums and scatters: sort, argsort, cumsum, cumprod, roll, unique, nonzero,
scatter, scatter_add, unbind.

There is no sort or scan primitive: sort, argsort, cumsum, cumprod, unique and nonzero compute
in NumPy on the host (free for the cpu device's arrays, one round trip for a device's) and the
result goes back to the input's device; their gradients (sort, cumsum, cumprod) are
primitives. roll and the scatters are primitives throughout.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import backends
from ..tensor import Tensor
from ._common import _operand, _record, as_tensor
from .reductions import MaxResult
from .shapes import _index_array, cat


def _on_host(be, a) -> np.ndarray:
    return np.asarray(be.to_numpy(a))


def _dim(fn: str, x: Tensor, dim: int) -> int:
    n = builtins.max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{fn}: dim {dim} is out of range for a tensor of {x.ndim} dimensions")
    return dim % n


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False):
    """(values, indices) along ``dim``, ascending unless ``descending``, as torch.sort (NaN last
    ascending, first descending). Equal values keep their order (a stable sort, always)."""
    del stable  # always stable
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    dim = _dim("sort", x, dim)
    host = _on_host(be, a)
    if host.ndim == 0:
        host_indices = np.zeros((), np.int64)
    elif descending:  # stable descending: sort the reversed axis ascending by negated keys
        if host.dtype.kind == "f":
            keys = np.where(np.isnan(host), -np.inf, -host.astype(np.float64))  # NaN first, as torch
        else:
            keys = ~host if host.dtype.kind == "b" else -host.astype(np.int64)
        host_indices = np.argsort(keys, axis=dim, kind="stable")
    else:
        host_indices = np.argsort(host, axis=dim, kind="stable")
    indices = be.from_numpy(host_indices.astype(np.int64))
    values = be.take_along_axis(a, indices, dim) if host.ndim else be.copy(a)

    def backward(g):
        grad = be.full(a.shape, 0, a.dtype)
        be.put_along_axis(grad, indices, g, dim)  # a permutation: a put is an add
        return (grad,)
    return MaxResult(_record(values, (x,), backward), Tensor._wrap(indices))


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(x, dim, descending, stable).indices


def _scan(fn: str, x, dim: int, dtype, step, backward_of):
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    dim = _dim(fn, x, dim)
    host = _on_host(be, a)
    if dtype is not None:
        host = host.astype(np.dtype(dtype))
    elif host.dtype.kind in "biu":  # torch: integer and bool scans give int64
        host = host.astype(np.int64)
    out_host = step(host, dim) if host.ndim else host.copy()
    out = be.from_numpy(np.ascontiguousarray(out_host))
    return _record(out, (x,), lambda g: (backward_of(be, g, a, out, dim),))


def _reverse_cumsum(be, g, dim):
    flipped = np.flip(_on_host(be, g), dim)
    return be.from_numpy(np.ascontiguousarray(np.flip(np.cumsum(flipped, axis=dim), dim)))


def cumsum(x, dim: int, dtype=None) -> Tensor:
    """Running sums along ``dim`` (integers and bools sum as int64), as torch.cumsum."""
    return _scan("cumsum", x, dim, dtype, lambda h, d: np.cumsum(h, axis=d),
                 lambda be, g, a, out, d: _reverse_cumsum(be, g, d))


def cumprod(x, dim: int, dtype=None) -> Tensor:
    """Running products along ``dim``, as torch.cumprod (the gradient assumes no zeros in x)."""
    def backward(be, g, a, out, d):  # d out_j / d x_i = out_j / x_i for j >= i
        return be.divide(_reverse_cumsum(be, be.multiply(g, out), d), a)
    return _scan("cumprod", x, dim, dtype, lambda h, d: np.cumprod(h, axis=d), backward)


def roll(x, shifts, dims=None) -> Tensor:
    """Elements shifted along ``dims`` (the flattened tensor when None), wrapping round, as torch.roll."""
    x = as_tensor(x)
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for shift, dim in zip(shifts, dims):
        dim = _dim("roll", x, dim)
        n = x.shape[dim]
        if n == 0 or shift % n == 0:
            continue
        cut = n - shift % n
        before = (slice(None),) * dim
        x = cat([x[before + (slice(cut, n),)], x[before + (slice(0, cut),)]], dim)
    return x


def unique(x, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim=None):
    """The distinct values, ascending, as torch.unique (flattened; ``dim`` is not supported)."""
    if dim is not None:
        raise NotImplementedError("unique: dim is not supported by kiln; unique over the flattened tensor only")
    x = as_tensor(x)
    be = backends.select(None, x._array)
    values, inverse, counts = np.unique(_on_host(be, x._array), return_inverse=True, return_counts=True)
    out = [Tensor._wrap(be.from_numpy(values))]
    if return_inverse:
        out.append(Tensor._wrap(be.from_numpy(inverse.reshape(x.shape).astype(np.int64))))
    if return_counts:
        out.append(Tensor._wrap(be.from_numpy(counts.astype(np.int64))))
    return out[0] if len(out) == 1 else tuple(out)


def nonzero(x, as_tuple: bool = False):
    """Indices of the non-zero entries: (count, ndim) int64, or one 1-D tensor per dimension."""
    x = as_tensor(x)
    be = backends.select(None, x._array)
    where = np.nonzero(_on_host(be, x._array))
    if as_tuple:
        return tuple(Tensor._wrap(be.from_numpy(w.astype(np.int64))) for w in where)
    return Tensor._wrap(be.from_numpy(np.stack(where, axis=1).astype(np.int64).reshape(-1, x.ndim)))


def argwhere(x) -> Tensor:
    return nonzero(x)


def _scatter_grid(be, idx, dim):
    grid = [be.reshape(be.arange(0, n, 1, np.int64), (1,) * d + (n,) + (1,) * (idx.ndim - d - 1))
            for d, n in enumerate(idx.shape)]
    grid[dim] = idx
    return tuple(grid)


def _gathered(be, g, idx, dim):
    """g at the scattered positions, index's shape (gather's rule: off ``dim``, g's leading part)."""
    window = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))
    return be.take_along_axis(be.getitem(g, window), idx, dim)


def _scatter_args(fn, x, dim, index, src):
    x = as_tensor(x)
    be = backends.select(None, x._array, getattr(index, "_array", None), getattr(src, "_array", None))
    dim = _dim(fn, x, dim)
    idx = _index_array(fn, index, be, x.shape[dim], f"dimension {dim}")
    if idx.ndim != x.ndim:
        raise ValueError(f"{fn}: index must have as many dimensions as the input ({x.ndim}), got {idx.ndim}")
    if isinstance(src, Tensor):
        window = tuple(slice(0, n) for n in idx.shape)
        values = be.getitem(src._array, window)
    else:
        values = be.broadcast_to(_operand(src, x._array, be), tuple(idx.shape))
    return x, be, dim, idx, values


def scatter(x, dim: int, index, src=None, value=None, reduce=None) -> Tensor:
    """x with out[index[i][j]][j] = src[i][j] for dim 0 (likewise any dim), as torch.scatter;
    ``src`` a tensor or a number (``value=``). Repeated indices: one of the writes wins."""
    if reduce is not None:
        raise NotImplementedError("scatter: reduce= is not supported by kiln; use scatter_add for sums")
    src = value if src is None else src
    x, be, dim, idx, values = _scatter_args("scatter", x, dim, index, src)
    grid = _scatter_grid(be, idx, dim)
    out = be.copy(x._array)
    be.setitem(out, grid, be.astype(values, out.dtype))
    parents = (x, src) if isinstance(src, Tensor) else (x,)

    def backward(g):
        grad_x = be.copy(g)
        be.setitem(grad_x, grid, be.full((), 0, g.dtype))
        if len(parents) == 1:
            return (grad_x,)
        grad_src = be.full(src.shape, 0, g.dtype)
        be.setitem(grad_src, tuple(slice(0, n) for n in idx.shape), _gathered(be, g, idx, dim))
        return grad_x, grad_src
    return _record(out, parents, backward)


def scatter_add(x, dim: int, index, src) -> Tensor:
    """x with src added at out[index[i][j]][j] for dim 0 (likewise any dim), repeated indices
    adding up, as torch.scatter_add."""
    x, be, dim, idx, values = _scatter_args("scatter_add", x, dim, index, src)
    out = be.copy(x._array)
    be.index_add(out, _scatter_grid(be, idx, dim), be.astype(values, out.dtype))
    parents = (x, src) if isinstance(src, Tensor) else (x,)

    def backward(g):
        if len(parents) == 1:
            return (g,)
        grad_src = be.full(src.shape, 0, g.dtype)
        be.setitem(grad_src, tuple(slice(0, n) for n in idx.shape), _gathered(be, g, idx, dim))
        return g, grad_src
    return _record(out, parents, backward)


def unbind(x, dim: int = 0) -> tuple:
    """The slices along ``dim``, that dimension removed, as torch.unbind."""
    x = as_tensor(x)
    dim = _dim("unbind", x, dim)
    return tuple(x[(slice(None),) * dim + (i,)] for i in range(x.shape[dim]))


__all__ = ["argsort", "argwhere", "cumprod", "cumsum", "nonzero", "roll", "scatter", "scatter_add", "sort",
           "unbind", "unique"]
