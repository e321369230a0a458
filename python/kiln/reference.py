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


# ---- LSTM -------------------------------------------------------------------------------
# torch.nn.LSTMCell / torch.nn.LSTM (one layer, sequence first). B = batch, I = input
# size, H = hidden size, T = steps. Gates are chunked i, f, g, o along the last axis;
# "gates" below always holds the activated values, which backward reuses.


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step: pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh; c' = f*c + i*g; h' = o*tanh(c').

    x: (B, I); h, c: (B, H); w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: (4H,) or None
    returns h_new (B, H), c_new (B, H), gates (B, 4H)
    """
    dtype = _dtype(x, h, c, w_ih, w_hh, b_ih, b_hh)
    x, h, c, w_ih, w_hh = (a.astype(dtype, copy=False) for a in (x, h, c, w_ih, w_hh))
    pre = x @ w_ih.T + h @ w_hh.T
    for bias in (b_ih, b_hh):
        if bias is not None:
            pre = pre + bias.astype(dtype, copy=False)
    pre_i, pre_f, pre_g, pre_o = np.split(pre, 4, axis=-1)
    i, f, g, o = sigmoid(pre_i), sigmoid(pre_f), tanh(pre_g), sigmoid(pre_o)
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, np.concatenate([i, f, g, o], axis=-1)


def _lstm_gate_gradients(grad_h, grad_c, c, gates, c_new):
    """Gradients of the preactivations (B, 4H) and of c (B, H) through one step's gates."""
    i, f, g, o = np.split(gates, 4, axis=-1)
    tanh_c = np.tanh(c_new)
    dc_total = grad_h * o * (1 - tanh_c**2)
    if grad_c is not None:
        dc_total = dc_total + grad_c
    d_pre = np.concatenate([dc_total * g * i * (1 - i),
                            dc_total * c * f * (1 - f),
                            dc_total * i * (1 - g**2),
                            grad_h * tanh_c * o * (1 - o)], axis=-1)
    return d_pre, dc_total * f


def lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new):
    """Gradients of one step, given the upstream grad_h (B, H) and grad_c (B, H) or None.

    x, h, c, w_ih, w_hh: the step's inputs; gates (B, 4H), c_new (B, H): its outputs
    returns dx (B, I), dh (B, H), dc (B, H), dw_ih (4H, I), dw_hh (4H, H),
    db (4H,), the gradient of b_ih and equally of b_hh
    """
    dtype = _dtype(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)
    grad_h, x, h, c, w_ih, w_hh, gates, c_new = (
        a.astype(dtype, copy=False) for a in (grad_h, x, h, c, w_ih, w_hh, gates, c_new))
    d_pre, dc = _lstm_gate_gradients(grad_h, grad_c, c, gates, c_new)
    return d_pre @ w_ih, d_pre @ w_hh, dc, d_pre.T @ x, d_pre.T @ h, d_pre.sum(axis=0)


def lstm_sequence(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
    """A single-layer LSTM over a sequence: lstm_cell at each step, sequence first.

    x: (T, B, I); w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: (4H,) or None;
    h0, c0: (B, H) or None (zeros)
    returns y (T, B, H) every h_t, h_n (B, H), c_n (B, H), gates (T, B, 4H), cells (T, B, H)
    every c_t
    """
    dtype = _dtype(x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    steps, batch, hidden = x.shape[0], x.shape[1], w_hh.shape[1]
    h = np.zeros((batch, hidden), dtype) if h0 is None else h0.astype(dtype, copy=False)
    c = np.zeros((batch, hidden), dtype) if c0 is None else c0.astype(dtype, copy=False)
    y = np.empty((steps, batch, hidden), dtype)
    cells = np.empty((steps, batch, hidden), dtype)
    gates = np.empty((steps, batch, 4 * hidden), dtype)
    for t in range(steps):
        h, c, gates[t] = lstm_cell(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        y[t], cells[t] = h, c
    return y, h.copy(), c.copy(), gates, cells


def lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells):
    """Backward through time of lstm_sequence; each grad_* may be None (zero).

    grad_y: (T, B, H); grad_h_n, grad_c_n: (B, H); the rest as lstm_sequence's inputs and
    outputs (h0, c0 None for zeros)
    returns dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4H, I), dw_hh (4H, H), db (4H,)
    """
    dtype = _dtype(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
    steps, batch, hidden = x.shape[0], x.shape[1], w_hh.shape[1]
    zeros = np.zeros((batch, hidden), dtype)
    h0 = zeros if h0 is None else h0.astype(dtype, copy=False)
    c0 = zeros if c0 is None else c0.astype(dtype, copy=False)
    dh = zeros if grad_h_n is None else grad_h_n.astype(dtype, copy=False)
    dc = zeros if grad_c_n is None else grad_c_n.astype(dtype, copy=False)
    dx = np.zeros(x.shape, dtype)
    dw_ih = np.zeros(w_ih.shape, dtype)
    dw_hh = np.zeros(w_hh.shape, dtype)
    db = np.zeros(4 * hidden, dtype)
    for t in reversed(range(steps)):
        if grad_y is not None:
            dh = dh + grad_y[t]
        h_prev = y[t - 1] if t > 0 else h0
        c_prev = cells[t - 1] if t > 0 else c0
        dx[t], dh, dc, dw_ih_t, dw_hh_t, db_t = lstm_cell_backward(
            dh, dc, x[t], h_prev, c_prev, w_ih, w_hh, gates[t], cells[t])
        dw_ih += dw_ih_t
        dw_hh += dw_hh_t
        db += db_t
    return dx, dh.copy(), dc.copy(), dw_ih, dw_hh, db
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
