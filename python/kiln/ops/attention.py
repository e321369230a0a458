"""Scaled-dot-product attention, forward and backward: one memory-efficient kernel.

q is (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv); out (B, H, Tq, Dv) and logsumexp
(B, H, Tq). causal is torch's is_causal (query i sees keys j <= i). The native kernels
never hold the Tq x Tk score matrix (kiln/attention.hpp). Every argument is checked here.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backends
from . import _arrays
from ._common import _check_elements

_FN = "scaled_dot_product_attention"


def _qkv(fn, q, k, v):
    q, k, v = (_arrays.float_array(fn, name, a) for name, a in (("q", q), ("k", k), ("v", v)))
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim != 4:
            raise ValueError(f"{fn}: {name} must be 4-D (B, H, T, D), got shape {tuple(a.shape)}")
        if min(a.shape) < 1:
            raise ValueError(f"{fn}: {name} must have no empty dimension, got shape {tuple(a.shape)}")
    if tuple(k.shape[:2]) != tuple(q.shape[:2]) or k.shape[3] != q.shape[3]:
        raise ValueError(f"{fn}: k must be (B, H, Tk, D) with q's B, H and D {tuple(q.shape[:2])}, "
                         f"{q.shape[3]}; got q {tuple(q.shape)}, k {tuple(k.shape)}")
    if tuple(v.shape[:3]) != tuple(k.shape[:3]):
        raise ValueError(f"{fn}: v must be (B, H, Tk, Dv) with k's B, H and Tk {tuple(k.shape[:3])}; "
                         f"got v {tuple(v.shape)}")
    b, h, tq, _ = q.shape
    _check_elements(fn, "out", (b, h, tq, v.shape[3]))
    return q, k, v


def _scale(fn, scale, d) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d)
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: scale must be a float or None, got {type(scale).__name__}")
    if not math.isfinite(float(scale)):
        raise ValueError(f"{fn}: scale must be finite, got {scale}")
    return float(scale)


def _causal(fn, causal) -> bool:
    if not isinstance(causal, (bool, np.bool_)):
        raise TypeError(f"{fn}: causal must be a bool, got {type(causal).__name__}")
    return bool(causal)


def scaled_dot_product_attention(q, k, v, causal=False, scale=None, *, backend=None):
    """Attention in one kernel: out = softmax(scale * q k^T, causal mask) v.

    Args:
        q: (B, H, Tq, D); k: (B, H, Tk, D); v: (B, H, Tk, Dv).
        causal: query i sees keys j <= i only (torch's is_causal).
        scale: the scores' factor, default 1 / sqrt(D).
    Returns:
        (out (B, H, Tq, Dv), logsumexp (B, H, Tq)): logsumexp of each query's scaled, masked
        scores, what the backward recomputes the probabilities from.
    """
    be = backends.select(backend, q, k, v)
    q, k, v = _qkv(_FN, q, k, v)
    return be.scaled_dot_product_attention(q, k, v, _causal(_FN, causal), _scale(_FN, scale, q.shape[3]))


def scaled_dot_product_attention_backward(dout, q, k, v, out, logsumexp, causal=False, scale=None, *,
                                          backend=None):
    """Gradient of scaled_dot_product_attention.

    Args:
        dout, out: (B, H, Tq, Dv); q, k, v as the forward's; logsumexp: (B, H, Tq) from it.
    Returns:
        (dq (B, H, Tq, D), dk (B, H, Tk, D), dv (B, H, Tk, Dv)).
    """
    fn = "scaled_dot_product_attention_backward"
    be = backends.select(backend, dout, q, k, v, out, logsumexp)
    q, k, v = _qkv(fn, q, k, v)
    b, h, tq, _ = q.shape
    expected = (b, h, tq, v.shape[3])
    for name, a in (("dout", dout), ("out", out)):
        a = _arrays.float_array(fn, name, a)
        if tuple(a.shape) != expected:
            raise ValueError(f"{fn}: {name} must be (B, H, Tq, Dv) = {expected}, got {tuple(a.shape)}")
    dout, out = _arrays.float_array(fn, "dout", dout), _arrays.float_array(fn, "out", out)
    logsumexp = _arrays.float_array(fn, "logsumexp", logsumexp)
    if tuple(logsumexp.shape) != (b, h, tq):
        raise ValueError(f"{fn}: logsumexp must be (B, H, Tq) = {(b, h, tq)}, got {tuple(logsumexp.shape)}")
    return be.scaled_dot_product_attention_backward(dout, q, k, v, out, logsumexp, _causal(fn, causal),
                                                    _scale(fn, scale, q.shape[3]))
