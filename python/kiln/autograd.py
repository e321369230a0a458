"""The reverse-mode tape: graph nodes, gradient mode, and the backward pass.

Each differentiable operation creates its output with ``record(data, parents,
backward)``, where ``backward(grad_out) -> grads`` returns one gradient (an ndarray
or None) per parent, computed with the kernel's backward. ``backward`` walks the
graph once in reverse topological order, summing gradients that meet at a node.

``backward`` may be a Python function or a native node (``kiln._C.NativeBackward``, which
the common float32 layers record: python/src/bind_tape.cpp); a graph of native nodes only
is walked in C++ in one call, any other graph here.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Callable, Sequence

import numpy as np

from ._backend import _C as _native

class _GradMode(threading.local):
    grad_enabled = True  # a class default: cheaper than getattr(_state, ..., True) (see _backend)


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


BackwardFn = Callable[[np.ndarray], Sequence["np.ndarray | None"]]


def wants_grad(parents: Sequence) -> bool:
    """Whether an op on these parents is recorded (lets a layer skip building its backward)."""
    if not _state.grad_enabled:
        return False
    for p in parents:
        if p.requires_grad:
            return True
    return False


def record(data: np.ndarray, parents: Sequence, backward: BackwardFn):
    """A new Tensor holding ``data``; linked into the graph when a parent requires grad."""
    out = _tensor_class()._wrap(data)
    if _state.grad_enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = tuple(parents)
                out._backward = backward
                out._seq = next(_creation_counter)
                break
    return out


def _tensor_class():
    # tensor.py imports this module, so the class is looked up on first use.
    global _Tensor
    if _Tensor is None:
        from .tensor import Tensor
        _Tensor = Tensor
    return _Tensor


_Tensor = None
_creation_counter = itertools.count(1)


def record_multi(outputs: Sequence[np.ndarray], parents: Sequence, backward) -> tuple:
    """Several outputs of one kernel call, sharing one backward.

    ``backward(grads) -> grads per parent`` receives one gradient per output (None for an
    output the loss does not use). The outputs hang off one hidden scalar node; the tape
    visits every output before that node, so all gradients are in when it runs.
    """
    collected: list = [None] * len(outputs)

    def joint_backward(_):
        grads = list(collected)
        collected[:] = [None] * len(outputs)
        return backward(grads)

    dtype = outputs[0].dtype if outputs else np.float32
    joint = record(np.zeros((), dtype), parents, joint_backward)

    def collector(slot: int):
        def collect(g):
            collected[slot] = g if collected[slot] is None else collected[slot] + g
            return (np.zeros((), dtype=g.dtype),)
        return collect

    return tuple(record(out, (joint,), collector(i)) for i, out in enumerate(outputs))


def _graph_freed(grad):
    raise RuntimeError("backward through a graph a second time: its saved arrays are freed "
                       "(pass retain_graph=True to the first backward)")


def _topological_order(root) -> list:
    """The nodes that lead to root, root first, each before every node it was computed from.

    Every recorded node carries the number of its creation (leaves 0), and a node is always
    created after its parents, so sorting by that number, newest first, orders the graph:
    one pass to collect the nodes instead of a depth-first search that revisits them.
    """
    nodes, seen, stack = [], {id(root)}, [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    nodes.sort(key=_creation, reverse=True)
    return nodes


def _creation(node) -> int:
    return node._seq


def run_backward(root, grad: "np.ndarray | None", retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d loss / d root; None: ones) to every leaf that requires grad.

    A graph made only of native nodes (kiln._C.NativeBackward: the float32 layers on the
    cpu backend) is walked in C++ in one call; any other graph here, with the same order
    and sums, calling native nodes like any closure.
    """
    if _native is not None and _native.run_backward(root, grad, retain_graph, _graph_freed):
        return
    if grad is None:
        grad = np.ones_like(root._array)
    grads = {id(root): grad}
    for node in _topological_order(root):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._backward is None:  # a leaf
            node._accumulate_grad(g)
            continue
        parent_grads = node._backward(g)
        for parent, pg in zip(node._parents, parent_grads):
            if pg is None or not parent.requires_grad:
                continue
            if pg.shape != parent._array.shape:
                raise RuntimeError(f"internal error: gradient of shape {pg.shape} for a tensor of "
                                   f"shape {parent.shape}")
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        if not retain_graph:
            node._backward, node._parents = _graph_freed, ()
