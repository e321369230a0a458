"""conv_transpose2d and its backward, as torch.nn.functional.conv_transpose2d.

Shapes: x (N, Cin, H, W); weight (Cin, Cout/groups, R, S); output (N, Cout, OH, OW) with
OH = (H - 1)*stride_h - 2*padding_h + dilation_h*(R - 1) + output_padding_h + 1.

The transposed convolution is conv2d's input gradient: conv2d of an (N, Cout, OH, OW) input
with the same weight (read as (K=Cin, C/groups=Cout/groups, R, S)) maps to (N, Cin, H, W),
and its transpose maps x back. So its forward is that conv2d's input gradient, its input
gradient that conv2d's forward and its weight gradient that conv2d's weight gradient with
the roles of input and output swapped.
"""

from __future__ import annotations

import numpy as np

from ._common import _dtype
from .conv2d import conv2d, conv2d_backward


def conv_transpose2d_output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int,
                                 dilation: int) -> int:
    """Output length along one axis of a transposed convolution (torch's formula)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                     dilation=(1, 1), groups=1) -> np.ndarray:
    """x (N, Cin, H, W), weight (Cin, Cout/groups, R, S), bias (Cout,) or None ->
    (N, Cout, OH, OW)."""
    dtype = _dtype(x, weight, bias)
    n, cin, h, w = x.shape
    cout = weight.shape[1] * groups
    out_hw = tuple(conv_transpose2d_output_size((h, w)[a], weight.shape[2 + a], stride[a], padding[a],
                                                output_padding[a], dilation[a]) for a in (0, 1))
    image = np.broadcast_to(np.zeros((), dtype), (n, cout) + out_hw)  # only its shape is read
    y, _, _ = conv2d_backward(image, weight, x, stride=stride, padding=padding, dilation=dilation, groups=groups,
                              input_grad=True, weight_grad=False, bias_grad=False)
    if bias is not None:
        y = y + bias.astype(dtype, copy=False).reshape(1, cout, 1, 1)
    return np.ascontiguousarray(y, dtype=dtype)


def conv_transpose2d_backward(x, weight, grad_y, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                              input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv_transpose2d given grad_y (N, Cout, OH, OW): (grad_x (N, Cin, H, W),
    grad_weight (Cin, Cout/groups, R, S), grad_bias (Cout,)), each None when not asked for."""
    dtype = _dtype(x, weight, grad_y)
    grad_x = grad_weight = grad_bias = None
    if input_grad:
        grad_x = conv2d(grad_y, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if weight_grad:
        _, grad_weight, _ = conv2d_backward(grad_y, weight, x, stride=stride, padding=padding, dilation=dilation,
                                            groups=groups, input_grad=False, weight_grad=True, bias_grad=False)
    if bias_grad:
        grad_bias = grad_y.astype(dtype, copy=False).sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


def output_padding_of(x_shape, weight_shape, out_shape, stride, padding, dilation) -> tuple[int, int]:
    """The output_padding that gave an output of out_shape (N, Cout, OH, OW): the backward
    kernels take grad_y, whose size carries it."""
    return tuple(out_shape[2 + a] - conv_transpose2d_output_size(x_shape[2 + a], weight_shape[2 + a], stride[a],
                                                                 padding[a], 0, dilation[a]) for a in (0, 1))
