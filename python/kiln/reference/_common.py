"""Helpers shared by several kernel families of ``kiln.reference``: the computing dtype,
and the windows of a 2-D convolution or pooling."""

from __future__ import annotations

import numpy as np


def _dtype(*arrays) -> np.dtype:
    return np.result_type(*[a for a in arrays if a is not None])


def _windows(x, kernel, stride, padding, dilation, out_hw, fill=0.0):
    """(N, C, OH, OW, R, S) view of the windows of x padded with ``fill``, each tap a
    dilated kernel position. Padded past the right edge too when a ceil_mode window
    reaches beyond it (pooling)."""
    (r, s), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_hw
    span_h, span_w = dh * (r - 1) + 1, dw * (s - 1) + 1
    extra_h = max(0, (oh - 1) * sh + span_h - (x.shape[2] + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + span_w - (x.shape[3] + 2 * pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return views[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _scatter_windows(grad_windows, input_shape, kernel, stride, padding, dilation):
    """The adjoint of _windows: sum grad_windows (N, C, OH, OW, R, S) back onto the input
    (N, C, H, W) positions each tap read; taps in the padding are dropped."""
    n, c, h, w = input_shape
    (r, s), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = grad_windows.shape[2:4]
    rows, cols = (oh - 1) * sh + dh * (r - 1) + 1, (ow - 1) * sw + dw * (s - 1) + 1
    padded = np.zeros((n, c, max(rows, h + 2 * ph), max(cols, w + 2 * pw)), grad_windows.dtype)
    for i in range(r):
        for j in range(s):
            padded[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                   j * dw:j * dw + (ow - 1) * sw + 1:sw] += grad_windows[..., i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]
