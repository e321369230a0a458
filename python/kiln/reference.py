"""The NumPy reference path: every kernel of kiln, written plainly.

This is the yardstick: tests compare the native kernels with these functions in
float64, and benchmarks measure speed against them. Each function accepts float32
and float64 and computes in the wider dtype of its inputs. Semantics follow
PyTorch (see docs and ``kiln.ops``); shapes are in each docstring.
"""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


def _dtype(*arrays) -> np.dtype:
    return np.result_type(*[a for a in arrays if a is not None])


# ---- pointwise ------------------------------------------------------------------------


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), NaN propagating. Any shape."""
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0)).astype(x.dtype, copy=False)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), stable for large |x|. Any shape."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x). Any shape."""
    return np.tanh(x)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) (``approximate="none"``, erf) or its tanh approximation. Any shape."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def activate(x: np.ndarray, activation: str | None) -> np.ndarray:
    """Apply one of ``ACTIVATIONS`` by name."""
    if activation is None or activation == "none":
        return x
    if activation == "relu":
        return relu(x)
    if activation == "sigmoid":
        return sigmoid(x)
    if activation == "tanh":
        return tanh(x)
    if activation == "gelu":
        return gelu(x)
    if activation == "gelu_tanh":
        return gelu(x, approximate="tanh")
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


# ---- matmul -----------------------------------------------------------------------------


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
