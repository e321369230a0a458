"""Sparse input batches (TF-IDF rows) through the first Linear / Dense layer.

A batch that arrives as a SciPy sparse matrix (any format; CSR is what the kernel reads)
is never densified: ``kiln.functional.linear`` and ``dense`` hand it here, the forward is
``ops.sparse_matmul`` and the weight gradient ``ops.sparse_matmul_backward_weight``. The
batch is data, not a Tensor: it takes no gradient, so only a model's first layer can
receive it. SciPy is not imported: its matrices are read through their attributes.
"""

from __future__ import annotations

import numpy as np

from . import ops
from ._backend import current_backend
from .autograd import record
from .ops.sparse_matmul import csr_parts

# Per weight (by id): sparse products recorded on a tape whose backward has not run yet.
_in_flight: dict[int, int] = {}


def is_sparse(x) -> bool:
    """True for a SciPy sparse matrix or array (anything with ``tocsr`` and ``nnz``)."""
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def affine(x, weight, bias, activation: str | None, weight_is_out_by_in: bool):
    """act(X @ W^T + b) (nn.Linear, weight (out, in)) or act(X @ K + b) (Dense, kernel (in, out))
    for a sparse X (batch, in). Returns a Tensor (batch, out) whose backward reaches weight
    and bias; relu, sigmoid and tanh take their derivative from the output."""
    fn = "linear" if weight_is_out_by_in else "dense"
    backend = current_backend()
    parts = csr_parts(fn, x, native_dtypes=backend != "numpy")  # converted once for both passes
    W = weight._array
    B = None if bias is None else bias._array
    in_features = W.shape[1] if weight_is_out_by_in else W.shape[0]
    if parts[3][1] != in_features:
        raise ValueError(f"input has {parts[3][1]} features, the weight {tuple(W.shape)} expects {in_features}")
    Y = ops.sparse_matmul(parts, W, B, transpose_w=weight_is_out_by_in, backend=backend)
    if activation is not None:
        Y = getattr(ops, activation)(Y, backend=backend)
    Y = Y.astype(W.dtype, copy=False)

    def backward(g):
        count = _in_flight.pop(id(weight), 1)
        if count > 1:
            _in_flight[id(weight)] = count - 1
        if activation is not None:
            g = getattr(ops, f"{activation}_backward")(g, Y, backend=backend)
        gw = gb = None
        if weight.requires_grad:
            out = _gradient_slot(weight, backend) if count == 1 else None
            gw = ops.sparse_matmul_backward_weight(parts, g, transpose_w=weight_is_out_by_in, out=out,
                                                   backend=backend).astype(W.dtype, copy=False)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=0).astype(B.dtype, copy=False)
        return (gw,) + ((gb,) if bias is not None else ())

    parents = (weight,) + ((bias,) if bias is not None else ())
    y = record(Y, parents, backward)
    if y._backward is not None and weight.requires_grad:
        _in_flight[id(weight)] = _in_flight.get(id(weight), 0) + 1
    return y


def _gradient_slot(weight, backend: str):
    """The optimizer's buffer for weight's gradient, for the kernel to write directly (the
    tape's copy into it is then a no-op: a (k, n) pass saved, and no fresh k x n array to
    fault in), or None. Only while the weight has no gradient yet and this is its only
    sparse product in flight: a second one would overwrite the first's result."""
    slot = weight._grad_buffer
    if (weight.grad is None and slot is not None and backend != "numpy" and slot.dtype == np.float32
            and slot.flags.c_contiguous and slot.flags.writeable):
        return slot
    return None
