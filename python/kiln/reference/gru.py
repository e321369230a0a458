"""GRU cell and sequence, forward and backward.

torch.nn.GRUCell / torch.nn.GRU (one layer, sequence first). B = batch, I = input size,
H = hidden size, T = steps. Weights are chunked r, z, n along their first axis:

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    h' = (1 - z) * n + z * h

"gates" (B, 4H) holds what backward reuses: the activated r, z, n and hn = h W_hn^T + b_hn.
"""

from __future__ import annotations

import numpy as np

from ._common import _dtype
from .pointwise import sigmoid, tanh


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step. x: (B, I); h: (B, H); w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,) or None
    returns h_new (B, H), gates (B, 4H)
    """
    dtype = _dtype(x, h, w_ih, w_hh, b_ih, b_hh)
    x, h, w_ih, w_hh = (a.astype(dtype, copy=False) for a in (x, h, w_ih, w_hh))
    xg = x @ w_ih.T
    hg = h @ w_hh.T
    if b_ih is not None:
        xg = xg + b_ih.astype(dtype, copy=False)
    if b_hh is not None:
        hg = hg + b_hh.astype(dtype, copy=False)
    x_r, x_z, x_n = np.split(xg, 3, axis=-1)
    h_r, h_z, h_n = np.split(hg, 3, axis=-1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = tanh(x_n + r * h_n)
    h_new = (1 - z) * n + z * h
    return h_new, np.concatenate([r, z, n, h_n], axis=-1)


def _gru_gate_gradients(grad_h, h, gates):
    """From dh' (B, H): the gradients of x's projection (B, 3H), of h's projection hg (B, 3H),
    and the direct part of dh (dh' * z)."""
    r, z, n, hn = np.split(gates, 4, axis=-1)
    d_n = grad_h * (1 - z) * (1 - n**2)
    d_z = grad_h * (h - n) * z * (1 - z)
    d_r = d_n * hn * r * (1 - r)
    return (np.concatenate([d_r, d_z, d_n], axis=-1), np.concatenate([d_r, d_z, d_n * r], axis=-1),
            grad_h * z)


def gru_cell_backward(grad_h, x, h, w_ih, w_hh, gates):
    """Gradients of one step from grad_h (B, H); x, h, w_ih, w_hh the step's inputs, gates its own.
    returns dx (B, I), dh (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,)
    """
    dtype = _dtype(grad_h, x, h, w_ih, w_hh, gates)
    grad_h, x, h, w_ih, w_hh, gates = (a.astype(dtype, copy=False) for a in (grad_h, x, h, w_ih, w_hh, gates))
    d_x, d_h, dh_direct = _gru_gate_gradients(grad_h, h, gates)
    return (d_x @ w_ih, dh_direct + d_h @ w_hh, d_x.T @ x, d_h.T @ h, d_x.sum(axis=0), d_h.sum(axis=0))


def gru_sequence(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None):
    """A single-layer GRU over a sequence: gru_cell at each step, sequence first.

    x: (T, B, I); h0: (B, H) or None (zeros)
    returns y (T, B, H) every h_t, h_n (B, H), gates (T, B, 4H)
    """
    dtype = _dtype(x, w_ih, w_hh, b_ih, b_hh, h0)
    steps, batch, hidden = x.shape[0], x.shape[1], w_hh.shape[1]
    h = np.zeros((batch, hidden), dtype) if h0 is None else h0.astype(dtype, copy=False)
    y = np.empty((steps, batch, hidden), dtype)
    gates = np.empty((steps, batch, 4 * hidden), dtype)
    for t in range(steps):
        h, gates[t] = gru_cell(x[t], h, w_ih, w_hh, b_ih, b_hh)
        y[t] = h
    return y, h.copy(), gates


def gru_sequence_backward(grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates):
    """Backward through time of gru_sequence; grad_y (T, B, H) and grad_h_n (B, H) may be None.
    returns dx (T, B, I), dh0 (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,)
    """
    dtype = _dtype(grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates)
    steps, batch, hidden = x.shape[0], x.shape[1], w_hh.shape[1]
    h0 = np.zeros((batch, hidden), dtype) if h0 is None else h0.astype(dtype, copy=False)
    dh = np.zeros((batch, hidden), dtype) if grad_h_n is None else grad_h_n.astype(dtype, copy=False)
    dx = np.zeros(x.shape, dtype)
    dw_ih, dw_hh = np.zeros(w_ih.shape, dtype), np.zeros(w_hh.shape, dtype)
    db_ih, db_hh = np.zeros(3 * hidden, dtype), np.zeros(3 * hidden, dtype)
    for t in reversed(range(steps)):
        if grad_y is not None:
            dh = dh + grad_y[t]
        h_prev = y[t - 1] if t > 0 else h0
        dx[t], dh, dw_ih_t, dw_hh_t, db_ih_t, db_hh_t = gru_cell_backward(dh, x[t], h_prev, w_ih, w_hh, gates[t])
        dw_ih += dw_ih_t
        dw_hh += dw_hh_t
        db_ih += db_ih_t
        db_hh += db_hh_t
    return dx, dh.copy(), dw_ih, dw_hh, db_ih, db_hh
