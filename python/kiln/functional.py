"""Differentiable functions over Tensors, each forward and backward one ``kiln.ops`` kernel.

Exposed as ``kiln.nn.functional`` (imported as ``F`` in the PyTorch idiom). Names,
arguments and defaults follow ``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np

from . import _direct, ops, sparse
from ._backend import current_backend
from .autograd import record, record_multi, wants_grad
from .random import generator
from .tensor import Tensor, _as_tensor


def _cast(x, dtype):
    return None if x is None else np.asarray(x).astype(dtype, copy=False)


def _reduction_scale(reduction: str, count: int) -> float:
    """Loss kernels average; ``reduction="sum"`` scales the mean back up."""
    if reduction == "mean":
        return 1.0
    if reduction == "sum":
        return float(count)
    raise ValueError(f"reduction must be 'mean' or 'sum' (kiln's loss kernels reduce), got {reduction!r}")


# ---- activations ------------------------------------------------------------------------------


def _pointwise(x, forward, backward_from):
    x = _as_tensor(x)
    backend = current_backend()
    a = x._array
    y = forward(a, backend).astype(a.dtype, copy=False)
    return record(y, (x,), lambda g: (backward_from(g, a, y, backend).astype(a.dtype, copy=False),))


def _activation(x, name: str) -> Tensor:
    """relu, sigmoid or tanh: relu's derivative reads the input, the others' the output."""
    x = _as_tensor(x)
    a = x._array
    recording = wants_grad((x,))
    native = _direct.activation_forward(name, a, recording)
    if native is not None:
        y, backward = native
        return Tensor._recorded(y, (x,), backward) if recording else Tensor._wrap(y)
    backend = current_backend()
    y = _direct.activation(name, a, backend).astype(a.dtype, copy=False)
    if not recording:
        return Tensor._wrap(y)
    saved = a if name == "relu" else y

    def backward(g):
        return (_direct.activation_backward(name, g, saved, backend).astype(a.dtype, copy=False),)
    return record(y, (x,), backward)


def relu(x, inplace: bool = False) -> Tensor:
    return _activation(x, "relu")


def sigmoid(x) -> Tensor:
    return _activation(x, "sigmoid")


def tanh(x) -> Tensor:
    return _activation(x, "tanh")


def gelu(x, approximate: str = "none") -> Tensor:
    return _pointwise(x, lambda a, be: ops.gelu(a, approximate=approximate, backend=be),
                      lambda g, a, y, be: ops.gelu_backward(g, a, approximate=approximate, backend=be))


def softmax(x, dim: int = -1) -> Tensor:
    return _pointwise(x, lambda a, be: ops.softmax(a, axis=dim, backend=be),
                      lambda g, a, y, be: ops.softmax_backward(g, y, axis=dim, backend=be))


def log_softmax(x, dim: int = -1) -> Tensor:
    return _pointwise(x, lambda a, be: ops.log_softmax(a, axis=dim, backend=be),
                      lambda g, a, y, be: ops.log_softmax_backward(g, y, axis=dim, backend=be))


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "gelu": gelu, "softmax": softmax}


# ---- layers -------------------------------------------------------------------------------------


def linear(x, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """y = act(x @ weight^T + bias). x (..., in), weight (out, in), bias (out,) -> (..., out).

    ``activation`` ("relu", "sigmoid", "tanh") is kiln's extension: it runs in the GEMM's
    epilogue and its derivative comes from the output, so the layer costs one kernel call.
    """
    return _affine(x, weight, bias, activation, weight_is_out_by_in=True)


def dense(x, kernel: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """Keras's Dense: y = act(x @ kernel + bias). x (..., in), kernel (in, out), bias (out,)."""
    return _affine(x, kernel, bias, activation, weight_is_out_by_in=False)


