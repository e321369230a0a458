"""The CUDA backend's GEMM-shaped kernels: matmul, linear_backward, conv2d, the LSTM.

``LinearAlgebra`` is a mixin of ``CudaBackend``: each method has the signature and the
semantics of the reference backend's (backends/reference.py) and runs kiln's CUDA kernels
(kiln._cuda, cpp/src/cuda/) on device arrays, asynchronously on ``self.stream``. Inputs
of another dtype or layout are converted first (copied only when needed); outputs are
new device arrays, or ``out`` written in place. Shapes were checked by ``kiln.ops``; the
C++ kernels check their parameters again (ValueError).
"""

from __future__ import annotations

import numpy as np

from ..._args import pair
from .flags import matmul as matmul_flags
from .native import _cuda

_F32 = np.dtype(np.float32)
_FLOAT = 4  # bytes per element

# kiln::Activation's values (cpp/include/kiln/common.hpp).
_ACTIVATION = {None: 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "gelu_tanh": 5}


def _activation(fn, name):
    try:
        return _ACTIVATION[name]
    except (KeyError, TypeError):
        raise ValueError(f"{fn}: unknown activation {name!r}; expected one of {tuple(_ACTIVATION)}") from None


def _ptr(a):
    """The device address of a's first element; 0 for None."""
    return 0 if a is None else a.ptr


def _matrix_layout(a, transposed):
    """(ld, batch_stride, transposed) in elements for a 2-D or 3-D float32 device array read
    in place, or None when it has no unit stride along either of its last two axes.

    A transposed view (unit stride along axis -2) is read as the stored matrix with the
    transpose flag flipped, as the CPU backend does."""
    rows, cols = a.shape[-2], a.shape[-1]
    strides = [s // _FLOAT for s in a.strides]
    if any(s < 0 for s in a.strides) or any(s % _FLOAT for s in a.strides):
        return None
    batch_stride = strides[0] if a.ndim == 3 and a.shape[0] > 1 else 0
    if cols <= 1 or strides[-1] == 1:
        ld = strides[-2] if rows > 1 else cols
        return max(ld, cols, 1), batch_stride, transposed
    if rows <= 1 or strides[-2] == 1:  # stored (cols, rows) with leading dimension strides[-1]
        ld = strides[-1] if cols > 1 else rows
        return max(ld, rows, 1), batch_stride, not transposed
    return None


def _span(a):
    """[first, last) byte addresses a's elements occupy."""
    if a.size == 0:
        return a.ptr, a.ptr
    low = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0)
    return a.ptr + low, a.ptr + high + a.itemsize


def _overlaps(a, b):
    if a is None or b is None:
        return False
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 < b1 and b0 < a1


