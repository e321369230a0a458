"""Pointwise activations and softmax, forward and backward."""

from __future__ import annotations

import math

import numpy as np

from ._common import _dtype

ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


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


def _erfc(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erfc, otypes=[x.dtype])(x) if x.size else x.copy()


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt 2) / 2: no 1 + erf(.) to cancel in the negative tail."""
    return 0.5 * _erfc(-x / math.sqrt(2))


def _sigmoid_2(u: np.ndarray) -> np.ndarray:
    """(1 + tanh(u)) / 2 = 1 / (1 + exp(-2u)), without the cancellation of 1 + tanh(u)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-2 * u))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) (``approximate="none"``, erf) or its tanh approximation. Any shape."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (x * _sigmoid_2(inner)).astype(x.dtype, copy=False)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return (x * _normal_cdf(x)).astype(x.dtype, copy=False)


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


def relu_backward(grad_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """grad_y where x > 0, else 0 (a select, as torch: NaN x passes grad_y). Same shapes."""
    dtype = _dtype(grad_y, x)
    return np.where(x <= 0, 0, grad_y).astype(dtype, copy=False)


def sigmoid_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """grad_y * y * (1 - y), from the output y = sigmoid(x). Same shapes."""
    return (grad_y * (y * (1 - y))).astype(_dtype(grad_y, y), copy=False)


def tanh_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """grad_y * (1 - y**2), from the output y = tanh(x). Same shapes. As (1 - y)(1 + y): near
    saturation 1 - y*y cancels in float32, while 1 - y is exact there."""
    return (grad_y * ((1 - y) * (1 + y))).astype(_dtype(grad_y, y), copy=False)


def gelu_backward(grad_y: np.ndarray, x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """grad_y * gelu'(x), from the input x. Same shapes."""
    dtype = _dtype(grad_y, x)
    x = x.astype(dtype, copy=False)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        s = _sigmoid_2(k * (x + 0.044715 * x**3))  # (1 + t) / 2, and 1 - t^2 = 4 s (1 - s)
        derivative = s + 2 * x * s * (1 - s) * k * (1 + 3 * 0.044715 * x * x)
    elif approximate == "none":
        derivative = _normal_cdf(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    else:
        raise ValueError(f"gelu_backward: approximate must be 'none' or 'tanh', got {approximate!r}")
    return (grad_y * derivative).astype(dtype, copy=False)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max for stability. Any shape."""
    if x.size == 0:
        return x.copy()
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, stable. Any shape."""
    if x.size == 0:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax_backward(grad_y: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """y * (grad_y - sum(grad_y * y)) along ``axis``, from the output y = softmax(x)."""
    dtype = _dtype(grad_y, y)
    return (y * (grad_y - np.sum(grad_y * y, axis=axis, keepdims=True))).astype(dtype, copy=False)


def log_softmax_backward(grad_y: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """grad_y - exp(y) * sum(grad_y) along ``axis``, from the output y = log_softmax(x)."""
    dtype = _dtype(grad_y, y)
    return (grad_y - np.exp(y) * np.sum(grad_y, axis=axis, keepdims=True)).astype(dtype, copy=False)
