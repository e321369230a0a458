"""Elementwise arithmetic and comparisons over Tensors, with their gradients (reductions: reductions.py)."""

from __future__ import annotations

import builtins

import numpy as np

from .. import backends
from ..autograd import PythonNode, edges
from ..tensor import Tensor
from ._common import _operand, _record, as_tensor
from ._trig import sin_cos

# ---- elementwise ---------------------------------------------------------------------------


def _promote(op: str, a, b, other, be):
    """The operands cast so that the result has torch's dtype where NumPy's differs: an integer
    or bool operand takes the float operand's dtype (a Python float counts as float32, torch's
    default dtype), and integer true division computes in float32."""
    a_float, b_float = a.dtype.kind == "f", b.dtype.kind == "f"
    if a_float == b_float:
        if not a_float and op == "divide":
            return be.astype(a, np.float32, copy=False), be.astype(b, np.float32, copy=False)
        return a, b
    if a_float:
        return a, be.astype(b, a.dtype, copy=False)
    dtype = b.dtype if isinstance(other, Tensor) or backends.is_array(other) else np.dtype(np.float32)
    return be.astype(a, dtype, copy=False), be.astype(b, dtype, copy=False)


def _binary(x, other, op: str, grad_x, grad_other) -> Tensor:
    a = x._array
    be = backends.select(None, a, getattr(other, "_array", None))
    b = _operand(other, a, be)
    if a.dtype != b.dtype or (op == "divide" and a.dtype.kind != "f"):
        a, b = _promote(op, a, b, other, be)
    out = getattr(be, op)(a, b)
    other_t = other if isinstance(other, Tensor) else None
    e = edges((x, other_t))
    if e is None:
        return Tensor._wrap(out)

    def backward(g):
        return (be.unbroadcast(grad_x(be, g, a, b, out), tuple(a.shape)) if e[0] is not None else None,
                be.unbroadcast(grad_other(be, g, a, b, out), tuple(b.shape)) if e[1] is not None else None)
    return Tensor._recorded(out, PythonNode(backward, e))


def _scaled(other, alpha):
    """alpha * other, recorded when other is a Tensor (torch's ``alpha=`` of add and sub)."""
    if alpha == 1:
        return other
    if isinstance(other, Tensor) or backends.is_array(other):
        return mul(as_tensor(other), alpha)
    return other * alpha


def add(x, other, alpha=1):
    """x + alpha * other (broadcasting)."""
    other = _scaled(other, alpha)
    return _binary(x, other, "add", lambda be, g, a, b, o: g, lambda be, g, a, b, o: g)


def sub(x, other, alpha=1):
    """x - alpha * other (broadcasting)."""
    other = _scaled(other, alpha)
    return _binary(x, other, "subtract", lambda be, g, a, b, o: g, lambda be, g, a, b, o: be.negative(g))


def rsub(x, other):
    return add(neg(x), other)


def mul(x, other):
    return _binary(x, other, "multiply", lambda be, g, a, b, o: be.multiply(g, b),
                   lambda be, g, a, b, o: be.multiply(g, a))


def div(x, other, rounding_mode=None):
    """x / other: true division (integers give float32, as torch); ``rounding_mode`` "floor" or
    "trunc" rounds the quotient (integers stay integers; no gradient, as its derivative is 0
    almost everywhere)."""
    if rounding_mode is not None:
        return _rounded_division(x, other, rounding_mode)
    return _binary(x, other, "divide", lambda be, g, a, b, o: be.divide(g, b),
                   lambda be, g, a, b, o: be.divide(be.multiply(be.negative(g), a), be.multiply(b, b)))


def _floor(be, y):
    """floor(y) from round: round, then step down where it went above y."""
    r = be.round(y)
    return be.subtract(r, be.astype(be.greater(r, y), r.dtype))


def _rounded_division(x, other, mode: str) -> Tensor:
    if mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {mode!r}")
    a = x._array
    be = backends.select(None, a, getattr(other, "_array", None))
    b = _operand(other, a, be)
    integers = a.dtype.kind in "biu" and b.dtype.kind in "biu"
    result = np.result_type(a.dtype, b.dtype) if integers else None
    if integers:  # exact in float64 for |values| < 2^53
        a, b = be.astype(a, np.float64, copy=False), be.astype(b, np.float64, copy=False)
    elif a.dtype != b.dtype:
        a, b = _promote("divide", a, b, other, be)
    q = be.divide(a, b)
    if mode == "floor":
        out = _floor(be, q)
    else:
        out = be.where(be.less(q, 0), be.negative(_floor(be, be.negative(q))), _floor(be, q))
    return Tensor._wrap(be.astype(out, result, copy=False) if integers else out)


