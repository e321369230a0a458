"""Losses with mean reduction: softmax_cross_entropy, bce_with_logits, mse."""

from __future__ import annotations


from .. import _args, backends
from . import _arrays
from ._common import _float_arrays_alike


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
    be = backends.select(backend, logits, target)
    logits = _arrays.float_array(fn, "logits", logits)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"{fn}: logits must be 2-D (N, C) with C >= 1, got shape {logits.shape}")
    n, c = logits.shape
    if target is None:
        raise TypeError(f"{fn}: target must be an integer or float array, got None")
    target_array = target if backends.is_array(target) else _arrays._asarray(fn, "target", target)
    if target_array.dtype.kind in "iu":
        target = _arrays.index_array(fn, "target", target_array)
        if tuple(target.shape) != (n,):
            raise ValueError(f"{fn}: class-index target must have shape ({n},), got {target.shape}")
    else:
        target = _arrays.float_array(fn, "target", target_array)
        if tuple(target.shape) != (n, c):
            raise ValueError(f"{fn}: probability target must have logits' shape {(n, c)}, got {target.shape}")
    ignore_index = _args.integer(fn, "ignore_index", ignore_index)
    label_smoothing = _args.real(fn, "label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    return be.softmax_cross_entropy(logits, target, ignore_index, label_smoothing, bool(return_grad), grad_scale)


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
    be = backends.select(backend, logits, target, pos_weight)
    logits, target = _float_arrays_alike(fn, "logits", logits, "target", target)
    pos_weight = _arrays.optional_float_array(fn, "pos_weight", pos_weight)
    if pos_weight is not None and (logits.ndim == 0 or tuple(pos_weight.shape) != tuple(logits.shape[-1:])):
        raise ValueError(f"{fn}: pos_weight must have shape {logits.shape[-1:] or '(C,)'} "
                         f"(logits' last axis), got {pos_weight.shape}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    return be.bce_with_logits(logits, target, pos_weight, bool(return_grad), grad_scale)


def mse(pred, target, *, return_grad=False, grad_scale=1.0, backend=None):
    """Mean squared error, torch.nn.functional.mse_loss with mean reduction.

    Args:
        pred, target: one shape, any.
        return_grad: also return d loss / d pred (pred's shape), times grad_scale.
    Returns:
        loss (float; NaN for empty inputs), or (loss, grad).
    """
    fn = "mse"
    be = backends.select(backend, pred, target)
    pred, target = _float_arrays_alike(fn, "pred", pred, "target", target)
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    return be.mse(pred, target, bool(return_grad), grad_scale)
