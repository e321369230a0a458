"""The optimizer's kernels on the cuda device: Adam over a flat buffer, one launch per call."""

from __future__ import annotations

import numpy as np

from .native import _cuda

_F32 = np.dtype(np.float32)


class OptimizerKernels:
    """adam_step (reference.py's signature) on CudaArrays; the state is updated in place."""

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad, maximize):
        for name, a in (("param", param), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)) + \
                (("max_exp_avg_sq", max_exp_avg_sq),) * bool(amsgrad):
            if a.dtype != _F32 or not a.c_contiguous or a.shape != param.shape:
                raise ValueError(f"adam_step: {name} must be a float32, C-contiguous array of param's shape "
                                 f"{param.shape}, not {a.dtype} {a.shape}")
        grad = self.contiguous(self.astype(grad, _F32, copy=False))
        if grad.shape != param.shape:
            raise ValueError(f"adam_step: grad has shape {grad.shape}, param {param.shape}")
        if amsgrad and max_exp_avg_sq is None:
            raise ValueError("adam_step: amsgrad=True needs max_exp_avg_sq")
        _cuda.adam_step(param.size, param.address, grad.address, exp_avg.address, exp_avg_sq.address,
                        max_exp_avg_sq.address if amsgrad else 0, step, lr, beta1, beta2, eps, weight_decay,
                        decoupled, amsgrad, maximize, self.stream)
