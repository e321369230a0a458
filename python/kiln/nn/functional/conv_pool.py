"""Transposed convolution, 1-D convolution and pooling, adaptive (and global) pooling, as
``torch.nn.functional``.

conv_transpose2d and the adaptive poolings are kernels of their own (``kiln.ops``), their
backward the backward kernel on the same backend. The 1-D functions add a unit height:
(N, C, L) is viewed as (N, C, 1, L) (differentiable reshapes, no copy) and runs the 2-D
kernel with a (1, k) window, so there is one road per op.
"""

from __future__ import annotations

from ... import _args, backends, ops
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor
from ._cast import cast as _cast
from .layers import avg_pool2d, conv2d, max_pool2d, pad


def _single(fn: str, name: str, value, minimum: int) -> int:
    """An int or a 1-tuple (torch's 1-D arguments)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{fn}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return _args.integer(fn, name, value, minimum=minimum)


def _sequence_batch(fn: str, x) -> Tensor:
    x = as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"{fn}: expected a 3-D input (N, C, L), got shape {tuple(x.shape)}")
    return x


# ---- transposed convolution -------------------------------------------------------------------


def conv_transpose2d(input, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """x (N, Cin, H, W), weight (Cin, Cout/groups, R, S), bias (Cout,) -> (N, Cout, OH, OW),
    OH = (H - 1)*stride - 2*padding + dilation*(R - 1) + output_padding + 1 (torch's argument order)."""
    x = as_tensor(input)
    if x.ndim == 3:  # unbatched (C, H, W), as torch
        return conv_transpose2d(x.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                                dilation).squeeze(0)
    X, W = x._array, weight._array
    B = None if bias is None else bias._array
    be = backends.select(None, X, W, B)
    fn = "conv_transpose2d"
    stride, padding, output_padding, dilation = (
        _args.pair(fn, n, v) for n, v in (("stride", stride), ("padding", padding),
                                          ("output_padding", output_padding), ("dilation", dilation)))
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    y = _cast(be, ops.conv_transpose2d(X, W, B, **kw, backend=be), W.dtype)
    e = edges((x, weight) if bias is None else (x, weight, bias))
    if e is None:
        return Tensor._wrap(y)

    def backward(g):
        dx, dw, db = ops.conv_transpose2d_backward(X, W, g, **kw, input_grad=e[0] is not None,
                                                   weight_grad=e[1] is not None,
                                                   bias_grad=bias is not None and e[2] is not None, backend=be)
        grads = (_cast(be, dx, X.dtype), _cast(be, dw, W.dtype))
        return grads if bias is None else grads + (_cast(be, db, B.dtype),)
    return Tensor._recorded(y, kernel_node(be, "conv_transpose2d", e, backward))


def conv_transpose1d(input, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """x (N, Cin, L), weight (Cin, Cout/groups, K), bias (Cout,) -> (N, Cout, OL)."""
    fn = "conv_transpose1d"
    x = _sequence_batch(fn, input)
    args = [_single(fn, n, v, m) for n, v, m in (("stride", stride, 1), ("padding", padding, 0),
                                                  ("output_padding", output_padding, 0), ("dilation", dilation, 1))]
    if weight.ndim != 3:
        raise ValueError(f"{fn}: weight must be 3-D (Cin, Cout/groups, K), got shape {tuple(weight.shape)}")
    (s, p, op, d) = args
    y = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (0, op), groups, (1, d))
    return y.squeeze(2)


# ---- 1-D convolution and pooling ----------------------------------------------------------------


def _same_1d(fn: str, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    if stride != 1:
        raise ValueError(f"{fn}: padding='same' needs stride 1 (as torch)")
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2  # the odd element on the right, as torch


def conv1d(input, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """x (N, C, L), weight (K, C/groups, S), bias (K,) -> (N, K, OL); padding an int, 'valid' or
    'same' (an even kernel pads one more on the right, as torch)."""
    fn = "conv1d"
    x = as_tensor(input)
    if x.ndim == 2:  # unbatched (C, L), as torch
        return conv1d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    x = _sequence_batch(fn, x)
    if weight.ndim != 3:
        raise ValueError(f"{fn}: weight must be 3-D (K, C/groups, S), got shape {tuple(weight.shape)}")
    s, d = _single(fn, "stride", stride, 1), _single(fn, "dilation", dilation, 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{fn}: padding must be an int, 'valid' or 'same', got {padding!r}")
        left, right = (0, 0) if padding == "valid" else _same_1d(fn, weight.shape[2], s, d)
        if left != right:
            x, left = pad(x, (left, right)), 0
    else:
        left = _single(fn, "padding", padding, 0)
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, left), (1, d), groups)
    return y.squeeze(2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """x (N, C, L) -> (N, C, OL), the max of each window (and its index in L)."""
    fn = "max_pool1d"
    x = _sequence_batch(fn, input)
    k = _single(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None else _single(fn, "stride", stride, 1)
    p, d = _single(fn, "padding", padding, 0), _single(fn, "dilation", dilation, 1)
    out = max_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(2), out[1].squeeze(2)
    return out.squeeze(2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """x (N, C, L) -> (N, C, OL), the mean of each window."""
    fn = "avg_pool1d"
    x = _sequence_batch(fn, input)
    k = _single(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None else _single(fn, "stride", stride, 1)
    p = _single(fn, "padding", padding, 0)
    return avg_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(2)


# ---- adaptive pooling ----------------------------------------------------------------------------


def _output_pair(fn: str, output_size) -> tuple:
    values = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(values) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    return values


def _images(fn: str, x) -> Tensor:
    x = as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{fn}: expected (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    return x


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """input (N, C, H, W) or (C, H, W) -> (..., OH, OW): output cell i averages input rows
    floor(i H / OH) to ceil((i + 1) H / OH) (and likewise for columns), as torch; None in
    output_size keeps that input size; output_size 1 is global average pooling."""
    fn = "adaptive_avg_pool2d"
    x = _images(fn, input)
    if x.ndim == 3:
        return adaptive_avg_pool2d(x.unsqueeze(0), output_size).squeeze(0)
    X = x._array
    be = backends.select(None, X)
    size = _output_pair(fn, output_size)
    y = ops.adaptive_avg_pool2d(X, size, backend=be)
    y = _cast(be, y, X.dtype)
    e = edges((x,))
    if e is None:
        return Tensor._wrap(y)
    shape = tuple(X.shape)
    backward = lambda g: (_cast(be, ops.adaptive_avg_pool2d_backward(g, shape, backend=be), X.dtype),)  # noqa: E731
    return Tensor._recorded(y, kernel_node(be, "adaptive_avg_pool2d", e, backward))


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """input (N, C, H, W) or (C, H, W) -> (..., OH, OW), the max of each adaptive window (and,
    with return_indices, its flat position h * W + w in the plane, int64)."""
    fn = "adaptive_max_pool2d"
    x = _images(fn, input)
    if x.ndim == 3:
        out = adaptive_max_pool2d(x.unsqueeze(0), output_size, return_indices)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    X = x._array
    be = backends.select(None, X)
    y, indices = ops.adaptive_max_pool2d(X, _output_pair(fn, output_size), backend=be)
    y = _cast(be, y, X.dtype)
    e = edges((x,))
    if e is None:
        out = Tensor._wrap(y)
    else:
        shape = tuple(X.shape)
        backward = lambda g: (_cast(be, ops.adaptive_max_pool2d_backward(g, indices, shape, backend=be),  # noqa: E731
                                    X.dtype),)
        out = Tensor._recorded(y, kernel_node(be, "adaptive_max_pool2d", e, backward))
    return (out, Tensor._wrap(indices)) if return_indices else out


def _output_single(fn: str, output_size):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 1:
            raise ValueError(f"{fn}: output_size must be an int or a 1-tuple, got {output_size!r}")
        output_size = output_size[0]
    return output_size


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """x (N, C, L) or (C, L) -> (..., OL), the mean of each adaptive window."""
    fn = "adaptive_avg_pool1d"
    x = as_tensor(input)
    if x.ndim == 2:
        return adaptive_avg_pool1d(x.unsqueeze(0), output_size).squeeze(0)
    x = _sequence_batch(fn, x)
    return adaptive_avg_pool2d(x.unsqueeze(2), (1, _output_single(fn, output_size))).squeeze(2)


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """x (N, C, L) or (C, L) -> (..., OL), the max of each adaptive window (and its index in L)."""
    fn = "adaptive_max_pool1d"
    x = as_tensor(input)
    if x.ndim == 2:
        out = adaptive_max_pool1d(x.unsqueeze(0), output_size, return_indices)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    x = _sequence_batch(fn, x)
    out = adaptive_max_pool2d(x.unsqueeze(2), (1, _output_single(fn, output_size)), return_indices)
    return (out[0].squeeze(2), out[1].squeeze(2)) if return_indices else out.squeeze(2)


__all__ = ["conv_transpose2d", "conv_transpose1d", "conv1d", "max_pool1d", "avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "adaptive_avg_pool1d", "adaptive_max_pool1d"]
