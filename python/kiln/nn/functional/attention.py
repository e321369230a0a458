"""Scaled-dot-product attention over Tensors, as torch.nn.functional.scaled_dot_product_attention.

Without a mask or dropout it is one fused kernel forward (``ops.scaled_dot_product_attention``,
no Tq x Tk matrix) and one backward kernel, recorded as one node; with an attn_mask or
dropout it composes the primitives (scores, mask, softmax, dropout, product), differentiable
through the tape.
"""

from __future__ import annotations

import math

import numpy as np

from ... import backends, ops
from ...autograd import edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor, matmul, reshape, where
from ...tensor_ops.shapes import expand
from ._cast import cast
from .activations import softmax
from .layers import dropout

_FN = "scaled_dot_product_attention"


def fused_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float) -> Tensor:
    """The fused kernel on (B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, Dv) -> (B, H, Tq, Dv)."""
    Q, K, V = q._array, k._array, v._array
    be = backends.select(None, Q, K, V)
    out, lse = ops.scaled_dot_product_attention(Q, K, V, causal, scale, backend=be)
    dtype = np.result_type(Q.dtype, K.dtype, V.dtype)
    parents = (q, k, v)
    e = edges(parents)
    if e is None:
        return Tensor._wrap(cast(be, out, dtype))

    def backward(grad):
        grads = ops.scaled_dot_product_attention_backward(grad, Q, K, V, out, lse, causal, scale, backend=be)
        return tuple(cast(be, g, p.dtype) for g, p in zip(grads, parents))
    node = kernel_node(be, "scaled_dot_product_attention", e, backward, Q, K, V, out, lse)
    return Tensor._recorded(cast(be, out, dtype), node)


def _additive_mask(mask, like: Tensor) -> Tensor:
    """attn_mask as scores to add: a bool mask's True takes part (0), False is -inf; a float
    mask is added as it is."""
    mask = as_tensor(mask)
    if mask.dtype == np.bool_:
        return where(mask, 0.0, -math.inf).to(like.dtype)
    if mask.dtype.kind != "f":
        raise TypeError(f"{_FN}: attn_mask must be bool or float, got dtype {mask.dtype}")
    return mask


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale=None, enable_gqa: bool = False) -> Tensor:
    """torch.nn.functional.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); leading dims
    broadcast (3-D (N, T, E) inputs too). attn_mask broadcasts to (..., L, S): bool (True
    takes part) or float (added to the scores). is_causal: query i sees keys j <= i (no
    attn_mask with it). dropout_p drops attention weights (applied whenever > 0, as torch).
    scale defaults to 1 / sqrt(E). enable_gqa: key/value heads (dim -3) are repeated to
    query's count, which they must divide.
    """
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ValueError(f"{_FN}: {name} must have at least 2 dimensions (..., T, E), got shape {tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{_FN}: query and key must share the embedding size E, got query {tuple(query.shape)} "
                         f"and key {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{_FN}: key and value must share the sequence length S, got key {tuple(key.shape)} "
                         f"and value {tuple(value.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_FN}: dropout_p must be in [0, 1], got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{_FN}: attn_mask and is_causal cannot both be given (torch refuses them too)")
    if enable_gqa:
        key, value = _repeat_kv_heads(query, key), _repeat_kv_heads(query, value)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    try:
        lead = tuple(np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]), tuple(value.shape[:-2])))
    except ValueError:
        raise ValueError(f"{_FN}: the leading dimensions of query {tuple(query.shape)}, key {tuple(key.shape)} and "
                         f"value {tuple(value.shape)} do not broadcast") from None
    L, S = query.shape[-2], key.shape[-2]
    if attn_mask is None and dropout_p == 0.0:
        count = math.prod(lead)
        q, k, v = (reshape(expand(t, *lead, *t.shape[-2:]), 1, count, *t.shape[-2:]) for t in (query, key, value))
        return reshape(fused_attention(q, k, v, bool(is_causal), scale), *lead, L, value.shape[-1])
    scores = matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        be = backends.select(None, scores._array)
        keep = be.from_numpy(np.tril(np.ones((L, S), np.bool_)))
        scores = where(Tensor._wrap(keep), scores, -math.inf)
    if attn_mask is not None:
        scores = scores + _additive_mask(attn_mask, scores)
    weights = dropout(softmax(scores, dim=-1), dropout_p, training=True)
    return matmul(weights, value)


def _repeat_kv_heads(query: Tensor, t: Tensor) -> Tensor:
    """t's heads (dim -3) repeated (each head r times in a row, as repeat_interleave) to query's."""
    if query.ndim < 3 or t.ndim < 3:
        raise ValueError(f"{_FN}: enable_gqa needs (..., H, T, E) inputs, got query {tuple(query.shape)} and "
                         f"{tuple(t.shape)}")
    hq, hk = query.shape[-3], t.shape[-3]
    if hq % hk:
        raise ValueError(f"{_FN}: enable_gqa needs the query heads ({hq}) to be a multiple of the key/value heads "
                         f"({hk})")
    r = hq // hk
    if r == 1:
        return t
    lead = tuple(t.shape[:-3])
    grown = expand(reshape(t, *lead, hk, 1, *t.shape[-2:]), *lead, hk, r, *t.shape[-2:])
    return reshape(grown, *lead, hq, *t.shape[-2:])
