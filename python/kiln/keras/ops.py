"""``keras.ops``: Keras 3's backend-neutral functions, over kiln Tensors or array-likes.

What TensorFlow-era code computes with ``tf.argmax``, ``tf.equal``, ``tf.cast`` and
``tf.reduce_mean`` has its counterpart here (``keras.ops.argmax(y, axis=-1)`` ...). Every
function takes Tensors, NumPy arrays or Python numbers and returns a Tensor; arguments
follow Keras (``axis``, ``keepdims``). Gradients flow where the Tensor op has one.
"""

from __future__ import annotations

import numpy as np

from .. import tensor_ops
from ..nn import functional as F
from ..tensor import Tensor
from ..tensor_ops import as_tensor


def convert_to_tensor(x, dtype=None) -> Tensor:
    t = as_tensor(x)
    return t if dtype is None else tensor_ops.conversions.type(t, dtype)


def convert_to_numpy(x) -> np.ndarray:
    return as_tensor(x).numpy(force=True)


def cast(x, dtype) -> Tensor:
    return tensor_ops.conversions.type(as_tensor(x), np.dtype(dtype))


def shape(x) -> tuple:
    return as_tensor(x).shape


def _axis_reduction(name):
    def reduce(x, axis=None, keepdims: bool = False):
        x = as_tensor(x)
        if name in ("max", "min") and axis is not None:
            return getattr(tensor_ops, name)(x, axis, keepdims).values
        return getattr(tensor_ops, name)(x, axis, keepdims)
    reduce.__name__ = name
    return reduce


sum, mean, max, min = (_axis_reduction(n) for n in ("sum", "mean", "max", "min"))  # noqa: A001


def argmax(x, axis=-1, keepdims: bool = False) -> Tensor:
    return tensor_ops.argmax(as_tensor(x), axis, keepdims)


def argmin(x, axis=-1, keepdims: bool = False) -> Tensor:
    return tensor_ops.argmin(as_tensor(x), axis, keepdims)


def _binary(fn):
    return lambda x1, x2: fn(as_tensor(x1), x2)


add, subtract, multiply, divide = (_binary(f) for f in (tensor_ops.add, tensor_ops.sub, tensor_ops.mul,
                                                         tensor_ops.div))
equal, not_equal, greater, greater_equal, less, less_equal = (
    _binary(getattr(tensor_ops.math, n)) for n in ("equal", "not_equal", "greater", "greater_equal", "less",
                                                   "less_equal"))
logical_and, logical_or = _binary(tensor_ops.math.logical_and), _binary(tensor_ops.math.logical_or)


def logical_not(x) -> Tensor:
    return tensor_ops.math.logical_not(as_tensor(x))


def power(x1, x2) -> Tensor:
    return tensor_ops.pow(as_tensor(x1), x2)


def maximum(x1, x2) -> Tensor:
    x1, x2 = as_tensor(x1), as_tensor(x2)
    return tensor_ops.where(tensor_ops.math.greater_equal(x1, x2), x1, x2)


def minimum(x1, x2) -> Tensor:
    x1, x2 = as_tensor(x1), as_tensor(x2)
    return tensor_ops.where(tensor_ops.math.less_equal(x1, x2), x1, x2)


def abs(x) -> Tensor:  # noqa: A001
    return tensor_ops.abs(as_tensor(x))


def exp(x) -> Tensor:
    return tensor_ops.exp(as_tensor(x))


def log(x) -> Tensor:
    return tensor_ops.log(as_tensor(x))


def sqrt(x) -> Tensor:
    return tensor_ops.sqrt(as_tensor(x))


def square(x) -> Tensor:
    x = as_tensor(x)
    return tensor_ops.mul(x, x)


def negative(x) -> Tensor:
    return tensor_ops.neg(as_tensor(x))


def clip(x, x_min, x_max) -> Tensor:
    return tensor_ops.clamp(as_tensor(x), x_min, x_max)


def where(condition, x1, x2) -> Tensor:
    return tensor_ops.where(condition, x1, x2)


def reshape(x, new_shape) -> Tensor:
    return tensor_ops.reshape(as_tensor(x), tuple(new_shape))


def transpose(x, axes=None) -> Tensor:
    x = as_tensor(x)
    return tensor_ops.permute(x, *(reversed(range(x.ndim)) if axes is None else axes))


def expand_dims(x, axis: int) -> Tensor:
    return tensor_ops.unsqueeze(as_tensor(x), axis)


def squeeze(x, axis=None) -> Tensor:
    return tensor_ops.squeeze(as_tensor(x), axis)


def concatenate(xs, axis: int = 0) -> Tensor:
    return tensor_ops.cat(xs, axis)


def stack(xs, axis: int = 0) -> Tensor:
    return tensor_ops.stack(xs, axis)


def matmul(x1, x2) -> Tensor:
    return tensor_ops.matmul(x1, x2)


def one_hot(x, num_classes: int, dtype="float32") -> Tensor:
    labels = as_tensor(x).numpy(force=True).astype(np.int64)
    out = np.zeros(labels.shape + (int(num_classes),), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return tensor_ops.conversions.to(Tensor._wrap(out), as_tensor(x).device)


def relu(x) -> Tensor:
    return F.relu(x)


def sigmoid(x) -> Tensor:
    return F.sigmoid(x)


def tanh(x) -> Tensor:
    return F.tanh(x)


def softmax(x, axis: int = -1) -> Tensor:
    return F.softmax(x, axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return F.log_softmax(x, axis)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "np", "F", "Tensor",
                                                                    "tensor_ops", "as_tensor")]
