"""Adagrad as torch.optim.Adagrad, from backend primitives over the flat buffers."""

from __future__ import annotations

import numpy as np

from .optimizer import _ALL, Optimizer, _hyperparameter


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad's rule and defaults), on any device.

    Per step t (counted per parameter), with g the gradient (negated with ``maximize``)::

        g   = g + weight_decay * p
        sum = sum + g * g                      (sum starts at initial_accumulator_value)
        p   = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[name] = _hyperparameter("Adagrad", name, group[name])

    def _init_state(self, flat, group):
        total = flat.zeros()
        if group["initial_accumulator_value"]:
            flat.backend.fill(total, group["initial_accumulator_value"])
        return {"sum": total, "step": np.zeros(len(flat.params), np.int64)}

    def _update(self, group, state, segment, flat, which):
        counts = state["step"]
        steps = counts[which] + 1
        if group["lr_decay"] and (steps != steps[0]).any():  # parameters skipped before: each on its count
            for i in (range(len(flat.params)) if which is _ALL else which):
                self._update(group, state, flat.segment(int(i)), flat, np.array([i]))
            return
        counts[which] = steps
        lr = group["lr"] / (1 + (int(steps[0]) - 1) * group["lr_decay"])
        be = flat.backend
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        if group["maximize"]:
            grad = be.negative(grad)
        if group["weight_decay"]:
            grad = be.add(grad, be.multiply(param, group["weight_decay"]))
        total = be.getitem(state["sum"], segment)
        be.add_into(total, be.multiply(grad, grad))
        std = be.add(be.sqrt(total), group["eps"])
        be.copy_into(param, be.subtract(param, be.multiply(be.divide(grad, std), lr)))
