"""matmul: act(alpha * op(a) @ op(b) + beta * c + bias)."""

from __future__ import annotations

import numpy as np

from ._common import _dtype
from .pointwise import activate


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None,
           alpha=1.0, beta=0.0, c=None) -> np.ndarray:
    """act(alpha * op(a) @ op(b) + beta * c + bias).

    a: (m, k), or (k, m) with transpose_a; optionally (batch, ., .)
    b: (k, n), or (n, k) with transpose_b; optionally (batch, ., .)
    bias: (n,) or None; c: the result's shape, read only when beta != 0
    returns (m, n) or (batch, m, n)
    """
    dtype = _dtype(a, b, bias, c if beta else None)
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    result = alpha * np.matmul(a.astype(dtype), b.astype(dtype))
    if beta:
        result = result + beta * c
    if bias is not None:
        result = result + bias
    return activate(np.asarray(result, dtype=dtype), activation)
