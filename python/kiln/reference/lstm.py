"""LSTM cell and sequence, forward and backward.

torch.nn.LSTMCell / torch.nn.LSTM (one layer, sequence first). B = batch, I = input
size, H = hidden size, T = steps. Gates are chunked i, f, g, o along the last axis;
"gates" below always holds the activated values, which backward reuses.
"""

from __future__ import annotations

import numpy as np

from ._common import _dtype
from .pointwise import sigmoid, tanh


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