def floordiv(x, other):
    return div(x, other, "floor")


def rdiv(x, other):
    return mul(reciprocal(x), other)


def pow(x, exponent):  # noqa: A001
    return _binary(x, exponent, "power",
                   lambda be, g, a, b, o: be.multiply(be.multiply(g, b), be.power(a, be.subtract(b, 1))),
                   lambda be, g, a, b, o: be.multiply(be.multiply(g, o), be.log(be.where(be.greater(a, 0), a, 1))))


def rpow(x, base):
    return exp(mul(x, float(np.log(base))))


def _unary(x, op: str, grad, floating: bool = False) -> Tensor:
    """op(x); ``floating`` ops (exp, log, sqrt) take integer and bool tensors as float32, as torch."""
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    if floating and a.dtype.kind != "f":
        a = be.astype(a, np.float32)
    out = getattr(be, op)(a)
    return _record(out, (x,), lambda g: (grad(be, g, a, out),))


def neg(x):
    return _unary(x, "negative", lambda be, g, a, o: be.negative(g))


def exp(x):
    return _unary(x, "exp", lambda be, g, a, o: be.multiply(g, o), floating=True)


def log(x):
    """Natural log; log(0) is -inf and a negative input NaN, without NumPy's warnings (as torch:
    ``torch.log(torch.tril(ones))`` is the additive causal mask)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _unary(x, "log", lambda be, g, a, o: be.divide(g, a), floating=True)


def sqrt(x):
    return _unary(x, "sqrt", lambda be, g, a, o: be.divide(be.multiply(g, 0.5), o), floating=True)


def abs(x):  # noqa: A001
    return _unary(x, "abs", lambda be, g, a, o: be.multiply(g, be.sign(a)))


def reciprocal(x):
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    if a.dtype.kind != "f":
        a = be.astype(a, np.float32)
    out = be.divide(1, a)
    return _record(out, (x,), lambda g: (be.multiply(be.multiply(be.negative(g), out), out),))


def _trigonometric(x, which: str) -> Tensor:
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    if a.dtype.kind != "f":
        a = be.astype(a, np.float32)
    sine, cosine = sin_cos(be, a)
    if which == "sin":
        return _record(sine, (x,), lambda g: (be.multiply(g, cosine),))
    return _record(cosine, (x,), lambda g: (be.negative(be.multiply(g, sine)),))


def sin(x) -> Tensor:
    """Elementwise sine (any shape; integers as float32). Composed from primitives: see _trig."""
    return _trigonometric(x, "sin")


def cos(x) -> Tensor:
    """Elementwise cosine (any shape; integers as float32)."""
    return _trigonometric(x, "cos")


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
    """x where condition, else y (broadcasting). A Python number takes the other operand's device
    and (float) dtype, as torch: ``where(mask, x, 0.0)`` stays float32 on x's device."""
    tensors = [v for v in (x, y, condition) if isinstance(v, Tensor)]
    like = tensors[0]._array if tensors else None
    if like is not None:
        be = backends.select(None, *[t._array for t in tensors])
        x, y = (v if isinstance(v, Tensor) else Tensor._wrap(_operand(v, _float_like(x, y, like), be))
                for v in (x, y))
    x, y = as_tensor(x), as_tensor(y)
    be = backends.select(None, x._array, y._array)
    cond = be.astype(_operand(condition, x._array, be), np.bool_)
    out = be.where(cond, x._array, y._array)
    shapes = tuple(x.shape), tuple(y.shape)
    return _record(out, (x, y), lambda g: (be.unbroadcast(be.where(cond, g, 0), shapes[0]),
                                           be.unbroadcast(be.where(cond, 0, g), shapes[1])))


def _float_like(x, y, fallback):
    """The array a number beside x or y should match: the Tensor operand's (a float one's first)."""
    arrays = [v._array for v in (x, y) if isinstance(v, Tensor)]
    floats = [a for a in arrays if a.dtype.kind == "f"]
    return (floats or arrays or [fallback])[0]


equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or = (
    _compare(op) for op in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                            "logical_and", "logical_or"))
logical_not, round = (_elementwise(op) for op in ("logical_not", "round"))  # noqa: A001


# ---- more of torch's math, composed ------------------------------------------------------------


def maximum(x, other) -> Tensor:
    """Elementwise larger of x and other (broadcasting); a tie sends half the gradient each way, as torch."""
    return _extreme_of_two(as_tensor(x), other, "maximum", "greater")


