"""Activation layers with arguments (Keras 3's ``layers.ReLU``)."""

from __future__ import annotations

from ...nn import functional as F
from ...tensor_ops import clamp, where
from .base import Layer


class ReLU(Layer):
    """max_value where x >= max_value, x where threshold <= x < max_value, and
    negative_slope * (x - threshold) below threshold, as keras.layers.ReLU. Any shape."""

    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0 or None, got {max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope}")
        if threshold is None:
            raise ValueError("ReLU: threshold must be a number, got None")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, inputs, training=None):
        if self.negative_slope == 0.0 and self.threshold == 0.0:
            out = F.relu(inputs)
        else:
            out = where(inputs >= self.threshold, inputs, (inputs - self.threshold) * self.negative_slope)
        return out if self.max_value is None else clamp(out, max=self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}
