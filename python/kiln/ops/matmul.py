"""matmul: the GEMM with a fused epilogue."""

from __future__ import annotations

import numpy as np

from .. import _args, backends
from . import _arrays
from ..reference import ACTIVATIONS


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None,
           alpha=1.0, beta=0.0, out=None, backend=None) -> np.ndarray:
    """act(alpha * op(a) @ op(b) + beta * out + bias), the GEMM with a fused epilogue.

    Args:
        a: (m, k), or (k, m) with ``transpose_a``; a leading batch axis (batch, ., .)
            makes the product batched (a 2-D operand is broadcast over the batch).
        b: (k, n), or (n, k) with ``transpose_b``; batched likewise.
        bias: (n,), added to every row, or None.
        activation: None, "relu", "sigmoid", "tanh", "gelu" or "gelu_tanh".
        alpha, beta: scale of the product and of the prior contents of ``out``.
        out: float32 (m, n) or (batch, m, n) to write into (required when beta != 0).
    Returns:
        (m, n) or (batch, m, n): ``out`` when given.
    """
    fn = "matmul"
    be = backends.select(backend, a, b, bias, out)
    if be.checks_arguments:
        # The common call (nn.Linear's among them), where a Python parse would rival a small
        # product's arithmetic: the backend takes the arguments as given and checks them itself,
        # with the same errors, and hands back None for those it wants parsed below first.
        y = be.matmul(a, b, transpose_a, transpose_b, bias, activation, alpha, beta, out)
        if y is not None:
            return y
    a = _arrays.float_array(fn, "a", a)
    b = _arrays.float_array(fn, "b", b)
    bias = _arrays.optional_float_array(fn, "bias", bias)
    alpha = _args.real(fn, "alpha", alpha)
    beta = _args.real(fn, "beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError("matmul: beta != 0 accumulates into out, so out must be given")
    for name, x in (("a", a), ("b", b)):
        if x.ndim not in (2, 3):
            raise ValueError(f"matmul: {name} must be 2-D or 3-D, got shape {x.shape}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"matmul: unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    kb, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
    if k != kb:
        raise ValueError(f"matmul: inner dimensions differ: a{'.T' if transpose_a else ''} {a.shape} "
                         f"@ b{'.T' if transpose_b else ''} {b.shape}")
    batch = [x.shape[0] for x in (a, b) if x.ndim == 3]
    if len(batch) == 2 and batch[0] != batch[1] and 1 not in batch:
        raise ValueError(f"matmul: batch sizes differ: a {a.shape}, b {b.shape}")
    # NumPy's broadcast: a batch of 1 takes the other's size, 0 included.
    shape = ((batch[-1] if batch[0] == 1 else batch[0],) if batch else ()) + (m, n)
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"matmul: bias must have shape ({n},), got {bias.shape}")
    out = _arrays.output(fn, out, shape)
    y = be.matmul(a, b, transpose_a, transpose_b, bias, activation, alpha, beta, out)
    if y is None:  # parsed, and still not taken: arrays of another device
        raise TypeError(f"matmul: the {be.name} backend cannot read a {type(a).__name__} and a {type(b).__name__}")
    return y
