"""Scaled-dot-product attention, forward and backward, written plainly (the semantics).

Shapes: q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv) -> out (B, H, Tq, Dv) and
logsumexp (B, H, Tq). causal is torch's is_causal: query i sees keys j <= i (the top-left
aligned lower triangle, for Tq != Tk too). This one holds the whole Tq x Tk score matrix;
the native kernels never do.
"""

from __future__ import annotations

import numpy as np


def _dtype(*arrays):
    return np.result_type(np.float32, *(a.dtype for a in arrays))


def _scores(q, k, causal, scale):
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if causal:
        tq, tk = s.shape[-2:]
        s = np.where(np.tril(np.ones((tq, tk), bool)), s, -np.inf)
    return s


def scaled_dot_product_attention(q, k, v, causal=False, scale=None):
    """out = softmax(scale * q k^T + causal mask) v; logsumexp of the scaled, masked scores
    per query (float32 for float32 inputs). scale defaults to 1 / sqrt(D)."""
    dtype = _dtype(q, k, v)
    q, k, v = (np.asarray(a, dtype) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = _scores(q, k, causal, scale)
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    out = np.matmul(e / total, v)
    return out.astype(dtype), (m + np.log(total))[..., 0].astype(dtype)


def scaled_dot_product_attention_backward(dout, q, k, v, out, logsumexp, causal=False, scale=None):
    """(dq, dk, dv) of scaled_dot_product_attention given dout (B, H, Tq, Dv), from the
    probabilities recomputed from logsumexp: with delta = rowsum(dout * out),
    dS = P * (dout v^T - delta), dq = scale dS k, dk = scale dS^T q, dv = P^T dout."""
    dtype = _dtype(dout, q, k, v, out, logsumexp)
    dout, q, k, v, out, logsumexp = (np.asarray(a, dtype) for a in (dout, q, k, v, out, logsumexp))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    p = np.exp(_scores(q, k, causal, scale) - logsumexp[..., None])
    delta = (dout * out).sum(axis=-1, keepdims=True)
    ds = p * (np.matmul(dout, np.swapaxes(v, -1, -2)) - delta)
    dq = np.matmul(ds, k) * scale
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * scale
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)
    return dq, dk, dv
