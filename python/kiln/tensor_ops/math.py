"""Elementwise arithmetic, comparisons and reductions over Tensors, with their gradients."""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import backends
from ..autograd import PythonNode, edges
from ..tensor import Tensor
from ._common import _operand, _record, as_tensor

MaxResult = namedtuple("MaxResult", ["values", "indices"])


# ---- elementwise ---------------------------------------------------------------------------


def _binary(x, other, op: str, grad_x, grad_other) -> Tensor:
    a = x._array
    be = backends.select(None, a, getattr(other, "_array", None))
    b = _operand(other, a, be)
    out = getattr(be, op)(a, b)
    other_t = other if isinstance(other, Tensor) else None
    e = edges((x, other_t))
    if e is None:
        return Tensor._wrap(out)

    def backward(g):
        return (be.unbroadcast(grad_x(be, g, a, b, out), tuple(a.shape)) if e[0] is not None else None,
                be.unbroadcast(grad_other(be, g, a, b, out), tuple(b.shape)) if e[1] is not None else None)
    return Tensor._recorded(out, PythonNode(backward, e))


def add(x, other):
    return _binary(x, other, "add", lambda be, g, a, b, o: g, lambda be, g, a, b, o: g)


def sub(x, other):
    return _binary(x, other, "subtract", lambda be, g, a, b, o: g, lambda be, g, a, b, o: be.negative(g))


def rsub(x, other):
    return add(neg(x), other)


def mul(x, other):
    return _binary(x, other, "multiply", lambda be, g, a, b, o: be.multiply(g, b),
                   lambda be, g, a, b, o: be.multiply(g, a))


def div(x, other):
    return _binary(x, other, "divide", lambda be, g, a, b, o: be.divide(g, b),
                   lambda be, g, a, b, o: be.divide(be.multiply(be.negative(g), a), be.multiply(b, b)))


def rdiv(x, other):
    return mul(reciprocal(x), other)


def pow(x, exponent):  # noqa: A001
    return _binary(x, exponent, "power",
                   lambda be, g, a, b, o: be.multiply(be.multiply(g, b), be.power(a, be.subtract(b, 1))),
                   lambda be, g, a, b, o: be.multiply(be.multiply(g, o), be.log(be.where(be.greater(a, 0), a, 1))))


def rpow(x, base):
    return exp(mul(x, float(np.log(base))))


def _unary(x, op: str, grad) -> Tensor:
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    out = getattr(be, op)(a)
    return _record(out, (x,), lambda g: (grad(be, g, a, out),))


def neg(x):
    return _unary(x, "negative", lambda be, g, a, o: be.negative(g))


def exp(x):
    return _unary(x, "exp", lambda be, g, a, o: be.multiply(g, o))


def log(x):
    return _unary(x, "log", lambda be, g, a, o: be.divide(g, a))


def sqrt(x):
    return _unary(x, "sqrt", lambda be, g, a, o: be.divide(be.multiply(g, 0.5), o))


def abs(x):  # noqa: A001
    return _unary(x, "abs", lambda be, g, a, o: be.multiply(g, be.sign(a)))


def reciprocal(x):
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    out = be.divide(1, a)
    return _record(out, (x,), lambda g: (be.multiply(be.multiply(be.negative(g), out), out),))


def clamp(x, min=None, max=None):  # noqa: A002
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    out = be.clip(a, min, max)
    inside = be.full(a.shape, True, np.bool_)
    if min is not None:
        inside = be.logical_and(inside, be.greater_equal(a, min))
    if max is not None:
        inside = be.logical_and(inside, be.less_equal(a, max))
    return _record(out, (x,), lambda g: (be.multiply(g, inside),))


def _compare(op: str):
    def compare(x, other):
        a = x._array
        be = backends.select(None, a, getattr(other, "_array", None))
        return Tensor._wrap(getattr(be, op)(a, _operand(other, a, be)))
    compare.__name__ = op
    return compare


def _elementwise(op: str):
    def apply(x, *args):
        a = x._array
        be = backends.select(None, a)
        return Tensor._wrap(getattr(be, op)(a, *[_operand(v, a, be) for v in args]))
    apply.__name__ = op
    return apply


def where(condition, x, y) -> Tensor:
    x, y = as_tensor(x), as_tensor(y)
    be = backends.select(None, x._array, y._array)
    cond = be.astype(_operand(condition, x._array, be), np.bool_)
    out = be.where(cond, x._array, y._array)
    shapes = tuple(x.shape), tuple(y.shape)
    return _record(out, (x, y), lambda g: (be.unbroadcast(be.where(cond, g, 0), shapes[0]),
                                           be.unbroadcast(be.where(cond, 0, g), shapes[1])))


# ---- reductions ------------------------------------------------------------------------------


def sum(x, dim=None, keepdim: bool = False, axis=None):  # noqa: A001
    x = as_tensor(x)
    dim = axis if dim is None else dim
    a = x._array
    be = backends.select(None, a)
    out = be.sum(a, dim, keepdim)
    if a.dtype.kind == "b":  # counts come back as float, as the mean of a mask does
        out = be.astype(out, np.float32)

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


equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or = (
    _compare(op) for op in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                            "logical_and", "logical_or"))
logical_not, round = (_elementwise(op) for op in ("logical_not", "round"))  # noqa: A001
