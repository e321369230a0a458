"""Input, Dense, Activation, Flatten, Dropout."""

from __future__ import annotations

import numpy as np

from ...nn import functional as F
from ...tensor import Tensor
from .. import initializers
from . import activations
from .base import KerasTensor, Layer, check_config, unique_name


def Input(shape=None, batch_size=None, name=None, dtype="float32", batch_shape=None, **kwargs) -> KerasTensor:
    """A symbolic input of the functional API: shape excludes the batch axis."""
    if batch_shape is not None:
        shape = tuple(batch_shape)[1:]
    if shape is None:
        raise ValueError("Input needs shape=(...) (without the batch axis)")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return KerasTensor((batch_size,) + shape, dtype=dtype, name=name or unique_name("input_layer"))


class InputLayer(Layer):
    """Placeholder layer that records an input shape (Sequential([InputLayer((8,)), ...]))."""

    def __init__(self, input_shape=None, shape=None, name=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape if input_shape is not None else shape, **kwargs)

    def call(self, inputs, training=None):
        return inputs


def _with_logits(probabilities: Tensor, logits: Tensor, kind: str) -> Tensor:
    """Mark an output as act(logits), so a loss can use the fused, stable kernel on the logits."""
    probabilities._keras_logits = (kind, logits)
    return probabilities


def apply_activation(x: Tensor, name, fn) -> Tensor:
    if name == "softmax":
        return _with_logits(F.softmax(x, -1), x, "softmax")
    if name == "sigmoid":
        return _with_logits(F.sigmoid(x), x, "sigmoid")
    return fn(x) if fn is not None else x


class Dense(Layer):
    """y = activation(x @ kernel + bias). x (batch, ..., in) -> (batch, ..., units); kernel (in, units)."""

    def __init__(self, units: int, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units}")
        self.units, self.use_bias = int(units), use_bias
        self.activation_name = activations.name_of(activation)
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f"{self.name}: the last axis of the input must be known to build Dense")
        self.kernel = self.add_weight("kernel", (in_features, self.units), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None

    def call(self, inputs, training=None):
        # relu and tanh run in the GEMM epilogue; sigmoid and softmax keep their logits for the loss.
        fused = self.activation_name if self.activation_name in ("relu", "tanh") else None
        y = F.dense(inputs, self.kernel, self.bias, activation=fused)
        return y if fused else apply_activation(y, self.activation_name, self.activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(initializers.get(self.kernel_initializer)),
                "bias_initializer": initializers.serialize(initializers.get(self.bias_initializer))}

    @classmethod
    def from_config(cls, config):
        config = check_config(cls.__name__, config)
        for key in ("kernel_initializer", "bias_initializer"):
            if isinstance(config.get(key), dict):
                config[key] = initializers.deserialize(config[key])
        return cls(**config)


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation_name = activations.name_of(activation)
        self.activation = activations.get(activation)

    def call(self, inputs, training=None):
        return apply_activation(inputs, self.activation_name, self.activation)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation_name}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), in the input's (channels_last) order."""

    def call(self, inputs, training=None):
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest))
        return (input_shape[0], size)


class Dropout(Layer):
    """Drops inputs with probability ``rate`` while training (fit); the identity otherwise."""

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported")
        self.rate = rate

    def call(self, inputs, training=None):
        return F.dropout(inputs, self.rate, bool(training))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
