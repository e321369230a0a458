"""embedding and embedding_backward, as torch.nn.functional.embedding."""

from __future__ import annotations

from .. import _args, backends
from . import _arrays


def _padding_index(fn: str, padding_idx, num_embeddings: int) -> int | None:
    """torch's padding_idx: None, or in [-V, V) with negative values counted from the end."""
    if padding_idx is None:
        return None
    padding_idx = _args.integer(fn, "padding_idx", padding_idx)
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: padding_idx must be in [{-num_embeddings}, {num_embeddings}), "
                         f"got {padding_idx}")
    return padding_idx % num_embeddings


def embedding(indices, weight, padding_idx=None, *, backend=None):
    """weight[indices], as torch.nn.functional.embedding.

    Args:
        indices: integer array of any shape, each in [0, V).
        weight: (V, D).
        padding_idx: None or a row in [-V, V); only the gradient treats it specially.
    Returns:
        (*indices.shape, D).
    """
    fn = "embedding"
    be = backends.select(backend, indices, weight)
    indices = _arrays.index_array(fn, "indices", indices)
    weight = _arrays.float_array(fn, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    num_embeddings = weight.shape[0]
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    return be.embedding(indices, weight, padding_idx)


def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None, *, backend=None):
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
    be = backends.select(backend, indices, grad_out)
    indices = _arrays.index_array(fn, "indices", indices)
    grad_out = _arrays.float_array(fn, "grad_out", grad_out)
    if grad_out.ndim != indices.ndim + 1 or tuple(grad_out.shape[:-1]) != tuple(indices.shape):
        raise ValueError(f"{fn}: grad_out must have shape (*indices.shape, D) = {indices.shape + ('D',)}, "
                         f"got {grad_out.shape}")
    num_embeddings = _args.integer(fn, "num_embeddings", num_embeddings, minimum=0)
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    return be.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
