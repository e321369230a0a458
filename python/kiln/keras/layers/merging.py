"""The merge layers (keras/src/layers/merging/): Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate, Dot, and their functions ``add(inputs)``, ``concatenate(inputs, axis)``, ...

Each takes a list of tensors. The elementwise ones broadcast their inputs' shapes (NumPy's
rules, as Keras's ``_compute_elemwise_op_output_shape``); Subtract takes exactly two.
Concatenate joins along ``axis`` (the other axes must agree). Dot(axes) is Keras's
``batch_dot``: x1 (batch, ..., d) and x2 (batch, ..., d) summed over the named axes, the result
(batch, rest of x1, rest of x2), (batch, 1) when both rest are empty; ``normalize=True`` divides
each input by its L2 norm along its axis first (the cosine proximity).
"""

from __future__ import annotations

import numbers

from ... import tensor_ops
from .base import Layer

_EPSILON = 1e-7  # Keras's backend epsilon: the least norm Dot(normalize=True) divides by


def _shapes(layer: str, input_shape, exactly: int | None = None) -> list:
    if not isinstance(input_shape, list) or input_shape and not isinstance(input_shape[0], tuple):
        raise ValueError(f"{layer}: a merge layer is called on a list of inputs, got one input of shape "
                         f"{input_shape}")
    if exactly is not None and len(input_shape) != exactly:
        raise ValueError(f"{layer}: takes exactly {exactly} inputs, got {len(input_shape)}")
    return input_shape


def _broadcast(layer: str, shapes: list) -> tuple:
    out = ()
    for shape in shapes:
        rank = max(len(out), len(shape))
        a, b = (1,) * (rank - len(out)) + tuple(out), (1,) * (rank - len(shape)) + tuple(shape)
        merged = []
        for x, y in zip(a, b):
            if x == 1 or x == y:
                merged.append(y)
            elif y == 1:
                merged.append(x)
            elif x is None or y is None:
                merged.append(x if y is None else y)
            else:
                raise ValueError(f"{layer}: inputs of shapes {[tuple(s) for s in shapes]} do not broadcast together")
        out = tuple(merged)
    return out


class _Merge(Layer):
    """An elementwise merge of a list of inputs; subclasses define ``_merge(tensors)``."""

    _exactly: int | None = None

    def build(self, input_shape):
        shapes = _shapes(self.name, input_shape, self._exactly)
        if not shapes:
            raise ValueError(f"{self.name}: a merge layer needs at least one input")
        _broadcast(self.name, shapes)

    def compute_output_shape(self, input_shape):
        return _broadcast(self.name, _shapes(self.name, input_shape, self._exactly))

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name}: a merge layer is called on a list of inputs")
        return self._merge(list(inputs))


class Add(_Merge):
    """The sum of the inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """inputs[0] - inputs[1] (exactly two)."""

    _exactly = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


class Multiply(_Merge):
    """The elementwise product of the inputs."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """The elementwise mean of the inputs."""

    def _merge(self, xs):
        return Add._merge(self, xs) * (1.0 / len(xs))


class Maximum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = tensor_ops.maximum(out, x)
        return out


class Minimum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = tensor_ops.minimum(out, x)
        return out


def _axis(layer: str, axis) -> int:
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{layer}: axis must be an int, got {axis!r}")
    return int(axis)


class Concatenate(Layer):
    """The inputs joined along ``axis`` (default -1); every other axis must agree."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis("Concatenate", axis)

    def compute_output_shape(self, input_shape):
        shapes = _shapes(self.name, input_shape)
        if len(shapes) < 1:
            raise ValueError(f"{self.name}: Concatenate needs at least one input")
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{self.name}: cannot concatenate inputs of shapes {shapes} along axis {self.axis} "
                             "(same rank, an axis other than the batch axis)")
        axis = self.axis % rank
        out = list(shapes[0])
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape)):
                if i != axis and a is not None and b is not None and a != b:
                    raise ValueError(f"{self.name}: inputs of shapes {shapes} differ on axis {i}, not only on the "
                                     f"concatenation axis {axis}")
                if i != axis and a is None:
                    out[i] = b
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(out)

    def call(self, inputs, training=None):
        self.compute_output_shape([(None,) + tuple(x.shape[1:]) for x in inputs])
        return tensor_ops.cat(list(inputs), self.axis % inputs[0].ndim)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Layer):
    """Keras's batch_dot of two inputs over ``axes`` (an int, or one per input)."""

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot: axes must be an int or a pair, got {axes!r}")
            axes = [_axis("Dot", a) for a in axes]
        else:
            axes = _axis("Dot", axes)
        self.axes, self.normalize = axes, bool(normalize)

    def _axes(self, shape1, shape2) -> tuple[int, int]:
        a1, a2 = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        r1, r2 = len(shape1), len(shape2)
        if not (-r1 <= a1 < r1 and -r2 <= a2 < r2) or a1 % r1 == 0 or a2 % r2 == 0:
            raise ValueError(f"{self.name}: axes {self.axes} do not name a non-batch axis of inputs of shapes "
                             f"{tuple(shape1)} and {tuple(shape2)}")
        return a1 % r1, a2 % r2

    def compute_output_shape(self, input_shape):
        shape1, shape2 = _shapes(self.name, input_shape, 2)
        a1, a2 = self._axes(shape1, shape2)
        if shape1[a1] is not None and shape2[a2] is not None and shape1[a1] != shape2[a2]:
            raise ValueError(f"{self.name}: incompatible input shapes: axis {a1} of {tuple(shape1)} has "
                             f"{shape1[a1]}, axis {a2} of {tuple(shape2)} has {shape2[a2]}")
        rest1 = [d for i, d in enumerate(shape1) if i != a1]
        rest2 = [d for i, d in enumerate(shape2) if i not in (0, a2)]
        out = rest1 + rest2
        return tuple(out + [1] if len(out) == 1 else out)

    def call(self, inputs, training=None):
        x1, x2 = inputs
        shape = self.compute_output_shape([(None,) + tuple(x1.shape[1:]), (None,) + tuple(x2.shape[1:])])
        a1, a2 = self._axes(x1.shape, x2.shape)
        if self.normalize:
            x1, x2 = _l2_normalize(x1, a1), _l2_normalize(x2, a2)
        batch, depth = x1.shape[0], x1.shape[a1]
        # x1 -> (batch, P, depth), x2 -> (batch, depth, Q), one batched GEMM, then the rest axes back
        order1 = [0] + [i for i in range(1, x1.ndim) if i != a1] + [a1]
        order2 = [0, a2] + [i for i in range(1, x2.ndim) if i != a2]
        left = x1.permute(*order1).reshape(batch, -1, depth)
        right = x2.permute(*order2).reshape(batch, depth, -1)
        return tensor_ops.matmul(left, right).reshape(batch, *shape[1:])

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x, axis: int):
    """x / max(||x||, eps) along ``axis``, as Keras's normalize (x * min(rsqrt(sum x^2), 1 / eps))."""
    norm = (x * x).sum(axis, keepdim=True).sqrt()
    return x / tensor_ops.maximum(norm, _EPSILON)


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``add([x1, x2, ...])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize: bool = False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
