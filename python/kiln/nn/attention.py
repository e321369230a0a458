"""nn.MultiheadAttention, as torch's: projections, heads, scaled-dot-product attention, out_proj.

Without weights to return and no mask beyond causal it runs the fused attention kernel
(``F.scaled_dot_product_attention``); otherwise the weights are formed explicitly.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor_ops import as_tensor, matmul, where
from . import functional as F
from . import init
from .functional.attention import scaled_dot_product_attention
from .linear import Linear
from .module import Module, Parameter

_FN = "MultiheadAttention"


class MultiheadAttention(Module):
    """Multi-head attention: query (L, N, E) (batch_first: (N, L, E); unbatched: (L, E)), key
    (S, N, kdim), value (S, N, vdim) -> (attn_output (L, N, E), attn_weights (N, L, S) averaged
    over heads, (N, H, L, S) if not average_attn_weights, or None).

    Parameters as torch: in_proj_weight (3E, E) when kdim == vdim == E, else q_proj_weight
    (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim); in_proj_bias (3E,); out_proj
    (a Linear E -> E). dropout drops attention weights in training.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, dtype=np.float32):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"{_FN}: embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"{_FN}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(f"{_FN}: add_bias_kv and add_zero_attn are not supported by kiln "
                                      f"(append the bias or zero rows to key and value yourself)")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), dtype))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dtype))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * E, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def _projections(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        if query.ndim not in (2, 3):
            raise ValueError(f"{_FN}: query must be 2-D (L, E) or 3-D, got shape {tuple(query.shape)}")
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{_FN}: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} must all be {query.ndim}-D")
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = as_tensor(key_padding_mask).unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        L, N, E = query.shape
        S = key.shape[0]
        if E != self.embed_dim:
            raise ValueError(f"{_FN}: query's last dimension must be embed_dim={self.embed_dim}, got "
                             f"{tuple(query.shape)}")
        if key.shape[2] != self.kdim or value.shape[2] != self.vdim or value.shape[:2] != key.shape[:2] \
                or key.shape[1] != N:
            raise ValueError(f"{_FN}: key must be (S, N, kdim={self.kdim}) and value (S, N, vdim={self.vdim}) "
                             f"with query's N={N}; got key {tuple(key.shape)}, value {tuple(value.shape)}")
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{_FN}: is_causal is a hint that attn_mask is the causal mask; give attn_mask "
                               f"too (as torch requires)")
        H, hd = self.num_heads, self.head_dim
        q, k, v = self._projections(query, key, value)
        # (T, N, E) -> (N, H, T, hd)
        q, k, v = (t.reshape(t.shape[0], N, H, hd).permute(1, 2, 0, 3) for t in (q, k, v))
        dropout_p = self.dropout if self.training else 0.0

        if is_causal and key_padding_mask is None and not need_weights:
            out = scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            weights = None
        else:
            mask = self._merged_mask(attn_mask, key_padding_mask, N, L, S, q)
            if not need_weights:
                out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
                weights = None
            else:
                scores = matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
                if mask is not None:
                    scores = scores + mask
                # torch returns the weights after dropout
                weights = F.dropout(F.softmax(scores, dim=-1), dropout_p, training=dropout_p > 0)
                out = matmul(weights, v)
                if average_attn_weights:
                    weights = weights.mean(dim=1)
        out = out.permute(2, 0, 1, 3).reshape(L, N, E)
        out = self.out_proj(out)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(1)
            if weights is not None:
                weights = weights.squeeze(0)
        return out, weights

    def _merged_mask(self, attn_mask, key_padding_mask, N, L, S, like):
        """attn_mask ((L, S) or (N*H, L, S)) and key_padding_mask (N, S) as one float mask to add,
        broadcastable to (N, H, L, S): a bool True is masked out (-inf), floats are added."""
        H = self.num_heads
        merged = None
        if attn_mask is not None:
            m = _as_float_mask("attn_mask", attn_mask, like)
            if m.ndim == 2:
                if tuple(m.shape) != (L, S):
                    raise ValueError(f"{_FN}: a 2-D attn_mask must be (L, S) = {(L, S)}, got {tuple(m.shape)}")
                m = m.reshape(1, 1, L, S)
            elif m.ndim == 3:
                if tuple(m.shape) != (N * H, L, S):
                    raise ValueError(f"{_FN}: a 3-D attn_mask must be (N*num_heads, L, S) = {(N * H, L, S)}, "
                                     f"got {tuple(m.shape)}")
                m = m.reshape(N, H, L, S)
            else:
                raise ValueError(f"{_FN}: attn_mask must be 2-D or 3-D, got shape {tuple(m.shape)}")
            merged = m
        if key_padding_mask is not None:
            m = _as_float_mask("key_padding_mask", key_padding_mask, like)
            if tuple(m.shape) != (N, S):
                raise ValueError(f"{_FN}: key_padding_mask must be (N, S) = {(N, S)}, got {tuple(m.shape)}")
            m = m.reshape(N, 1, 1, S)
            merged = m if merged is None else merged + m
        return merged

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _as_float_mask(name, mask, like):
    mask = as_tensor(mask)
    if mask.dtype == np.bool_:
        return where(mask, -math.inf, 0.0).to(like.dtype)
    if mask.dtype.kind != "f":
        raise TypeError(f"{_FN}: {name} must be bool or float, got dtype {mask.dtype}")
    return mask
