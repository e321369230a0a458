"""Sparse input batches (TF-IDF rows) through the first Linear / Dense layer.

A batch that arrives as a SciPy sparse matrix (any format; CSR is what the kernel reads)
is never densified: ``nn.functional.linear`` and ``dense`` hand it here, the forward is
``ops.sparse_matmul`` and the weight gradient ``ops.sparse_matmul_backward_weight``. The
batch is data, not a Tensor: it takes no gradient, so only a model's first layer can
receive it. SciPy is not imported: its matrices are read through their attributes.
"""

from __future__ import annotations

import numpy as np

from . import backends, ops
from .autograd import Leaf, PythonNode, edges
from .ops.sparse_matmul import csr_parts
from .tensor import Tensor

# Per weight leaf (by id): sparse products recorded on a tape whose backward has not run yet.
_in_flight: dict[int, int] = {}


def is_sparse(x) -> bool:
    """True for a SciPy sparse matrix or array (anything with ``tocsr`` and ``nnz``)."""
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def affine(x, weight, bias, activation: str | None, weight_is_out_by_in: bool):
    """act(X @ W^T + b) (nn.Linear, weight (out, in)) or act(X @ K + b) (Dense, kernel (in, out))
    for a sparse X (batch, in). Returns a Tensor (batch, out) whose backward reaches weight
    and bias; relu, sigmoid and tanh take their derivative from the output."""
    fn = "linear" if weight_is_out_by_in else "dense"
    parts = csr_parts(fn, x)
    W = weight._array
    B = None if bias is None else bias._array
    be = backends.select(None, W, B)
    in_features = W.shape[1] if weight_is_out_by_in else W.shape[0]
    if parts[3][1] != in_features:
        raise ValueError(f"input has {parts[3][1]} features, the weight {tuple(W.shape)} expects {in_features}")
    Y = ops.sparse_matmul(parts, W, B, transpose_w=weight_is_out_by_in, backend=be)
    if activation is not None:
        Y = getattr(ops, activation)(Y, backend=be)
    Y = Y if Y.dtype == W.dtype else be.astype(Y, W.dtype)
    e = edges((weight,) if bias is None else (weight, bias))
    if e is None:
        return Tensor._wrap(Y)
    leaf = weight._node

    def backward(g):
        count = _in_flight.pop(id(leaf), 1)
        if count > 1:
            _in_flight[id(leaf)] = count - 1
        if activation is not None:
            g = getattr(ops, f"{activation}_backward")(g, Y, backend=be)
        gw = gb = None
        if e[0] is not None:
            out = _gradient_slot(leaf) if count == 1 else None
            gw = ops.sparse_matmul_backward_weight(parts, g, transpose_w=weight_is_out_by_in, out=out,
                                                   backend=be)
            gw = gw if gw.dtype == W.dtype else be.astype(gw, W.dtype)
        if bias is not None and e[1] is not None:
            gb = be.astype(be.sum(g, 0), B.dtype, copy=False)
        return (gw,) if bias is None else (gw, gb)

    if e[0] is not None:
        _in_flight[id(leaf)] = _in_flight.get(id(leaf), 0) + 1
    return Tensor._recorded(Y, PythonNode(backward, e))


def _gradient_slot(leaf):
    """The optimizer's buffer for the weight's gradient, for the kernel to write directly (the
    tape then sees its own buffer and copies nothing: a (k, n) pass saved, and no fresh k x n
    array to fault in), or None. Only while the weight has no gradient yet and this is its only
    sparse product in flight: a second one would overwrite the first's result."""
    if not isinstance(leaf, Leaf) or leaf.grad is not None:
        return None
    slot = leaf.destination
    if (isinstance(slot, np.ndarray) and slot.dtype == np.float32 and slot.flags.c_contiguous
            and slot.flags.writeable):
        return slot
    return None
