"""Losses with mean reduction: softmax_cross_entropy, bce_with_logits, mse."""

from __future__ import annotations

import numpy as np

from .. import _args, reference
from .._backend import native, resolve
from ._common import _float_arrays_alike


def _loss_result(loss: float, grad, return_grad: bool):
    return (float(loss), grad) if return_grad else float(loss)


def softmax_cross_entropy(logits, target, *, ignore_index=-100, label_smoothing=0.0,
                          return_grad=False, grad_scale=1.0, backend=None):
    """torch.nn.functional.cross_entropy with mean reduction, numerically stable.

    Args:
        logits: (N, C), C >= 1.
        target: integer class indices (N,), each in [0, C) or equal to ignore_index
            (those rows count for nothing; the mean runs over the others), or
            probabilities (N, C) (float; the mean runs over N).
        label_smoothing: in [0, 1], mixes the target with the uniform distribution.
        return_grad: also return d loss / d logits (N, C), times grad_scale.
    Returns:
        loss (float; NaN when no row counts), or (loss, grad).
    """
    fn = "softmax_cross_entropy"
    backend = resolve(backend)
    logits = _args.float_array(fn, "logits", logits)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"{fn}: logits must be 2-D (N, C) with C >= 1, got shape {logits.shape}")
    n, c = logits.shape
    if target is None:
        raise TypeError(f"{fn}: target must be an integer or float array, got None")
    target_array = target if isinstance(target, np.ndarray) else _args._asarray(fn, "target", target)
    if target_array.dtype.kind in "iu":
        target = _args.index_array(fn, "target", target_array)
        if target.shape != (n,):
            raise ValueError(f"{fn}: class-index target must have shape ({n},), got {target.shape}")
    else:
        target = _args.float_array(fn, "target", target_array)
        if target.shape != (n, c):
            raise ValueError(f"{fn}: probability target must have logits' shape {(n, c)}, got {target.shape}")
    ignore_index = _args.integer(fn, "ignore_index", ignore_index)
    label_smoothing = _args.real(fn, "label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if target.dtype == np.int64:
        bad = (target != ignore_index) & ((target < 0) | (target >= c))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{fn}: target[{i}] = {target[i]} is out of range [0, {c}) "
                             f"and is not ignore_index ({ignore_index})")
    if backend == "numpy":
        return reference.softmax_cross_entropy(logits, target, ignore_index=ignore_index,
                                               label_smoothing=label_smoothing,
                                               return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty((n, c), np.float32) if return_grad else None
    native_target = target if target.dtype == np.int64 else _args.native_input(target)
    loss = native().softmax_cross_entropy(_args.native_input(logits), native_target, grad,
                                          ignore_index, label_smoothing, grad_scale)
    return _loss_result(loss, grad, return_grad)


def bce_with_logits(logits, target, *, pos_weight=None, return_grad=False, grad_scale=1.0,
                    backend=None):
    """torch.nn.functional.binary_cross_entropy_with_logits with mean reduction, stable.

    Args:
        logits, target: one shape, any (target in [0, 1]).
        pos_weight: (C,) with C = logits.shape[-1], the weight of positive examples
            of each class, broadcast over the last axis; or None.
        return_grad: also return d loss / d logits (logits' shape), times grad_scale.
    Returns:
        loss (float; NaN for empty inputs), or (loss, grad).
    """
    fn = "bce_with_logits"
    backend = resolve(backend)
    logits, target = _float_arrays_alike(fn, "logits", logits, "target", target)
    pos_weight = _args.optional_float_array(fn, "pos_weight", pos_weight)
    if pos_weight is not None and (logits.ndim == 0 or pos_weight.shape != logits.shape[-1:]):
        raise ValueError(f"{fn}: pos_weight must have shape {logits.shape[-1:] or '(C,)'} "
                         f"(logits' last axis), got {pos_weight.shape}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if backend == "numpy":
        return reference.bce_with_logits(logits, target, pos_weight=pos_weight,
                                         return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty(logits.shape, np.float32) if return_grad else None
    loss = native().bce_with_logits(_args.native_input(logits), _args.native_input(target),
                                    _args.native_input(pos_weight), grad, grad_scale)
    return _loss_result(loss, grad, return_grad)


def mse(pred, target, *, return_grad=False, grad_scale=1.0, backend=None):
    """Mean squared error, torch.nn.functional.mse_loss with mean reduction.

    Args:
        pred, target: one shape, any.
        return_grad: also return d loss / d pred (pred's shape), times grad_scale.
    Returns:
        loss (float; NaN for empty inputs), or (loss, grad).
    """
    fn = "mse"
    backend = resolve(backend)
    pred, target = _float_arrays_alike(fn, "pred", pred, "target", target)
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if backend == "numpy":
        return reference.mse(pred, target, return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty(pred.shape, np.float32) if return_grad else None
    loss = native().mse(_args.native_input(pred), _args.native_input(target), grad, grad_scale)
    return _loss_result(loss, grad, return_grad)
