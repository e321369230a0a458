"""Tensor operations and their gradients: the one place where each is defined.

Each op computes with the primitives of the backend that holds its inputs (``kiln.backends``)
and records how to compute its gradient: a closure over the same primitives, or the tape's
native reshape/permute nodes. ``math`` holds arithmetic and comparisons; ``reductions``
sums, extrema, statistics and topk; ``shapes`` reshapes, indexing and joins; ``conversions``
devices, dtypes, in-place updates and the matrix product. The functions are kiln's free functions (``kiln.sum(x)``) and,
attached below, the Tensor's methods and operators.
"""

from ..tensor import Tensor
from . import conversions, math, ordering, reductions, shapes
from ._common import as_tensor
from .conversions import bmm, clone, matmul, mm, to
from .math import (abs, add, allclose, ceil, clamp, cos, diag, div, exp, floor, isclose, isfinite, isinf, isnan, log,
                   maximum, minimum, mul, neg, outer, pow, reciprocal, rsqrt, sign, sin, sqrt, square, sub, where)
from .ordering import argsort, argwhere, cumprod, cumsum, nonzero, roll, scatter, scatter_add, sort, unbind, unique
from .reductions import all, any, argmax, argmin, max, mean, min, norm, std, sum, topk, var
from .shapes import (cat, chunk, flatten, flip, gather, index_select, masked_fill, permute, reshape, split, squeeze,
                     stack, transpose, tril, triu, unsqueeze)


def _factory(name: str):
    """A Tensor method that calls ``kiln.factories.<name>`` (which imports tensor_ops itself)."""
    def method(x, *args, **kwargs):
        from .. import factories
        return getattr(factories, name)(x, *args, **kwargs)
    method.__name__ = name
    return method


def _functional(name: str):
    """A Tensor method that calls ``kiln.nn.functional.<name>`` (loaded on first use)."""
    def method(x, *args, **kwargs):
        from ..nn import functional
        return getattr(functional, name)(x, *args, **kwargs)
    method.__name__ = name
    return method

