"""keras.random: random tensors, with Keras 3's ``seed`` argument.

``seed`` may be None (draw from kiln's generator, which ``keras.utils.set_random_seed``
seeds), an int (the same numbers every call with that int, as Keras's stateless draw), or a
``SeedGenerator`` (a stream of its own: each call draws new numbers, repeatable from its seed).
Numbers are drawn on the host and the Tensor made on kiln's default device (``dropout`` and
``shuffle`` keep their input's device), so a seed gives the same numbers on every device.
"""

from __future__ import annotations

import numpy as np

from .. import factories
from ..random import generator
from ..tensor import Tensor
from ..tensor_ops import as_tensor


class SeedGenerator:
    """A seeded stream for the ``seed`` argument: ``SeedGenerator(1337)``."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"SeedGenerator: seed must be an int or None, got {type(seed).__name__}")
        self.seed, self.name = seed, name
        self._rng = np.random.default_rng(seed if seed is None else int(seed))

    def next(self) -> np.random.Generator:
        return self._rng


def _rng(fn: str, seed) -> np.random.Generator:
    if seed is None:
        return generator()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"keras.random.{fn}: seed must be None, an int or a SeedGenerator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def _shape(fn: str, shape) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(f"keras.random.{fn}: shape must hold non-negative integers, got {shape}")
    return tuple(int(d) for d in shape)


def _float(dtype) -> np.dtype:
    dtype = np.dtype(dtype or "float32")
    if dtype.kind != "f":
        raise TypeError(f"keras.random: dtype must be a float type, got {dtype}")
    return dtype


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Normal draws of ``shape``."""
    values = _rng("normal", seed).normal(mean, stddev, _shape("normal", shape))
    return factories.tensor(values.astype(_float(dtype)))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Normal draws of ``shape`` within two standard deviations of ``mean`` (redrawn outside)."""
    rng, shape = _rng("truncated_normal", seed), _shape("truncated_normal", shape)
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return factories.tensor((mean + stddev * values).astype(_float(dtype)))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None) -> Tensor:
    """Uniform draws in [minval, maxval) of ``shape``."""
    values = _rng("uniform", seed).uniform(minval, maxval, _shape("uniform", shape))
    return factories.tensor(values.astype(_float(dtype)))


def randint(shape, minval, maxval, dtype="int32", seed=None) -> Tensor:
    """Integers in [minval, maxval) of ``shape``."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"keras.random.randint: dtype must be an integer type, got {dtype}")
    if maxval <= minval:
        raise ValueError(f"keras.random.randint: maxval ({maxval}) must be above minval ({minval})")
    values = _rng("randint", seed).integers(minval, maxval, _shape("randint", shape))
    return factories.tensor(values.astype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None) -> Tensor:
    """``inputs`` with each element zeroed with probability ``rate`` and the rest scaled by
    1 / (1 - rate); a ``noise_shape`` broadcasting to inputs' shape shares the mask along its
    axes of size 1. Differentiable (Tensor ops, on inputs' device)."""
    x = as_tensor(inputs)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1), got {rate}")
    shape = tuple(x.shape) if noise_shape is None else tuple(x.shape[i] if d is None else d
                                                             for i, d in enumerate(noise_shape))
    try:
        np.broadcast_shapes(shape, tuple(x.shape))
    except ValueError:
        raise ValueError(f"keras.random.dropout: noise_shape {tuple(noise_shape)} does not broadcast to the "
                         f"inputs' shape {tuple(x.shape)}") from None
    keep = (_rng("dropout", seed).random(shape) >= rate).astype(x.dtype) / (1.0 - rate)
    return x * Tensor._wrap(keep).to(x.device)


def shuffle(x, axis: int = 0, seed=None) -> Tensor:
    """``x`` with its entries along ``axis`` in a random order."""
    t = as_tensor(x)
    if t.ndim == 0:
        raise ValueError("keras.random.shuffle: x must have at least one axis")
    axis = axis + t.ndim if axis < 0 else axis
    if not 0 <= axis < t.ndim:
        raise ValueError(f"keras.random.shuffle: axis {axis} is outside x of shape {tuple(t.shape)}")
    order = _rng("shuffle", seed).permutation(t.shape[axis])
    values = np.take(t.numpy(force=True), order, axis=axis)
    return Tensor._wrap(np.ascontiguousarray(values)).to(t.device)


__all__ = ["SeedGenerator", "normal", "truncated_normal", "uniform", "randint", "dropout", "shuffle"]
