"""Pointwise activations (relu, sigmoid, tanh, gelu) and softmax, forward and backward.

Each takes an optional ``out=``: a float32, C-contiguous array of the result's shape,
which may be an input itself (in place) but may not overlap one partly.
"""

from __future__ import annotations

import numpy as np

from .. import _args, backends
from . import _arrays
from ._common import _float_arrays_alike


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def _pointwise_out(fn: str, out, shape: tuple[int, ...], inputs: dict) -> np.ndarray | None:
    """``out`` checked (float32, shape, writeable, C-contiguous): it may be one of the
    inputs itself (in place) but may not overlap one partly. None stays None."""
    if out is None:
        return None
    out = _arrays.contiguous_output(fn, out, shape)
    for name, x in inputs.items():
        if isinstance(out, np.ndarray) and np.may_share_memory(out, x) and not _same_memory(out, x):
            raise ValueError(f"{fn}: out overlaps {name} partly; pass {name} itself (in place) "
                             "or a separate array")
    return out


def _activation(fn: str, activation: str, x, out, backend) -> np.ndarray:
    be = backends.select(backend, x, out)
    x = _arrays.float_array(fn, "x", x)
    out = _pointwise_out(fn, out, x.shape, {"x": x})
    return be.activation(activation, x, out)


def _activation_backward(fn: str, activation: str, grad_y, saved_name: str, saved, out, backend) -> np.ndarray:
    be = backends.select(backend, grad_y, saved, out)
    grad_y, saved = _float_arrays_alike(fn, "grad_y", grad_y, saved_name, saved)
    out = _pointwise_out(fn, out, grad_y.shape, {"grad_y": grad_y, saved_name: saved})
    return be.activation_backward(activation, grad_y, saved, out)


def _gelu_activation(fn: str, approximate) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{fn}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return "gelu" if approximate == "none" else "gelu_tanh"


def relu(x, *, out=None, backend=None) -> np.ndarray:
    """max(x, 0), NaN propagating. x: any shape; returns x's shape (``out`` when given,
    which may be x itself)."""
    return _activation("relu", "relu", x, out, backend)


def sigmoid(x, *, out=None, backend=None) -> np.ndarray:
    """1 / (1 + exp(-x)), stable. x: any shape; returns x's shape."""
    return _activation("sigmoid", "sigmoid", x, out, backend)


def tanh(x, *, out=None, backend=None) -> np.ndarray:
    """tanh(x). x: any shape; returns x's shape."""
    return _activation("tanh", "tanh", x, out, backend)


def gelu(x, approximate="none", *, out=None, backend=None) -> np.ndarray:
    """x * Phi(x) (``approximate="none"``, erf) or its tanh approximation (``"tanh"``),
    as torch.nn.functional.gelu. x: any shape; returns x's shape."""
    return _activation("gelu", _gelu_activation("gelu", approximate), x, out, backend)


def relu_backward(grad_y, x, *, out=None, backend=None) -> np.ndarray:
    """grad_y where x > 0, else 0 (torch's threshold_backward). grad_y, x: one shape."""
    return _activation_backward("relu_backward", "relu", grad_y, "x", x, out, backend)


def sigmoid_backward(grad_y, y, *, out=None, backend=None) -> np.ndarray:
    """grad_y * y * (1 - y), y = sigmoid(x) the forward output. grad_y, y: one shape."""
    return _activation_backward("sigmoid_backward", "sigmoid", grad_y, "y", y, out, backend)


def tanh_backward(grad_y, y, *, out=None, backend=None) -> np.ndarray:
    """grad_y * (1 - y**2), y = tanh(x) the forward output. grad_y, y: one shape."""
    return _activation_backward("tanh_backward", "tanh", grad_y, "y", y, out, backend)


def gelu_backward(grad_y, x, approximate="none", *, out=None, backend=None) -> np.ndarray:
    """grad_y * gelu'(x), from the forward input x. grad_y, x: one shape."""
    fn = "gelu_backward"
    activation = _gelu_activation(fn, approximate)
    return _activation_backward(fn, activation, grad_y, "x", x, out, backend)


def _softmax_axis(fn: str, x: np.ndarray, axis) -> int:
    axis = _args.integer(fn, "axis", axis)
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one axis, got a 0-D array")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for an array of shape {x.shape}")
    return axis % x.ndim


def _softmax(fn: str, log: bool, x, axis, out, backend) -> np.ndarray:
    be = backends.select(backend, x, out)
    x = _arrays.float_array(fn, "x", x)
    axis = _softmax_axis(fn, x, axis)
    out = _pointwise_out(fn, out, x.shape, {"x": x})
    return be.softmax(x, axis, log, out)


def _softmax_backward(fn: str, log: bool, grad_y, y, axis, out, backend) -> np.ndarray:
    be = backends.select(backend, grad_y, y, out)
    grad_y, y = _float_arrays_alike(fn, "grad_y", grad_y, "y", y)
    axis = _softmax_axis(fn, grad_y, axis)
    out = _pointwise_out(fn, out, grad_y.shape, {"grad_y": grad_y, "y": y})
    return be.softmax_backward(grad_y, y, axis, log, out)


def softmax(x, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, stable. x: any shape with at least one axis;
    returns x's shape."""
    return _softmax("softmax", False, x, axis, out, backend)


def log_softmax(x, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, stable. x: any shape; returns x's shape."""
    return _softmax("log_softmax", True, x, axis, out, backend)


def softmax_backward(grad_y, y, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """y * (grad_y - sum(grad_y * y)) along ``axis``; y = softmax(x), one shape with grad_y."""
    return _softmax_backward("softmax_backward", False, grad_y, y, axis, out, backend)


def log_softmax_backward(grad_y, y, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """grad_y - exp(y) * sum(grad_y) along ``axis``; y = log_softmax(x), one shape with grad_y."""
    return _softmax_backward("log_softmax_backward", True, grad_y, y, axis, out, backend)
