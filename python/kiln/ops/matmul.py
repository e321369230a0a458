"""matmul: the GEMM with a fused epilogue, on the NumPy reference or the native path."""

from __future__ import annotations

import numpy as np

from .. import _args, _backend, reference
from .._backend import native, resolve
from ._common import _deliver

_F32 = np.dtype(np.float32)


def _is_plain_matrix(x) -> bool:
    """A float32, C-contiguous 2-D ndarray: what kiln._C reads as it is."""
    return type(x) is np.ndarray and x.dtype == _F32 and x.ndim == 2 and x.flags.c_contiguous


def _as_c_layout(x: np.ndarray, transposed: bool) -> tuple[np.ndarray, bool]:
    """A matrix view the native GEMM reads without a copy: unit stride along the last axis.

    A transposed view (x.T of a C-contiguous matrix) is passed as its base with the
    transpose flag flipped; anything else without unit inner stride is copied.
    """
    x32 = x if x.dtype == np.float32 else x.astype(np.float32)
    inner_ok = x32.shape[-1] <= 1 or x32.strides[-1] == 4
    if inner_ok and all(s >= 0 and s % 4 == 0 for s in x32.strides):
        return x32, transposed
    flipped = np.swapaxes(x32, -1, -2)
    if (flipped.shape[-1] <= 1 or flipped.strides[-1] == 4) and all(s >= 0 and s % 4 == 0 for s in flipped.strides):
        return flipped, not transposed
    return np.ascontiguousarray(x32), transposed


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
    backend = resolve(backend)
    if (backend == "cpu" and _is_plain_matrix(a) and _is_plain_matrix(b)
            and (bias is None or (type(bias) is np.ndarray and bias.dtype == _F32 and bias.flags.c_contiguous))
            and activation in reference.ACTIVATIONS
            and type(alpha) is float and type(beta) is float and (out is not None or beta == 0.0)):
        # The common call (nn.Linear's among them), where Python overhead would rival a small
        # product's arithmetic: nothing to convert, so kiln._C checks the rest (shapes, bias,
        # out, overlap) itself, with the same errors.
        if out is None:
            out = np.empty((a.shape[1] if transpose_a else a.shape[0],
                            b.shape[0] if transpose_b else b.shape[1]), np.float32)
        _backend._C.matmul(a, b, out, bias, transpose_a, transpose_b, alpha, beta, activation)
        return out
    a = _args.float_array(fn, "a", a)
    b = _args.float_array(fn, "b", b)
    bias = _args.optional_float_array(fn, "bias", bias)
    alpha = _args.real(fn, "alpha", alpha)
    beta = _args.real(fn, "beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError("matmul: beta != 0 accumulates into out, so out must be given")
    for name, x in (("a", a), ("b", b)):
        if x.ndim not in (2, 3):
            raise ValueError(f"matmul: {name} must be 2-D or 3-D, got shape {x.shape}")
    if activation not in reference.ACTIVATIONS:
        raise ValueError(f"matmul: unknown activation {activation!r}; expected one of {reference.ACTIVATIONS}")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    kb, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
    if k != kb:
        raise ValueError(f"matmul: inner dimensions differ: a{'.T' if transpose_a else ''} {a.shape} "
                         f"@ b{'.T' if transpose_b else ''} {b.shape}")
    batch = [x.shape[0] for x in (a, b) if x.ndim == 3]
    if len(batch) == 2 and batch[0] != batch[1] and 1 not in batch:
        raise ValueError(f"matmul: batch sizes differ: a {a.shape}, b {b.shape}")
    shape = ((max(batch),) if batch else ()) + (m, n)
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"matmul: bias must have shape ({n},), got {bias.shape}")

    if backend == "numpy":
        result = reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=bias,
                                  activation=activation, alpha=alpha, beta=beta,
                                  c=out if beta else None)
        return _deliver(result, None if out is None else _args.output(fn, out, shape))

    out = _args.output(fn, out, shape)
    a32, transpose_a = _as_c_layout(a, transpose_a)
    b32, transpose_b = _as_c_layout(b, transpose_b)
    native().matmul(a32, b32, out, _args.native_input(bias), transpose_a, transpose_b, alpha, beta,
                    activation)
    return out
