"""layer_norm and batch_norm, forward and backward, written plainly in NumPy.

Layer norm: x (M, N), each row normalized on its own; mean, rstd (M,); weight, bias (N,).
Batch norm: x (outer, C, inner) (NCHW is (N, C, H*W), channels-last (N*H*W, C, 1)); every
per-channel vector (C,). Results in the inputs' dtype (float64 for gradient checks), the
statistics taken in float64.
"""

from __future__ import annotations

import numpy as np


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """-> (y (M, N), mean (M,), rstd (M,)); y = (x - mean) * rstd * weight + bias with the
    biased variance, rstd = 1 / sqrt(var + eps). The statistics are taken in float64 (a row
    of equal values has its value as mean exactly), the results are in x's dtype."""
    mean = x.mean(axis=1, dtype=np.float64)
    centred = x - mean[:, None]
    rstd = 1.0 / np.sqrt((centred * centred).mean(axis=1) + eps)
    y = centred * rstd[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False), mean.astype(x.dtype, copy=False), rstd.astype(x.dtype, copy=False)


def layer_norm_backward(grad_y, x, mean, rstd, weight=None):
    """-> (dx (M, N), dweight (N,) or None, dbias (N,) or None); the weight gradients only
    when there is a weight (a bias alone: its gradient is grad_y summed over rows)."""
    xhat = (x - mean[:, None]) * rstd[:, None]
    g = grad_y * weight if weight is not None else grad_y
    dx = rstd[:, None] * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    if weight is None:
        return dx, None, None
    return dx, (grad_y * xhat).sum(axis=0), grad_y.sum(axis=0)


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    """-> (y (outer, C, inner), save_mean (C,), save_invstd (C,), batch_var (C,) or None).

    training: the batch's mean and biased variance over (outer, inner) normalize, and
    batch_var is that variance (the caller updates its running statistics); inference:
    running_mean and running_var normalize, save_mean = running_mean, batch_var None.
    """
    if training:  # statistics in float64, as layer_norm's
        mean = x.mean(axis=(0, 2), dtype=np.float64)
        var = ((x - mean[None, :, None]) ** 2).mean(axis=(0, 2))
    else:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean[None, :, None]) * invstd[None, :, None]
    if weight is not None:
        y = y * weight[None, :, None]
    if bias is not None:
        y = y + bias[None, :, None]
    dtype = x.dtype
    return (y.astype(dtype, copy=False), mean.astype(dtype), invstd.astype(dtype),
            var.astype(dtype) if training else None)


def batch_norm_backward(grad_y, x, save_mean, save_invstd, weight=None, training=True):
    """-> (dx, dweight (C,), dbias (C,)), the weight gradients None without a weight (a bias
    alone: its gradient is grad_y summed over (outer, inner)). Training differentiates through the batch
    statistics; inference treats save_mean and save_invstd as constants."""
    xhat = (x - save_mean[None, :, None]) * save_invstd[None, :, None]
    scale = save_invstd * weight if weight is not None else save_invstd
    dbias = grad_y.sum(axis=(0, 2))
    dxhat_sum = (grad_y * xhat).sum(axis=(0, 2))
    if training:
        count = x.shape[0] * x.shape[2]
        dx = scale[None, :, None] * (grad_y - (dbias / count)[None, :, None]
                                     - xhat * (dxhat_sum / count)[None, :, None])
    else:
        dx = scale[None, :, None] * grad_y
    if weight is None:
        return dx.astype(x.dtype, copy=False), None, None
    return dx.astype(x.dtype, copy=False), dxhat_sum, dbias
