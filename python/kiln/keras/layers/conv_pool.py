"""Conv1D, Conv2DTranspose, MaxPooling1D, AveragePooling1D, the global poolings and UpSampling2D,
in Keras 3's layouts (channels_last by default) and weight layouts:

- Conv1D kernel (k, C/groups, filters): kiln's conv1d (conv2d over a unit height), the
  data transposed around the kernel call as Conv2D does; padding "causal" pads
  dilation*(k-1) on the left;
- Conv2DTranspose kernel (kh, kw, filters, C): kiln's conv_transpose2d with torch's weight
  (C, filters, kh, kw), its padding and output_padding derived from Keras's rule (the
  output of TensorFlow's and JAX's conv_transpose, keras/src/backend/common/backend_utils.py);
  where that rule crops one more pixel on the right than on the left, the extra one is sliced off;
- the 1-D poolings: the 2-D layers over a unit height; the global poolings: the adaptive
  pooling kernels with output 1;
- UpSampling2D: F.interpolate (nearest: each pixel repeated, a broadcast; bilinear: torch's
  align_corners=False, the same as Keras's resize with half-pixel centres).
"""

from __future__ import annotations

from ... import _args
from ...nn import functional as F
from ...tensor import Tensor
from . import activations
from .base import Layer
from .convolutional import _ELEMENTWISE, AveragePooling2D, MaxPooling2D, tensorflow_same_padding
from .core import apply_activation


def _single(layer: str, name: str, value) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{layer}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return _args.integer(layer, name, value, minimum=1)


def _data_format(layer: str, data_format) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def _padding(layer: str, padding, allowed) -> str:
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{layer}: padding must be one of {', '.join(map(repr, allowed))}, got {padding!r}")
    return padding.lower()


def _check_ndim(layer: Layer, x: Tensor, ndim: int, layout: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"{layer.name}: expected a {ndim}-D input {layout}, got shape {tuple(x.shape)}")


