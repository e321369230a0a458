"""max_pool2d and avg_pool2d, forward and backward, as torch.nn.functional.

Shapes: x (N, C, H, W); outputs (N, C, OH, OW).
kernel_size, stride, padding and dilation are an int or an (h, w) pair.
"""

from __future__ import annotations

import numpy as np

from .._args import pair
from ._common import _scatter_windows, _windows


def pool2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                       ceil_mode: bool = False) -> int:
    """Output length along one axis of a pooling: floor or ceil, and with ceil_mode the
    last window must start inside the input or its left padding (torch's rule)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_geometry(input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = pair("pool2d", "kernel_size", kernel_size)
    stride = kernel if stride is None else pair("pool2d", "stride", stride)
    padding, dilation = pair("pool2d", "padding", padding), pair("pool2d", "dilation", dilation)
    out_hw = tuple(pool2d_output_size(input_shape[2 + a], kernel[a], stride[a], padding[a],
                                      dilation[a], ceil_mode) for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool2d: x (N, C, H, W) -> y (N, C, OH, OW), and with
    return_indices the int64 position h * W + w of each maximum in its plane. Padding never
    wins; the first maximum does, or the last NaN (NaN propagates), as in torch."""
    n, c, h, w = x.shape
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    (kh, kw), (oh, ow) = geometry[0], geometry[-1]
    values = _windows(x, *geometry, fill=-np.inf).reshape(n, c, oh, ow, kh * kw)
    flat_positions = np.arange(h * w, dtype=np.int64).reshape(1, 1, h, w)
    positions = _windows(flat_positions, *geometry, fill=-1).reshape(1, 1, oh, ow, kh * kw)
    inside = positions >= 0
    nan = np.isnan(values)
    last_nan = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    candidates = np.where(inside & ~nan, values, -np.inf)
    best = candidates.max(axis=-1, keepdims=True)
    first_max = np.argmax(inside & (candidates == best), axis=-1)
    chosen = np.where(nan.any(axis=-1), last_nan, first_max)[..., None]
    y = np.take_along_axis(values, chosen, axis=-1)[..., 0]
    if not return_indices:
        return y
    positions = np.broadcast_to(positions, values.shape)
    return y, np.take_along_axis(positions, chosen, axis=-1)[..., 0]


def max_pool2d_backward(grad_y, indices, input_shape):
    """Gradient of max_pool2d: grad_y (N, C, OH, OW) summed into the input positions that
    indices (N, C, OH, OW) name -> (N, C, H, W)."""
    n, c, h, w = input_shape
    grad_x = np.zeros((n * c, h * w), grad_y.dtype)
    planes = np.arange(n * c)[:, None]
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    np.add.at(grad_x, (planes, indices.reshape(n * c, per_plane)), grad_y.reshape(n * c, per_plane))
    return grad_x.reshape(n, c, h, w)


def _avg_divisors(input_shape, geometry, count_include_pad, divisor_override):
    """(OH, OW) divisor of each window and whether it covers any input element (torch's rule)."""
    (kh, kw), stride, padding, _, out_hw = geometry
    per_axis = []
    for a, k in ((0, kh), (1, kw)):
        size = input_shape[2 + a]
        start = np.arange(out_hw[a]) * stride[a] - padding[a]
        end = np.minimum(start + k, size + padding[a])
        inside = np.minimum(end, size) - np.maximum(start, 0)
        per_axis.append((end - start, inside))
    (pool_h, inside_h), (pool_w, inside_w) = per_axis
    covers = np.outer(inside_h > 0, inside_w > 0)
    if divisor_override:
        divisor = np.full(covers.shape, divisor_override)
    elif count_include_pad:
        divisor = np.outer(pool_h, pool_w)
    else:
        divisor = np.outer(inside_h, inside_w)
    return np.where(covers, divisor, 1), covers


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW)."""
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    sums = _windows(x, *geometry).sum(axis=(-2, -1))
    divisor, covers = _avg_divisors(x.shape, geometry, count_include_pad, divisor_override)
    return np.where(covers, sums / divisor.astype(x.dtype), 0).astype(x.dtype, copy=False)


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d: grad_y (N, C, OH, OW) -> (N, C, H, W)."""
    geometry = _pool_geometry(input_shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor, covers = _avg_divisors(input_shape, geometry, count_include_pad, divisor_override)
    share = np.where(covers, grad_y / divisor.astype(grad_y.dtype), 0).astype(grad_y.dtype, copy=False)
    kh, kw = geometry[0]
    grad_windows = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
    return np.ascontiguousarray(_scatter_windows(grad_windows, input_shape, *geometry[:-1]))
