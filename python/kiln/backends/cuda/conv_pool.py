"""The cuda backend's transposed convolution and adaptive pooling (``ConvPoolKernels``, a
mixin of ``CudaBackend``): reference.py's signatures, kiln._cuda's kernels
(cpp/src/cuda/conv_transpose2d.cu on conv2d's implicit GEMMs, adaptive_pool2d.cu), float32
C-contiguous device arrays, asynchronous on ``self.stream``.
"""

from __future__ import annotations

import numpy as np

from ...reference.conv_transpose2d import output_padding_of
from .native import _cuda

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)


def _ptr(a) -> int:
    return 0 if a is None else a.ptr


class ConvPoolKernels:
    """conv_transpose2d(_backward), adaptive_avg_pool2d(_backward), adaptive_max_pool2d(_backward)."""

    @staticmethod
    def _transpose_geometry(x, weight, stride, padding, output_padding, dilation, groups):
        n, c, h, w = x.shape
        _, kg, r, s = weight.shape
        return (n, c, h, w, kg * groups, r, s, *stride, *padding, *output_padding, *dilation, int(groups))

    def conv_transpose2d(self, x, weight, bias, stride, padding, output_padding, dilation, groups, out_shape):
        x, weight, bias = self._f32(x), self._f32(weight), self._f32(bias)
        y = self.empty(tuple(out_shape), _F32)
        _cuda.conv_transpose2d_forward(_ptr(x), _ptr(weight), _ptr(bias), _ptr(y),
                                       *self._transpose_geometry(x, weight, stride, padding, output_padding,
                                                                 dilation, groups), self.stream)
        return y

    def conv_transpose2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad,
                                  weight_grad, bias_grad):
        x, weight, grad_y = self._f32(x), self._f32(weight), self._f32(grad_y)
        grad_x = self.empty(x.shape, _F32) if input_grad else None
        grad_weight = self.empty(weight.shape, _F32) if weight_grad else None
        grad_bias = self.empty((grad_y.shape[1],), _F32) if bias_grad else None
        output_padding = output_padding_of(x.shape, weight.shape, grad_y.shape, stride, padding, dilation)
        _cuda.conv_transpose2d_backward(_ptr(x), _ptr(weight), _ptr(grad_y), _ptr(grad_x), _ptr(grad_weight),
                                        _ptr(grad_bias), *self._transpose_geometry(x, weight, stride, padding,
                                                                                   output_padding, dilation, groups),
                                        self.stream)
        return grad_x, grad_weight, grad_bias

    def adaptive_avg_pool2d(self, x, output_size):
        x = self._f32(x)
        y = self.empty((x.shape[0], x.shape[1], *output_size), _F32)
        _cuda.adaptive_avg_pool2d_forward(x.ptr, y.ptr, *x.shape, *output_size, self.stream)
        return y

    def adaptive_avg_pool2d_backward(self, grad_y, input_shape):
        grad_y = self._f32(grad_y)
        grad_x = self.empty(tuple(input_shape), _F32)
        _cuda.adaptive_avg_pool2d_backward(grad_y.ptr, grad_x.ptr, *input_shape, *grad_y.shape[2:], self.stream)
        return grad_x

    def adaptive_max_pool2d(self, x, output_size):
        x = self._f32(x)
        y = self.empty((x.shape[0], x.shape[1], *output_size), _F32)
        indices = self.empty(y.shape, _I64)
        _cuda.adaptive_max_pool2d_forward(x.ptr, y.ptr, indices.ptr, *x.shape, *output_size, self.stream)
        return y, indices

    def adaptive_max_pool2d_backward(self, grad_y, indices, input_shape):
        grad_y, indices = self._f32(grad_y), self._as(indices, _I64)
        grad_x = self.empty(tuple(input_shape), _F32)
        _cuda.adaptive_max_pool2d_backward(grad_y.ptr, indices.ptr, grad_x.ptr, *input_shape, *grad_y.shape[2:],
                                           self.stream)
        return grad_x
