"""sparse_matmul and its weight gradient: a CSR matrix times a dense one, written plainly."""

from __future__ import annotations

import numpy as np

from ._common import _dtype


def _dense(x, dtype) -> np.ndarray:
    """X (m, k) as a dense matrix; repeated (row, column) entries add, as in SciPy."""
    data, indices, indptr, (m, k) = x
    rows = np.repeat(np.arange(m), np.diff(indptr))
    dense = np.zeros((m, k), dtype)
    np.add.at(dense, (rows, indices), data)
    return dense


def sparse_matmul(x, w: np.ndarray, bias: np.ndarray | None = None, *, transpose_w: bool = False,
                  beta: float = 0.0, y: np.ndarray | None = None) -> np.ndarray:
    """X @ op(w) + bias + beta * y.

    x: (data (nnz,), indices (nnz,), indptr (m + 1,), (m, k)), the CSR parts of X.
    w: (k, n), or (n, k) with transpose_w. bias: (n,) or None. y: (m, n), read when beta != 0.
    """
    dtype = _dtype(x[0], w, bias)
    result = _dense(x, dtype) @ (w.T if transpose_w else w).astype(dtype, copy=False)
    if bias is not None:
        result += bias
    if beta:
        result += beta * y
    return result


def sparse_matmul_backward_weight(x, grad_y: np.ndarray, *, transpose_w: bool = False, beta: float = 0.0,
                                  grad_w: np.ndarray | None = None) -> np.ndarray:
    """X^T @ grad_y (k, n), or its transpose (n, k) with transpose_w; plus beta * grad_w.

    x: the CSR parts of X (m, k) as in sparse_matmul; grad_y: (m, n).
    """
    dtype = _dtype(x[0], grad_y)
    result = _dense(x, dtype).T @ grad_y.astype(dtype, copy=False)
    if transpose_w:
        result = result.T
    if beta:
        result += beta * grad_w
    return result
