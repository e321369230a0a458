"""Conv2D, MaxPooling2D, AveragePooling2D in Keras's layout (channels_last by default).

kiln's kernels are NCHW with (K, C, R, S) weights; these layers keep Keras's
layouts for data (NHWC) and kernels (R, S, C, K) and transpose around the kernel
call, so ``get_weights``/``set_weights`` and saved files match Keras.
"""

from __future__ import annotations

import math

import numpy as np

from ... import _args
from ...autograd import no_grad
from ...factories import zeros
from ...nn import functional as F
from ...tensor import Tensor
from . import activations
from .base import Layer
from .core import apply_activation


def tensorflow_same_padding(size, kernel, stride, dilation=1) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(size / stride), the odd pixel of padding at the end."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _out_size(size, kernel, stride, padding, dilation=1):
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


class _Spatial(Layer):
    def __init__(self, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}")
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: unknown data_format {data_format!r}")
        self.padding, self.data_format = padding, data_format

    def _to_nchw(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected a 4-D input (batch, H, W, C), got shape {x.shape}")
        return x.permute(0, 3, 1, 2) if self.data_format == "channels_last" else x

    def _from_nchw(self, y: Tensor) -> Tensor:
        return y.permute(0, 2, 3, 1) if self.data_format == "channels_last" else y

    def _hw(self, shape):
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[3])

    def _channels(self, shape):
        return shape[3] if self.data_format == "channels_last" else shape[1]

    def _shape(self, n, h, w, c):
        return (n, h, w, c) if self.data_format == "channels_last" else (n, c, h, w)

    def _pads(self, h, w, kernel, stride, dilation=(1, 1)):
        """(top, bottom, left, right) zero/-inf padding for 'same'."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        return tensorflow_same_padding(h, kernel[0], stride[0], dilation[0]) + tensorflow_same_padding(w, kernel[1], stride[1], dilation[1])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


# Activations that act element by element, so they may run before the channels_last
# transpose (on the kernel's contiguous output, forward and backward) with the same result.
# softmax (per pixel, over channels) and sigmoid (which marks its logits for the loss) stay after.
_ELEMENTWISE = frozenset({"relu", "tanh", "gelu", "elu", "selu", "softplus", "softsign", "swish", "silu"})


class Conv2D(_Spatial):
    """2-D convolution. Input (batch, H, W, C) -> (batch, OH, OW, filters); kernel (R, S, C/groups, filters)."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(padding, data_format, **kwargs)
        self.filters, self.groups, self.use_bias = int(filters), int(groups), use_bias
        self.kernel_size = _args.pair(type(self).__name__, "kernel_size", kernel_size, minimum=1)
        self.strides = _args.pair(type(self).__name__, "strides", strides, minimum=1)
        self.dilation_rate = _args.pair(type(self).__name__, "dilation_rate", dilation_rate, minimum=1)
        self.activation_name = activations.name_of(activation)
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the input channels ({channels}) "
                             f"and filters ({self.filters})")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def call(self, inputs, training=None):
        x = self._to_nchw(inputs)
        top, bottom, left, right = self._pads(x.shape[2], x.shape[3], self.kernel_size, self.strides,
                                              self.dilation_rate)
        padding = (top, left)
        if top != bottom or left != right:  # TensorFlow's uneven 'same': pad explicitly
            x = F.pad(x, (left, right, top, bottom))
            padding = 0
        weight = self.kernel.permute(3, 2, 0, 1)  # (R, S, C, K) -> (K, C, R, S)
        y = F.conv2d(x, weight, self.bias, self.strides, padding, self.dilation_rate, self.groups)
        if self.activation_name in _ELEMENTWISE:  # on the contiguous NCHW output: no layout copies
            return self._from_nchw(apply_activation(y, self.activation_name, self.activation))
        return apply_activation(self._from_nchw(y), self.activation_name, self.activation)

    def compute_output_shape(self, input_shape):
        h, w = self._hw(input_shape)
        oh = _out_size(h, self.kernel_size[0], self.strides[0], self.padding, self.dilation_rate[0])
        ow = _out_size(w, self.kernel_size[1], self.strides[1], self.padding, self.dilation_rate[1])
        return self._shape(input_shape[0], oh, ow, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": self.activation_name, "use_bias": self.use_bias}


class _Pooling2D(_Spatial):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)
        self.pool_size = _args.pair(type(self).__name__, "pool_size", pool_size, minimum=1)
        self.strides = self.pool_size if strides is None else _args.pair(type(self).__name__, "strides", strides, minimum=1)

    def compute_output_shape(self, input_shape):
        h, w = self._hw(input_shape)
        oh = _out_size(h, self.pool_size[0], self.strides[0], self.padding)
        ow = _out_size(w, self.pool_size[1], self.strides[1], self.padding)
        return self._shape(input_shape[0], oh, ow, self._channels(input_shape))

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides)}


class MaxPooling2D(_Pooling2D):
    """Max over pool_size windows; input (batch, H, W, C) -> (batch, OH, OW, C)."""

    def call(self, inputs, training=None):
        x = self._to_nchw(inputs)
        top, bottom, left, right = self._pads(x.shape[2], x.shape[3], self.pool_size, self.strides)
        if top or bottom or left or right:  # pad with -inf: padding never wins a max
            x = F.pad(x, (left, right, top, bottom), value=-np.inf)
        return self._from_nchw(F.max_pool2d(x, self.pool_size, self.strides))


class AveragePooling2D(_Pooling2D):
    """Mean over pool_size windows ('same' averages over the real pixels only, as Keras)."""

    def call(self, inputs, training=None):
        x = self._to_nchw(inputs)
        top, bottom, left, right = self._pads(x.shape[2], x.shape[3], self.pool_size, self.strides)
        if not (top or bottom or left or right):
            return self._from_nchw(F.avg_pool2d(x, self.pool_size, self.strides))
        x = F.pad(x, (left, right, top, bottom))
        with no_grad():  # the share of each window on real pixels, to average over those only
            real = zeros((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
            real[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right] = 1
            real = F.avg_pool2d(real, self.pool_size, self.strides)
        return self._from_nchw(F.avg_pool2d(x, self.pool_size, self.strides) / real)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
