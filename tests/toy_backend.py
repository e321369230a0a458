"""A toy backend for the tests: the reference backend's primitives and kernels on a device of
its own ("toy"), whose arrays wrap ndarrays so that nothing outside the backend can compute
with them. Registered by a test; no file of kiln knows it."""

from __future__ import annotations

from collections import Counter

import numpy as np

from kiln import backends


class ToyArray:
    """The toy device's array: an ndarray behind a wrapper, so that nothing outside its
    backend can compute with it by accident (as with a GPU's memory)."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray):
        self.data = data

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)


def _unwrap(x):
    if isinstance(x, ToyArray):
        return x.data
    if isinstance(x, (tuple, list)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return ToyArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


class ToyBackend(backends.Backend):
    """Every primitive and kernel of the reference backend, on ToyArrays, counted."""

    name = device = "toy"
    array_type = ToyArray

    def __init__(self):
        self.calls = Counter()
        self._reference = backends.get("numpy")

    def from_numpy(self, a):
        self.calls["from_numpy"] += 1
        return ToyArray(np.array(a))

    def to_numpy(self, a):
        return a.data

    def __getattr__(self, name):
        kernel = getattr(self._reference, name)

        def call(*args, **kwargs):
            self.calls[name] += 1
            return _wrap(kernel(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        return call
