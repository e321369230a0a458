"""The cuda backend's scaled-dot-product attention (``AttentionKernels``, a mixin of
``CudaBackend``), with ``ReferenceBackend``'s signatures: q (B, H, Tq, D), k (B, H, Tk, D),
v (B, H, Tk, Dv) -> out (B, H, Tq, Dv), logsumexp (B, H, Tq), over cpp/src/cuda/attention.cu
(batch and heads folded into one grid axis)."""

from __future__ import annotations

import numpy as np

from .native import _cuda

_F32 = np.dtype(np.float32)


class AttentionKernels:
    """Flash-attention forward and FlashAttention-2 backward on the device."""

    def scaled_dot_product_attention(self, q, k, v, causal, scale):
        q, k, v = self._f32(q), self._f32(k), self._f32(v)
        b, h, tq, d = q.shape
        tk, dv = k.shape[2], v.shape[3]
        out, lse = self.empty((b, h, tq, dv), _F32), self.empty((b, h, tq), _F32)
        _cuda.attention_forward(b * h, tq, tk, d, dv, bool(causal), float(scale), q.ptr, k.ptr, v.ptr,
                                out.ptr, lse.ptr, self.stream)
        return out, lse

    def scaled_dot_product_attention_backward(self, dout, q, k, v, out, logsumexp, causal, scale):
        dout, q, k, v, out, logsumexp = (self._f32(a) for a in (dout, q, k, v, out, logsumexp))
        b, h, tq, d = q.shape
        tk, dvn = k.shape[2], v.shape[3]
        dq, dk, dv = (self.empty(shape, _F32) for shape in ((b, h, tq, d), (b, h, tk, d), (b, h, tk, dvn)))
        _cuda.attention_backward(b * h, tq, tk, d, dvn, bool(causal), float(scale), dout.ptr, q.ptr, k.ptr,
                                 v.ptr, out.ptr, logsumexp.ptr, dq.ptr, dk.ptr, dv.ptr, self.stream)
        return dq, dk, dv