def minimum(x, other) -> Tensor:
    """Elementwise smaller of x and other (broadcasting); ties split the gradient, as torch."""
    return _extreme_of_two(as_tensor(x), other, "minimum", "less")


def _extreme_of_two(x, other, op: str, wins: str) -> Tensor:
    def share(be, g, a, b, o, first=True):
        won = be.astype(getattr(be, wins)(a, b) if first else getattr(be, wins)(b, a), g.dtype)
        tie = be.multiply(be.astype(be.equal(a, b), g.dtype), 0.5)
        return be.multiply(g, be.add(won, tie))
    return _binary(x, other, op, lambda be, g, a, b, o: share(be, g, a, b, o),
                   lambda be, g, a, b, o: share(be, g, a, b, o, first=False))


def square(x) -> Tensor:
    return mul(x, x)


def rsqrt(x) -> Tensor:
    """1 / sqrt(x)."""
    return reciprocal(sqrt(x))


def _stepwise(x, fn) -> Tensor:
    """A piecewise-constant function of x: no gradient is recorded (torch's is zero)."""
    x = as_tensor(x)
    be = backends.select(None, x._array)
    return Tensor._wrap(fn(be, x._array))


def floor(x) -> Tensor:
    return _stepwise(x, lambda be, a: _floor(be, a) if a.dtype.kind == "f" else be.copy(a))


def ceil(x) -> Tensor:
    return _stepwise(x, lambda be, a: be.negative(_floor(be, be.negative(a))) if a.dtype.kind == "f" else be.copy(a))


def sign(x) -> Tensor:
    return _stepwise(x, lambda be, a: be.sign(a))


def isnan(x) -> Tensor:
    return _stepwise(x, lambda be, a: be.not_equal(a, a))


def isinf(x) -> Tensor:
    return _stepwise(x, lambda be, a: be.equal(be.abs(a), np.inf) if a.dtype.kind == "f"
                     else be.full(a.shape, False, np.bool_))


def isfinite(x) -> Tensor:
    return _stepwise(x, lambda be, a: be.logical_and(be.equal(a, a), be.not_equal(be.abs(a), np.inf))
                     if a.dtype.kind == "f" else be.full(a.shape, True, np.bool_))


def outer(x, y) -> Tensor:
    """x (n,) and y (m,) -> (n, m) with out[i, j] = x[i] * y[j], as torch.outer."""
    x, y = as_tensor(x), as_tensor(y)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {x.shape} and {y.shape}")
    return mul(x.reshape(-1, 1), y.reshape(1, -1))


def isclose(x, y, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """|x - y| <= atol + rtol * |y| elementwise (NaNs equal only with ``equal_nan``), as torch.isclose."""
    x = as_tensor(x)
    y = as_tensor(y) if isinstance(y, Tensor) else y
    close = less_equal(abs(sub(x, y)), add(mul(abs(y), rtol), atol))
    close = logical_or(close, equal(x, y))  # infinities of one sign
    if equal_nan:
        close = logical_or(close, logical_and(isnan(x), isnan(as_tensor(y))))
    return close


def allclose(x, y, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    return bool(isclose(x, y, rtol, atol, equal_nan).all().item())


def diag(x, diagonal: int = 0) -> Tensor:
    """A 1-D x as the ``diagonal``-th diagonal of a square matrix, or a 2-D x's diagonal as 1-D."""
    x = as_tensor(x)
    be = backends.select(None, x._array)
    if x.ndim == 1:
        n = x.shape[0] + builtins.abs(diagonal)
        rows = np.arange(x.shape[0]) + builtins.max(-diagonal, 0)
        cols = np.arange(x.shape[0]) + builtins.max(diagonal, 0)
        mask = np.zeros((n, n), bool)
        mask[rows, cols] = True
        full = x.reshape(1, -1).expand(n, x.shape[0])  # row r holds x; column j takes x[j - offset]
        picks = np.clip(np.arange(n) - builtins.max(diagonal, 0), 0, builtins.max(x.shape[0] - 1, 0))
        spread = full[:, Tensor._wrap(be.from_numpy(picks.astype(np.int64)))] if x.shape[0] else full
        return where(Tensor._wrap(be.from_numpy(mask)), spread, Tensor._wrap(be.full((), 0, x.dtype)))
    if x.ndim == 2:
        rows = np.arange(x.shape[0])
        cols = rows + diagonal
        keep = (cols >= 0) & (cols < x.shape[1])
        return x[Tensor._wrap(be.from_numpy(rows[keep].astype(np.int64))),
                 Tensor._wrap(be.from_numpy(cols[keep].astype(np.int64)))]
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")
