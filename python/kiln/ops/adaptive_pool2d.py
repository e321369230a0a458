"""adaptive_avg_pool2d and adaptive_max_pool2d, forward and backward, as torch.nn.functional.

x is (N, C, H, W); output_size an int or an (OH, OW) pair (None keeps that input size).
Output cell (i, j) pools rows [floor(i*H/OH), ceil((i+1)*H/OH)) and the columns likewise;
global pooling is output_size 1. Every argument is checked here.
"""

from __future__ import annotations

from .. import _args, backends
from . import _arrays
from ._common import _batch_of_images, _check_elements
from .pool2d import _input_shape


def _output_size(fn, input_shape, output_size) -> tuple[int, int]:
    values = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(values) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    size = tuple(input_shape[2 + a] if v is None else _args.integer(fn, "output_size", v, maximum=_args.MAX_ELEMENTS)
                 for a, v in enumerate(values))
    if min(size) < 1:
        raise ValueError(f"{fn}: output_size must be positive, got {size}")
    if min(input_shape[2:]) < 1:
        raise ValueError(f"{fn}: the input {tuple(input_shape)} has an empty plane")
    _check_elements(fn, "the input", input_shape)
    _check_elements(fn, "the output", tuple(input_shape[:2]) + size)
    return size


def adaptive_avg_pool2d(x, output_size, *, backend=None):
    """torch.nn.functional.adaptive_avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW)."""
    fn = "adaptive_avg_pool2d"
    be = backends.select(backend, x)
    x = _batch_of_images(fn, "x", x)
    return be.adaptive_avg_pool2d(x, _output_size(fn, x.shape, output_size))


def adaptive_avg_pool2d_backward(grad_y, input_shape, *, backend=None):
    """Gradient of adaptive_avg_pool2d: grad_y (N, C, OH, OW), input_shape (N, C, H, W) ->
    grad_x (N, C, H, W)."""
    fn = "adaptive_avg_pool2d_backward"
    be = backends.select(backend, grad_y)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    input_shape = _input_shape(fn, input_shape, grad_y)
    _output_size(fn, input_shape, tuple(grad_y.shape[2:]))
    return be.adaptive_avg_pool2d_backward(grad_y, input_shape)


def adaptive_max_pool2d(x, output_size, *, backend=None):
    """torch.nn.functional.adaptive_max_pool2d(..., return_indices=True): x (N, C, H, W) ->
    (y (N, C, OH, OW), indices (N, C, OH, OW) int64, the flat position h * W + w of each
    maximum in its plane). The first maximum wins, or the last NaN, as in torch."""
    fn = "adaptive_max_pool2d"
    be = backends.select(backend, x)
    x = _batch_of_images(fn, "x", x)
    return be.adaptive_max_pool2d(x, _output_size(fn, x.shape, output_size))


def adaptive_max_pool2d_backward(grad_y, indices, input_shape, *, backend=None):
    """Gradient of adaptive_max_pool2d: grad_y (N, C, OH, OW) summed into the positions
    indices (N, C, OH, OW), each in [0, H*W), name -> grad_x (N, C, H, W)."""
    fn = "adaptive_max_pool2d_backward"
    be = backends.select(backend, grad_y, indices)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    indices = _arrays.index_array(fn, "indices", indices)
    if tuple(indices.shape) != tuple(grad_y.shape):
        raise ValueError(f"{fn}: indices must have the shape of grad_y {grad_y.shape}, got {indices.shape}")
    input_shape = _input_shape(fn, input_shape, grad_y)
    _output_size(fn, input_shape, tuple(grad_y.shape[2:]))
    return be.adaptive_max_pool2d_backward(grad_y, indices, input_shape)
