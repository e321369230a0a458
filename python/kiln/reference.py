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
# ---- conv2d and pooling -----------------------------------------------------------------
#
# Shapes: x (N, C, H, W); conv weight (K, C/groups, R, S); outputs (N, K or C, OH, OW).
# stride, padding, dilation and kernel_size are an int or an (h, w) pair.


def _pair(value) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


def conv2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis of a convolution (torch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                       ceil_mode: bool = False) -> int:
    """Output length along one axis of a pooling: floor or ceil, and with ceil_mode the
    last window must start inside the input or its left padding (torch's rule)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _windows(x, kernel, stride, padding, dilation, out_hw, fill=0.0):
    """(N, C, OH, OW, R, S) view of the windows of x padded with ``fill``, each tap a
    dilated kernel position. Padded past the right edge too when a ceil_mode window
    reaches beyond it (pooling)."""
    (r, s), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_hw
    span_h, span_w = dh * (r - 1) + 1, dw * (s - 1) + 1
    extra_h = max(0, (oh - 1) * sh + span_h - (x.shape[2] + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + span_w - (x.shape[3] + 2 * pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return views[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _scatter_windows(grad_windows, input_shape, kernel, stride, padding, dilation):
    """The adjoint of _windows: sum grad_windows (N, C, OH, OW, R, S) back onto the input
    (N, C, H, W) positions each tap read; taps in the padding are dropped."""
    n, c, h, w = input_shape
    (r, s), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = grad_windows.shape[2:4]
    rows, cols = (oh - 1) * sh + dh * (r - 1) + 1, (ow - 1) * sw + dw * (s - 1) + 1
    padded = np.zeros((n, c, max(rows, h + 2 * ph), max(cols, w + 2 * pw)), grad_windows.dtype)
    for i in range(r):
        for j in range(s):
            padded[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                   j * dw:j * dw + (ow - 1) * sw + 1:sw] += grad_windows[..., i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]


def _conv_geometry(x_shape, weight_shape, stride, padding, dilation):
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    kernel = tuple(weight_shape[2:])
    out_hw = tuple(conv2d_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a])
                   for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """torch.nn.functional.conv2d: x (N, C, H, W), weight (K, C/groups, R, S), bias (K,) or
    None -> (N, K, OH, OW)."""
    dtype = _dtype(x, weight, bias)
    n, k, cg = x.shape[0], weight.shape[0], weight.shape[1]
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    windows = _windows(x.astype(dtype, copy=False), *geometry)
    windows = windows.reshape(n, groups, cg, oh, ow, *weight.shape[2:])
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, *weight.shape[2:])
    y = np.einsum("ngchwrs,gkcrs->ngkhw", windows, w, optimize=True).reshape(n, k, oh, ow)
    if bias is not None:
        y = y + bias.astype(dtype, copy=False).reshape(1, k, 1, 1)
    return np.ascontiguousarray(y, dtype=dtype)


def conv2d_backward(x, weight, grad_y, *, stride=1, padding=0, dilation=1, groups=1,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv2d given grad_y (N, K, OH, OW): (grad_x (N, C, H, W),
    grad_weight (K, C/groups, R, S), grad_bias (K,)), each None when not asked for."""
    dtype = _dtype(x, weight, grad_y)
    n, c = x.shape[:2]
    k, cg, r, s = weight.shape
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    dy = grad_y.astype(dtype, copy=False).reshape(n, groups, k // groups, oh, ow)
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, r, s)
    grad_x = grad_weight = grad_bias = None
    if input_grad:
        grad_windows = np.einsum("ngkhw,gkcrs->ngchwrs", dy, w, optimize=True)
        grad_x = _scatter_windows(grad_windows.reshape(n, c, oh, ow, r, s), x.shape, *geometry[:-1])
        grad_x = np.ascontiguousarray(grad_x, dtype=dtype)
    if weight_grad:
        windows = _windows(x.astype(dtype, copy=False), *geometry).reshape(n, groups, cg, oh, ow, r, s)
        grad_weight = np.einsum("ngkhw,ngchwrs->gkcrs", dy, windows, optimize=True)
        grad_weight = np.ascontiguousarray(grad_weight.reshape(k, cg, r, s), dtype=dtype)
    if bias_grad:
        grad_bias = grad_y.astype(dtype, copy=False).sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


