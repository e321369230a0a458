"""embedding and embedding_backward, as torch.nn.functional.embedding."""

from __future__ import annotations

import numpy as np


def embedding(indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> np.ndarray:
    """weight[indices]: indices of any shape in [0, V), weight (V, D) -> (*indices.shape, D).

    padding_idx only matters for the gradient (torch's forward ignores it).
    """
    return weight[indices]


def embedding_backward(indices: np.ndarray, grad_out: np.ndarray, num_embeddings: int,
                       padding_idx: int | None = None) -> np.ndarray:
    """Scatter-add of grad_out (*indices.shape, D) into rows of a zero (V, D) by indices.

    The row padding_idx (negative values count from the end) gets no gradient.
    """
    dim = grad_out.shape[-1]
    grad_weight = np.zeros((num_embeddings, dim), dtype=grad_out.dtype)
    np.add.at(grad_weight, np.ravel(indices), grad_out.reshape(np.size(indices), dim))
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight
