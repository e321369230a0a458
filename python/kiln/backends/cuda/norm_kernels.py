"""The cuda backend's normalization kernels: layer norm and batch norm (``NormKernels``, a
mixin of ``CudaBackend``), over kiln._cuda's bindings of cpp/src/cuda/norm.cu.

Each method has exactly the signature and semantics of ``ReferenceBackend``'s; inputs are
made float32 and C-contiguous (``NeuralKernels._f32``), outputs are new device arrays.
"""

from __future__ import annotations

import numpy as np

from .native import _cuda

_F32 = np.dtype(np.float32)


def _ptr(a) -> int:
    return 0 if a is None else a.ptr


class NormKernels:
    """layer_norm, batch_norm and their backwards on the device."""

    def layer_norm(self, x, weight, bias, eps):
        x, weight, bias = self._f32(x), self._f32(weight), self._f32(bias)
        m, n = x.shape
        y, mean, rstd = self.empty((m, n), _F32), self.empty((m,), _F32), self.empty((m,), _F32)
        _cuda.layer_norm_forward(m, n, eps, x.ptr, _ptr(weight), _ptr(bias), y.ptr, mean.ptr, rstd.ptr, self.stream)
        return y, mean, rstd

    def layer_norm_backward(self, grad_y, x, mean, rstd, weight):
        grad_y, x, mean, rstd, weight = map(self._f32, (grad_y, x, mean, rstd, weight))
        m, n = x.shape
        dx = self.empty((m, n), _F32)
        dw, db = (self.empty((n,), _F32), self.empty((n,), _F32)) if weight is not None else (None, None)
        _cuda.layer_norm_backward(m, n, grad_y.ptr, x.ptr, mean.ptr, rstd.ptr, _ptr(weight), dx.ptr, _ptr(dw),
                                  _ptr(db), self.stream)
        return dx, dw, db

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, eps):
        x, weight, bias, running_mean, running_var = map(self._f32, (x, weight, bias, running_mean, running_var))
        outer, c, inner = x.shape
        y, mean, invstd = self.empty(tuple(x.shape), _F32), self.empty((c,), _F32), self.empty((c,), _F32)
        var = self.empty((c,), _F32) if training else None
        _cuda.batch_norm_forward(outer, c, inner, eps, x.ptr, _ptr(weight), _ptr(bias), _ptr(running_mean),
                                 _ptr(running_var), bool(training), y.ptr, mean.ptr, invstd.ptr, _ptr(var),
                                 self.stream)
        return y, mean, invstd, var

    def batch_norm_backward(self, grad_y, x, save_mean, save_invstd, weight, training):
        grad_y, x, save_mean, save_invstd, weight = map(self._f32, (grad_y, x, save_mean, save_invstd, weight))
        outer, c, inner = x.shape
        dx = self.empty(tuple(x.shape), _F32)
        dw, db = (self.empty((c,), _F32), self.empty((c,), _F32)) if weight is not None else (None, None)
        _cuda.batch_norm_backward(outer, c, inner, grad_y.ptr, x.ptr, save_mean.ptr, save_invstd.ptr, _ptr(weight),
                                  bool(training), dx.ptr, _ptr(dw), _ptr(db), self.stream)
        return dx, dw, db