def _affine(x, weight: Tensor, bias, activation, weight_is_out_by_in: bool) -> Tensor:
    if type(x) is Tensor:
        parents = (x, weight) + ((bias,) if bias is not None else ())
        recording = wants_grad(parents)
        native = _direct.linear_forward(x, weight, bias, activation, weight_is_out_by_in, recording)
        if native is not None:  # float32 on the cpu backend: forward and node in one call
            y, backward = native
            return Tensor._recorded(y, parents, backward) if recording else Tensor._wrap(y)
    if activation not in (None, "relu", "sigmoid", "tanh"):
        raise ValueError(f"fused activation must be None, 'relu', 'sigmoid' or 'tanh', got {activation!r}")
    if sparse.is_sparse(x):  # a SciPy sparse batch (TF-IDF): only its stored entries are multiplied
        return sparse.affine(x, weight, bias, activation, weight_is_out_by_in)
    x = _as_tensor(x)
    backend = current_backend()
    X, W = x._array, weight._array
    B = None if bias is None else bias._array
    lead = X.shape[:-1]
    X2 = X.reshape(-1, X.shape[-1])
    in_features = W.shape[1] if weight_is_out_by_in else W.shape[0]
    out_features = W.shape[0] if weight_is_out_by_in else W.shape[1]
    if X2.shape[1] != in_features:
        raise ValueError(f"input has {X2.shape[1]} features, the weight {tuple(W.shape)} expects {in_features}")
    Y = ops.matmul(X2, W, transpose_b=weight_is_out_by_in, bias=B, activation=activation,
                   backend=backend).astype(W.dtype, copy=False)
    out = Y.reshape(lead + (out_features,))
    parents = (x, weight) + ((bias,) if bias is not None else ())
    if not wants_grad(parents):
        return Tensor._wrap(out)

    def backward(g):
        g = g.reshape(-1, g.shape[-1])
        gx, gw, gb = _direct.linear_backward(X2, W, Y, g, weight_is_out_by_in=weight_is_out_by_in,
                                             activation=activation, input_grad=x.requires_grad,
                                             weight_grad=weight.requires_grad,
                                             bias_grad=bias is not None and bias.requires_grad,
                                             backend=backend)
        if gx is not None:
            gx = gx.reshape(X.shape)
        return (_cast(gx, X.dtype), _cast(gw, W.dtype)) + ((_cast(gb, B.dtype),) if bias is not None else ())
    return record(out, parents, backward)


def pad(x, pad: tuple, value: float = 0.0) -> Tensor:
    """Constant padding, as torch: ``pad`` lists (before, after) pairs from the LAST axis backwards."""
    x = _as_tensor(x)
    a = x._array
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad: expected (before, after) pairs for at most {a.ndim} axes, got {pad}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    out = np.pad(a, widths, constant_values=value)
    inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, a.shape))
    return record(out, (x,), lambda g: (np.ascontiguousarray(g[inner]),))


