"""Keras 3's LayerNormalization and BatchNormalization over kiln's fused kernels.

Weights as Keras names and orders them: gamma, beta (trainable), then BatchNormalization's
moving_mean and moving_variance (non-trainable), so get_weights/set_weights and saved files
match Keras.
"""

from __future__ import annotations

import numbers

from ...nn.functional import normalization as norm
from ...tensor_ops import shapes
from .. import initializers
from .base import Layer, check_config

_INITIALIZERS = ("beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer")


def _axes(layer: str, axis, ndim: int) -> list[int]:
    """axis (an int or a list of ints) as sorted non-negative axes of an ndim input (not the batch)."""
    axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    if not axes or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"{layer}: axis must be an int or a list of ints, got {axis!r}")
    out = []
    for a in axes:
        if not -ndim <= a < ndim or a % ndim == 0:
            raise ValueError(f"{layer}: axis {a} is out of range for an input of rank {ndim} (axis 0 is the batch)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{layer}: axis {axis!r} names an axis twice")
    return sorted(out)


def _deserialized(config: dict) -> dict:
    for key in _INITIALIZERS:
        if isinstance(config.get(key), dict):
            config[key] = initializers.deserialize(config[key])
    return config


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (default the last): (x - mean) / sqrt(var + epsilon)
    * gamma + beta, gamma and beta of the normalized axes' sizes."""

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rms_scaling: bool = False, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            raise NotImplementedError("LayerNormalization: rms_scaling=True is not supported")
        for name, value in (("beta_regularizer", beta_regularizer), ("gamma_regularizer", gamma_regularizer),
                            ("beta_constraint", beta_constraint), ("gamma_constraint", gamma_constraint)):
            if value is not None:
                raise NotImplementedError(f"LayerNormalization: {name} is not supported")
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.gamma = self.beta = None

    def build(self, input_shape):
        axes = _axes(self.name, self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(s is None for s in shape):
            raise ValueError(f"{self.name}: the normalized axes {axes} of the input {tuple(input_shape)} must be known")
        self._norm_axes, self._norm_shape = axes, shape
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)

    def call(self, inputs, training=None):
        ndim, axes = inputs.ndim, self._norm_axes
        if axes == list(range(ndim - len(axes), ndim)):
            return norm.layer_norm(inputs, self._norm_shape, self.gamma, self.beta, self.epsilon)
        # other axes: moved last, normalized by the fused kernel, moved back
        order = [a for a in range(ndim) if a not in axes] + axes
        moved = shapes.permute(inputs, *order)
        y = norm.layer_norm(moved, self._norm_shape, self.gamma, self.beta, self.epsilon)
        inverse = [order.index(a) for a in range(ndim)]
        return shapes.permute(y, *inverse)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(initializers.get(self.beta_initializer)),
                "gamma_initializer": initializers.serialize(initializers.get(self.gamma_initializer))}

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialized(check_config(cls.__name__, config)))


class BatchNormalization(Layer):
    """Normalizes each channel of ``axis`` (default the last, channels-last). Training (fit, or
    training=True, on a trainable layer): with the batch's mean and biased variance, and
    moving = moving * momentum + batch * (1 - momentum); otherwise with the moving ones."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, synchronized: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("beta_regularizer", beta_regularizer), ("gamma_regularizer", gamma_regularizer),
                            ("beta_constraint", beta_constraint), ("gamma_constraint", gamma_constraint)):
            if value is not None:
                raise NotImplementedError(f"BatchNormalization: {name} is not supported")
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise TypeError(f"BatchNormalization: axis must be an int, got {axis!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale, self.synchronized = bool(center), bool(scale), bool(synchronized)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer, self.moving_variance_initializer = (moving_mean_initializer,
                                                                          moving_variance_initializer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        (axis,) = _axes(self.name, self.axis, len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"{self.name}: axis {self.axis} of the input {tuple(input_shape)} must be known")
        self._channel_axis, shape = axis, (channels,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def call(self, inputs, training=None):
        axis = self._channel_axis
        if inputs.ndim <= axis or inputs.shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(f"{self.name}: expected {self.moving_mean.shape[0]} channels on axis {self.axis}, got "
                             f"input of shape {tuple(inputs.shape)}")
        training = bool(training) and self.trainable
        return norm.batch_norm_over(inputs, self.moving_mean, self.moving_variance, self.gamma, self.beta, training,
                                    1.0 - self.momentum, self.epsilon, axis, unbiased_running_var=False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
                **{key: initializers.serialize(initializers.get(getattr(self, key))) for key in _INITIALIZERS}}

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialized(check_config(cls.__name__, config)))
