"""layer_norm and batch_norm, forward and backward: the checks, then ``backend.<kernel>``.

Layer norm normalizes over the trailing ``normalized_shape`` dimensions of x, seen by the
kernels as (M, N) with N = prod(normalized_shape). Batch norm normalizes each channel over
every other axis, x seen as (outer, C, inner) around ``channel_axis`` (1 for torch's
(N, C, ...) layouts, -1 for Keras's channels-last).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _args, backends
from . import _arrays
from ._common import _check_elements


def _normalized_shape(fn: str, normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        raise TypeError(f"{fn}: normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}")
    return tuple(_args.integer(fn, "normalized_shape", v, minimum=1) for v in normalized_shape)


def _eps(fn: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: eps must be a float, got {type(eps).__name__}")
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{fn}: eps must be finite and >= 0, got {eps}")
    return float(eps)


def _vector(fn: str, name: str, v, shape: tuple) -> np.ndarray | None:
    v = _arrays.optional_float_array(fn, name, v)
    if v is not None and tuple(v.shape) != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)}, got {tuple(v.shape)}")
    return v


def _rows(fn: str, x, normalized_shape) -> tuple[int, int]:
    k = len(normalized_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(f"{fn}: normalized_shape {normalized_shape} must be the trailing dimensions of the "
                         f"input, got input of shape {tuple(x.shape)} (expected (*, "
                         f"{', '.join(map(str, normalized_shape))}))")
    return math.prod(x.shape[:x.ndim - k]), math.prod(normalized_shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, *, backend=None):
    """torch.nn.functional.layer_norm with its saved statistics.

    Args:
        x: (*, *normalized_shape). weight, bias: normalized_shape, or None.
    Returns:
        (y of x's shape, mean (M,), rstd (M,)), M = the product of the leading dimensions;
        rstd = 1 / sqrt(biased variance + eps).
    """
    fn = "layer_norm"
    be = backends.select(backend, x, weight, bias)
    x = _arrays.float_array(fn, "x", x)
    normalized_shape = _normalized_shape(fn, normalized_shape)
    m, n = _rows(fn, x, normalized_shape)
    weight, bias = _vector(fn, "weight", weight, normalized_shape), _vector(fn, "bias", bias, normalized_shape)
    eps = _eps(fn, eps)
    _check_elements(fn, "x", x.shape)
    flat = lambda v: None if v is None else be.reshape(v, (n,))  # noqa: E731
    y, mean, rstd = be.layer_norm(be.reshape(x, (m, n)), flat(weight), flat(bias), eps)
    return be.reshape(y, tuple(x.shape)), mean, rstd


def layer_norm_backward(grad_y, x, mean, rstd, normalized_shape, weight=None, *, backend=None):
    """Gradient of layer_norm.

    Args:
        grad_y, x: (*, *normalized_shape); mean, rstd: (M,) from layer_norm; weight or None.
    Returns:
        (dx of x's shape, dweight, dbias of normalized_shape), the last two None without weight.
    """
    fn = "layer_norm_backward"
    be = backends.select(backend, grad_y, x, mean, rstd, weight)
    x = _arrays.float_array(fn, "x", x)
    grad_y = _arrays.float_array(fn, "grad_y", grad_y)
    if tuple(grad_y.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: grad_y must have x's shape {tuple(x.shape)}, got {tuple(grad_y.shape)}")
    normalized_shape = _normalized_shape(fn, normalized_shape)
    m, n = _rows(fn, x, normalized_shape)
    mean, rstd = _vector(fn, "mean", mean, (m,)), _vector(fn, "rstd", rstd, (m,))
    if mean is None or rstd is None:
        raise TypeError(f"{fn}: mean and rstd must be arrays, got None")
    weight = _vector(fn, "weight", weight, normalized_shape)
    dx, dw, db = be.layer_norm_backward(be.reshape(grad_y, (m, n)), be.reshape(x, (m, n)), mean, rstd,
                                        None if weight is None else be.reshape(weight, (n,)))
    unflat = lambda v: None if v is None else be.reshape(v, normalized_shape)  # noqa: E731
    return be.reshape(dx, tuple(x.shape)), unflat(dw), unflat(db)


def _channel_view(fn: str, x, channel_axis) -> tuple[int, tuple[int, int, int]]:
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have at least 2 dimensions (a batch and channels), got shape {tuple(x.shape)}")
    axis = _args.integer(fn, "channel_axis", channel_axis, minimum=-x.ndim, maximum=x.ndim - 1) % x.ndim
    return axis, (math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5,
               channel_axis=1, *, backend=None):
    """Batch normalization with its saved statistics (torch's F.batch_norm without the
    running-statistics update, which the caller makes from batch_var).

    Args:
        x: any shape with channels on channel_axis ((N, C), (N, C, L), (N, C, H, W), or
            (..., C) with channel_axis=-1). weight, bias, running_mean, running_var: (C,)
            or None (running ones needed when not training).
    Returns:
        (y of x's shape, save_mean (C,), save_invstd (C,), batch_var (C,) biased, or None
        when not training).
    """
    fn = "batch_norm"
    be = backends.select(backend, x, weight, bias, running_mean, running_var)
    x = _arrays.float_array(fn, "x", x)
    _, view = _channel_view(fn, x, channel_axis)
    c = view[1]
    weight, bias = _vector(fn, "weight", weight, (c,)), _vector(fn, "bias", bias, (c,))
    running_mean = _vector(fn, "running_mean", running_mean, (c,))
    running_var = _vector(fn, "running_var", running_var, (c,))
    training = bool(training)
    if training and view[0] * view[2] <= 1:
        raise ValueError(f"{fn}: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{fn}: running_mean and running_var are needed when not training")
    eps = _eps(fn, eps)
    _check_elements(fn, "x", x.shape)
    y, mean, invstd, var = be.batch_norm(be.reshape(x, view), weight, bias, running_mean, running_var, training,
                                         eps)
    return be.reshape(y, tuple(x.shape)), mean, invstd, var


def batch_norm_backward(grad_y, x, save_mean, save_invstd, weight=None, training=True, channel_axis=1, *,
                        backend=None):
    """Gradient of batch_norm.

    Args:
        grad_y, x: x's shape; save_mean, save_invstd: (C,) from batch_norm; weight or None.
    Returns:
        (dx of x's shape, dweight (C,), dbias (C,)), the last two None without weight.
    """
    fn = "batch_norm_backward"
    be = backends.select(backend, grad_y, x, save_mean, save_invstd, weight)
    x = _arrays.float_array(fn, "x", x)
    grad_y = _arrays.float_array(fn, "grad_y", grad_y)
    if tuple(grad_y.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: grad_y must have x's shape {tuple(x.shape)}, got {tuple(grad_y.shape)}")
    _, view = _channel_view(fn, x, channel_axis)
    c = view[1]
    save_mean, save_invstd = _vector(fn, "save_mean", save_mean, (c,)), _vector(fn, "save_invstd", save_invstd, (c,))
    if save_mean is None or save_invstd is None:
        raise TypeError(f"{fn}: save_mean and save_invstd must be arrays, got None")
    weight = _vector(fn, "weight", weight, (c,))
    dx, dw, db = be.batch_norm_backward(be.reshape(grad_y, view), be.reshape(x, view), save_mean, save_invstd,
                                        weight, bool(training))
    return be.reshape(dx, tuple(x.shape)), dw, db