class LinearAlgebra:
    """matmul, linear_backward, conv2d(_backward), lstm_cell(_backward), lstm_sequence(_backward)."""

    def _f32(self, a):
        """a as a float32, C-contiguous device array (the same object when it already is)."""
        if a is None:
            return None
        a = self._f32_any_layout(a)
        return self.contiguous(a)

    def _workspace(self, floats):
        """Scratch of `floats` float32s for a kernel that asked for it (None for none)."""
        return self.empty((floats,), _F32) if floats else None

    def _f32_any_layout(self, a):
        """a as a float32 device array, keeping its strides (GEMM operands read strided views in
        place); a host array is copied over."""
        a = self._device(a)
        return a if a.dtype == _F32 else self.astype(a, _F32)

    # ---- matmul ---------------------------------------------------------------------
    def matmul(self, a, b, transpose_a, transpose_b, bias, activation, alpha, beta, out):
        act = _activation("matmul", activation)
        a = self._f32_any_layout(a)
        b = self._f32_any_layout(b)
        la = _matrix_layout(a, transpose_a)
        if la is None:
            a = self.contiguous(a)
            la = _matrix_layout(a, transpose_a)
        lb = _matrix_layout(b, transpose_b)
        if lb is None:
            b = self.contiguous(b)
            lb = _matrix_layout(b, transpose_b)
        m = a.shape[-1] if transpose_a else a.shape[-2]
        k = a.shape[-2] if transpose_a else a.shape[-1]
        n = b.shape[-2] if transpose_b else b.shape[-1]
        batches = [x.shape[0] for x in (a, b) if x.ndim == 3]
        batch = (batches[-1] if batches[0] == 1 else batches[0]) if batches else 1
        shape = ((batch,) if batches else ()) + (m, n)
        bias = self._f32(bias)

        target = out
        if out is None:
            target = self.empty(shape, _F32)
        elif (out.dtype != _F32 or _matrix_layout(out, False) is None or _matrix_layout(out, False)[2]
              or any(_overlaps(out, x) for x in (a, b, bias))):
            # Not writable in place as a row-major C, or sharing memory with an operand (the
            # reference reads every input before it writes): computed apart, then copied in.
            target = self.contiguous(self.astype(out, _F32)) if beta else self.empty(shape, _F32)
        ldc, batch_stride_c, _ = _matrix_layout(target, False)
        if target.ndim == 3 and target.shape[0] == 1:
            batch_stride_c = m * ldc
        # A 2-D operand, or a batch of one, is broadcast over the batch.
        stride_a = la[1] if a.ndim == 3 and a.shape[0] == batch else 0
        stride_b = lb[1] if b.ndim == 3 and b.shape[0] == batch else 0
        tf32 = bool(matmul_flags.allow_tf32)  # read at each call
        workspace = None if tf32 else self._workspace(_cuda.matmul_workspace(batch, m, n, k))
        _cuda.matmul(_ptr(a), _ptr(b), _ptr(bias), _ptr(target), batch, m, n, k, la[2], lb[2], la[0], lb[0],
                     ldc, stride_a, stride_b, batch_stride_c, float(alpha), float(beta), act, tf32,
                     _ptr(workspace), self.stream)
        if out is None:
            return target
        if target is not out:
            self._assign(out, target)
        return out

    def _assign(self, dst, src):
        """dst[...] = src on the device (dst of any layout or dtype)."""
        self.copy_into(dst, src)

    # ---- linear_backward ------------------------------------------------------------------
    def linear_backward(self, x, w, y, grad_y, weight_is_out_by_in, activation, input_grad, weight_grad,
                        bias_grad):
        if activation not in (None, "relu", "sigmoid", "tanh"):
            raise ValueError(f"linear_backward: activation must be None, 'relu', 'sigmoid' or 'tanh', "
                             f"got {activation!r}")
        act = _ACTIVATION[activation]
        x, w, y, grad_y = (self._f32(v) for v in (x, w, y, grad_y))
        m, in_features = x.shape
        out_features = y.shape[1]
        dx = self.empty(x.shape, _F32) if input_grad else None
        dw = self.empty(w.shape, _F32) if weight_grad else None
        db = self.empty((out_features,), _F32) if bias_grad else None
        scratch = self.empty(y.shape, _F32) if act else None
        workspace = self._workspace(_cuda.linear_backward_workspace(m, in_features, out_features)
                                    if weight_grad else 0)
        _cuda.linear_backward(_ptr(x), _ptr(w), _ptr(y), _ptr(grad_y), _ptr(scratch), _ptr(dx), _ptr(dw),
                              _ptr(db), _ptr(workspace), m, in_features, out_features, bool(weight_is_out_by_in),
                              act, self.stream)
        return dx, dw, db

    # ---- conv2d -----------------------------------------------------------------------------
    @staticmethod
    def _conv_geometry(x, weight, stride, padding, dilation, groups):
        n, c, h, w = x.shape
        k, _, r, s = weight.shape
        return (n, c, h, w, k, r, s, *pair("conv2d", "stride", stride), *pair("conv2d", "padding", padding),
                *pair("conv2d", "dilation", dilation), int(groups))

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups, out_shape):
        x, weight, bias = self._f32(x), self._f32(weight), self._f32(bias)
        y = self.empty(tuple(out_shape), _F32)
        _cuda.conv2d_forward(_ptr(x), _ptr(weight), _ptr(bias), _ptr(y),
                             *self._conv_geometry(x, weight, stride, padding, dilation, groups), self.stream)
        return y

    def conv2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad, weight_grad,
                        bias_grad):
        x, weight, grad_y = self._f32(x), self._f32(weight), self._f32(grad_y)
        grad_x = self.empty(x.shape, _F32) if input_grad else None
        grad_weight = self.empty(weight.shape, _F32) if weight_grad else None
        grad_bias = self.empty((weight.shape[0],), _F32) if bias_grad else None
        geometry = self._conv_geometry(x, weight, stride, padding, dilation, groups)
        workspace = self._workspace(_cuda.conv2d_backward_workspace(*geometry) if weight_grad else 0)
        _cuda.conv2d_backward(_ptr(x), _ptr(weight), _ptr(grad_y), _ptr(grad_x), _ptr(grad_weight),
                              _ptr(grad_bias), *geometry, _ptr(workspace), self.stream)
        return grad_x, grad_weight, grad_bias

    # ---- LSTM --------------------------------------------------------------------------------
    def lstm_cell(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        x, h, c, w_ih, w_hh, b_ih, b_hh = (self._f32(v) for v in (x, h, c, w_ih, w_hh, b_ih, b_hh))
        (batch, inputs), hidden = x.shape, h.shape[1]
        h_new, c_new = self.empty((batch, hidden), _F32), self.empty((batch, hidden), _F32)
        gates = self.empty((batch, 4 * hidden), _F32)
        workspace = self._workspace(_cuda.lstm_cell_forward_workspace(batch, inputs, hidden))
        _cuda.lstm_cell_forward(_ptr(x), _ptr(h), _ptr(c), _ptr(w_ih), _ptr(w_hh), _ptr(b_ih), _ptr(b_hh),
                                _ptr(h_new), _ptr(c_new), _ptr(gates), _ptr(workspace), batch, inputs, hidden,
                                self.stream)
        return h_new, c_new, gates

    def lstm_cell_backward(self, grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new):
        grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new = (
            self._f32(v) for v in (grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new))
        (batch, inputs), hidden = x.shape, h.shape[1]
        grads = (self.empty((batch, inputs), _F32), self.empty((batch, hidden), _F32),
                 self.empty((batch, hidden), _F32), self.empty((4 * hidden, inputs), _F32),
                 self.empty((4 * hidden, hidden), _F32), self.empty((4 * hidden,), _F32))
        workspace = self._workspace(_cuda.lstm_cell_backward_workspace(batch, inputs, hidden))
        _cuda.lstm_cell_backward(_ptr(x), _ptr(h), _ptr(c), _ptr(w_ih), _ptr(w_hh), _ptr(gates), _ptr(c_new),
                                 _ptr(grad_h), _ptr(grad_c), *map(_ptr, grads), _ptr(workspace), batch, inputs,
                                 hidden, self.stream)
        return grads

    def lstm_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        x, w_ih, w_hh, b_ih, b_hh, h0, c0 = (self._f32(v) for v in (x, w_ih, w_hh, b_ih, b_hh, h0, c0))
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        outputs = (self.empty((steps, batch, hidden), _F32), self.empty((batch, hidden), _F32),
                   self.empty((batch, hidden), _F32), self.empty((steps, batch, 4 * hidden), _F32),
                   self.empty((steps, batch, hidden), _F32))
        workspace = self._workspace(_cuda.lstm_sequence_forward_workspace(steps, batch, inputs, hidden))
        _cuda.lstm_sequence_forward(_ptr(x), _ptr(h0), _ptr(c0), _ptr(w_ih), _ptr(w_hh), _ptr(b_ih), _ptr(b_hh),
                                    *map(_ptr, outputs), _ptr(workspace), steps, batch, inputs, hidden,
                                    self.stream)
        return outputs

    def lstm_sequence_backward(self, grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells):
        grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells = (
            self._f32(v) for v in (grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells))
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        grads = (self.empty((steps, batch, inputs), _F32), self.empty((batch, hidden), _F32),
                 self.empty((batch, hidden), _F32), self.empty((4 * hidden, inputs), _F32),
                 self.empty((4 * hidden, hidden), _F32), self.empty((4 * hidden,), _F32))
        workspace = self._workspace(_cuda.lstm_sequence_backward_workspace(steps, batch, inputs, hidden))
        _cuda.lstm_sequence_backward(_ptr(x), _ptr(h0), _ptr(c0), _ptr(w_ih), _ptr(w_hh), _ptr(y), _ptr(gates),
                                     _ptr(cells), _ptr(grad_y), _ptr(grad_h_n), _ptr(grad_c_n), *map(_ptr, grads),
                                     _ptr(workspace), steps, batch, inputs, hidden, self.stream)
        return grads
