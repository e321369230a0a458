"""Gradient clipping, in place on each parameter's ``.grad`` (outside the graph), as torch's."""

from __future__ import annotations

import math

from ...autograd import no_grad
from ...tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
    ``norm_type`` norm of all the gradients together (as if concatenated). Returns total_norm
    (a 0-d tensor; 0 when no parameter has a gradient). ``foreach`` is accepted for torch's
    signature and ignored."""
    from ... import stack, tensor
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    with no_grad():
        norms = stack([g.detach().norm(norm_type).float() for g in grads])
        total = norms.max() if math.isinf(norm_type) else norms.norm(norm_type)
        value = total.item()
        if error_if_nonfinite and not math.isfinite(value):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                               f"{value}; set error_if_nonfinite=False to clip anyway")
        coef = min(1.0, float(max_norm) / (value + 1e-6))
        if coef < 1.0:
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
