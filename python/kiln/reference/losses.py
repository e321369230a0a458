"""Losses with mean reduction: softmax_cross_entropy, bce_with_logits, mse."""

from __future__ import annotations

import math

import numpy as np

from ._common import _dtype
from .pointwise import log_softmax, sigmoid


def _mean(total, count: int) -> float:
    """total / count as a float; NaN for zero terms, as torch's mean of nothing."""
    return float(total) / count if count else math.nan


def softmax_cross_entropy(logits, target, *, ignore_index=-100, label_smoothing=0.0,
                          return_grad=False, grad_scale=1.0):
    """torch.nn.functional.cross_entropy, mean reduction.

    logits: (N, C). target: integer class indices (N,), entries equal to ignore_index
    skipped (the mean runs over the others), or probabilities (N, C).
    label_smoothing mixes the target with the uniform distribution.
    Returns the loss (float), or (loss, grad (N, C) = d loss/d logits * grad_scale).
    """
    n, c = logits.shape
    log_p = log_softmax(logits, axis=-1)
    if np.issubdtype(target.dtype, np.integer):
        valid = target != ignore_index
        count = int(valid.sum())
        one_hot = np.zeros_like(log_p)
        one_hot[np.flatnonzero(valid), target[valid]] = 1
        smoothed = (1 - label_smoothing) * one_hot + label_smoothing / c
        per_row = -np.sum(smoothed * np.where(valid[:, None], log_p, 0), axis=-1)
        loss = _mean(np.sum(per_row[valid]), count)
        row_weight = valid[:, None]
    else:
        count = n
        smoothed = (1 - label_smoothing) * target + label_smoothing / c
        loss = _mean(-np.sum(smoothed * log_p), count)
        row_weight = np.ones((n, 1), dtype=bool)
    if not return_grad:
        return loss
    probs = np.exp(log_p)
    grad = probs * np.sum(smoothed, axis=-1, keepdims=True) - smoothed
    grad = np.where(row_weight, grad * (grad_scale / count if count else 0.0), 0)
    return loss, grad.astype(log_p.dtype, copy=False)


def bce_with_logits(logits, target, *, pos_weight=None, return_grad=False, grad_scale=1.0):
    """torch.nn.functional.binary_cross_entropy_with_logits, mean reduction.

    logits, target: one shape, any; pos_weight: (C,) over the last axis, weighting the
    positive term. Returns the loss, or (loss, grad = d loss/d logits * grad_scale).
    """
    dtype = _dtype(logits, target, pos_weight)
    weight = 1 if pos_weight is None else pos_weight
    log_weight = 1 + (weight - 1) * target
    log_sigmoid = np.minimum(logits, 0) - np.log1p(np.exp(-np.abs(logits)))
    loss = _mean(np.sum((1 - target) * logits - log_weight * log_sigmoid), logits.size)
    if not return_grad:
        return loss
    factor = grad_scale / logits.size if logits.size else 0.0
    grad = (log_weight * sigmoid(logits) - weight * target) * factor
    return loss, np.asarray(grad, dtype=dtype)


def mse(pred, target, *, return_grad=False, grad_scale=1.0):
    """mean((pred - target)**2); pred, target one shape, any.

    Returns the loss, or (loss, grad = d loss/d pred * grad_scale).
    """
    diff = pred - target
    loss = _mean(np.sum(diff * diff), diff.size)
    if not return_grad:
        return loss
    factor = 2 * grad_scale / diff.size if diff.size else 0.0
    return loss, np.asarray(diff * factor, dtype=diff.dtype)
