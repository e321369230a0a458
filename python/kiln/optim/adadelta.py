"""Adadelta as torch.optim.Adadelta, from backend primitives over the flat buffers."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _hyperparameter


class Adadelta(Optimizer):
    """Adadelta (torch.optim.Adadelta's rule and defaults), on any device.

    With g the gradient (negated with ``maximize``)::

        g         = g + weight_decay * p
        v         = rho * v + (1 - rho) * g * g
        delta     = sqrt(u + eps) / sqrt(v + eps) * g
        u         = rho * u + (1 - rho) * delta * delta
        p         = p - lr * delta
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        group["rho"] = _hyperparameter("Adadelta", "rho", group["rho"], maximum=1.0)
        for name in ("eps", "weight_decay"):
            group[name] = _hyperparameter("Adadelta", name, group[name])

    def _init_state(self, flat, group):
        return {"square_avg": flat.zeros(), "acc_delta": flat.zeros(), "step": np.zeros(len(flat.params), np.int64)}

    def _update(self, group, state, segment, flat, which):
        be = flat.backend
        rho, eps = group["rho"], group["eps"]
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        if group["maximize"]:
            grad = be.negative(grad)
        if group["weight_decay"]:
            grad = be.add(grad, be.multiply(param, group["weight_decay"]))
        square_avg = be.getitem(state["square_avg"], segment)
        acc_delta = be.getitem(state["acc_delta"], segment)
        be.copy_into(square_avg, be.add(be.multiply(square_avg, rho), be.multiply(be.multiply(grad, grad), 1 - rho)))
        delta = be.multiply(be.divide(be.sqrt(be.add(acc_delta, eps)), be.sqrt(be.add(square_avg, eps))), grad)
        be.copy_into(acc_delta, be.add(be.multiply(acc_delta, rho), be.multiply(be.multiply(delta, delta), 1 - rho)))
        be.copy_into(param, be.subtract(param, be.multiply(delta, group["lr"])))
        state["step"][which] += 1
