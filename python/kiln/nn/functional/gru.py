"""The GRU's differentiable functions (one fused kernel forward, one backward, as the LSTM's in
recurrent.py), and the Elman RNN's, composed from linear and an activation.

gru_layer and gru_cell record one multi-output node each: y and h_n hang off the layer's,
so its backward through time runs once with both gradients.
"""

from __future__ import annotations

from ... import backends, ops
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor, stack
from .activations import relu, tanh
from ._cast import cast
from .layers import linear
from .recurrent import _arrays, _grads_for, _outputs


def gru_layer(x, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, h0: Tensor | None = None):
    """One GRU layer over a time-major sequence: x (T, B, I) -> y (T, B, H), h_n (B, H).

    Parameters in torch's layout (gates r, z, n): w_ih (3H, I), w_hh (3H, H), b_ih and b_hh
    (3H,) or None; h0 (B, H) or None (zeros).
    """
    x = as_tensor(x)
    parents = (x, w_ih, w_hh, b_ih, b_hh, h0)
    X, W_ih, W_hh, B_ih, B_hh, H0 = _arrays(*parents)
    be = backends.select(None, X, W_ih, W_hh)
    y, h_n, gates = ops.gru_sequence(X, W_ih, W_hh, B_ih, B_hh, H0, backend=be)
    e = edges(parents)

    def backward(grads):
        gy, gh = grads
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = ops.gru_sequence_backward(gy, gh, X, W_ih, W_hh, H0, y, gates,
                                                                        backend=be)
        return _grads_for(be, (dx, dw_ih, dw_hh, db_ih, db_hh, dh0), parents)
    node = None if e is None else kernel_node(be, "gru_sequence", e, backward, X, W_ih, W_hh, H0, y, gates,
                                              outputs=2)
    return _outputs(be, (y, h_n), W_ih.dtype, node)


def gru_cell(x, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None):
    """One GRUCell step: x (B, I), h (B, H) -> h' (B, H)."""
    x = as_tensor(x)
    parents = (x, h, w_ih, w_hh, b_ih, b_hh)
    X, Hs, W_ih, W_hh, B_ih, B_hh = _arrays(*parents)
    be = backends.select(None, X, W_ih, W_hh)
    h_new, gates = ops.gru_cell(X, Hs, W_ih, W_hh, B_ih, B_hh, return_gates=True, backend=be)
    e = edges(parents)

    def backward(gh):
        dx, dh, dw_ih, dw_hh, db_ih, db_hh = ops.gru_cell_backward(gh, X, Hs, W_ih, W_hh, gates, backend=be)
        return _grads_for(be, (dx, dh, dw_ih, dw_hh, db_ih, db_hh), parents)
    node = None if e is None else kernel_node(be, "gru_cell", e, backward, X, Hs, W_ih, W_hh, gates)
    h_new = cast(be, h_new, W_ih.dtype)
    return Tensor._wrap(h_new) if node is None else Tensor._recorded(h_new, node)


_RNN_ACTIVATIONS = {"tanh": tanh, "relu": relu}


def _rnn_activation(fn: str, nonlinearity):
    """The activation for 'tanh' or 'relu', or a callable itself (kiln.keras's SimpleRNN)."""
    if callable(nonlinearity):
        return nonlinearity
    try:
        return _RNN_ACTIVATIONS[nonlinearity]
    except KeyError:
        raise ValueError(f"{fn}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}") from None


def rnn_cell(x, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """One RNNCell step: h' = act(x @ w_ih^T + b_ih + h @ w_hh^T + b_hh). x (B, I), h (B, H)."""
    act = _rnn_activation("rnn_cell", nonlinearity)
    return act(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh))


def rnn_layer(x, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, h0: Tensor | None = None,
              nonlinearity: str = "tanh"):
    """One Elman RNN layer over a time-major sequence: x (T, B, I) -> y (T, B, H), h_n (B, H).

    The input projection of all steps is one linear call; each step adds h @ w_hh^T + b_hh and
    applies the activation ('tanh', 'relu' or a callable). h0 (B, H) or None (zeros).
    """
    act = _rnn_activation("rnn_layer", nonlinearity)
    x = as_tensor(x)
    steps, batch = x.shape[0], x.shape[1]
    hidden = w_hh.shape[1]
    projected = linear(x, w_ih, b_ih)
    h = h0
    if h is None:
        h = Tensor._wrap(backends.select(None, x._array).full((batch, hidden), 0, w_ih.dtype))
    outputs = []
    for t in range(steps):
        h = act(projected[t] + linear(h, w_hh, b_hh))
        outputs.append(h)
    if not outputs:
        return projected, h
    return stack(outputs), h
