"""RMSprop as torch.optim.RMSprop, from backend primitives."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _hyperparameter


class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_group(self, group):
        super()._check_group(group)
        group["alpha"] = _hyperparameter("RMSprop", "alpha", group["alpha"], maximum=1.0)
        for name in ("eps", "weight_decay", "momentum"):
            group[name] = _hyperparameter("RMSprop", name, group[name])

    def _init_state(self, flat, group):
        state = {"square_avg": flat.zeros(), "step": np.zeros(len(flat.params), np.int64)}
        if group["momentum"]:
            state["momentum_buffer"] = flat.zeros()
        if group["centered"]:
            state["grad_avg"] = flat.zeros()
        return state

    def _update(self, group, state, segment, flat, which):
        be = flat.backend
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        if group["weight_decay"]:
            grad = be.add(grad, be.multiply(param, group["weight_decay"]))
        alpha = group["alpha"]
        square_avg = be.getitem(state["square_avg"], segment)
        be.copy_into(square_avg, be.add(be.multiply(square_avg, alpha), be.multiply(be.multiply(grad, 1 - alpha), grad)))
        if group["centered"]:
            grad_avg = be.getitem(state["grad_avg"], segment)
            be.copy_into(grad_avg, be.add(be.multiply(grad_avg, alpha), be.multiply(grad, 1 - alpha)))
            denom = be.add(be.sqrt(be.subtract(square_avg, be.multiply(grad_avg, grad_avg))), group["eps"])
        else:
            denom = be.add(be.sqrt(square_avg), group["eps"])
        if group["momentum"]:
            buf = be.getitem(state["momentum_buffer"], segment)
            be.copy_into(buf, be.add(be.multiply(buf, group["momentum"]), be.divide(grad, denom)))
            be.copy_into(param, be.subtract(param, be.multiply(buf, group["lr"])))
        else:
            be.copy_into(param, be.subtract(param, be.divide(be.multiply(grad, group["lr"]), denom)))
        state["step"][which] += 1
