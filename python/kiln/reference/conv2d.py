"""conv2d and conv2d_backward, as torch.nn.functional.conv2d.

Shapes: x (N, C, H, W); weight (K, C/groups, R, S); outputs (N, K, OH, OW).
stride, padding and dilation are an int or an (h, w) pair.
"""

from __future__ import annotations

import numpy as np

from .._args import pair
from ._common import _dtype, _scatter_windows, _windows


def conv2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis of a convolution (torch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _conv_geometry(x_shape, weight_shape, stride, padding, dilation):
    stride, padding, dilation = (pair("conv2d", name, v) for name, v in
                                 (("stride", stride), ("padding", padding), ("dilation", dilation)))
    kernel = tuple(weight_shape[2:])
    out_hw = tuple(conv2d_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a])
                   for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """torch.nn.functional.conv2d: x (N, C, H, W), weight (K, C/groups, R, S), bias (K,) or
    None -> (N, K, OH, OW)."""
    dtype = _dtype(x, weight, bias)
    n, k, cg = x.shape[0], weight.shape[0], weight.shape[1]
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    windows = _windows(x.astype(dtype, copy=False), *geometry)
    windows = windows.reshape(n, groups, cg, oh, ow, *weight.shape[2:])
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, *weight.shape[2:])
    y = np.einsum("ngchwrs,gkcrs->ngkhw", windows, w, optimize=True).reshape(n, k, oh, ow)
    if bias is not None:
        y = y + bias.astype(dtype, copy=False).reshape(1, k, 1, 1)
    return np.ascontiguousarray(y, dtype=dtype)


def conv2d_backward(x, weight, grad_y, *, stride=1, padding=0, dilation=1, groups=1,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv2d given grad_y (N, K, OH, OW): (grad_x (N, C, H, W),
    grad_weight (K, C/groups, R, S), grad_bias (K,)), each None when not asked for."""
    dtype = _dtype(x, weight, grad_y)
    n, c = x.shape[:2]
    k, cg, r, s = weight.shape
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    dy = grad_y.astype(dtype, copy=False).reshape(n, groups, k // groups, oh, ow)
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, r, s)
    grad_x = grad_weight = grad_bias = None
    if input_grad:
        grad_windows = np.einsum("ngkhw,gkcrs->ngchwrs", dy, w, optimize=True)
        grad_x = _scatter_windows(grad_windows.reshape(n, c, oh, ow, r, s), x.shape, *geometry[:-1])
        grad_x = np.ascontiguousarray(grad_x, dtype=dtype)
    if weight_grad:
        windows = _windows(x.astype(dtype, copy=False), *geometry).reshape(n, groups, cg, oh, ow, r, s)
        grad_weight = np.einsum("ngkhw,ngchwrs->gkcrs", dy, windows, optimize=True)
        grad_weight = np.ascontiguousarray(grad_weight.reshape(k, cg, r, s), dtype=dtype)
    if bias_grad:
        grad_bias = grad_y.astype(dtype, copy=False).sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias
