"""What every Tensor op needs: operands as arrays on the right device, and recording."""

from __future__ import annotations

import numbers

import numpy as np

from .. import backends
from ..autograd import PythonNode, edges
from ..tensor import Tensor


def as_tensor(x) -> Tensor:
    """``x`` itself when it is a Tensor, else a Tensor over it (an ndarray or device array
    as it is, anything else through NumPy)."""
    return x if isinstance(x, Tensor) else Tensor._wrap(x if backends.is_array(x) else np.asarray(x))


def _record(out, parents, backward) -> Tensor:
    """A Tensor over ``out``; recorded with the closure ``backward`` when a parent needs a gradient."""
    e = edges(parents)
    return Tensor._wrap(out) if e is None else Tensor._recorded(out, PythonNode(backward, e))


def _operand(x, like, be):
    """The array behind a Tensor, or a Python/NumPy value on ``like``'s device; a number
    takes a float ``like``'s dtype (weak typing: float32 * 2.0 stays float32)."""
    if isinstance(x, Tensor):
        return x._array
    if backends.is_array(x):
        return x
    if isinstance(x, numbers.Number) and like.dtype.kind == "f":
        return be.from_numpy(np.asarray(x, dtype=like.dtype))
    return be.from_numpy(np.asarray(x))


def _shape_arg(shape) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
