"""SGD as torch.optim.SGD: momentum, dampening, Nesterov, weight decay, from backend primitives."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _hyperparameter


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (as torch)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("momentum", "weight_decay"):
            group[name] = _hyperparameter("SGD", name, group[name])
        group["dampening"] = _hyperparameter("SGD", "dampening", group["dampening"], maximum=1.0)

    def _init_state(self, flat, group):
        return {"momentum_buffer": flat.zeros(), "steps": np.zeros(len(flat.params), np.int64)}

    def _update(self, group, state, segment, flat, which):
        be = flat.backend
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        d = be.negative(grad) if group["maximize"] else grad
        if group["weight_decay"]:
            d = be.add(d, be.multiply(param, group["weight_decay"]))
        if group["momentum"]:
            buf = be.getitem(state["momentum_buffer"], segment)
            if (state["steps"][which] == 0).all():
                be.copy_into(buf, d)
            else:
                be.copy_into(buf, be.add(be.multiply(buf, group["momentum"]), be.multiply(d, 1 - group["dampening"])))
            d = be.add(d, be.multiply(buf, group["momentum"])) if group["nesterov"] else buf
        be.copy_into(param, be.subtract(param, be.multiply(d, group["lr"])))
        state["steps"][which] += 1
