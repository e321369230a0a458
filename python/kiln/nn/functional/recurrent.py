"""The LSTM's differentiable functions: a whole layer over a sequence, and one cell step.

Both are one forward kernel and one backward kernel (backward through time inside the
kernel), recorded as one multi-output node: y, h_n and c_n (or h' and c') hang off it, so
its backward runs once with all their gradients.

A cell step reads its weights packed for the backend's fused GEMM (``ops.lstm_pack_weights``),
packed once per version of them: the cache below keeps, per w_hh Tensor, the arrays it
packed and their storage versions (kiln.versions), so any in-place write to either weight
(an optimizer step, copy_, load_state_dict, ...) or a new array behind the Tensor packs
anew on the next step. The entry goes when the Tensor does.
"""

from __future__ import annotations

import weakref

from ... import backends, ops, versions
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor
from ._cast import cast


def _arrays(*tensors):
    return tuple(None if t is None else t._array for t in tensors)


def _outputs(be, arrays, dtype, node) -> tuple:
    outs = tuple(cast(be, a, dtype) for a in arrays)
    if node is None:
        return tuple(Tensor._wrap(a) for a in outs)
    return tuple(Tensor._recorded(a, node.output(k)) for k, a in enumerate(outs))


def _grads_for(be, grads, parents) -> tuple:
    """One gradient per parent (None for absent ones), each in its parent's dtype."""
    return tuple(None if p is None else cast(be, g, p.dtype) for g, p in zip(grads, parents))


def lstm_layer(x, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
               h0: Tensor | None = None, c0: Tensor | None = None):
    """One LSTM layer over a time-major sequence: x (T, B, I) -> y (T, B, H), h_n, c_n (B, H).

    Parameters in torch's layout: w_ih (4H, I), w_hh (4H, H), b_ih and b_hh (4H,) or None;
    h0 and c0 (B, H) or None (zeros).
    """
    x = as_tensor(x)
    parents = (x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    X, W_ih, W_hh, B_ih, B_hh, H0, C0 = _arrays(*parents)
    be = backends.select(None, X, W_ih, W_hh)
    # Row-major once for the forward and the backward (a Keras layer passes its kernels' transposes).
    W_ih, W_hh = be.contiguous(W_ih), be.contiguous(W_hh)
    y, h_n, c_n, gates, cells = ops.lstm_sequence(X, W_ih, W_hh, B_ih, B_hh, H0, C0, backend=be)
    e = edges(parents)

    def backward(grads):
        gy, gh, gc = grads
        dx, dh0, dc0, dw_ih, dw_hh, db = ops.lstm_sequence_backward(gy, gh, gc, X, W_ih, W_hh, H0, C0, y, gates,
                                                                     cells, backend=be)
        return _grads_for(be, (dx, dw_ih, dw_hh, db, db, dh0, dc0), parents)
    node = None if e is None else kernel_node(be, "lstm_sequence", e, backward, X, W_ih, W_hh, H0, C0, y, gates,
                                              cells, outputs=3)
    return _outputs(be, (y, h_n, c_n), W_ih.dtype, node)


# id(w_hh Tensor) -> (backend, W_ih, W_hh, their versions, packed handle or None)
_packed_weights: dict[int, tuple] = {}


def _packed(be, w_hh: Tensor, W_ih, W_hh):
    """The backend's packed copy of (W_ih, W_hh), made again only after a write to either."""
    key = id(w_hh)
    now = (versions.version(W_ih), versions.version(W_hh))
    entry = _packed_weights.get(key)
    if entry is not None and entry[0] is be and entry[1] is W_ih and entry[2] is W_hh and entry[3] == now:
        return entry[4]
    if entry is None:
        weakref.finalize(w_hh, _packed_weights.pop, key, None)
    packed = ops.lstm_pack_weights(W_ih, W_hh, backend=be)
    _packed_weights[key] = (be, W_ih, W_hh, now, packed)
    return packed


def lstm_cell(x, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None):
    """One LSTMCell step: x (B, I), h and c (B, H) -> (h', c') (B, H); gates i, f, g, o."""
    x = as_tensor(x)
    parents = (x, h, c, w_ih, w_hh, b_ih, b_hh)
    X, Hs, Cs, W_ih, W_hh, B_ih, B_hh = _arrays(*parents)
    be = backends.select(None, X, W_ih, W_hh)
    e = edges(parents)
    out = ops.lstm_cell(X, Hs, Cs, W_ih, W_hh, B_ih, B_hh, return_gates=e is not None,
                        packed=_packed(be, w_hh, W_ih, W_hh), backend=be)
    h_new, c_new, gates = out if e is not None else (*out, None)

    def backward(grads):
        gh, gc = grads
        if gh is None:
            gh = be.full(h_new.shape, 0, h_new.dtype)
        dx, dh, dc, dw_ih, dw_hh, db = ops.lstm_cell_backward(gh, gc, X, Hs, Cs, W_ih, W_hh, gates, c_new,
                                                              backend=be)
        return _grads_for(be, (dx, dh, dc, dw_ih, dw_hh, db, db), parents)
    node = None if e is None else kernel_node(be, "lstm_cell", e, backward, X, Hs, Cs, W_ih, W_hh, gates, c_new,
                                              outputs=2)
    return _outputs(be, (h_new, c_new), W_ih.dtype, node)
