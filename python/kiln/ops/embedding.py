"""embedding and embedding_backward, as torch.nn.functional.embedding."""

from __future__ import annotations

import numpy as np

from .. import _args, reference
from .._backend import native, resolve


def _padding_index(fn: str, padding_idx, num_embeddings: int) -> int | None:
    """torch's padding_idx: None, or in [-V, V) with negative values counted from the end."""
    if padding_idx is None:
        return None
    padding_idx = _args.integer(fn, "padding_idx", padding_idx)
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: padding_idx must be in [{-num_embeddings}, {num_embeddings}), "
                         f"got {padding_idx}")
    return padding_idx % num_embeddings


def _check_indices(fn: str, indices: np.ndarray, num_embeddings: int) -> None:
    bad = (indices < 0) | (indices >= num_embeddings)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{fn}: indices[{', '.join(map(str, where))}] = {indices[tuple(where)]} "
                         f"is out of range [0, {num_embeddings})")


def embedding(indices, weight, padding_idx=None, *, backend=None) -> np.ndarray:
    """weight[indices], as torch.nn.functional.embedding.

    Args:
        indices: integer array of any shape, each in [0, V).
        weight: (V, D).
        padding_idx: None or a row in [-V, V); only the gradient treats it specially.
    Returns:
        (*indices.shape, D).
    """
    fn = "embedding"
    backend = resolve(backend)
    indices = _args.index_array(fn, "indices", indices)
    weight = _args.float_array(fn, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    num_embeddings, dim = weight.shape
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    _check_indices(fn, indices, num_embeddings)
    if backend == "numpy":
        return reference.embedding(indices, weight, padding_idx)
    out = np.empty(indices.shape + (dim,), np.float32)
    native().embedding(indices, _args.native_input(weight), out)
    return out


def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None, *, backend=None) -> np.ndarray:
    """The weight gradient of ``embedding``: grad_out's rows summed into the rows of a
    zero (V, D) by indices; the row padding_idx stays zero.

    Args:
        indices: integer array of any shape, each in [0, num_embeddings).
        grad_out: (*indices.shape, D).
        num_embeddings: V.
        padding_idx: None or a row in [-V, V).
    Returns:
        (V, D).
    """
    fn = "embedding_backward"
    backend = resolve(backend)
    indices = _args.index_array(fn, "indices", indices)
    grad_out = _args.float_array(fn, "grad_out", grad_out)
    if grad_out.ndim != indices.ndim + 1 or grad_out.shape[:-1] != indices.shape:
        raise ValueError(f"{fn}: grad_out must have shape (*indices.shape, D) = {indices.shape + ('D',)}, "
                         f"got {grad_out.shape}")
    num_embeddings = _args.integer(fn, "num_embeddings", num_embeddings, minimum=0)
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    _check_indices(fn, indices, num_embeddings)
    if backend == "numpy":
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
    grad_weight = np.empty((num_embeddings, grad_out.shape[-1]), np.float32)
    native().embedding_backward(indices, _args.native_input(grad_out),
                                -1 if padding_idx is None else padding_idx, grad_weight)
    return grad_weight
