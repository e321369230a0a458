"""layer_norm and batch_norm over Tensors, as torch.nn.functional (differentiable).

Each forward is one ``kiln.ops`` kernel that also returns the statistics its backward
kernel needs; the tape records a closure over that backward kernel. batch_norm updates the
running statistics in place in training mode, as torch does: running = (1 - momentum) *
running + momentum * batch, with the unbiased batch variance for running_var.
"""

from __future__ import annotations

import math

from ... import backends, ops
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor
from ._cast import cast


def _array(t):
    return None if t is None else t._array


def _grads(be, grads, parents) -> tuple:
    return tuple(None if p is None or g is None else cast(be, g, p.dtype) for g, p in zip(grads, parents))


def layer_norm(input, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """input (*, *normalized_shape) normalized over its trailing normalized_shape dimensions
    (biased variance), then * weight + bias (both normalized_shape, optional)."""
    x = as_tensor(input)
    X, W, B = x._array, _array(weight), _array(bias)
    be = backends.select(None, X, W, B)
    y, mean, rstd = ops.layer_norm(X, normalized_shape, W, B, eps, backend=be)
    y = cast(be, y, X.dtype)
    parents = (x, weight, bias)
    e = edges(parents)
    if e is None:
        return Tensor._wrap(y)
    shape = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)

    def backward(g):
        dx, dw, db = ops.layer_norm_backward(g, X, mean, rstd, shape, W, backend=be)
        if B is not None and db is None:  # a bias without a weight: dy summed over the rows
            rows = math.prod(X.shape[:X.ndim - len(shape)])
            db = be.reshape(be.sum(be.reshape(g, (rows, math.prod(shape))), 0, False), shape)
        return _grads(be, (dx, dw, db), parents)
    return Tensor._recorded(y, kernel_node(be, "layer_norm", e, backward))


def _update_running(be, running: Tensor, batch, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch, in place."""
    R = running._array
    new = be.add(be.multiply(R, 1.0 - momentum), be.multiply(be.astype(batch, R.dtype, copy=False), momentum))
    be.copy_into(R, be.astype(new, R.dtype, copy=False))


def batch_norm_over(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                    eps=1e-5, channel_axis=1, unbiased_running_var=True) -> Tensor:
    """batch_norm with the channels on ``channel_axis`` (1 for torch, -1 for Keras's
    channels-last): the mean and variance of each channel over every other axis. The
    running variance takes the unbiased batch variance (torch) or the biased one (Keras)."""
    x = as_tensor(input)
    X, W, B = x._array, _array(weight), _array(bias)
    RM, RV = _array(running_mean), _array(running_var)
    be = backends.select(None, X, W, B, RM, RV)
    training = bool(training)
    y, save_mean, save_invstd, batch_var = ops.batch_norm(X, W, B, RM, RV, training, eps, channel_axis,
                                                          backend=be)
    y = cast(be, y, X.dtype)
    if training and momentum is not None:
        count = math.prod(X.shape) // X.shape[channel_axis]
        if running_mean is not None:
            _update_running(be, running_mean, save_mean, float(momentum))
        if running_var is not None:
            var = be.multiply(batch_var, count / (count - 1)) if unbiased_running_var else batch_var
            _update_running(be, running_var, var, float(momentum))
    parents = (x, weight, bias)
    e = edges(parents)
    if e is None:
        return Tensor._wrap(y)

    def backward(g):
        dx, dw, db = ops.batch_norm_backward(g, X, save_mean, save_invstd, W, training, channel_axis, backend=be)
        if B is not None and db is None:  # a bias without a weight
            axes = tuple(a for a in range(X.ndim) if a != channel_axis % X.ndim)
            db = be.sum(g, axes, False)
        return _grads(be, (dx, dw, db), parents)
    return Tensor._recorded(y, kernel_node(be, "batch_norm", e, backward))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5) -> Tensor:
    """torch.nn.functional.batch_norm: input (N, C) or (N, C, *). Training normalizes with the
    batch's statistics (biased variance) and, where running_mean/running_var are given,
    updates them in place (the unbiased variance for running_var); otherwise the running
    statistics normalize."""
    return batch_norm_over(input, running_mean, running_var, weight, bias, training, momentum, eps, 1)
