"""The cuda backend's non-GEMM kernels: pooling, embedding, CSR x dense, the losses,
activations and softmax (``NeuralKernels``, a mixin of ``CudaBackend``).

Each method has exactly the signature and semantics of ``ReferenceBackend``'s
(backends/reference.py). Inputs are made float32 (int64 for indices) and C-contiguous
as cpu.py does, outputs are allocated on the device, and the kernels (kiln._cuda, from
cpp/src/cuda/) run asynchronously on ``self.stream``. Checks that read array contents run
on the device and raise the reference's ValueError: the index ranges through
``_cuda.find_out_of_range`` (one small kernel, the first bad position read back), the
class targets and the CSR structure inside the kernels' own C++ checks, whose messages
are the reference's.
"""

from __future__ import annotations

import math

import numpy as np

from ... import random as random_state
from .native import _cuda

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_I32 = np.dtype(np.int32)

# kiln::Activation's codes (cpp/include/kiln/common.hpp).
_ACTIVATION_CODES = {None: 0, "none": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "gelu_tanh": 5}
_READS_INPUT = {"relu", "gelu", "gelu_tanh"}  # the others differentiate from their output


def _ptr(a) -> int:
    """The device address of an array's first element, 0 for None."""
    return 0 if a is None else a.ptr


def _activation_code(name) -> int:
    try:
        return _ACTIVATION_CODES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{tuple(k for k in _ACTIVATION_CODES if k != 'none')}") from None


