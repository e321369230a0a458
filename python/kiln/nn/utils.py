"""``kiln.nn.utils``: gradient clipping and flat parameter vectors, as torch.nn.utils."""

from __future__ import annotations

import math

from .. import factories
from ..tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their joint ``norm_type``-norm is at most
    ``max_norm`` (torch's rule: coefficient max_norm / (norm + 1e-6), applied only when below 1).

    Returns the joint norm before clipping, a 0-d tensor.
    """
    del foreach  # accepted for torch's signature; one path here
    grads = _grads(parameters)
    if not grads:
        return factories.tensor(0.0)
    norm_type = float(norm_type)
    from ..tensor_ops.shapes import stack
    if math.isinf(norm_type):  # one reduction per gradient, one read back for all
        per_grad = stack([g.abs().max() for g in grads])
        total_tensor = per_grad.max() if norm_type > 0 else per_grad.min()
    else:
        total_tensor = stack([g.abs().pow(norm_type).sum() for g in grads]).sum() ** (1.0 / norm_type)
    total = float(total_tensor.item())
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type:g} of the gradients is "
                           f"{total}, not finite; pass error_if_nonfinite=False to clip anyway")
    coefficient = float(max_norm) / (total + 1e-6)
    if coefficient < 1.0:
        for g in grads:
            g.mul_(coefficient)
    return total_tensor


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` in place to [-clip_value, clip_value]."""
    del foreach
    for g in _grads(parameters):
        g.clamp_(-float(clip_value), float(clip_value))


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and concatenated, one 1-D tensor (a copy)."""
    from ..tensor_ops.shapes import cat
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (their shapes), in place."""
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {total}")
    offset = 0
    for p in parameters:
        n = p.numel()
        p.detach().copy_(vec[offset:offset + n].reshape(p.shape))
        offset += n
