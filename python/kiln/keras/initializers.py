"""Keras weight initialisers by name ("glorot_uniform", "zeros", ...) or as objects."""

from __future__ import annotations

import math

import numpy as np

from ..random import generator


def _fans(shape: tuple) -> tuple[int, int]:
    """Keras's fans: kernels are (..., in, out), convolution kernels (R, S, C, K)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype=np.float32) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class Zeros(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=np.float32):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=np.float32):
        return generator().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=np.float32):
        return generator().normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return generator().uniform(-limit, limit, shape).astype(dtype)
        std = math.sqrt(scale)
        if self.distribution == "truncated_normal":
            std /= 0.87962566103423978  # std of a unit normal truncated at 2 sigma
            values = generator().normal(0.0, 1.0, shape)
            bad = np.abs(values) > 2
            while bad.any():
                values[bad] = generator().normal(0.0, 1.0, int(bad.sum()))
                bad = np.abs(values) > 2
            return (values * std).astype(dtype)
        return generator().normal(0.0, std, shape).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        self.gain = gain

    def __call__(self, shape, dtype=np.float32):
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        flat = generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform, "uniform": RandomUniform,
    "random_normal": RandomNormal, "normal": RandomNormal, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal, "orthogonal": Orthogonal,
}


def get(identifier) -> Initializer:
    """An initialiser from a name, an Initializer, or any callable(shape, dtype)."""
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown initializer {identifier!r}; known: {', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name or a callable, got {type(identifier).__name__}")


def serialize(init) -> str | dict:
    for name, cls in _BY_NAME.items():
        if type(init) is cls:
            return {"class_name": name, "config": init.get_config()}
    return {"class_name": "glorot_uniform", "config": {}}


def deserialize(config) -> Initializer:
    if isinstance(config, str):
        return get(config)
    return _BY_NAME[config["class_name"]](**config.get("config", {}))