_METHODS = {
    # arithmetic and math
    "__add__": math.add, "__radd__": math.add, "__sub__": math.sub, "__rsub__": math.rsub,
    "__mul__": math.mul, "__rmul__": math.mul, "__truediv__": math.div, "__rtruediv__": math.rdiv,
    "__pow__": math.pow, "__rpow__": math.rpow, "__neg__": math.neg,
    "add": math.add, "sub": math.sub, "mul": math.mul, "div": math.div, "pow": math.pow,
    "reciprocal": math.reciprocal, "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": math.abs,
    "clamp": math.clamp, "clip": math.clamp, "sin": math.sin, "cos": math.cos, "__floordiv__": math.floordiv,
    "tanh": _functional("tanh"), "sigmoid": _functional("sigmoid"), "relu": _functional("relu"),
    "softmax": _functional("softmax"), "log_softmax": _functional("log_softmax"),
    # comparisons and logic (no gradient)
    "__eq__": math.equal, "__ne__": math.not_equal, "__lt__": math.less, "__le__": math.less_equal,
    "__gt__": math.greater, "__ge__": math.greater_equal, "eq": math.equal,
    "__invert__": math.logical_not, "__and__": math.logical_and, "__or__": math.logical_or, "round": math.round,
    "ne": math.not_equal, "lt": math.less, "le": math.less_equal, "gt": math.greater, "ge": math.greater_equal,
    "logical_not": math.logical_not, "isnan": math.isnan, "isinf": math.isinf, "isfinite": math.isfinite,
    "maximum": math.maximum, "minimum": math.minimum, "square": math.square, "rsqrt": math.rsqrt,
    "floor": math.floor, "ceil": math.ceil, "sign": math.sign, "any": reductions.any, "all": reductions.all,
    "var": reductions.var, "std": reductions.std, "norm": reductions.norm, "topk": reductions.topk, "multinomial": _factory("multinomial"),
    # reductions
    "sum": reductions.sum, "mean": reductions.mean, "max": reductions.max, "min": reductions.min, "argmax": reductions.argmax,
    "argmin": reductions.argmin,
    # shapes and indexing
    "reshape": shapes.reshape, "view": shapes.reshape, "view_as": shapes.view_as, "flatten": shapes.flatten,
    "unsqueeze": shapes.unsqueeze, "squeeze": shapes.squeeze, "permute": shapes.permute,
    "transpose": shapes.transpose, "t": shapes.t, "T": property(shapes.T), "contiguous": shapes.contiguous,
    "expand": shapes.expand, "repeat": shapes.repeat, "__getitem__": shapes.getitem,
    "__setitem__": shapes.setitem, "__iter__": shapes.iterate, "masked_fill": shapes.masked_fill,
    "gather": shapes.gather, "index_select": shapes.index_select, "tril": shapes.tril, "triu": shapes.triu,
    "split": shapes.split, "chunk": shapes.chunk, "flip": shapes.flip,
    # devices, dtypes, copies, the matrix product
    "to": conversions.to, "cpu": conversions.cpu, "cuda": conversions.cuda,
    "__dlpack__": conversions.dlpack, "__dlpack_device__": conversions.dlpack_device,
    "__cuda_array_interface__": property(conversions.cuda_array_interface),
    "type": conversions.type, "float": conversions.float,
    "double": conversions.double, "long": conversions.long, "int": conversions.int, "bool": conversions.bool,
    "clone": conversions.clone, "__matmul__": conversions.matmul, "__rmatmul__": conversions.rmatmul,
    "matmul": conversions.matmul, "mm": conversions.mm, "bmm": conversions.bmm,
    # in place, outside the graph
    "zero_": conversions.zero_, "fill_": conversions.fill_, "copy_": conversions.copy_,
    "normal_": conversions.normal_, "uniform_": conversions.uniform_, "__iadd__": conversions.iadd,
    "__isub__": conversions.isub, "__imul__": conversions.imul, "__itruediv__": conversions.itruediv,
    "add_": conversions.add_, "sub_": conversions.sub_, "mul_": conversions.mul_, "clamp_": conversions.clamp_,
    "div_": conversions.div_, "masked_fill_": conversions.masked_fill_,
    # orders, scans, scatters (ordering.py), and the rest of torch's everyday methods
    "sort": ordering.sort, "argsort": ordering.argsort, "cumsum": ordering.cumsum, "cumprod": ordering.cumprod,
    "roll": ordering.roll, "unique": ordering.unique, "nonzero": ordering.nonzero, "argwhere": ordering.argwhere,
    "scatter": ordering.scatter, "scatter_add": ordering.scatter_add, "unbind": ordering.unbind,
    "neg": math.neg, "negative": math.neg, "outer": math.outer, "isclose": math.isclose, "allclose": math.allclose,
    "diag": math.diag, "expand_as": lambda x, other: shapes.expand(x, *other.shape),
    "type_as": lambda x, other: conversions.type(x, other.dtype), "mT": property(lambda x: shapes.transpose(x, -2, -1)),
    "new_zeros": _factory("new_zeros"), "new_ones": _factory("new_ones"), "new_full": _factory("new_full"),
    "new_empty": _factory("new_empty"), "new_tensor": _factory("new_tensor"),
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.__hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash

__all__ = ["as_tensor", "abs", "add", "all", "allclose", "argsort", "argwhere", "cumprod", "cumsum", "diag",
           "isclose", "nonzero", "outer", "roll", "scatter", "scatter_add", "sort", "unbind", "unique", "any", "argmax", "argmin", "bmm", "cat", "ceil", "chunk", "clamp",
           "clone", "cos", "div", "exp", "flatten", "flip", "floor", "gather", "index_select", "isfinite", "isinf",
           "isnan", "log", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "mm", "mul", "neg",
           "norm", "permute", "pow", "reciprocal", "reshape", "rsqrt", "sign", "sin", "split", "sqrt", "square",
           "squeeze", "stack", "std", "sub", "sum", "to", "topk", "transpose", "tril", "triu", "unsqueeze", "var",
           "where"]
