"""GRU cell and sequence, forward and backward.

torch.nn.GRUCell / torch.nn.GRU (one layer, sequence first). B = batch, I = input size,
H = hidden size, T = steps; weights are chunked r, z, n along their first axis; "gates"
(B, 4H) per step holds the activated r, z, n and hn = h @ W_hn^T + b_hn, for backward.
"""

from __future__ import annotations

import numpy as np

from .. import backends
from . import _arrays
from ._common import _check_count


def _require_shape(fn: str, name: str, x, shape: tuple, layout: str) -> None:
    if x is not None and tuple(x.shape) != shape:
        raise ValueError(f"{fn}: {name} must have shape {layout} = {shape}, got {x.shape}")


def _check_sizes(fn: str, steps: int, batch: int, inputs: int, hidden: int) -> None:
    """Refuse sizes whose operands exceed kiln's limit, before anything is allocated."""
    for what, elements in (("x", steps * batch * inputs), ("the gates", steps * batch * 4 * hidden),
                           ("w_ih", 3 * hidden * inputs), ("w_hh", 3 * hidden * hidden)):
        _check_count(fn, what, elements)


def _weights(fn: str, inputs: int, w_ih, w_hh, b_ih, b_hh):
    """The checked weights and biases, and H (from w_hh, which must be (3H, H))."""
    w_ih = _arrays.float_array(fn, "w_ih", w_ih)
    w_hh = _arrays.float_array(fn, "w_hh", w_hh)
    b_ih = _arrays.optional_float_array(fn, "b_ih", b_ih)
    b_hh = _arrays.optional_float_array(fn, "b_hh", b_hh)
    if w_hh.ndim != 2 or w_hh.shape[0] != 3 * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape (3*H, H), got {w_hh.shape}")
    hidden = w_hh.shape[1]
    _require_shape(fn, "w_ih", w_ih, (3 * hidden, inputs), "(3*H, I)")
    _require_shape(fn, "b_ih", b_ih, (3 * hidden,), "(3*H,)")
    _require_shape(fn, "b_hh", b_hh, (3 * hidden,), "(3*H,)")
    return w_ih, w_hh, b_ih, b_hh, hidden


def _x(fn: str, x, ndim: int, layout: str) -> np.ndarray:
    x = _arrays.float_array(fn, "x", x)
    if x.ndim != ndim:
        raise ValueError(f"{fn}: x must be {ndim}-D {layout}, got shape {x.shape}")
    return x


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, *, return_gates=False, backend=None):
    """One GRU cell step, as torch.nn.GRUCell.

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise,
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), h_new = (1 - z) * n + z * h.

    Args:
        x: (B, I). h: (B, H). w_ih: (3H, I). w_hh: (3H, H). b_ih, b_hh: (3H,) or None.
        return_gates: also return the gates, which ``gru_cell_backward`` takes.
    Returns:
        h_new (B, H); with ``return_gates``, (h_new, gates (B, 4H)).
    """
    fn = "gru_cell"
    be = backends.select(backend, x, h, w_ih, w_hh, b_ih, b_hh)
    x = _x(fn, x, 2, "(B, I)")
    h = _arrays.float_array(fn, "h", h)
    batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _require_shape(fn, "h", h, (batch, hidden), "(B, H)")
    _check_sizes(fn, 1, batch, inputs, hidden)
    h_new, gates = be.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    return (h_new, gates) if return_gates else h_new


def gru_cell_backward(grad_h, x, h, w_ih, w_hh, gates, *, backend=None):
    """Gradients of one GRU cell step (``gru_cell``).

    Args:
        grad_h: (B, H), the gradient of h_new. x, h, w_ih, w_hh: the step's inputs.
        gates: (B, 4H), the step's gates.
    Returns:
        dx (B, I), dh (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,).
    """
    fn = "gru_cell_backward"
    be = backends.select(backend, grad_h, x, h, w_ih, w_hh, gates)
    grad_h = _arrays.float_array(fn, "grad_h", grad_h)
    x = _x(fn, x, 2, "(B, I)")
    h = _arrays.float_array(fn, "h", h)
    gates = _arrays.float_array(fn, "gates", gates)
    batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h", grad_h), ("h", h)):
        _require_shape(fn, name, a, (batch, hidden), "(B, H)")
    _require_shape(fn, "gates", gates, (batch, 4 * hidden), "(B, 4*H)")
    _check_sizes(fn, 1, batch, inputs, hidden)
    return be.gru_cell_backward(grad_h, x, h, w_ih, w_hh, gates)


def gru_sequence(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *, backend=None):
    """A single-layer GRU over a sequence, as torch.nn.GRU (sequence first): ``gru_cell`` at
    each step, with the input projection of all steps computed as one GEMM.

    Args:
        x: (T, B, I). w_ih: (3H, I). w_hh: (3H, H). b_ih, b_hh: (3H,) or None.
        h0: (B, H), or None for zeros.
    Returns:
        y (T, B, H) every h_t, h_n (B, H), and for ``gru_sequence_backward`` gates (T, B, 4H).
    """
    fn = "gru_sequence"
    be = backends.select(backend, x, w_ih, w_hh, b_ih, b_hh, h0)
    x = _x(fn, x, 3, "(T, B, I)")
    h0 = _arrays.optional_float_array(fn, "h0", h0)
    steps, batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _require_shape(fn, "h0", h0, (batch, hidden), "(B, H)")
    _check_sizes(fn, steps, batch, inputs, hidden)
    return be.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0)


def gru_sequence_backward(grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates, *, backend=None):
    """Backward through time of ``gru_sequence``.

    Args:
        grad_y: (T, B, H), grad_h_n: (B, H): gradients of y and h_n, each None for zero.
        x, w_ih, w_hh, h0: the forward's inputs (h0 None for zeros).
        y (T, B, H), gates (T, B, 4H): the forward's outputs.
    Returns:
        dx (T, B, I), dh0 (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,).
    """
    fn = "gru_sequence_backward"
    be = backends.select(backend, grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates)
    grad_y = _arrays.optional_float_array(fn, "grad_y", grad_y)
    grad_h_n = _arrays.optional_float_array(fn, "grad_h_n", grad_h_n)
    x = _x(fn, x, 3, "(T, B, I)")
    h0 = _arrays.optional_float_array(fn, "h0", h0)
    y = _arrays.float_array(fn, "y", y)
    gates = _arrays.float_array(fn, "gates", gates)
    steps, batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h_n", grad_h_n), ("h0", h0)):
        _require_shape(fn, name, a, (batch, hidden), "(B, H)")
    for name, a in (("grad_y", grad_y), ("y", y)):
        _require_shape(fn, name, a, (steps, batch, hidden), "(T, B, H)")
    _require_shape(fn, "gates", gates, (steps, batch, 4 * hidden), "(T, B, 4*H)")
    _check_sizes(fn, steps, batch, inputs, hidden)
    return be.gru_sequence_backward(grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates)
