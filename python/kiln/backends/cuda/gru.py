"""The CUDA backend's GRU kernels: gru_cell(_backward), gru_sequence(_backward).

``GruKernels`` is a mixin of ``CudaBackend`` with the reference backend's signatures
(backends/reference.py), running kiln/cuda/gru.hpp on device arrays, asynchronously on
``self.stream``; it uses LinearAlgebra's ``_f32`` and ``_workspace``. Shapes were checked by
``kiln.ops``; the C++ kernels check their parameters again (ValueError).
"""

from __future__ import annotations

import numpy as np

from .native import _cuda

_F32 = np.dtype(np.float32)


def _ptr(a):
    """The device address of a's first element; 0 for None."""
    return 0 if a is None else a.ptr


class GruKernels:
    """gru_cell, gru_cell_backward, gru_sequence, gru_sequence_backward."""

    def gru_cell(self, x, h, w_ih, w_hh, b_ih, b_hh):
        x, h, w_ih, w_hh, b_ih, b_hh = (self._f32(v) for v in (x, h, w_ih, w_hh, b_ih, b_hh))
        (batch, inputs), hidden = x.shape, h.shape[1]
        h_new, gates = self.empty((batch, hidden), _F32), self.empty((batch, 4 * hidden), _F32)
        workspace = self._workspace(_cuda.gru_sequence_forward_workspace(1, batch, inputs, hidden))
        _cuda.gru_cell_forward(_ptr(x), _ptr(h), _ptr(w_ih), _ptr(w_hh), _ptr(b_ih), _ptr(b_hh), _ptr(h_new),
                               _ptr(gates), _ptr(workspace), batch, inputs, hidden, self.stream)
        return h_new, gates

    def gru_cell_backward(self, grad_h, x, h, w_ih, w_hh, gates):
        grad_h, x, h, w_ih, w_hh, gates = (self._f32(v) for v in (grad_h, x, h, w_ih, w_hh, gates))
        (batch, inputs), hidden = x.shape, h.shape[1]
        grads = (self.empty((batch, inputs), _F32), self.empty((batch, hidden), _F32),
                 self.empty((3 * hidden, inputs), _F32), self.empty((3 * hidden, hidden), _F32),
                 self.empty((3 * hidden,), _F32), self.empty((3 * hidden,), _F32))
        workspace = self._workspace(_cuda.gru_sequence_backward_workspace(1, batch, inputs, hidden))
        _cuda.gru_cell_backward(_ptr(x), _ptr(h), _ptr(w_ih), _ptr(w_hh), _ptr(gates), _ptr(grad_h),
                                *map(_ptr, grads), _ptr(workspace), batch, inputs, hidden, self.stream)
        return grads

    def gru_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0):
        x, w_ih, w_hh, b_ih, b_hh, h0 = (self._f32(v) for v in (x, w_ih, w_hh, b_ih, b_hh, h0))
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        outputs = (self.empty((steps, batch, hidden), _F32), self.empty((batch, hidden), _F32),
                   self.empty((steps, batch, 4 * hidden), _F32))
        workspace = self._workspace(_cuda.gru_sequence_forward_workspace(steps, batch, inputs, hidden))
        _cuda.gru_sequence_forward(_ptr(x), _ptr(h0), _ptr(w_ih), _ptr(w_hh), _ptr(b_ih), _ptr(b_hh),
                                   *map(_ptr, outputs), _ptr(workspace), steps, batch, inputs, hidden,
                                   self.stream)
        return outputs

    def gru_sequence_backward(self, grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates):
        grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates = (
            self._f32(v) for v in (grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates))
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        grads = (self.empty((steps, batch, inputs), _F32), self.empty((batch, hidden), _F32),
                 self.empty((3 * hidden, inputs), _F32), self.empty((3 * hidden, hidden), _F32),
                 self.empty((3 * hidden,), _F32), self.empty((3 * hidden,), _F32))
        workspace = self._workspace(_cuda.gru_sequence_backward_workspace(steps, batch, inputs, hidden))
        _cuda.gru_sequence_backward(_ptr(x), _ptr(h0), _ptr(w_ih), _ptr(w_hh), _ptr(y), _ptr(gates),
                                    _ptr(grad_y), _ptr(grad_h_n), *map(_ptr, grads), _ptr(workspace), steps,
                                    batch, inputs, hidden, self.stream)
        return grads
