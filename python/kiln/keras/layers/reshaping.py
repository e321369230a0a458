"""Reshape, Permute, RepeatVector (keras/src/layers/reshaping/): views and copies, no weights.

Shapes exclude the batch axis in the arguments, as Keras's: ``Reshape((3, 4))`` turns
(batch, 12) into (batch, 3, 4); ``Permute((2, 1))`` swaps the two axes after the batch axis;
``RepeatVector(n)`` turns (batch, features) into (batch, n, features).
"""

from __future__ import annotations

import numbers

import numpy as np

from .base import Layer, check_config


def _ints(layer: str, what: str, value, minimum: int) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in value):
        raise ValueError(f"{layer}: {what} must be a tuple of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in value)


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one entry of target_shape may be -1 (inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _ints("Reshape", "target_shape", target_shape, -1)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape: at most one axis of target_shape may be -1, got {self.target_shape}")

    def _resolved(self, input_shape) -> tuple:
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = int(np.prod(rest))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(f"{self.name}: cannot reshape inputs of shape {tuple(input_shape)} into "
                                 f"{self.target_shape} ({size} values)")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"{self.name}: inputs of shape {tuple(input_shape)} hold {size} values, target_shape "
                             f"{self.target_shape} holds {known}")
        return self.target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape)

    def call(self, inputs, training=None):
        return inputs.reshape(inputs.shape[0], *self._resolved((None,) + tuple(inputs.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}

    @classmethod
    def from_config(cls, config):
        return cls(**check_config(cls.__name__, config))


class Permute(Layer):
    """Permutes the axes after the batch axis: ``dims`` is a permutation of 1..rank-1 (1-indexed)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = _ints("Permute", "dims", dims, 1)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)} (the batch axis is not "
                             f"counted), got {self.dims}")

    def _check(self, input_shape) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: dims {self.dims} permute {len(self.dims)} axes, the inputs of shape "
                             f"{tuple(input_shape)} have {len(input_shape) - 1} after the batch axis")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs, training=None):
        self._check(inputs.shape)
        return inputs.permute(0, *self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated n times along a new axis 1."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"RepeatVector: n must be an int >= 1, got {n!r}")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: RepeatVector takes inputs of shape (batch, features), got "
                             f"{tuple(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=None):
        self.compute_output_shape(tuple(inputs.shape))
        return inputs.unsqueeze(1).expand(inputs.shape[0], self.n, inputs.shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
