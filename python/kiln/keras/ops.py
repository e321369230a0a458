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


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Keras's arange: integers stay int32, as Keras gives them (floats float32)."""
    from .. import factories
    out = factories.arange(start, stop, step) if stop is not None else factories.arange(start)
    return cast(out, dtype or ("int32" if out.dtype.kind in "iu" else "float32"))


def zeros(shape, dtype="float32") -> Tensor:
    from .. import factories
    return factories.zeros(tuple(shape), dtype=np.dtype(dtype))


def ones(shape, dtype="float32") -> Tensor:
    from .. import factories
    return factories.ones(tuple(shape), dtype=np.dtype(dtype))


def zeros_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return zeros(x.shape, dtype or x.dtype)


def ones_like(x, dtype=None) -> Tensor:
    x = as_tensor(x)
    return ones(x.shape, dtype or x.dtype)


def take(x, indices, axis=None) -> Tensor:
    """x's entries at ``indices`` along ``axis`` (the flattened x when None); the indices' shape
    replaces that axis, as keras.ops.take."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    idx = as_tensor(indices)
    axis = axis % x.ndim
    picked = tensor_ops.index_select(x, axis, idx.reshape(-1).long())
    return picked.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1:])


def tril(x, k: int = 0) -> Tensor:
    return tensor_ops.tril(as_tensor(x), k)


def triu(x, k: int = 0) -> Tensor:
    return tensor_ops.triu(as_tensor(x), k)


def cumsum(x, axis=None, dtype=None) -> Tensor:
    x = as_tensor(x)
    return tensor_ops.cumsum(x.reshape(-1) if axis is None else x, 0 if axis is None else axis, dtype)


def sort(x, axis: int = -1) -> Tensor:
    return tensor_ops.sort(as_tensor(x), axis).values


def argsort(x, axis: int = -1) -> Tensor:
    return tensor_ops.argsort(as_tensor(x), axis)


def top_k(x, k: int, sorted: bool = True):  # noqa: A002 (Keras's name)
    values, indices = tensor_ops.topk(as_tensor(x), k, -1, True, sorted)
    return values, indices


def broadcast_to(x, shape) -> Tensor:
    return as_tensor(x).expand(*shape)


def tile(x, repeats) -> Tensor:
    x = as_tensor(x)
    repeats = (repeats,) if isinstance(repeats, int) else tuple(repeats)
    return x.repeat(*((1,) * (len(repeats) - x.ndim) + repeats)) if len(repeats) >= x.ndim else \
        x.repeat(*((1,) * (x.ndim - len(repeats)) + repeats))


def gelu(x, approximate: bool = True) -> Tensor:
    """Keras's gelu: the tanh approximation by default (keras.activations.gelu's is exact)."""
    return F.gelu(as_tensor(x), "tanh" if approximate else "none")


def silu(x) -> Tensor:
    return F.silu(as_tensor(x))


swish = silu


def leaky_relu(x, negative_slope: float = 0.2) -> Tensor:
    return F.leaky_relu(as_tensor(x), negative_slope)


def elu(x, alpha: float = 1.0) -> Tensor:
    return F.elu(as_tensor(x), alpha)


def softplus(x) -> Tensor:
    return F.softplus(as_tensor(x))


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "np", "F", "Tensor",
                                                                    "tensor_ops", "as_tensor")]
