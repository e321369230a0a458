"""Adam and AdamW: one fused ``adam_step`` kernel per parameter group."""

from __future__ import annotations

import numpy as np

from .. import ops
from .optimizer import _ALL, Optimizer, _hyperparameter


class Adam(Optimizer):
    """Adam (and, with ``decoupled_weight_decay``, AdamW): one ``adam_step`` kernel per group."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        fn = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{fn}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(_hyperparameter(fn, f"betas[{i}]", b, below=1.0) for i, b in enumerate(betas))
        for name in ("eps", "weight_decay"):
            group[name] = _hyperparameter(fn, name, group[name])

    def _init_state(self, flat, group):
        state = {"exp_avg": flat.zeros(), "exp_avg_sq": flat.zeros(),
                 "step": np.zeros(len(flat.params), np.int64)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = flat.zeros()
        return state

    def _update(self, group, state, segment, flat, which):
        counts = state["step"]
        if which is _ALL and flat.lockstep:
            # Python ints and fill(): a ufunc on a 6-element array cost ~8 us in a training step
            # (its code and tables fall out of cache between steps)
            flat.steps += 1
            step = flat.steps
            counts.fill(step)
        else:
            steps = counts[which] + 1
            if (steps != steps[0]).any():  # parameters skipped on earlier steps: update each on its own count
                for i in range(len(flat.params))[which] if which is _ALL else which:
                    self._update(group, state, flat.segment(int(i)), flat, np.array([i]))
                return
            counts[which] = steps
            step = int(steps[0])
            if which is _ALL:
                flat.lockstep, flat.steps = True, step
        b1, b2 = group["betas"]
        amsgrad = group["amsgrad"]
        arrays = (flat.data, flat.grad, state["exp_avg"], state["exp_avg_sq"],
                  state["max_exp_avg_sq"] if amsgrad else None)
        if segment is not _ALL:
            arrays = tuple(None if a is None else flat.backend.getitem(a, segment) for a in arrays)
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq = arrays
        ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=group["lr"], beta1=b1, beta2=b2,
                      eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                      amsgrad=amsgrad, max_exp_avg_sq=max_exp_avg_sq, maximize=group["maximize"],
                      backend=flat.backend)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01), as torch.optim.AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)
