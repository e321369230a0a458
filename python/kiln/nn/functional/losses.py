"""Losses, as torch.nn.functional: each a fused kernel that returns the loss and its
gradient in one pass (the backward only scales that gradient: a native node on the cpu
backend), or, for nll_loss and binary_cross_entropy, primitives on the backend's arrays."""

from __future__ import annotations

import numpy as np

from ... import _args, backends, ops
from ...autograd import PythonNode, edges, kernel_node
from ...tensor import Tensor
from ...tensor_ops import as_tensor
from ._cast import cast


def _reduction_scale(reduction: str, count: int) -> float:
    """Loss kernels average; ``reduction="sum"`` scales the mean back up."""
    if reduction == "mean":
        return 1.0
    if reduction == "sum":
        return float(count)
    raise ValueError(f"reduction must be 'mean' or 'sum' (kiln's loss kernels reduce), got {reduction!r}")


def _target(target):
    return target._array if isinstance(target, Tensor) else (target if backends.is_array(target) else np.asarray(target))


def _fused_loss(be, x, loss: float, grad, scale: float) -> Tensor:
    """The loss ``loss * scale`` (a 0-D array of x's dtype) recorded with the gradient ``grad``
    its kernel wrote (for a loss of 1), scaled on the way back by the incoming gradient."""
    X = x._array
    value = be.from_numpy(np.asarray(loss * scale, X.dtype))
    e = edges((x,))
    if e is None:
        return Tensor._wrap(value)

    def backward(g):
        factor = float(be.to_numpy(g)) * scale  # no copy in the common case of a loss that is the root
        out = grad if factor == 1.0 else be.multiply(grad, factor)
        return (cast(be, out, X.dtype),)
    return Tensor._recorded(value, kernel_node(be, "scaled_grad", e, backward, grad, scale))


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy: input (N, C) logits; target (N,) class indices or (N, C) probabilities."""
    if weight is not None:
        raise NotImplementedError("cross_entropy: class weights are not supported yet")
    x = as_tensor(input)
    X, T = x._array, _target(target)
    be = backends.select(None, X, T)
    if T.ndim == 1 and T.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: a target of shape {tuple(T.shape)} must hold integer class indices, got "
                        f"dtype {T.dtype} (a float target holds class probabilities, shape (N, C))")
    scale = _reduction_scale(reduction, X.shape[0] if reduction == "sum" else 1)
    native = be.native_ops.get("cross_entropy")  # forward and node in one call (see backends/base.py)
    fused = None if native is None else native(edges((x,)), X, T, ignore_index, label_smoothing, scale)
    if fused is not None:
        value, node = fused
        return Tensor._wrap(value) if node is None else Tensor._recorded(value, node)
    loss, grad = ops.softmax_cross_entropy(X, T, ignore_index=ignore_index, label_smoothing=label_smoothing,
                                           return_grad=True, backend=be)
    return _fused_loss(be, x, loss, grad, scale)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    x = as_tensor(input)
    X, Y = x._array, _target(target)
    if tuple(X.shape) != tuple(Y.shape):
        raise ValueError(f"mse_loss: input {tuple(X.shape)} and target {tuple(Y.shape)} differ in shape "
                         "(kiln does not broadcast a loss silently)")
    be = backends.select(None, X, Y)
    loss, grad = ops.mse(X, Y, return_grad=True, backend=be)
    return _fused_loss(be, x, loss, grad, _reduction_scale(reduction, x.numel()))


def binary_cross_entropy_with_logits(input, target, pos_weight=None, reduction: str = "mean") -> Tensor:
    x = as_tensor(input)
    X, Y = x._array, _target(target)
    if tuple(X.shape) != tuple(Y.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: input {tuple(X.shape)} and target {tuple(Y.shape)} "
                         "differ in shape")
    be = backends.select(None, X, Y)
    pw = None if pos_weight is None else _target(pos_weight)
    loss, grad = ops.bce_with_logits(X, Y, pos_weight=pw, return_grad=True, backend=be)
    return _fused_loss(be, x, loss, grad, _reduction_scale(reduction, x.numel()))


def _class_indices(fn: str, target, n: int, classes: int, ignore_index: int) -> np.ndarray:
    """target (N,) as int64 host indices, each in [0, C) or ignore_index; else the error torch gives
    (TypeError for a float or bool target, ValueError naming the first bad entry)."""
    T = target if isinstance(target, np.ndarray) else np.asarray(target)
    if T.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got dtype {T.dtype}")
    if T.shape != (n,):
        raise ValueError(f"{fn}: target must have shape ({n},) (one class index per row of input), got {T.shape}")
    T = T.astype(np.int64, copy=False)
    bad = np.flatnonzero(((T < 0) | (T >= classes)) & (T != ignore_index))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{fn}: target[{i}] = {int(T[i])} is out of range [0, {classes}) and is not "
                         f"ignore_index ({ignore_index})")
    return T


def nll_loss(input, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities input (N, C) at target (N,): integer class
    indices in [0, C), or ignore_index for rows that count for nothing."""
    fn = "nll_loss"
    x = as_tensor(input)
    X = x._array
    be = backends.select(None, X)
    if X.ndim != 2:
        raise ValueError(f"{fn}: input must be 2-D (N, C) log-probabilities, got shape {tuple(X.shape)}")
    ignore_index = _args.integer(fn, "ignore_index", ignore_index)
    T = _target(target)
    T = _class_indices(fn, T if isinstance(T, np.ndarray) else be.to_numpy(T), X.shape[0], X.shape[1], ignore_index)
    rows = np.nonzero(T != ignore_index)[0]
    count = max(rows.size, 1)
    index = (rows, T[rows])
    picked = be.getitem(X, index)
    scale = 1.0 / count if reduction == "mean" else _reduction_scale(reduction, 1)
    value = be.astype(be.multiply(be.negative(be.sum(picked)), scale), X.dtype)
    e = edges((x,))
    if e is None:
        return Tensor._wrap(value)

    def backward(g):
        grad = be.full(X.shape, 0, X.dtype)
        be.setitem(grad, index, -float(be.to_numpy(g)) * scale)
        return (grad,)
    return Tensor._recorded(value, PythonNode(backward, e))


def binary_cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """BCE on probabilities, logs clamped at -100 as torch."""
    x = as_tensor(input)
    P = x._array
    be = backends.select(None, P)
    Y = be.astype(_target(target), P.dtype)
    if tuple(P.shape) != tuple(Y.shape):
        raise ValueError(f"binary_cross_entropy: input {tuple(P.shape)} and target {tuple(Y.shape)} differ in shape")
    p, y = be.to_numpy(P), be.to_numpy(Y)
    for name, values in (("input", p), ("target", y)):  # as torch: NaN is refused too
        outside = ~((values >= 0) & (values <= 1))
        if outside.any():
            where = np.unravel_index(int(np.argmax(outside)), values.shape)
            raise ValueError(f"binary_cross_entropy: all elements of {name} must be between 0 and 1 "
                             f"(probabilities), got {name}[{', '.join(map(str, where))}] = {values[where]:g}")
    log_p = np.maximum(np.log(np.where(p > 0, p, 1)) + np.where(p > 0, 0, -np.inf), -100)
    log_q = np.maximum(np.log(np.where(p < 1, 1 - p, 1)) + np.where(p < 1, 0, -np.inf), -100)
    scale = (1.0 / max(p.size, 1)) if reduction == "mean" else _reduction_scale(reduction, 1)
    value = be.from_numpy(np.asarray(-(y * log_p + (1 - y) * log_q).sum() * scale, p.dtype))
    e = edges((x,))
    if e is None:
        return Tensor._wrap(value)
    slope = (p - y) / np.maximum(p * (1 - p), 1e-12)

    def backward(g):
        return (be.from_numpy((float(be.to_numpy(g)) * scale * slope).astype(p.dtype)),)
    return Tensor._recorded(value, PythonNode(backward, e))
