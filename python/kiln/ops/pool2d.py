"""max_pool2d and avg_pool2d, forward and backward, as torch.nn.functional.

x is (N, C, H, W); kernel_size, stride, padding and dilation are an int or an (h, w) pair.
Every argument is checked here, so both backends refuse the same inputs the same way.
"""

from __future__ import annotations

import numpy as np

from .. import _args, backends
from . import _arrays
from ..reference import pool2d_output_size
from ._common import _batch_of_images, _check_elements


def _pool2d_args(fn, input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked (kernel, stride, padding, dilation, ceil_mode, output shape) for an input shape."""
    kernel = _args.pair(fn, "kernel_size", kernel_size, minimum=1, maximum=_args.MAX_ELEMENTS)
    stride = kernel if stride is None else _args.pair(fn, "stride", stride, minimum=1, maximum=_args.MAX_ELEMENTS)
    padding = _args.pair(fn, "padding", padding, minimum=0, maximum=_args.MAX_ELEMENTS)
    dilation = _args.pair(fn, "dilation", dilation, minimum=1, maximum=_args.MAX_ELEMENTS)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{fn}: ceil_mode must be a bool, got {type(ceil_mode).__name__}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half of kernel_size {kernel}")
    n, c, h, w = input_shape
    out_hw = tuple(pool2d_output_size((h, w)[a], kernel[a], stride[a], padding[a],
                                                dilation[a], bool(ceil_mode)) for a in (0, 1))
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: the input {tuple(input_shape)} is too small for kernel_size {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}: output size {out_hw}")
    _check_elements(fn, "the input", input_shape)
    _check_elements(fn, "the output", (n, c) + out_hw)
    return kernel, stride, padding, dilation, bool(ceil_mode), (n, c) + out_hw


def _check_windows_reach_input(fn, input_shape, kernel, stride, padding, dilation, out_shape):
    """Max pooling has no answer for a window wholly in the padding (possible with dilation)."""
    if tuple(padding) == (0, 0):
        return  # every window starts inside the input (_pool2d_args): skip ~160 us of NumPy per call
    for a, axis in ((0, "row"), (1, "column")):
        start = np.arange(out_shape[2 + a], dtype=np.int64) * stride[a] - padding[a]
        first_tap = np.where(start >= 0, 0, (-start + dilation[a] - 1) // dilation[a])
        reaches = (first_tap < kernel[a]) & (start + first_tap * dilation[a] < input_shape[2 + a])
        if not reaches.all():
            raise ValueError(f"{fn}: the window of output {axis} {int(np.argmin(reaches))} covers only "
                             f"padding (kernel_size {kernel}, dilation {dilation}, padding {padding})")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, backend=None):
    """torch.nn.functional.max_pool2d.

    Args:
        x: (N, C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2),
            dilation: int or (h, w).
        ceil_mode: round the output size up (a window must still start inside the input
            or its left padding).
    Returns:
        y (N, C, OH, OW); with return_indices also indices (N, C, OH, OW) int64, the flat
        position h * W + w of each maximum in its plane. NaN wins, as in torch.
    """
    fn = "max_pool2d"
    be = backends.select(backend, x)
    x = _batch_of_images(fn, "x", x)
    kernel, stride, padding, dilation, ceil_mode, out_shape = _pool2d_args(
        fn, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    _check_windows_reach_input(fn, x.shape, kernel, stride, padding, dilation, out_shape)
    return be.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, bool(return_indices), out_shape)


def _input_shape(fn: str, input_shape, grad_y: np.ndarray) -> tuple[int, int, int, int]:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 4:
        raise ValueError(f"{fn}: input_shape must be (N, C, H, W), got {input_shape!r}")
    shape = tuple(_args.integer(fn, "input_shape", v, minimum=0) for v in input_shape)
    if shape[:2] != tuple(grad_y.shape[:2]):
        raise ValueError(f"{fn}: input_shape {shape} and grad_y {grad_y.shape} differ in (N, C)")
    return shape


def max_pool2d_backward(grad_y, indices, input_shape, *, backend=None) -> np.ndarray:
    """Gradient of max_pool2d.

    Args:
        grad_y: (N, C, OH, OW).
        indices: (N, C, OH, OW) integers from max_pool2d(..., return_indices=True), each in
            [0, H * W).
        input_shape: (N, C, H, W) of max_pool2d's input.
    Returns:
        grad_x (N, C, H, W): grad_y summed into the positions indices name.
    """
    fn = "max_pool2d_backward"
    be = backends.select(backend, grad_y, indices)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    indices = _arrays.index_array(fn, "indices", indices)
    if tuple(indices.shape) != tuple(grad_y.shape):
        raise ValueError(f"{fn}: indices must have the shape of grad_y {grad_y.shape}, got {indices.shape}")
    input_shape = _input_shape(fn, input_shape, grad_y)
    _check_elements(fn, "grad_x", input_shape)
    return be.max_pool2d_backward(grad_y, indices, input_shape)


def _divisor_override(fn: str, value) -> int:
    if value is None:
        return 0
    value = _args.integer(fn, "divisor_override", value)
    if value == 0:
        raise ValueError(f"{fn}: divisor_override must not be 0 (None: no override)")
    return value


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, backend=None) -> np.ndarray:
    """torch.nn.functional.avg_pool2d.

    Args:
        x: (N, C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2):
            int or (h, w).
        count_include_pad: divide by the window's size within the padded input, not by the
            number of input elements it covers. divisor_override: a fixed divisor, or None.
    Returns:
        (N, C, OH, OW).
    """
    fn = "avg_pool2d"
    be = backends.select(backend, x)
    x = _batch_of_images(fn, "x", x)
    kernel, stride, padding, _, ceil_mode, out_shape = _pool2d_args(
        fn, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor = _divisor_override(fn, divisor_override)
    return be.avg_pool2d(x, kernel, stride, padding, ceil_mode, bool(count_include_pad), divisor, out_shape)


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, backend=None) -> np.ndarray:
    """Gradient of avg_pool2d.

    Args:
        grad_y: (N, C, OH, OW).
        input_shape: (N, C, H, W) of avg_pool2d's input; the other arguments as given to it.
    Returns:
        grad_x (N, C, H, W).
    """
    fn = "avg_pool2d_backward"
    be = backends.select(backend, grad_y)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    input_shape = _input_shape(fn, input_shape, grad_y)
    kernel, stride, padding, _, ceil_mode, out_shape = _pool2d_args(
        fn, input_shape, kernel_size, stride, padding, 1, ceil_mode)
    if tuple(grad_y.shape) != out_shape:
        raise ValueError(f"{fn}: grad_y must have shape {out_shape} (the output for input_shape "
                         f"{input_shape}), got {grad_y.shape}")
    divisor = _divisor_override(fn, divisor_override)
    return be.avg_pool2d_backward(grad_y, input_shape, kernel, stride, padding, ceil_mode,
                                  bool(count_include_pad), divisor)