class NeuralKernels:
    """Pooling, embedding, sparse matmul, losses, activations and softmax on the device."""

    # The losses' mean is reduced on the device into a 0-d float32 array. With
    # loss_on_device False (the contract of kiln.ops: a Python float) it is read back here;
    # a backend that keeps training steps free of host round trips sets it True and
    # returns that 0-d device array instead.
    loss_on_device = False

    # ---- conversions -------------------------------------------------------------------

    def _on_device(self, a):
        """a as one of this backend's arrays (a host ndarray is copied over), or None."""
        if a is None or hasattr(a, "ptr"):
            return a
        return self.from_numpy(np.asarray(a))

    def _f32(self, a):
        """A float32, C-contiguous device version of an input (copied only when needed)."""
        a = self._on_device(a)
        if a is None:
            return None
        if a.dtype != _F32:
            a = self.astype(a, _F32)
        return self.contiguous(a)

    def _as(self, a, dtype):
        a = self._on_device(a)
        if a.dtype != dtype:
            a = self.astype(a, dtype)
        return self.contiguous(a)

    def _check_indices(self, fn: str, indices, count: int, name: str = "indices") -> None:
        """The reference's check_indices, on the device: ValueError naming the first index
        outside [0, count), at its position in indices' shape."""
        position, value = _cuda.find_out_of_range(indices.ptr, indices.size, indices.dtype.itemsize, count,
                                                  False, 0, self.stream)
        if position >= 0:
            where = np.unravel_index(position, indices.shape)
            raise ValueError(f"{fn}: {name}[{', '.join(map(str, where))}] = {value} "
                             f"is out of range [0, {count})")

    def _loss(self, loss, grad, return_grad):
        value = loss if self.loss_on_device else float(self.to_numpy(loss))
        return (value, grad) if return_grad else value

    def _deliver(self, result, out):
        """result, or result written into out (any layout) when out is given."""
        if out is None or out is result:
            return result
        self.copy_into(out, result)
        return out

    def _output_for(self, out, shape):
        """Where a kernel may write directly: out when it is float32 and C-contiguous, else a
        new array (delivered into out afterwards)."""
        if out is not None and out.dtype == _F32 and out.c_contiguous and tuple(out.shape) == tuple(shape):
            return out
        return self.empty(tuple(shape), _F32)

    # ---- pooling ---------------------------------------------------------------------------

    def max_pool2d(self, x, kernel, stride, padding, dilation, ceil_mode, return_indices, out_shape):
        x = self._f32(x)
        n, c, h, w = x.shape
        out = self.empty(tuple(out_shape), _F32)
        indices = self.empty(tuple(out_shape), _I64) if return_indices else None
        _cuda.max_pool2d_forward(x.ptr, out.ptr, _ptr(indices), n, c, h, w, kernel[0], kernel[1], stride[0],
                                 stride[1], padding[0], padding[1], dilation[0], dilation[1], bool(ceil_mode),
                                 self.stream)
        return (out, indices) if return_indices else out

    def max_pool2d_backward(self, grad_y, indices, input_shape):
        grad_y, indices = self._f32(grad_y), self._as(indices, _I64)
        n, c, h, w = input_shape
        grad_x = self.empty(tuple(input_shape), _F32)
        out_size = math.prod(grad_y.shape[2:])
        _cuda.max_pool2d_backward(n * c, h * w, out_size, grad_y.ptr, indices.ptr, grad_x.ptr, self.stream)
        return grad_x

    def avg_pool2d(self, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor, out_shape):
        x = self._f32(x)
        n, c, h, w = x.shape
        out = self.empty(tuple(out_shape), _F32)
        _cuda.avg_pool2d_forward(x.ptr, out.ptr, n, c, h, w, kernel[0], kernel[1], stride[0], stride[1],
                                 padding[0], padding[1], bool(ceil_mode), bool(count_include_pad), divisor or 0,
                                 self.stream)
        return out

    def avg_pool2d_backward(self, grad_y, input_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                            divisor):
        grad_y = self._f32(grad_y)
        n, c, h, w = input_shape
        grad_x = self.empty(tuple(input_shape), _F32)
        _cuda.avg_pool2d_backward(grad_y.ptr, grad_x.ptr, n, c, h, w, kernel[0], kernel[1], stride[0], stride[1],
                                  padding[0], padding[1], bool(ceil_mode), bool(count_include_pad), divisor or 0,
                                  self.stream)
        return grad_x

    # ---- embedding -------------------------------------------------------------------------

    def embedding(self, indices, weight, padding_idx):
        indices, weight = self._as(indices, _I64), self._f32(weight)
        vocab, dim = weight.shape
        self._check_indices("embedding", indices, vocab)
        out = self.empty((*indices.shape, dim), _F32)
        _cuda.embedding_forward(indices.size, indices.ptr, vocab, dim, weight.ptr, out.ptr, False, self.stream)
        return out

    def embedding_backward(self, indices, grad_out, num_embeddings, padding_idx):
        indices, grad_out = self._as(indices, _I64), self._f32(grad_out)
        self._check_indices("embedding_backward", indices, num_embeddings)
        dim = grad_out.shape[-1]
        grad_weight = self.empty((num_embeddings, dim), _F32)
        # A negative padding_idx counts from the end, as the reference's grad_weight[padding_idx].
        pad = -1 if padding_idx is None or num_embeddings == 0 else padding_idx % num_embeddings
        _cuda.embedding_backward(indices.size, indices.ptr, grad_out.ptr, num_embeddings, dim, pad,
                                 grad_weight.ptr, False, self.stream)
        return grad_weight

    # ---- CSR x dense -----------------------------------------------------------------------

    def _csr(self, fn, x):
        """(data float32, indices int32, indptr int64, m, k) on the device; the kernel checks
        the structure (with the reference's messages)."""
        data, indices, indptr, (m, k) = x
        indices = self._on_device(indices)
        if indices.dtype != _I32:
            indices = self._as(indices, _I64)
            self._check_indices(fn, indices, k)  # before the cast could wrap a large value
            indices = self._as(indices, _I32)
        else:
            indices = self.contiguous(indices)
        return self._f32(data), indices, self._as(indptr, _I64), m, k

    def sparse_matmul(self, x, w, bias, transpose_w, beta, out):
        data, indices, indptr, m, k = self._csr("sparse_matmul", x)
        w, bias = self._f32(w), self._f32(bias)
        n = w.shape[0] if transpose_w else w.shape[1]
        beta = float(beta) if out is not None else 0.0  # no out: nothing to accumulate into
        y = self._output_for(out, (m, n))
        if beta and y is not out:
            self.copy_into(y, out)  # beta * out is read
        _cuda.sparse_matmul(m, k, indices.size, indptr.ptr, indices.ptr, data.ptr, n, w.ptr, bool(transpose_w),
                            _ptr(bias), beta, y.ptr, self.stream)
        return self._deliver(y, out)

    def sparse_matmul_backward_weight(self, x, grad_y, transpose_w, beta, out):
        data, indices, indptr, m, k = self._csr("sparse_matmul_backward_weight", x)
        grad_y = self._f32(grad_y)
        n = grad_y.shape[1]
        beta = float(beta) if out is not None else 0.0
        gw = self._output_for(out, (n, k) if transpose_w else (k, n))
        if beta and gw is not out:
            self.copy_into(gw, out)
        _cuda.sparse_matmul_backward_weight(m, k, indices.size, indptr.ptr, indices.ptr, data.ptr, n, grad_y.ptr,
                                            bool(transpose_w), beta, gw.ptr, self.stream)
        return self._deliver(gw, out)

    # ---- losses ------------------------------------------------------------------------------

    def softmax_cross_entropy(self, logits, target, ignore_index, label_smoothing, return_grad, grad_scale):
        logits = self._f32(logits)
        target = self._on_device(target)
        class_indices = target.dtype.kind in "iu"
        target = self._as(target, _I64) if class_indices else self._f32(target)
        rows, classes = logits.shape
        loss = self.empty((), _F32)
        grad = self.empty(logits.shape, _F32) if return_grad else None
        _cuda.softmax_cross_entropy(rows, classes, logits.ptr, target.ptr, class_indices, int(ignore_index),
                                    float(label_smoothing), float(grad_scale), loss.ptr, _ptr(grad), self.stream)
        return self._loss(loss, grad, return_grad)

    def bce_with_logits(self, logits, target, pos_weight, return_grad, grad_scale):
        logits, target, pos_weight = self._f32(logits), self._f32(target), self._f32(pos_weight)
        cols = logits.shape[-1] if logits.ndim else 1
        rows = math.prod(logits.shape[:-1]) if logits.ndim else 1
        loss = self.empty((), _F32)
        grad = self.empty(logits.shape, _F32) if return_grad else None
        _cuda.bce_with_logits(rows, cols, logits.ptr, target.ptr, _ptr(pos_weight), float(grad_scale), loss.ptr,
                              _ptr(grad), self.stream)
        return self._loss(loss, grad, return_grad)

    def mse(self, pred, target, return_grad, grad_scale):
        pred, target = self._f32(pred), self._f32(target)
        loss = self.empty((), _F32)
        grad = self.empty(pred.shape, _F32) if return_grad else None
        _cuda.mse(pred.size, pred.ptr, target.ptr, float(grad_scale), loss.ptr, _ptr(grad), self.stream)
        return self._loss(loss, grad, return_grad)

    # ---- activations and softmax -----------------------------------------------------------

    def activation(self, name, x, out):
        code = _activation_code(name)
        x = self._f32(x)
        y = self._output_for(out, x.shape)
        _cuda.activation_forward(code, x.size, x.ptr, y.ptr, self.stream)
        return self._deliver(y, out)

    def activation_backward(self, name, grad_y, saved, out):
        code = _activation_code(name)
        grad_y, saved = self._f32(grad_y), self._f32(saved)
        dx = self._output_for(out, grad_y.shape)
        x, y = (saved, None) if name in _READS_INPUT else (None, saved)
        _cuda.activation_backward(code, grad_y.size, _ptr(x), _ptr(y), grad_y.ptr, dx.ptr, self.stream)
        return self._deliver(dx, out)

    @staticmethod
    def _row_view(shape, axis):
        """(outer, cols, inner) of a C-contiguous array of `shape` reduced along `axis`."""
        if len(shape) == 0:
            return 1, 1, 1
        axis %= len(shape)
        return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])

    def softmax(self, x, axis, log, out):
        x = self._f32(x)
        outer, cols, inner = self._row_view(x.shape, axis)
        y = self._output_for(out, x.shape)
        _cuda.softmax_forward(outer, cols, inner, x.ptr, y.ptr, bool(log), self.stream)
        return self._deliver(y, out)

    def softmax_backward(self, grad_y, y, axis, log, out):
        grad_y, y = self._f32(grad_y), self._f32(y)
        outer, cols, inner = self._row_view(y.shape, axis)
        dx = self._output_for(out, y.shape)
        _cuda.softmax_backward(outer, cols, inner, y.ptr, grad_y.ptr, dx.ptr, bool(log), self.stream)
        return self._deliver(dx, out)

    # ---- random draws on the device --------------------------------------------------------

    def dropout_mask(self, shape, p, dtype):
        """Dropout's keep mask (1/(1-p) or 0) drawn on the device by Philox, keyed by
        kiln.manual_seed (kiln.random.device_draw): no host draw, no copy."""
        mask = self.empty(tuple(shape), np.float32)
        if mask.size:
            seed, offset = random_state.device_draw(mask.size)
            _cuda.random_dropout(mask.ptr, 0, 0, mask.size, float(p), seed, offset, self.stream)
        return mask if np.dtype(dtype) == np.float32 else self.astype(mask, dtype)