def _pool_geometry(input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _pair(kernel_size)
    stride = kernel if stride is None else _pair(stride)
    padding, dilation = _pair(padding), _pair(dilation)
    out_hw = tuple(pool2d_output_size(input_shape[2 + a], kernel[a], stride[a], padding[a],
                                      dilation[a], ceil_mode) for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool2d: x (N, C, H, W) -> y (N, C, OH, OW), and with
    return_indices the int64 position h * W + w of each maximum in its plane. Padding never
    wins; the first maximum does, or the last NaN (NaN propagates), as in torch."""
    n, c, h, w = x.shape
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    (kh, kw), (oh, ow) = geometry[0], geometry[-1]
    values = _windows(x, *geometry, fill=-np.inf).reshape(n, c, oh, ow, kh * kw)
    flat_positions = np.arange(h * w, dtype=np.int64).reshape(1, 1, h, w)
    positions = _windows(flat_positions, *geometry, fill=-1).reshape(1, 1, oh, ow, kh * kw)
    inside = positions >= 0
    nan = np.isnan(values)
    last_nan = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    candidates = np.where(inside & ~nan, values, -np.inf)
    best = candidates.max(axis=-1, keepdims=True)
    first_max = np.argmax(inside & (candidates == best), axis=-1)
    chosen = np.where(nan.any(axis=-1), last_nan, first_max)[..., None]
    y = np.take_along_axis(values, chosen, axis=-1)[..., 0]
    if not return_indices:
        return y
    positions = np.broadcast_to(positions, values.shape)
    return y, np.take_along_axis(positions, chosen, axis=-1)[..., 0]


def max_pool2d_backward(grad_y, indices, input_shape):
    """Gradient of max_pool2d: grad_y (N, C, OH, OW) summed into the input positions that
    indices (N, C, OH, OW) name -> (N, C, H, W)."""
    n, c, h, w = input_shape
    grad_x = np.zeros((n * c, h * w), grad_y.dtype)
    planes = np.arange(n * c)[:, None]
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    np.add.at(grad_x, (planes, indices.reshape(n * c, per_plane)), grad_y.reshape(n * c, per_plane))
    return grad_x.reshape(n, c, h, w)


def _avg_divisors(input_shape, geometry, count_include_pad, divisor_override):
    """(OH, OW) divisor of each window and whether it covers any input element (torch's rule)."""
    (kh, kw), stride, padding, _, out_hw = geometry
    per_axis = []
    for a, k in ((0, kh), (1, kw)):
        size = input_shape[2 + a]
        start = np.arange(out_hw[a]) * stride[a] - padding[a]
        end = np.minimum(start + k, size + padding[a])
        inside = np.minimum(end, size) - np.maximum(start, 0)
        per_axis.append((end - start, inside))
    (pool_h, inside_h), (pool_w, inside_w) = per_axis
    covers = np.outer(inside_h > 0, inside_w > 0)
    if divisor_override:
        divisor = np.full(covers.shape, divisor_override)
    elif count_include_pad:
        divisor = np.outer(pool_h, pool_w)
    else:
        divisor = np.outer(inside_h, inside_w)
    return np.where(covers, divisor, 1), covers


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW)."""
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    sums = _windows(x, *geometry).sum(axis=(-2, -1))
    divisor, covers = _avg_divisors(x.shape, geometry, count_include_pad, divisor_override)
    return np.where(covers, sums / divisor.astype(x.dtype), 0).astype(x.dtype, copy=False)


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d: grad_y (N, C, OH, OW) -> (N, C, H, W)."""
    geometry = _pool_geometry(input_shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor, covers = _avg_divisors(input_shape, geometry, count_include_pad, divisor_override)
    share = np.where(covers, grad_y / divisor.astype(grad_y.dtype), 0).astype(grad_y.dtype, copy=False)
    kh, kw = geometry[0]
    grad_windows = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
    return np.ascontiguousarray(_scatter_windows(grad_windows, input_shape, *geometry[:-1]))
