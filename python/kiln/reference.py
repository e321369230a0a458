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


def relu_backward(grad_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """grad_y where x > 0, else 0 (a select, as torch: NaN x passes grad_y). Same shapes."""
    dtype = _dtype(grad_y, x)
    return np.where(x <= 0, 0, grad_y).astype(dtype, copy=False)


def sigmoid_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """grad_y * y * (1 - y), from the output y = sigmoid(x). Same shapes."""
    return (grad_y * (y * (1 - y))).astype(_dtype(grad_y, y), copy=False)


def tanh_backward(grad_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """grad_y * (1 - y**2), from the output y = tanh(x). Same shapes."""
    return (grad_y * (1 - y * y)).astype(_dtype(grad_y, y), copy=False)


def gelu_backward(grad_y: np.ndarray, x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """grad_y * gelu'(x), from the input x. Same shapes."""
    dtype = _dtype(grad_y, x)
    x = x.astype(dtype, copy=False)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x**3))
        derivative = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    elif approximate == "none":
        cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
        derivative = cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
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


# ---- adam ---------------------------------------------------------------------------------


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None,
              maximize=False) -> None:
    """One step of torch.optim.Adam (or AdamW with ``decoupled``), in place.

    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad only): one shape, any.
    step: the 1-based step count including this step. Updates param, exp_avg,
    exp_avg_sq (and max_exp_avg_sq) in their own dtypes; the scalars are Python floats.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    v = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
    param -= (lr / bias_correction1) * (exp_avg / denom)


# ---- embedding ----------------------------------------------------------------------------


def embedding(indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> np.ndarray:
    """weight[indices]: indices of any shape in [0, V), weight (V, D) -> (*indices.shape, D).

    padding_idx only matters for the gradient (torch's forward ignores it).
    """
    return weight[indices]


def embedding_backward(indices: np.ndarray, grad_out: np.ndarray, num_embeddings: int,
                       padding_idx: int | None = None) -> np.ndarray:
    """Scatter-add of grad_out (*indices.shape, D) into rows of a zero (V, D) by indices.

    The row padding_idx (negative values count from the end) gets no gradient.
    """
    dim = grad_out.shape[-1]
    grad_weight = np.zeros((num_embeddings, dim), dtype=grad_out.dtype)
    np.add.at(grad_weight, np.ravel(indices), grad_out.reshape(-1, dim))
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight


# ---- losses (mean reduction) --------------------------------------------------------------


def _mean(total, count: int) -> float:
    """total / count as a float; NaN for zero terms, as torch's mean of nothing."""
    return float(total) / count if count else math.nan


def softmax_cross_entropy(logits, target, *, ignore_index=-100, label_smoothing=0.0,
                          return_grad=False, grad_scale=1.0):
    """torch.nn.functional.cross_entropy, mean reduction.

    logits: (N, C). target: integer class indices (N,), entries equal to ignore_index
    skipped (the mean runs over the others), or probabilities (N, C).
    label_smoothing mixes the target with the uniform distribution.
    Returns the loss (float), or (loss, grad (N, C) = d loss/d logits * grad_scale).
    """
    n, c = logits.shape
    log_p = log_softmax(logits, axis=-1)
    if np.issubdtype(target.dtype, np.integer):
        valid = target != ignore_index
        count = int(valid.sum())
        one_hot = np.zeros_like(log_p)
        one_hot[np.flatnonzero(valid), target[valid]] = 1
        smoothed = (1 - label_smoothing) * one_hot + label_smoothing / c
        per_row = -np.sum(smoothed * np.where(valid[:, None], log_p, 0), axis=-1)
        loss = _mean(np.sum(per_row[valid]), count)
        row_weight = valid[:, None]
    else:
        count = n
        smoothed = (1 - label_smoothing) * target + label_smoothing / c
        loss = _mean(-np.sum(smoothed * log_p), count)
        row_weight = np.ones((n, 1), dtype=bool)
    if not return_grad:
        return loss
    probs = np.exp(log_p)
    grad = probs * np.sum(smoothed, axis=-1, keepdims=True) - smoothed
    grad = np.where(row_weight, grad * (grad_scale / count if count else 0.0), 0)
    return loss, grad.astype(log_p.dtype, copy=False)


def bce_with_logits(logits, target, *, pos_weight=None, return_grad=False, grad_scale=1.0):
    """torch.nn.functional.binary_cross_entropy_with_logits, mean reduction.

    logits, target: one shape, any; pos_weight: (C,) over the last axis, weighting the
    positive term. Returns the loss, or (loss, grad = d loss/d logits * grad_scale).
    """
    dtype = _dtype(logits, target, pos_weight)
    weight = 1 if pos_weight is None else pos_weight
    log_weight = 1 + (weight - 1) * target
    log_sigmoid = np.minimum(logits, 0) - np.log1p(np.exp(-np.abs(logits)))
    loss = _mean(np.sum((1 - target) * logits - log_weight * log_sigmoid), logits.size)
    if not return_grad:
        return loss
    factor = grad_scale / logits.size if logits.size else 0.0
    grad = (log_weight * sigmoid(logits) - weight * target) * factor
    return loss, np.asarray(grad, dtype=dtype)


def mse(pred, target, *, return_grad=False, grad_scale=1.0):
    """mean((pred - target)**2); pred, target one shape, any.

    Returns the loss, or (loss, grad = d loss/d pred * grad_scale).
    """
    diff = pred - target
    loss = _mean(np.sum(diff * diff), diff.size)
    if not return_grad:
        return loss
    factor = 2 * grad_scale / diff.size if diff.size else 0.0
    return loss, np.asarray(diff * factor, dtype=diff.dtype)
