"""sparse_matmul: a CSR matrix (a TF-IDF batch) times a dense weight, and the weight gradient.

X may be a SciPy sparse matrix or array of any format (CSC and COO are converted to CSR),
or its CSR parts ``(data, indices, indptr, (m, k))``. Repeated entries add, as in SciPy.
SciPy is not needed: its matrices are read through their attributes.
"""

from __future__ import annotations

import numpy as np

from .. import _args, backends
from . import _arrays
from ._common import _check_elements


def _is_sparse(x) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def csr_parts(fn: str, x) -> tuple:
    """(data, indices, indptr, (m, k)) of X, its shape, dtypes and lengths checked; the
    backend converts them to its kernel's dtypes and checks their contents."""
    if _is_sparse(x):
        if getattr(x, "format", "csr") != "csr":
            x = x.tocsr()
        data, indices, indptr, shape = x.data, x.indices, x.indptr, x.shape
    elif isinstance(x, tuple) and len(x) == 4:
        data, indices, indptr, shape = x
    else:
        raise TypeError(f"{fn}: x must be a SciPy sparse matrix or a tuple (data, indices, indptr, shape), "
                        f"got {type(x).__name__}")
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise ValueError(f"{fn}: shape must be two non-negative ints (m, k), got {shape!r}")
    m, k = int(shape[0]), int(shape[1])
    data = _arrays.float_array(fn, "data", data)
    indices = _integer_vector(fn, "indices", indices)
    indptr = _integer_vector(fn, "indptr", indptr)
    if data.ndim != 1:
        raise ValueError(f"{fn}: data must be 1-D (nnz,), got shape {data.shape}")
    if indices.shape != data.shape:
        raise ValueError(f"{fn}: indices {indices.shape} and data {data.shape} must have the same length (nnz)")
    if indptr.shape != (m + 1,):
        raise ValueError(f"{fn}: indptr must have shape (m + 1,) = ({m + 1},), got {indptr.shape}")
    return data, indices, indptr, (m, k)


def _integer_vector(fn: str, name: str, x) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-D, got shape {arr.shape}")
    return arr


def sparse_matmul(x, w, bias=None, *, transpose_w=False, beta=0.0, out=None, backend=None) -> np.ndarray:
    """X @ op(w) + bias + beta * out, X sparse: only X's stored entries are multiplied.

    Args:
        x: X (m, k): a SciPy sparse matrix, or CSR parts (data, indices, indptr, (m, k)).
        w: (k, n), or (n, k) with ``transpose_w`` (nn.Linear's weight layout; slower).
        bias: (n,), added to every row, or None.
        beta: scale of the prior contents of ``out`` (needs ``out``).
        out: float32 (m, n) to write into.
    Returns:
        (m, n): ``out`` when given.
    """
    fn = "sparse_matmul"
    be = backends.select(backend, w, bias, out)
    x = csr_parts(fn, x)
    (m, k) = x[3]
    w = _arrays.float_array(fn, "w", w)
    bias = _arrays.optional_float_array(fn, "bias", bias)
    beta = _args.real(fn, "beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError(f"{fn}: beta != 0 accumulates into out, so out must be given")
    want = "(n, k)" if transpose_w else "(k, n)"
    if w.ndim != 2 or w.shape[1 if transpose_w else 0] != k:
        raise ValueError(f"{fn}: w must be 2-D {want} with k = {k} (X is {(m, k)}), got shape {w.shape}")
    n = w.shape[0] if transpose_w else w.shape[1]
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"{fn}: bias must have shape ({n},), got {bias.shape}")
    return be.sparse_matmul(x, w, bias, bool(transpose_w), beta, _arrays.output(fn, out, (m, n)))


def sparse_matmul_backward_weight(x, grad_y, *, transpose_w=False, beta=0.0, out=None,
                                  backend=None) -> np.ndarray:
    """The weight gradient of ``sparse_matmul``: X^T @ grad_y + beta * out.

    Args:
        x: X (m, k), as in ``sparse_matmul``.
        grad_y: (m, n).
        transpose_w: return the gradient in the (n, k) layout (dY^T @ X) instead of (k, n).
        beta: scale of the prior contents of ``out`` (1.0 accumulates; needs ``out``).
        out: float32 (k, n), or (n, k) with transpose_w, to write into.
    Returns:
        (k, n) or (n, k): ``out`` when given. Bit-identical for any thread count.
    """
    fn = "sparse_matmul_backward_weight"
    be = backends.select(backend, grad_y, out)
    x = csr_parts(fn, x)
    (m, k) = x[3]
    grad_y = _arrays.float_array(fn, "grad_y", grad_y)
    beta = _args.real(fn, "beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError(f"{fn}: beta != 0 accumulates into out, so out must be given")
    if grad_y.ndim != 2 or grad_y.shape[0] != m:
        raise ValueError(f"{fn}: grad_y must be 2-D (m, n) with m = {m} (X is {(m, k)}), got shape {grad_y.shape}")
    n = grad_y.shape[1]
    shape = (n, k) if transpose_w else (k, n)
    _check_elements(fn, "grad_w", shape)
    return be.sparse_matmul_backward_weight(x, grad_y, bool(transpose_w), beta, _arrays.output(fn, out, shape))
