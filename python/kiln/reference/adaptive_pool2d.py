"""adaptive_avg_pool2d and adaptive_max_pool2d, forward and backward, as torch.

Shapes: x (N, C, H, W) -> (N, C, OH, OW). Output cell (i, j) pools input rows
[floor(i*H/OH), ceil((i+1)*H/OH)) and columns [floor(j*W/OW), ceil((j+1)*W/OW)): windows
never empty, neighbouring ones overlapping when OH does not divide H. Global pooling is
output (1, 1).
"""

from __future__ import annotations

import numpy as np


def adaptive_windows(size_in: int, size_out: int) -> list[tuple[int, int]]:
    """[start, end) of each output's window along one axis (torch's rule)."""
    return [((i * size_in) // size_out, -(-((i + 1) * size_in) // size_out)) for i in range(size_out)]


def adaptive_avg_pool2d(x, output_size) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, OH, OW): the mean of each adaptive window."""
    n, c, h, w = x.shape
    rows, cols = adaptive_windows(h, output_size[0]), adaptive_windows(w, output_size[1])
    y = np.empty((n, c, len(rows), len(cols)), x.dtype)
    for i, (h0, h1) in enumerate(rows):
        for j, (w0, w1) in enumerate(cols):
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(grad_y, input_shape) -> np.ndarray:
    """Gradient of adaptive_avg_pool2d: grad_y (N, C, OH, OW) -> (N, C, H, W)."""
    n, c, h, w = input_shape
    oh, ow = grad_y.shape[2:]
    grad_x = np.zeros((n, c, h, w), grad_y.dtype)
    for i, (h0, h1) in enumerate(adaptive_windows(h, oh)):
        for j, (w0, w1) in enumerate(adaptive_windows(w, ow)):
            share = grad_y[:, :, i, j] / grad_y.dtype.type((h1 - h0) * (w1 - w0))
            grad_x[:, :, h0:h1, w0:w1] += share[:, :, None, None]
    return grad_x


def adaptive_max_pool2d(x, output_size):
    """x (N, C, H, W) -> (y (N, C, OH, OW), indices (N, C, OH, OW) int64): the max of each
    adaptive window and its flat position h * W + w in the plane; the first maximum wins, or
    the last NaN (NaN propagates), as in torch."""
    n, c, h, w = x.shape
    rows, cols = adaptive_windows(h, output_size[0]), adaptive_windows(w, output_size[1])
    y = np.empty((n, c, len(rows), len(cols)), x.dtype)
    indices = np.empty(y.shape, np.int64)
    for i, (h0, h1) in enumerate(rows):
        for j, (w0, w1) in enumerate(cols):
            window = x[:, :, h0:h1, w0:w1].reshape(n, c, (h1 - h0) * (w1 - w0))
            nan = np.isnan(window)
            last_nan = window.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
            first_max = np.argmax(np.where(nan, -np.inf, window) == np.where(nan, -np.inf, window).max(-1, keepdims=True),
                                  axis=-1)
            chosen = np.where(nan.any(axis=-1), last_nan, first_max)
            y[:, :, i, j] = np.take_along_axis(window, chosen[..., None], axis=-1)[..., 0]
            width = w1 - w0
            indices[:, :, i, j] = (h0 + chosen // width) * w + w0 + chosen % width
    return y, indices


def adaptive_max_pool2d_backward(grad_y, indices, input_shape) -> np.ndarray:
    """Gradient of adaptive_max_pool2d: grad_y (N, C, OH, OW) summed into the positions
    indices name -> (N, C, H, W)."""
    n, c, h, w = input_shape
    grad_x = np.zeros((n * c, h * w), grad_y.dtype)
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    np.add.at(grad_x, (np.arange(n * c)[:, None], indices.reshape(n * c, per_plane)),
              grad_y.reshape(n * c, per_plane))
    return grad_x.reshape(n, c, h, w)
