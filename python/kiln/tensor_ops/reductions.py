"""Reductions over Tensors, with their gradients: sum, mean, max/min (with indices), argmax/argmin,
any/all, var/std, norm, topk. Integer and bool sums stay int64, as torch's."""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import backends
from ..tensor import Tensor
from ._common import _record, as_tensor
from .math import _stepwise, abs, mul, pow, sqrt, sub

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def sum(x, dim=None, keepdim: bool = False, axis=None):  # noqa: A001
    x = as_tensor(x)
    dim = axis if dim is None else dim
    a = x._array
    be = backends.select(None, a)
    out = be.sum(a, dim, keepdim)  # integers and bools sum to int64, as torch

    def backward(g):
        if dim is not None and not keepdim:
            g = be.reshape(g, _kept_shape(a.shape, dim))
        return (be.astype(be.broadcast_to(g, a.shape), a.dtype),)
    return _record(out, (x,), backward)


def _kept_shape(shape, dim) -> tuple:
    axes = {d % len(shape) for d in np.atleast_1d(dim)}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def mean(x, dim=None, keepdim: bool = False, axis=None):
    x = as_tensor(x)
    dim = axis if dim is None else dim
    count = builtins.max(x.numel() if dim is None else int(np.prod([x.shape[d] for d in np.atleast_1d(dim)])), 1)
    if x.dtype.kind == "f":
        return mul(sum(x, dim, keepdim), 1.0 / count)
    be = backends.select(None, x._array)
    return Tensor._wrap(be.astype(be.divide(be.sum(x._array, dim, keepdim), count), np.float32))


def _extremum(x, dim, keepdim, arg: str):
    a = x._array
    be = backends.select(None, a)
    if dim is None:
        flat = be.reshape(a, (-1,))
        idx = int(be.to_numpy(getattr(be, arg)(flat)))
        out = be.reshape(be.getitem(flat, slice(idx, idx + 1)), ())

        def backward(g):
            grad = be.full((x.numel(),), 0, a.dtype)
            be.setitem(grad, idx, g)
            return (be.reshape(grad, a.shape),)
        return _record(out, (x,), backward)
    indices = getattr(be, arg)(a, dim, True)
    values = be.take_along_axis(a, indices, dim)

    def backward(g):
        grad = be.full(a.shape, 0, a.dtype)
        be.put_along_axis(grad, indices, g if keepdim else be.reshape(g, indices.shape), dim)
        return (grad,)
    squeezed = tuple(indices.shape[:dim % a.ndim]) + tuple(indices.shape[dim % a.ndim + 1:])
    out = _record(values if keepdim else be.reshape(values, squeezed), (x,), backward)
    return MaxResult(out, Tensor._wrap(indices if keepdim else be.reshape(indices, squeezed)))


def max(x, dim=None, keepdim: bool = False):  # noqa: A001
    """Largest element; with ``dim``, (values, indices) along it, as torch."""
    return _extremum(as_tensor(x), dim, keepdim, "argmax")


def min(x, dim=None, keepdim: bool = False):  # noqa: A001
    return _extremum(as_tensor(x), dim, keepdim, "argmin")


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened), or along ``dim``; an int64 tensor."""
    a = as_tensor(x)._array
    return Tensor._wrap(backends.select(None, a).argmax(a, dim, keepdim and dim is not None))


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    a = as_tensor(x)._array
    return Tensor._wrap(backends.select(None, a).argmin(a, dim, keepdim and dim is not None))


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element (along ``dim``, or of all) is nonzero; a bool tensor."""
    return _stepwise(x, lambda be, a: be.greater(be.sum(be.astype(be.not_equal(a, 0), np.int64), dim, keepdim), 0))


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (along ``dim``, or of all) is nonzero; a bool tensor."""
    return _stepwise(x, lambda be, a: be.equal(be.sum(be.astype(be.equal(a, 0), np.int64), dim, keepdim), 0))


def var(x, dim=None, keepdim: bool = False, *, unbiased=None, correction=None) -> Tensor:
    """Variance over ``dim`` (all elements if None) with Bessel's ``correction`` (default 1;
    ``unbiased=False`` is 0), as torch.var."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"var: expected a floating point tensor, got {x.dtype}")
    if correction is None:
        correction = 0 if unbiased is False else 1
    count = x.numel() if dim is None else int(np.prod([x.shape[d] for d in np.atleast_1d(dim)]))
    centred = sub(x, mean(x, dim, keepdim=True))
    return mul(sum(mul(centred, centred), dim, keepdim), 1.0 / builtins.max(count - correction, 0)
               if count - correction > 0 else float("nan"))


def std(x, dim=None, keepdim: bool = False, *, unbiased=None, correction=None) -> Tensor:
    """Standard deviation: sqrt of ``var`` with the same arguments."""
    return sqrt(var(x, dim, keepdim, unbiased=unbiased, correction=correction))


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002 (torch's name)
    """The k largest (or smallest) entries along ``dim``, in order: (values, indices), as torch.topk.

    Composed from k argmax passes over a working copy (there is no sort primitive): fine for the
    small k of sampling and accuracy@k; the gradient goes back to the chosen positions.
    """
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    dim = dim % builtins.max(x.ndim, 1)
    if not 0 <= k <= (x.shape[dim] if x.ndim else 1):
        raise ValueError(f"topk: k ({k}) must be in [0, {x.shape[dim] if x.ndim else 1}] for dimension {dim}")
    work = be.astype(a, np.float64) if largest else be.negative(be.astype(a, np.float64))
    lowest = -np.finfo(np.float64).max  # -inf entries of x stay below every finite one, above the taken
    work = be.where(be.equal(work, -np.inf), lowest, work)
    picks = []
    for _ in range(k):
        index = be.argmax(work, dim, True)
        picks.append(index)
        be.put_along_axis(work, index, -np.inf, dim)
    shape = tuple(a.shape[:dim]) + (k,) + tuple(a.shape[dim + 1:])
    indices = be.concatenate(picks, dim) if picks else be.full(shape, 0, np.int64)
    values = be.take_along_axis(a, indices, dim)

    def backward(g):
        grad = be.full(a.shape, 0, a.dtype)
        be.put_along_axis(grad, indices, g, dim)  # distinct positions: a put is an add
        return (grad,)
    return MaxResult(_record(values, (x,), backward), Tensor._wrap(indices))


def norm(x, p="fro", dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over ``dim`` (all elements if None): p 2 or "fro" (sqrt of the sum of squares),
    1, inf, -inf, or any positive number, as torch.norm."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"norm: expected a floating point tensor, got {x.dtype}")
    if p in ("fro", 2, 2.0):
        return sqrt(sum(mul(x, x), dim, keepdim))
    if p in (1, 1.0):
        return sum(abs(x), dim, keepdim)
    if p in (np.inf, -np.inf):
        size = abs(x)
        if dim is None and not keepdim:
            size = size.reshape(-1)
            dim = 0
        if dim is None:
            dims = tuple(range(x.ndim))
        else:
            dims = tuple(d % x.ndim for d in np.atleast_1d(dim))
        for d in sorted(dims, reverse=True):
            size = (max if p > 0 else min)(size, d, keepdim=True).values
        if not keepdim:
            size = size.reshape(*[n for i, n in enumerate(size.shape) if i not in dims])
        return size
    if isinstance(p, (int, float)) and p > 0:
        return pow(sum(pow(abs(x), float(p)), dim, keepdim), 1.0 / p)
    raise ValueError(f"norm: p must be 'fro', a positive number or +-inf, got {p!r}")