def conv2d(x, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """x (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, OH, OW)."""
    x = _as_tensor(x)
    backend = current_backend()
    X, W = x._array, weight._array
    B = None if bias is None else bias._array
    if isinstance(padding, str):
        padding = _same_padding(padding, W.shape[2:], dilation, stride)
    y = ops.conv2d(X, W, B, stride=stride, padding=padding, dilation=dilation, groups=groups,
                   backend=backend).astype(W.dtype, copy=False)

    def backward(g):
        dx, dw, db = ops.conv2d_backward(X, W, g, stride=stride, padding=padding, dilation=dilation,
                                         groups=groups, input_grad=x.requires_grad,
                                         weight_grad=weight.requires_grad,
                                         bias_grad=bias is not None and bias.requires_grad, backend=backend)
        grads = (_cast(dx, X.dtype), _cast(dw, W.dtype))
        return grads + ((_cast(db, B.dtype),) if bias is not None else ())

    parents = (x, weight) + ((bias,) if bias is not None else ())
    return record(y, parents, backward)


def _same_padding(padding: str, kernel, dilation, stride):
    if padding == "valid":
        return 0
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    dil = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    st = (stride, stride) if isinstance(stride, int) else tuple(stride)
    if st != (1, 1):
        raise ValueError("conv2d: padding='same' needs stride 1 (as torch)")
    total = [d * (k - 1) for d, k in zip(dil, kernel)]
    if any(t % 2 for t in total):
        raise ValueError("conv2d: padding='same' with an even kernel pads unevenly; pad explicitly")
    return tuple(t // 2 for t in total)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each window (and its flat index in H*W)."""
    x = _as_tensor(x)
    backend = current_backend()
    X = x._array
    y, indices = ops.max_pool2d(X, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                ceil_mode=ceil_mode, return_indices=True, backend=backend)
    out = record(y.astype(X.dtype, copy=False), (x,), lambda g: (
        ops.max_pool2d_backward(g, indices, X.shape, backend=backend).astype(X.dtype, copy=False),))
    return (out, Tensor._wrap(indices)) if return_indices else out


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """x (N, C, H, W) -> (N, C, OH, OW), the mean of each window."""
    x = _as_tensor(x)
    backend = current_backend()
    X = x._array
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
              divisor_override=divisor_override, backend=backend)
    y = ops.avg_pool2d(X, kernel_size, **kw).astype(X.dtype, copy=False)
    return record(y, (x,), lambda g: (
        ops.avg_pool2d_backward(g, X.shape, kernel_size, **kw).astype(X.dtype, copy=False),))


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = _as_tensor(x)
    if not training or p == 0.0:
        return x
    a = x._array
    if p == 1.0:
        mask = np.zeros_like(a)
    else:
        mask = (generator().random(a.shape, dtype=np.float32) >= p).astype(a.dtype) * (1.0 / (1.0 - p))
    return record(a * mask, (x,), lambda g: (g * mask,))


def embedding(input, weight: Tensor, padding_idx=None) -> Tensor:
    """input: integer indices of any shape; weight (V, D) -> (*input.shape, D)."""
    idx = input._array if isinstance(input, Tensor) else np.asarray(input)
    backend = current_backend()
    W = weight._array
    y = ops.embedding(idx, W, padding_idx=padding_idx, backend=backend).astype(W.dtype, copy=False)
    return record(y, (weight,), lambda g: (
        ops.embedding_backward(idx, g, W.shape[0], padding_idx=padding_idx, backend=backend).astype(W.dtype, copy=False),))


def flatten(x, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    return _as_tensor(x).flatten(start_dim, end_dim)


def lstm_layer(x, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
               h0: Tensor | None = None, c0: Tensor | None = None):
    """One LSTM layer over a time-major sequence: x (T, B, I) -> y (T, B, H), h_n, c_n (B, H).

    The whole layer is one forward kernel call and one backward kernel call (backward
    through time inside the kernel), not T cell calls on the tape.
    """
    x = _as_tensor(x)
    backend = current_backend()
    X = x._array
    arrays = dict(w_ih=w_ih._array, w_hh=w_hh._array,
                  b_ih=None if b_ih is None else b_ih._array, b_hh=None if b_hh is None else b_hh._array)
    H0 = None if h0 is None else h0._array
    C0 = None if c0 is None else c0._array
    y, h_n, c_n, gates, cells = ops.lstm_sequence(X, arrays["w_ih"], arrays["w_hh"], arrays["b_ih"],
                                                  arrays["b_hh"], H0, C0, backend=backend)
    dtype = arrays["w_ih"].dtype
    parents = (x, w_ih, w_hh, b_ih, b_hh, h0, c0)

    def backward(grads):
        gy, gh, gc = grads
        dx, dh0, dc0, dw_ih, dw_hh, db = ops.lstm_sequence_backward(
            gy, gh, gc, X, arrays["w_ih"], arrays["w_hh"], H0, C0, y, gates, cells, backend=backend)
        by_parent = (dx, dw_ih, dw_hh, db, db, dh0, dc0)
        return tuple(_cast(g, p._array.dtype) for g, p in zip(by_parent, parents) if p is not None)

    return record_multi([a.astype(dtype, copy=False) for a in (y, h_n, c_n)],
                        [p for p in parents if p is not None], backward)


def lstm_cell(x, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None):
    """One LSTMCell step: x (B, I), h and c (B, H) -> (h', c'), gates i, f, g, o."""
    x = _as_tensor(x)
    backend = current_backend()
    X, Hs, Cs = x._array, h._array, c._array
    W_ih, W_hh = w_ih._array, w_hh._array
    B_ih = None if b_ih is None else b_ih._array
    B_hh = None if b_hh is None else b_hh._array
    h_new, c_new, gates = ops.lstm_cell(X, Hs, Cs, W_ih, W_hh, B_ih, B_hh, backend=backend)
    parents = (x, h, c, w_ih, w_hh, b_ih, b_hh)

    def backward(grads):
        gh, gc = grads
        if gh is None:
            gh = np.zeros_like(h_new)
        dx, dh, dc, dw_ih, dw_hh, db = ops.lstm_cell_backward(gh, gc, X, Hs, Cs, W_ih, W_hh, gates, c_new,
                                                              backend=backend)
        by_parent = (dx, dh, dc, dw_ih, dw_hh, db, db)
        return tuple(_cast(g, p._array.dtype) for g, p in zip(by_parent, parents) if p is not None)

    dtype = W_ih.dtype
    return record_multi([h_new.astype(dtype, copy=False), c_new.astype(dtype, copy=False)],
                        [p for p in parents if p is not None], backward)


# ---- losses -------------------------------------------------------------------------------------


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy: input (N, C) logits; target (N,) class indices or (N, C) probabilities."""
    if weight is not None:
        raise NotImplementedError("cross_entropy: class weights are not supported yet")
    x = _as_tensor(input)
    X = x._array
    T = target._array if isinstance(target, Tensor) else np.asarray(target)
    scale = _reduction_scale(reduction, X.shape[0] if reduction == "sum" else 1)
    recording = wants_grad((x,))
    native = _direct.cross_entropy_forward(X, T, ignore_index, label_smoothing, scale, recording)
    if native is not None:
        value, backward = native
        return Tensor._recorded(value, (x,), backward) if recording else Tensor._wrap(value)
    backend = current_backend()
    loss, grad = _direct.softmax_cross_entropy(X, T, ignore_index=ignore_index,
                                               label_smoothing=label_smoothing, backend=backend)
    return record(np.asarray(loss * scale, X.dtype), (x,), _loss_backward(grad, scale, X.dtype, backend))


def _loss_backward(grad: np.ndarray, scale: float, dtype, backend: str):
    """The backward of a loss whose kernel wrote d loss / d input (for a loss of 1): grad times
    the incoming gradient times ``scale``; a native node where the gradient allows one."""
    node = _direct.scaled_grad_node(grad, scale, backend)
    if node is not None:
        return node

    def backward(g):
        factor = float(g) * scale  # no copy in the common case of a loss that is the root
        return (grad.astype(dtype, copy=False) if factor == 1.0 else (grad * factor).astype(dtype, copy=False),)
    return backward


def nll_loss(input, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities input (N, C) at target (N,)."""
    x = _as_tensor(input)
    X = x._array
    T = (target._array if isinstance(target, Tensor) else np.asarray(target)).astype(np.int64)
    keep = T != ignore_index
    count = max(int(keep.sum()), 1)
    rows = np.nonzero(keep)[0]
    picked = X[rows, T[rows]]
    scale = 1.0 / count if reduction == "mean" else _reduction_scale(reduction, 1)

    def backward(g):
        grad = np.zeros_like(X)
        grad[rows, T[rows]] = -float(g) * scale
        return (grad,)

    return record(np.asarray(-picked.sum() * scale, X.dtype), (x,), backward)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    x = _as_tensor(input)
    X = x._array
    Y = _as_tensor(target)._array
    if X.shape != Y.shape:
        raise ValueError(f"mse_loss: input {X.shape} and target {Y.shape} differ in shape "
                         "(kiln does not broadcast a loss silently)")
    backend = current_backend()
    loss, grad = ops.mse(X, Y, return_grad=True, backend=backend)
    scale = _reduction_scale(reduction, X.size)
    return record(np.asarray(loss * scale, X.dtype), (x,), _loss_backward(grad, scale, X.dtype, backend))


def binary_cross_entropy_with_logits(input, target, pos_weight=None, reduction: str = "mean") -> Tensor:
    x = _as_tensor(input)
    X = x._array
    Y = _as_tensor(target)._array
    if X.shape != Y.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input {X.shape} and target {Y.shape} differ in shape")
    pw = None if pos_weight is None else _as_tensor(pos_weight)._array
    backend = current_backend()
    loss, grad = ops.bce_with_logits(X, Y, pos_weight=pw, return_grad=True, backend=backend)
    scale = _reduction_scale(reduction, X.size)
    return record(np.asarray(loss * scale, X.dtype), (x,), _loss_backward(grad, scale, X.dtype, backend))


def binary_cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """BCE on probabilities, logs clamped at -100 as torch."""
    x = _as_tensor(input)
    P = x._array
    Y = _as_tensor(target)._array.astype(P.dtype)
    if P.shape != Y.shape:
        raise ValueError(f"binary_cross_entropy: input {P.shape} and target {Y.shape} differ in shape")
    log_p = np.maximum(np.log(np.where(P > 0, P, 1)) + np.where(P > 0, 0, -np.inf), -100)
    log_q = np.maximum(np.log(np.where(P < 1, 1 - P, 1)) + np.where(P < 1, 0, -np.inf), -100)
    scale = (1.0 / max(P.size, 1)) if reduction == "mean" else _reduction_scale(reduction, 1)
    loss = -(Y * log_p + (1 - Y) * log_q).sum() * scale
    eps = 1e-12
    return record(np.asarray(loss, P.dtype), (x,), lambda g: (
        (float(g) * scale * ((P - Y) / np.maximum(P * (1 - P), eps))).astype(P.dtype),))
