"""The reverse-mode tape: gradient mode, recording, and the backward pass.

The tape is native (``kiln._tape``, python/src/tape/): one node type, one walker. Each
differentiable operation records a node whose backward returns one gradient per input;
a node is either native (the cpu backend's conv2d, linear, pooling, LSTM, embedding, loss
nodes, and the reshape/permute nodes of any backend) or a Python closure (``PythonNode``).
``backward`` hands the root's node to the walker, which visits every node once, newest
first, sums the gradients that meet at a node in arrival order, calls native nodes in C++
and closures through Python, and accumulates leaf gradients (into the optimizer's flat
gradient buffer, a ``GradBuffer``, when one is attached). A graph of native nodes only is
walked without running any Python.

Edges: an op's inputs become its node's edges: each input tensor's ``_node``, None for an
input that needs no gradient. ``edges(parents)`` gives them, or None when nothing is to be
recorded (no input requires grad, or gradients are off).
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from . import backends

try:
    from ._tape import GradBuffer, Leaf, Node, PermuteBackward, PythonNode, ReshapeBackward
    from ._tape import python_seconds, run_backward, set_array_hooks
except ImportError as error:  # pragma: no cover - a source checkout without a build
    raise ImportError("kiln's native tape (kiln._tape) is not built: install kiln with "
                      "`pip install .` (see README.md)") from error


class _GradMode(threading.local):
    grad_enabled = True  # a class default: cheaper than getattr with a default on every op


_state = _GradMode()


def is_grad_enabled() -> bool:
    return _state.grad_enabled


def set_grad_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) that records no graph, as ``torch.no_grad``."""

    def __enter__(self):
        self._previous = is_grad_enabled()
        set_grad_enabled(False)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._previous)
        return False


class enable_grad(contextlib.ContextDecorator):
    """Context manager that records the graph again inside a ``no_grad`` block."""

    def __enter__(self):
        self._previous = is_grad_enabled()
        set_grad_enabled(True)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._previous)
        return False


def edges(parents) -> "list | None":
    """The edges of an op over ``parents`` (Tensors, or None for an absent optional input):
    each one's node, None where no gradient is wanted; None when nothing is recorded."""
    if not _state.grad_enabled:
        return None
    found, wanted = [], False
    for p in parents:  # a plain loop: a comprehension is a function call of its own
        e = None if p is None else p._node
        wanted = wanted or e is not None
        found.append(e)
    return found if wanted else None


def kernel_node(backend, op: str, e: tuple, backward, *saved, outputs: int = 1):
    """The node of a kernel op: ``backend``'s native node for ``op`` over ``saved`` when it has
    one that takes them (float32 arrays), else a Python closure ``backward(grad) -> grads``
    (``backward(grads)``, one per output, for ``outputs`` > 1)."""
    factory = backend.native_nodes.get(op)
    node = factory(e, *saved) if factory is not None else None
    return PythonNode(backward, e, outputs) if node is None else node


def backward(root, gradient=None, retain_graph: bool = False) -> None:
    """d root / d leaf for every leaf that requires grad, summed into the leaves' gradients."""
    if root._node is None:
        raise RuntimeError("backward() on a tensor that does not require grad "
                           "(no parameter it depends on has requires_grad=True)")
    be = backends.select(None, root._array)
    if gradient is None:
        if math.prod(root._array.shape) != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar; this tensor has shape "
                               f"{root.shape} (pass gradient=, or reduce with .sum() or .mean())")
        grad = be.full(root.shape, 1, root.dtype)
    else:
        given = getattr(gradient, "_array", gradient)
        if not backends.is_array(given):
            given = be.from_numpy(np.asarray(given, root.dtype))
        grad = be.reshape(be.astype(given, root.dtype), root.shape)
    run_backward(root._node, grad, bool(retain_graph))


def _hook(name):
    """A primitive of the backend that holds the arrays, for gradients that are not ndarrays."""
    return lambda *arrays: getattr(backends.select(None, *[a for a in arrays if backends.is_array(a)]), name)(*arrays)


def _add_into(dst, src):
    backends.select(None, dst).add_into(dst, src)


def install_array_hooks() -> None:
    """Give the tape the backends' primitives for gradients that are not ndarrays (done at
    import; again by tests that replace them)."""
    set_array_hooks(add=_hook("add"), iadd=_add_into, copy=_hook("copy"), copy_into=_hook("copy_into"),
                    reshape=_hook("reshape"), transpose=_hook("transpose"))


install_array_hooks()

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "edges", "kernel_node", "backward",
           "Node", "PythonNode", "Leaf", "GradBuffer", "ReshapeBackward", "PermuteBackward", "python_seconds"]
