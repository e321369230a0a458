"""The layers' differentiable functions: linear, conv2d, pooling, dropout, embedding, pad.

Each forward is one ``kiln.ops`` kernel; its backward is the backend's native node where it
has one (the cpu backend: linear, conv2d, pooling, embedding), else a closure over the
backward kernel on the same backend. Names, arguments and defaults follow
``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np

from ... import _args, backends, ops, sparse
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...ops import _arrays
from ...ops.linear import FUSED_ACTIVATIONS
from ...tensor_ops import as_tensor, mul, shapes
from ._cast import cast as _cast


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
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"fused activation must be None, 'relu', 'sigmoid' or 'tanh', got {activation!r}")
    if type(x) is not Tensor:
        if sparse.is_sparse(x):  # a SciPy sparse batch (TF-IDF): only its stored entries are multiplied
            return sparse.affine(x, weight, bias, activation, weight_is_out_by_in)
        x = as_tensor(x)
    X, W = x._array, weight._array
    B = None if bias is None else bias._array
    be = backends.select(None, X, W, B)
    e = edges((x, weight) if bias is None else (x, weight, bias))
    native = be.native_ops.get("linear")  # forward and node in one call (see backends/base.py)
    fused = None if native is None else native(e, X, W, B, activation, weight_is_out_by_in)
    if fused is not None:
        y, node = fused
        return Tensor._wrap(y) if node is None else Tensor._recorded(y, node)
    in_features = W.shape[1] if weight_is_out_by_in else W.shape[0]
    out_features = W.shape[0] if weight_is_out_by_in else W.shape[1]
    if X.ndim < 1 or X.shape[-1] != in_features:
        raise ValueError(f"input of shape {tuple(X.shape)} has {X.shape[-1] if X.ndim else 0} features, "
                         f"the weight {tuple(W.shape)} expects {in_features}")
    X2 = X if X.ndim == 2 else be.reshape(X, (-1, in_features))
    Y = ops.matmul(X2, W, transpose_b=weight_is_out_by_in, bias=B, activation=activation, backend=be)
    Y = _cast(be, Y, W.dtype)  # float64 parameters on a float32 backend
    out = Y if X.ndim == 2 else be.reshape(Y, tuple(X.shape[:-1]) + (out_features,))
    if e is None:
        return Tensor._wrap(out)

    def backward(g):
        g2 = g if g.ndim == 2 else be.reshape(g, (-1, out_features))
        gx, gw, gb = ops.linear_backward(X2, W, Y, g2, weight_is_out_by_in=weight_is_out_by_in,
                                         activation=activation, input_grad=e[0] is not None,
                                         weight_grad=e[1] is not None, bias_grad=bias is not None and e[2] is not None,
                                         backend=be)
        if gx is not None:
            gx = _cast(be, be.reshape(gx, X.shape), X.dtype)
        grads = (gx, _cast(be, gw, W.dtype))
        return grads if bias is None else grads + (_cast(be, gb, B.dtype),)
    node = kernel_node(be, "linear", e, backward, X2, W, Y, activation, weight_is_out_by_in, tuple(X.shape))
    return Tensor._recorded(out, node)


def pad(x, pad: tuple, value: float = 0.0) -> Tensor:
    """Constant padding, as torch: ``pad`` lists (before, after) pairs from the LAST axis backwards."""
    x = as_tensor(x)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected (before, after) pairs for at most {x.ndim} axes, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    return shapes.pad(x, widths, value)


def torch_same_padding(padding: str, kernel, dilation, stride):
    """torch's padding="valid" | "same" as explicit (h, w) padding ("same": stride 1, odd span)."""
    if padding == "valid":
        return 0
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    dil = _args.pair("conv2d", "dilation", dilation, minimum=1)
    if _args.pair("conv2d", "stride", stride, minimum=1) != (1, 1):
        raise ValueError("conv2d: padding='same' needs stride 1 (as torch)")
    total = [d * (k - 1) for d, k in zip(dil, kernel)]
    if any(t % 2 for t in total):
        raise ValueError("conv2d: padding='same' with an even kernel pads unevenly; pad explicitly")
    return tuple(t // 2 for t in total)


def conv2d(x, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """x (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, OH, OW)."""
    x = as_tensor(x)
    X, W = x._array, weight._array
    B = None if bias is None else bias._array
    be = backends.select(None, X, W, B)
    if isinstance(padding, str):
        padding = torch_same_padding(padding, W.shape[2:], dilation, stride)
    y = ops.conv2d(X, W, B, stride=stride, padding=padding, dilation=dilation, groups=groups, backend=be)
    y = _cast(be, y, W.dtype)
    e = edges((x, weight) if bias is None else (x, weight, bias))
    if e is None:
        return Tensor._wrap(y)

    def backward(g):
        dx, dw, db = ops.conv2d_backward(X, W, g, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                         input_grad=e[0] is not None, weight_grad=e[1] is not None,
                                         bias_grad=bias is not None and e[2] is not None, backend=be)
        grads = (_cast(be, dx, X.dtype), _cast(be, dw, W.dtype))
        return grads if bias is None else grads + (_cast(be, db, B.dtype),)
    stride, padding, dilation = (_args.pair("conv2d", n, v) for n, v in
                                 (("stride", stride), ("padding", padding), ("dilation", dilation)))
    return Tensor._recorded(y, kernel_node(be, "conv2d", e, backward, X, W, stride, padding, dilation, groups))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each window (and its flat index in H*W)."""
    x = as_tensor(x)
    X = x._array
    be = backends.select(None, X)
    y, indices = ops.max_pool2d(X, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                ceil_mode=ceil_mode, return_indices=True, backend=be)
    y = _cast(be, y, X.dtype)
    e = edges((x,))
    if e is None:
        out = Tensor._wrap(y)
    else:
        shape = tuple(X.shape)
        backward = lambda g: (_cast(be, ops.max_pool2d_backward(g, indices, shape, backend=be), X.dtype),)  # noqa: E731
        out = Tensor._recorded(y, kernel_node(be, "max_pool2d", e, backward, indices, shape, X.dtype))
    return (out, Tensor._wrap(indices)) if return_indices else out


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """x (N, C, H, W) -> (N, C, OH, OW), the mean of each window."""
    x = as_tensor(x)
    X = x._array
    be = backends.select(None, X)
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
              divisor_override=divisor_override)
    y = ops.avg_pool2d(X, kernel_size, **kw, backend=be)
    y = _cast(be, y, X.dtype)
    e = edges((x,))
    if e is None:
        return Tensor._wrap(y)
    shape = tuple(X.shape)

    def backward(g):
        dx = ops.avg_pool2d_backward(g, shape, kernel_size, **kw, backend=be)
        return (_cast(be, dx, X.dtype),)
    kernel = _args.pair("avg_pool2d", "kernel_size", kernel_size)
    geometry = (kernel, kernel if stride is None else _args.pair("avg_pool2d", "stride", stride),
                _args.pair("avg_pool2d", "padding", padding), bool(ceil_mode), bool(count_include_pad),
                int(divisor_override or 0))
    return Tensor._recorded(y, kernel_node(be, "avg_pool2d", e, backward, shape, *geometry, X.dtype))


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    be = backends.select(None, x._array)
    keep = be.full(x.shape, 0, x.dtype) if p == 1.0 else be.dropout_mask(x.shape, p, x.dtype)
    return mul(x, Tensor._wrap(keep))


def embedding(input, weight: Tensor, padding_idx=None) -> Tensor:
    """input: integer indices of any shape; weight (V, D) -> (*input.shape, D)."""
    idx = input._array if isinstance(input, Tensor) else (input if backends.is_array(input) else np.asarray(input))
    W = weight._array
    be = backends.select(None, idx, W)
    idx = _arrays.index_array("embedding", "indices", idx)
    y = ops.embedding(idx, W, padding_idx=padding_idx, backend=be)
    y = _cast(be, y, W.dtype)
    e = edges((weight,))
    if e is None:
        return Tensor._wrap(y)
    count = W.shape[0]
    padding = None if padding_idx is None else padding_idx % count

    def backward(g):
        dw = ops.embedding_backward(idx, g, count, padding_idx=padding, backend=be)
        return (_cast(be, dw, W.dtype),)
    return Tensor._recorded(y, kernel_node(be, "embedding", e, backward, idx, count,
                                           -1 if padding is None else padding, W.dtype))


def flatten(x, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    return shapes.flatten(as_tensor(x), start_dim, end_dim)