class _Spatial1D(Layer):
    """Sequences (batch, steps, channels), or (batch, channels, steps) for channels_first."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)

    def _to_ncl(self, x: Tensor) -> Tensor:
        _check_ndim(self, x, 3, "(batch, steps, channels)" if self.data_format == "channels_last"
                    else "(batch, channels, steps)")
        return x.permute(0, 2, 1) if self.data_format == "channels_last" else x

    def _from_ncl(self, y: Tensor) -> Tensor:
        return y.permute(0, 2, 1) if self.data_format == "channels_last" else y

    def _steps(self, shape):
        return shape[1] if self.data_format == "channels_last" else shape[2]

    def _channels(self, shape):
        return shape[2] if self.data_format == "channels_last" else shape[1]

    def _shape(self, n, steps, channels):
        return (n, steps, channels) if self.data_format == "channels_last" else (n, channels, steps)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Conv1D(_Spatial1D):
    """1-D convolution. Input (batch, steps, C) -> (batch, new_steps, filters); kernel (k, C/groups, filters)."""

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups: int = 1, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(data_format, **kwargs)
        name = type(self).__name__
        self.filters = _args.integer(name, "filters", filters, minimum=1)
        self.groups = _args.integer(name, "groups", groups, minimum=1)
        self.kernel_size = _single(name, "kernel_size", kernel_size)
        self.strides = _single(name, "strides", strides)
        self.dilation_rate = _single(name, "dilation_rate", dilation_rate)
        self.padding = _padding(name, padding, ("valid", "same", "causal"))
        if self.padding == "causal" and self.data_format != "channels_last":
            raise ValueError(f"{name}: padding='causal' needs data_format='channels_last' (as Keras)")
        self.use_bias = bool(use_bias)
        self.activation_name = activations.name_of(activation)
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels is None or channels % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the input channels ({channels}) "
                             f"and filters ({self.filters})")
        self.kernel = self.add_weight("kernel", (self.kernel_size, channels // self.groups, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _pads(self, steps):
        span = self.dilation_rate * (self.kernel_size - 1)
        if self.padding == "causal":
            return span, 0
        if self.padding == "same":
            return tensorflow_same_padding(steps, self.kernel_size, self.strides, self.dilation_rate)
        return 0, 0

    def call(self, inputs, training=None):
        x = self._to_ncl(inputs)
        left, right = self._pads(x.shape[2])
        if left != right:
            x, left = F.pad(x, (left, right)), 0
        weight = self.kernel.permute(2, 1, 0)  # (k, C, K) -> (K, C, k)
        y = F.conv1d(x, weight, self.bias, self.strides, left, self.dilation_rate, self.groups)
        if self.activation_name in _ELEMENTWISE:
            return self._from_ncl(apply_activation(y, self.activation_name, self.activation))
        return apply_activation(self._from_ncl(y), self.activation_name, self.activation)

    def compute_output_shape(self, input_shape):
        steps = self._steps(input_shape)
        if steps is not None:
            left, right = self._pads(steps)
            steps = (steps + left + right - self.dilation_rate * (self.kernel_size - 1) - 1) // self.strides + 1
        return self._shape(input_shape[0], steps, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "groups": self.groups, "activation": self.activation_name, "use_bias": self.use_bias}


def _transpose_geometry(size, kernel, stride, dilation, padding, output_padding):
    """torch's (padding, output_padding) for one axis of Keras's transposed convolution, and the
    pixels to slice off its right end (a negative output_padding). Keras's output length:
    valid (in-1)*s + k_eff + op (op default max(k_eff, s) - k_eff); same in*s (op None) or
    (in-1)*s + k_eff - 2*(k_eff//2) + op."""
    k_eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        op = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        return 0, op, 0
    # 'same': the transposed convolution padded pad_len in all, the left share ceil(pad_len/2)
    # at most k_eff - 1 (TensorFlow's and JAX's choice); torch crops k_eff - 1 - left each side.
    pad_len = stride + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    right = pad_len - left
    torch_padding = k_eff - 1 - left
    extra = right - left  # torch adds output_padding on the right only
    return torch_padding, max(extra, 0), max(-extra, 0)


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution. Input (batch, H, W, C) -> (batch, OH, OW, filters); kernel
    (kh, kw, filters, C), Keras 3's layout and output sizes."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.filters = _args.integer(name, "filters", filters, minimum=1)
        self.kernel_size = _args.pair(name, "kernel_size", kernel_size, minimum=1)
        self.strides = _args.pair(name, "strides", strides, minimum=1)
        self.dilation_rate = _args.pair(name, "dilation_rate", dilation_rate, minimum=1)
        self.padding = _padding(name, padding, ("valid", "same"))
        self.data_format = _data_format(name, data_format)
        self.output_padding = None if output_padding is None else _args.pair(name, "output_padding",
                                                                             output_padding, minimum=0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{name}: strides {self.strides} must be greater than output_padding "
                             f"{self.output_padding}")
        self.use_bias = bool(use_bias)
        self.activation_name = activations.name_of(activation)
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _channels(self, shape):
        return shape[3] if self.data_format == "channels_last" else shape[1]

    def _hw(self, shape):
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[3])

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels is None:
            raise ValueError(f"{self.name}: the input's channels must be known, got shape {input_shape}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _axis(self, a, size):
        op = None if self.output_padding is None else self.output_padding[a]
        return _transpose_geometry(size, self.kernel_size[a], self.strides[a], self.dilation_rate[a], self.padding, op)

    def call(self, inputs, training=None):
        _check_ndim(self, inputs, 4, "(batch, H, W, C)" if self.data_format == "channels_last" else "(batch, C, H, W)")
        x = inputs.permute(0, 3, 1, 2) if self.data_format == "channels_last" else inputs
        (ph, oph, crop_h), (pw, opw, crop_w) = self._axis(0, x.shape[2]), self._axis(1, x.shape[3])
        weight = self.kernel.permute(3, 2, 0, 1)  # (kh, kw, K, C) -> (C, K, kh, kw): torch's layout
        y = F.conv_transpose2d(x, weight, self.bias, self.strides, (ph, pw), (oph, opw), 1, self.dilation_rate)
        if crop_h or crop_w:
            y = y[:, :, :y.shape[2] - crop_h, :y.shape[3] - crop_w]
        if self.activation_name in _ELEMENTWISE:
            y = apply_activation(y, self.activation_name, self.activation)
            return y.permute(0, 2, 3, 1) if self.data_format == "channels_last" else y
        y = y.permute(0, 2, 3, 1) if self.data_format == "channels_last" else y
        return apply_activation(y, self.activation_name, self.activation)

    def compute_output_shape(self, input_shape):
        out = []
        for a, size in enumerate(self._hw(input_shape)):
            if size is None:
                out.append(None)
                continue
            p, op, crop = self._axis(a, size)
            k_eff = (self.kernel_size[a] - 1) * self.dilation_rate[a] + 1
            out.append((size - 1) * self.strides[a] - 2 * p + k_eff + op - crop)
        n = input_shape[0]
        return (n, *out, self.filters) if self.data_format == "channels_last" else (n, self.filters, *out)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": self.activation_name, "use_bias": self.use_bias}


class _Pooling1D(_Spatial1D):
    _layer2d: type = MaxPooling2D

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        name = type(self).__name__
        self.pool_size = _single(name, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _single(name, "strides", strides)
        self.padding = _padding(name, padding, ("valid", "same"))
        # The 2-D layer over a unit height does the work (weightless: nothing to save).
        self._pool2d = self._layer2d((1, self.pool_size), (1, self.strides), self.padding, self.data_format,
                                     name=f"{self.name}_2d")

    def call(self, inputs, training=None):
        self._to_ncl(inputs)  # checks the rank
        axis = 1 if self.data_format == "channels_last" else 2
        return self._pool2d.call(inputs.unsqueeze(axis)).squeeze(axis)

    def compute_output_shape(self, input_shape):
        steps = self._steps(input_shape)
        if steps is not None:
            steps = -(-steps // self.strides) if self.padding == "same" else (steps - self.pool_size) // self.strides + 1
        return self._shape(input_shape[0], steps, self._channels(input_shape))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    """Max over pool_size windows; input (batch, steps, C) -> (batch, new_steps, C)."""
    _layer2d = MaxPooling2D


class AveragePooling1D(_Pooling1D):
    """Mean over pool_size windows ('same' averages over the real steps only, as Keras)."""
    _layer2d = AveragePooling2D


class _GlobalPooling(Layer):
    rank = 2
    maximum = False

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)
        if not isinstance(keepdims, bool):
            raise TypeError(f"{type(self).__name__}: keepdims must be a bool, got {keepdims!r}")
        self.keepdims = keepdims

    def call(self, inputs, training=None):
        ndim = self.rank + 2
        _check_ndim(self, inputs, ndim, "(batch, *spatial, channels)" if self.data_format == "channels_last"
                    else "(batch, channels, *spatial)")
        last = self.data_format == "channels_last"
        x = inputs.permute(0, ndim - 1, *range(1, ndim - 1)) if last else inputs  # channels first
        if self.rank == 1:
            x = x.unsqueeze(2)
        y = (F.adaptive_max_pool2d if self.maximum else F.adaptive_avg_pool2d)(x, 1)  # (N, C, 1, 1)
        y = y.reshape(y.shape[0], y.shape[1])
        if not self.keepdims:
            return y
        ones = (1,) * self.rank
        return y.reshape(y.shape[0], *ones, y.shape[1]) if last else y.reshape(y.shape[0], y.shape[1], *ones)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        ones = (1,) * self.rank
        return (input_shape[0], *ones, channels) if self.data_format == "channels_last" else \
            (input_shape[0], channels, *ones)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """(batch, steps, C) -> (batch, C): the mean over steps."""
    rank = 1


class GlobalMaxPooling1D(_GlobalPooling):
    """(batch, steps, C) -> (batch, C): the max over steps."""
    rank, maximum = 1, True


class GlobalAveragePooling2D(_GlobalPooling):
    """(batch, H, W, C) -> (batch, C): the mean over H and W."""


class GlobalMaxPooling2D(_GlobalPooling):
    """(batch, H, W, C) -> (batch, C): the max over H and W."""
    maximum = True


class UpSampling2D(Layer):
    """(batch, H, W, C) -> (batch, H*size[0], W*size[1], C): each pixel repeated (nearest) or
    interpolated (bilinear, half-pixel centres)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _args.pair(type(self).__name__, "size", size, minimum=1)
        self.data_format = _data_format(type(self).__name__, data_format)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{type(self).__name__}: interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs, training=None):
        last = self.data_format == "channels_last"
        _check_ndim(self, inputs, 4, "(batch, H, W, C)" if last else "(batch, C, H, W)")
        x = inputs.permute(0, 3, 1, 2) if last else inputs
        size = (x.shape[2] * self.size[0], x.shape[3] * self.size[1])
        if self.interpolation == "nearest":
            y = F.interpolate(x, size=size, mode="nearest")
        else:
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return y.permute(0, 2, 3, 1) if last else y

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            n, h, w, c = input_shape
            return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)
        n, c, h, w = input_shape
        return (n, c, None if h is None else h * self.size[0], None if w is None else w * self.size[1])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
