"""adam_step: one step of torch.optim.Adam / AdamW, in place."""

from __future__ import annotations

import math

import numpy as np


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None,
              maximize=False) -> None:
    """One step of torch.optim.Adam (or AdamW with ``decoupled``), in place.

    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad only): one shape, any.
    step: the 1-based step count including this step. Updates param, exp_avg,
    exp_avg_sq (and max_exp_avg_sq) in their own dtypes; the scalars are Python floats.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    v = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
    param -= (lr / bias_correction1) * (exp_avg / denom)
