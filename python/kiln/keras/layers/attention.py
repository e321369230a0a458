"""keras.layers.MultiHeadAttention, with Keras 3's arguments, weights and semantics.

Weights (Keras 3's shapes and names): query/kernel (E_q, heads, key_dim), query/bias (heads,
key_dim), key/... (E_k, heads, key_dim), value/... (E_v, heads, value_dim),
attention_output/kernel (heads, value_dim, E_out), attention_output/bias (E_out,). Scores
are softmax(query . key / sqrt(key_dim)) over the keys, masked positions getting -1e9
added (as Keras's Softmax with a mask). With no mask beyond the causal one, no dropout
active and no scores asked for, the fused attention kernel runs.
"""

from __future__ import annotations

import math

import numpy as np

from ...nn import functional as F
from ...nn.functional.attention import fused_attention
from ...tensor import Tensor
from ...tensor_ops import as_tensor, matmul
from .. import initializers
from .base import KerasTensor, Layer, check_config

_FN = "MultiHeadAttention"
_LARGE_NEGATIVE = -1e9  # Keras's Softmax adds this where the mask is False (float32)


class MultiHeadAttention(Layer):
    """query (B, Tq, E_q), value (B, Tv, E_v), key (B, Tv, E_k; default value) ->
    (B, Tq, E_out) (E_out = output_shape or E_q), and with return_attention_scores the
    scores (B, heads, Tq, Tv)."""

    def __init__(self, num_heads: int, key_dim: int, value_dim=None, dropout: float = 0.0, use_bias: bool = True,
                 output_shape=None, attention_axes=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if int(value) < 1:
                raise ValueError(f"{_FN}: {name} must be a positive int, got {value}")
        if value_dim is not None and int(value_dim) < 1:
            raise ValueError(f"{_FN}: value_dim must be a positive int or None, got {value_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{_FN}: dropout must be in [0, 1), got {dropout}")
        unsupported = {"kernel_regularizer": kernel_regularizer, "bias_regularizer": bias_regularizer,
                       "activity_regularizer": activity_regularizer, "kernel_constraint": kernel_constraint,
                       "bias_constraint": bias_constraint}
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise NotImplementedError(f"{_FN}: {', '.join(given)} are not supported by kiln")
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise NotImplementedError(f"{_FN}: output_shape must be an int or a 1-tuple in kiln, got "
                                          f"{output_shape}")
            output_shape = output_shape[0]
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = self.key_dim if value_dim is None else int(value_dim)
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self.output_shape_arg = None if output_shape is None else int(output_shape)
        if attention_axes is not None:
            axes = (attention_axes,) if isinstance(attention_axes, int) else tuple(attention_axes)
            if axes not in ((1,), (-2,)):
                raise NotImplementedError(f"{_FN}: kiln attends over the sequence axis only (attention_axes None "
                                          f"or (1,)), got {attention_axes}")
        self.attention_axes = None if attention_axes is None else attention_axes
        self.flash_attention = flash_attention
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.seed = seed
        self._return_scores_symbolic = False

    # ---- building ---------------------------------------------------------------------------

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and isinstance(query_shape, list):
            shapes = list(query_shape)
            query_shape, value_shape = shapes[0], shapes[1]
            key_shape = shapes[2] if len(shapes) > 2 else None
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if shape is None or len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"{_FN}: {name} must be (batch, T, features) with known features, got {shape}")
        e_q, e_k, e_v = query_shape[-1], key_shape[-1], value_shape[-1]
        H, kd, vd = self.num_heads, self.key_dim, self.value_dim
        e_out = self.output_shape_arg or e_q
        kernel, bias = self.kernel_initializer, self.bias_initializer
        self.query_kernel = self.add_weight("query/kernel", (e_q, H, kd), kernel)
        self.query_bias = self.add_weight("query/bias", (H, kd), bias) if self.use_bias else None
        self.key_kernel = self.add_weight("key/kernel", (e_k, H, kd), kernel)
        self.key_bias = self.add_weight("key/bias", (H, kd), bias) if self.use_bias else None
        self.value_kernel = self.add_weight("value/kernel", (e_v, H, vd), kernel)
        self.value_bias = self.add_weight("value/bias", (H, vd), bias) if self.use_bias else None
        self.output_kernel = self.add_weight("attention_output/kernel", (H, vd, e_out), kernel)
        self.output_bias = self.add_weight("attention_output/bias", (e_out,), bias) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        query_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        value_shape = input_shape[1] if isinstance(input_shape, list) else input_shape
        out = tuple(query_shape[:-1]) + (self.output_shape_arg or query_shape[-1],)
        if self._return_scores_symbolic:
            return [out, (query_shape[0], self.num_heads, query_shape[1], value_shape[1])]
        return out

    # ---- calling ----------------------------------------------------------------------------

    def __call__(self, query, value=None, key=None, training=None, **kwargs):
        if value is None:  # a functional graph replays the call with the inputs as one list
            if not isinstance(query, (list, tuple)) or len(query) not in (2, 3):
                raise ValueError(f"{_FN}: call it as layer(query, value) or layer(query, value, key)")
            parts = list(query)
        else:
            parts = [query, value] + ([] if key is None else [key])
        masks = [k for k in ("query_mask", "value_mask", "key_mask", "attention_mask")
                 if isinstance(kwargs.get(k), KerasTensor)]
        if masks:
            raise NotImplementedError(f"{_FN}: {', '.join(masks)} from a graph input are not supported by kiln; "
                                      f"pass masks as arrays when calling the layer on data")
        self._return_scores_symbolic = bool(kwargs.get("return_attention_scores", False))
        return super().__call__(parts, training=training, **kwargs)

    def call(self, inputs, training=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, use_causal_mask=False):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        H = self.num_heads
        q = self._project(query, self.query_kernel, self.query_bias)  # (B, H, Tq, kd)
        k = self._project(key, self.key_kernel, self.key_bias)
        v = self._project(value, self.value_kernel, self.value_bias)
        B, Tq, Tv = q.shape[0], q.shape[2], k.shape[2]
        mask = self._attention_mask(B, Tq, Tv, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        dropping = bool(training) and self.dropout > 0
        scale = 1.0 / math.sqrt(self.key_dim)
        if mask is None and not dropping and not return_attention_scores:
            out = fused_attention(q, k, v, False, scale)
            scores = None
        elif (mask is True) and not dropping and not return_attention_scores:
            out = fused_attention(q, k, v, True, scale)
            scores = None
        else:
            logits = matmul(q * scale, k.transpose(-2, -1))
            if mask is True:
                mask = np.tril(np.ones((Tq, Tv), np.bool_))[None]
            if mask is not None:
                adder = (1.0 - np.asarray(mask, np.float32)[:, None]) * _LARGE_NEGATIVE  # (B or 1, 1, Tq, Tv)
                logits = logits + Tensor._wrap(adder).to(logits.device)
            scores = F.softmax(logits, dim=-1)
            out = matmul(F.dropout(scores, self.dropout, training=dropping), v)
        out = out.permute(0, 2, 1, 3).reshape(B, Tq, H * self.value_dim)
        e_out = self.output_kernel.shape[-1]
        out = F.dense(out, self.output_kernel.reshape(H * self.value_dim, e_out), self.output_bias)
        return (out, scores) if return_attention_scores else out

    def _project(self, x, kernel, bias):
        """x (B, T, E) -> (B, H, T, dim) through kernel (E, H, dim) and bias (H, dim)."""
        x = as_tensor(x)
        E, H, dim = kernel.shape
        if x.ndim != 3 or x.shape[-1] != E:
            raise ValueError(f"{_FN}: expected an input (batch, T, {E}), got shape {tuple(x.shape)}")
        y = F.dense(x, kernel.reshape(E, H * dim), None if bias is None else bias.reshape(H * dim))
        return y.reshape(x.shape[0], x.shape[1], H, dim).permute(0, 2, 1, 3)

    def _attention_mask(self, B, Tq, Tv, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras's _compute_attention_mask: True attends. None for no mask, True for the causal
        mask alone (the fused kernel's), else a bool array (B or 1, Tq, Tv)."""
        mask = None

        def host(m):
            m = m.numpy(force=True) if isinstance(m, Tensor) else np.asarray(m)
            return m.astype(np.bool_)
        if query_mask is not None:
            mask = host(query_mask).reshape(B, Tq, 1)
        for m in (value_mask, key_mask):
            if m is not None:
                m = host(m).reshape(B, 1, Tv)
                mask = m if mask is None else mask & m
        if attention_mask is not None:
            m = host(attention_mask)
            if m.ndim == 2:
                m = m[None]
            mask = m if mask is None else mask & m
        if use_causal_mask:
            if mask is None:
                return True
            mask = mask & np.tril(np.ones((Tq, Tv), np.bool_))[None]
        return None if mask is None else np.broadcast_to(mask, (mask.shape[0], Tq, Tv))

    # ---- configuration ----------------------------------------------------------------------

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "attention_axes": self.attention_axes,
                "kernel_initializer": initializers.serialize(initializers.get(self.kernel_initializer)),
                "bias_initializer": initializers.serialize(initializers.get(self.bias_initializer))}

    @classmethod
    def from_config(cls, config):
        config = check_config(cls.__name__, config)
        for key in ("num_heads", "key_dim"):
            value = config.get(key)
            if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**31 - 1):
                raise ValueError(f"{cls.__name__}.from_config: {key} must be an int in [1, 2147483647], got {value!r}")
        for key in ("kernel_initializer", "bias_initializer"):
            if isinstance(config.get(key), dict):
                config[key] = initializers.deserialize(config[key])
        return cls(**config)
