"""LSTM cell and sequence, forward and backward.

torch.nn.LSTMCell / torch.nn.LSTM (one layer, sequence first). B = batch, I = input size,
H = hidden size, T = steps; gates are chunked i, f, g, o along the last axis.
"""

from __future__ import annotations

import numpy as np

from .. import backends
from . import _arrays
from ._common import _check_count


def _lstm_hidden_size(fn: str, w_hh: np.ndarray) -> int:
    """H from w_hh, which must be (4H, H)."""
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape (4*H, H), got {w_hh.shape}")
    return w_hh.shape[1]


def _lstm_require_shape(fn: str, name: str, x: np.ndarray | None, shape: tuple, layout: str) -> None:
    if x is not None and tuple(x.shape) != shape:
        raise ValueError(f"{fn}: {name} must have shape {layout} = {shape}, got {x.shape}")


def _lstm_check_sizes(fn: str, steps: int, batch: int, inputs: int, hidden: int) -> None:
    """Refuse sizes whose operands exceed kiln's limit, before anything is allocated."""
    for what, elements in (("x", steps * batch * inputs), ("the gates", steps * batch * 4 * hidden),
                           ("w_ih", 4 * hidden * inputs), ("w_hh", 4 * hidden * hidden)):
        _check_count(fn, what, elements)


def _lstm_weights(fn: str, inputs: int, w_ih, w_hh, b_ih, b_hh):
    """The checked weights and biases, and H."""
    w_ih = _arrays.float_array(fn, "w_ih", w_ih)
    w_hh = _arrays.float_array(fn, "w_hh", w_hh)
    b_ih = _arrays.optional_float_array(fn, "b_ih", b_ih)
    b_hh = _arrays.optional_float_array(fn, "b_hh", b_hh)
    hidden = _lstm_hidden_size(fn, w_hh)
    _lstm_require_shape(fn, "w_ih", w_ih, (4 * hidden, inputs), "(4*H, I)")
    _lstm_require_shape(fn, "b_ih", b_ih, (4 * hidden,), "(4*H,)")
    _lstm_require_shape(fn, "b_hh", b_hh, (4 * hidden,), "(4*H,)")
    return w_ih, w_hh, b_ih, b_hh, hidden


def _lstm_x(fn: str, x, ndim: int, layout: str) -> np.ndarray:
    x = _arrays.float_array(fn, "x", x)
    if x.ndim != ndim:
        raise ValueError(f"{fn}: x must be {ndim}-D {layout}, got shape {x.shape}")
    return x


def lstm_pack_weights(w_ih, w_hh, *, backend=None):
    """The cell's weights prepared once for many ``lstm_cell`` steps (``packed=``): on the cpu
    backend a copy in the layout of its fused GEMM (about the weights' size), independent of
    the arrays afterwards, so the caller makes a new one when they change
    (nn.functional.lstm_cell keeps one per version of its weights). None where the backend
    prepares nothing.

    Args:
        w_ih: (4H, I). w_hh: (4H, H).
    """
    fn = "lstm_pack_weights"
    be = backends.select(backend, w_ih, w_hh)
    w_ih = _arrays.float_array(fn, "w_ih", w_ih)
    if w_ih.ndim != 2:
        raise ValueError(f"{fn}: w_ih must have shape (4*H, I), got {w_ih.shape}")
    w_ih, w_hh, _, _, hidden = _lstm_weights(fn, w_ih.shape[1], w_ih, w_hh, None, None)
    _lstm_check_sizes(fn, 1, 0, w_ih.shape[1], hidden)
    return be.lstm_pack_weights(w_ih, w_hh)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, *, return_gates=False, packed=None, backend=None):
    """One LSTM cell step, as torch.nn.LSTMCell.

    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, chunked i, f, g, o; i, f, o = sigmoid,
    g = tanh; c_new = f * c + i * g; h_new = o * tanh(c_new).

    Args:
        x: (B, I). h, c: (B, H). w_ih: (4H, I). w_hh: (4H, H). b_ih, b_hh: (4H,) or None.
        return_gates: also return the gates, which ``lstm_cell_backward`` takes.
        packed: ``lstm_pack_weights(w_ih, w_hh)`` of these very weights, or None (the
            backend then prepares them on this call).
    Returns:
        (h_new (B, H), c_new (B, H)), as torch.nn.LSTMCell; with ``return_gates``,
        (h_new, c_new, gates (B, 4H): the activated i, f, g, o).
    """
    fn = "lstm_cell"
    be = backends.select(backend, x, h, c, w_ih, w_hh, b_ih, b_hh)
    x = _lstm_x(fn, x, 2, "(B, I)")
    h = _arrays.float_array(fn, "h", h)
    c = _arrays.float_array(fn, "c", c)
    batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _lstm_require_shape(fn, "h", h, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "c", c, (batch, hidden), "(B, H)")
    _lstm_check_sizes(fn, 1, batch, inputs, hidden)
    if packed is None:
        h_new, c_new, gates = be.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    else:
        h_new, c_new, gates = be.lstm_cell_packed(x, h, c, packed, b_ih, b_hh, return_gates)
    return (h_new, c_new, gates) if return_gates else (h_new, c_new)


def lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new, *, backend=None):
    """Gradients of one LSTM cell step (``lstm_cell``).

    Args:
        grad_h: (B, H), the gradient of h_new. grad_c: (B, H) or None, that of c_new.
        x, h, c, w_ih, w_hh: the step's inputs, as in ``lstm_cell``.
        gates: (B, 4H) and c_new: (B, H), the step's outputs.
    Returns:
        dx (B, I), dh (B, H), dc (B, H), dw_ih (4H, I), dw_hh (4H, H), and db (4H,): the
        gradient of b_ih, equal to that of b_hh.
    """
    fn = "lstm_cell_backward"
    be = backends.select(backend, grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)
    grad_h = _arrays.float_array(fn, "grad_h", grad_h)
    grad_c = _arrays.optional_float_array(fn, "grad_c", grad_c)
    x = _lstm_x(fn, x, 2, "(B, I)")
    h = _arrays.float_array(fn, "h", h)
    c = _arrays.float_array(fn, "c", c)
    gates = _arrays.float_array(fn, "gates", gates)
    c_new = _arrays.float_array(fn, "c_new", c_new)
    batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h", grad_h), ("grad_c", grad_c), ("h", h), ("c", c), ("c_new", c_new)):
        _lstm_require_shape(fn, name, a, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "gates", gates, (batch, 4 * hidden), "(B, 4*H)")
    _lstm_check_sizes(fn, 1, batch, inputs, hidden)
    return be.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)


def lstm_sequence(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *, backend=None):
    """A single-layer LSTM over a sequence, as torch.nn.LSTM (sequence first): ``lstm_cell``
    at each step, with the input projection of all steps computed as one GEMM.

    Args:
        x: (T, B, I). w_ih: (4H, I). w_hh: (4H, H). b_ih, b_hh: (4H,) or None.
        h0, c0: (B, H), or None for zeros.
    Returns:
        y (T, B, H) every h_t, h_n (B, H), c_n (B, H), and for ``lstm_sequence_backward``
        gates (T, B, 4H) every step's activated i, f, g, o, and cells (T, B, H) every c_t.
    """
    fn = "lstm_sequence"
    be = backends.select(backend, x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    x = _lstm_x(fn, x, 3, "(T, B, I)")
    h0 = _arrays.optional_float_array(fn, "h0", h0)
    c0 = _arrays.optional_float_array(fn, "c0", c0)
    steps, batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _lstm_require_shape(fn, "h0", h0, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "c0", c0, (batch, hidden), "(B, H)")
    _lstm_check_sizes(fn, steps, batch, inputs, hidden)
    return be.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0)


def lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells, *,
                           backend=None):
    """Backward through time of ``lstm_sequence``.

    Args:
        grad_y: (T, B, H), grad_h_n: (B, H), grad_c_n: (B, H): gradients of y, h_n and c_n,
            each None for zero.
        x, w_ih, w_hh, h0, c0: the forward's inputs (h0, c0 None for zeros).
        y (T, B, H), gates (T, B, 4H), cells (T, B, H): the forward's outputs.
    Returns:
        dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4H, I), dw_hh (4H, H), and db (4H,):
        the gradient of b_ih, equal to that of b_hh.
    """
    fn = "lstm_sequence_backward"
    be = backends.select(backend, grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
    grad_y = _arrays.optional_float_array(fn, "grad_y", grad_y)
    grad_h_n = _arrays.optional_float_array(fn, "grad_h_n", grad_h_n)
    grad_c_n = _arrays.optional_float_array(fn, "grad_c_n", grad_c_n)
    x = _lstm_x(fn, x, 3, "(T, B, I)")
    h0 = _arrays.optional_float_array(fn, "h0", h0)
    c0 = _arrays.optional_float_array(fn, "c0", c0)
    y = _arrays.float_array(fn, "y", y)
    gates = _arrays.float_array(fn, "gates", gates)
    cells = _arrays.float_array(fn, "cells", cells)
    steps, batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h_n", grad_h_n), ("grad_c_n", grad_c_n), ("h0", h0), ("c0", c0)):
        _lstm_require_shape(fn, name, a, (batch, hidden), "(B, H)")
    for name, a in (("grad_y", grad_y), ("y", y), ("cells", cells)):
        _lstm_require_shape(fn, name, a, (steps, batch, hidden), "(T, B, H)")
    _lstm_require_shape(fn, "gates", gates, (steps, batch, 4 * hidden), "(T, B, 4*H)")
    _lstm_check_sizes(fn, steps, batch, inputs, hidden)
    return be.lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
