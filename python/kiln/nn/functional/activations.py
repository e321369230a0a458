"""Activations: relu, sigmoid, tanh (native nodes on the cpu backend), gelu, softmax, log_softmax."""

from __future__ import annotations

from ... import backends, ops
from ...autograd import PythonNode, edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor
from ._cast import cast


def _activation(x, name: str) -> Tensor:
    """relu, sigmoid or tanh: relu's derivative reads the input, the others' the output."""
    if type(x) is not Tensor:
        x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    e = edges((x,))
    native = be.native_ops.get("activation")  # forward and node in one call (see backends/base.py)
    fused = None if native is None else native(e, name, a)
    if fused is not None:
        y, node = fused
        return Tensor._wrap(y) if node is None else Tensor._recorded(y, node)
    y = cast(be, getattr(ops, name)(a, backend=be), a.dtype)
    if e is None:
        return Tensor._wrap(y)
    saved = a if name == "relu" else y
    kernel = getattr(ops, f"{name}_backward")
    backward = lambda g: (cast(be, kernel(g, saved, backend=be), a.dtype),)  # noqa: E731
    return Tensor._recorded(y, kernel_node(be, "activation", e, backward, name, saved))


def relu(x, inplace: bool = False) -> Tensor:
    return _activation(x, "relu")


def sigmoid(x) -> Tensor:
    return _activation(x, "sigmoid")


def tanh(x) -> Tensor:
    return _activation(x, "tanh")


def _pointwise(x, forward, backward_from) -> Tensor:
    x = as_tensor(x)
    a = x._array
    be = backends.select(None, a)
    y = cast(be, forward(a, be.name), a.dtype)
    e = edges((x,))
    if e is None:
        return Tensor._wrap(y)
    return Tensor._recorded(y, PythonNode(lambda g: (cast(be, backward_from(g, a, y, be.name), a.dtype),), e))


def gelu(x, approximate: str = "none") -> Tensor:
    return _pointwise(x, lambda a, be: ops.gelu(a, approximate=approximate, backend=be),
                      lambda g, a, y, be: ops.gelu_backward(g, a, approximate=approximate, backend=be))


def softmax(x, dim: int = -1) -> Tensor:
    return _pointwise(x, lambda a, be: ops.softmax(a, axis=dim, backend=be),
                      lambda g, a, y, be: ops.softmax_backward(g, y, axis=dim, backend=be))


def log_softmax(x, dim: int = -1) -> Tensor:
    return _pointwise(x, lambda a, be: ops.log_softmax(a, axis=dim, backend=be),
                      lambda g, a, y, be: ops.log_softmax_backward(g, y, axis=dim, backend=be))


# The activations a layer may fuse or name, by name (Keras's and kiln's own).
ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "gelu": gelu, "softmax": softmax,
               "log_softmax": log_softmax}
