"""The Tensor layer's kernel calls: straight into kiln._C when the arrays allow it.

``kiln.ops`` checks and converts every argument, as it must for arrays from users. The
layers call kernels on arrays they made themselves, so on the "cpu" backend, with
float32 C-contiguous arrays, they go straight to ``kiln._C`` (whose own checks still
refuse a bad call) and a small layer's step pays one crossing per kernel instead of a
Python argument parse. The ``*_node`` functions build the tape's native backward objects
(see python/src/bind_tape.cpp) on the same condition, and None where a Python closure
must do. Anything else (the NumPy backend, float64 gradient checks,
strided views) takes the ``kiln.ops`` road, with the same results. The forward GEMM needs
nothing here: ``kiln.ops.matmul`` has the same shortcut for plain float32 matrices.
"""

from __future__ import annotations

import numpy as np

from . import _backend, ops

_F32 = np.dtype(np.float32)


def _plain(*arrays) -> bool:
    """Every array float32 and C-contiguous (None counts as plain)."""
    for a in arrays:
        if a is not None and (a.dtype != _F32 or not a.flags.c_contiguous):
            return False
    return True


def linear_backward(x, w, y, g, *, weight_is_out_by_in, activation, input_grad, weight_grad,
                    bias_grad, backend="cpu"):
    """(dx, dw, db) of y = act(x @ op(w) + bias); see ``kiln.ops.linear_backward``."""
    if backend == "cpu" and _plain(x, w, y, g):
        dx = np.empty(x.shape, _F32) if input_grad else None
        dw = np.empty(w.shape, _F32) if weight_grad else None
        db = np.empty(y.shape[1], _F32) if bias_grad else None
        _backend._C.linear_backward(x, w, y, g, dx, dw, db, weight_is_out_by_in, activation)
        return dx, dw, db
    return ops.linear_backward(x, w, y, g, weight_is_out_by_in=weight_is_out_by_in, activation=activation,
                               input_grad=input_grad, weight_grad=weight_grad, bias_grad=bias_grad,
                               backend=backend)


def activation(name: str, a, backend="cpu") -> np.ndarray:
    """relu, sigmoid or tanh of a (any shape)."""
    if backend == "cpu" and _plain(a):
        out = np.empty_like(a)
        _backend._C.activation_forward(a, out, name)
        return out
    return getattr(ops, name)(a, backend=backend)


def activation_backward(name: str, g, saved, backend="cpu") -> np.ndarray:
    """g * act'(.), where ``saved`` is the input for relu and the output for sigmoid and tanh."""
    if backend == "cpu" and _plain(g, saved) and g.shape == saved.shape:
        out = np.empty_like(g)
        _backend._C.activation_backward(g, saved, out, name)
        return out
    return getattr(ops, f"{name}_backward")(g, saved, backend=backend)


def softmax_cross_entropy(logits, target, *, ignore_index, label_smoothing, backend="cpu"):
    """(mean loss, d loss / d logits) for logits (N, C) and class indices or probabilities."""
    if (backend == "cpu" and _plain(logits) and isinstance(target, np.ndarray)
            and target.dtype == np.int64 and target.flags.c_contiguous):
        grad = np.empty_like(logits)
        loss = _backend._C.softmax_cross_entropy(logits, target, grad, ignore_index, label_smoothing, 1.0)
        return float(loss), grad
    return ops.softmax_cross_entropy(logits, target, ignore_index=ignore_index,
                                     label_smoothing=label_smoothing, return_grad=True, backend=backend)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize, backend="cpu") -> None:
    """One Adam step in place over an optimizer's flat buffers (see ``kiln.ops.adam_step``)."""
    if backend == "cpu" and _plain(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq):
        _backend._C.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                              weight_decay, decoupled, amsgrad, maximize)
        return
    ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                  weight_decay=weight_decay, decoupled=decoupled, amsgrad=amsgrad,
                  max_exp_avg_sq=max_exp_avg_sq, maximize=maximize, backend=backend)


# ---- native tape nodes (None: the caller records a Python closure) ------------------------------


def linear_forward(x, weight, bias, activation, weight_is_out_by_in: bool, recording: bool):
    """(y, native backward or None) for y = act(x @ op(w) + bias) of float32 Tensors on the
    cpu backend, in one crossing; None when the general road must take it."""
    if _backend.current_backend() != "cpu":
        return None
    return _backend._C.linear_forward_node(
        x._array, weight._array, None if bias is None else bias._array, activation, weight_is_out_by_in,
        recording and x.requires_grad, recording and weight.requires_grad,
        None if bias is None else recording and bias.requires_grad)


def activation_forward(name: str, a, recording: bool):
    """(y, native backward or None) for relu, sigmoid or tanh of a float32 array on the cpu
    backend; None when the general road must take it."""
    if _backend.current_backend() != "cpu":
        return None
    return _backend._C.activation_forward_node(a, name, recording)


def cross_entropy_forward(logits, target, ignore_index: int, label_smoothing: float, scale: float,
                          recording: bool):
    """(mean loss, native backward or None) for class-index targets on the cpu backend; None
    when the general road must take it."""
    if _backend.current_backend() != "cpu":
        return None
    return _backend._C.cross_entropy_forward_node(logits, target, ignore_index, label_smoothing, scale,
                                                  recording)


def scaled_grad_node(grad, scale: float, backend: str):
    """Backward of a loss whose kernel wrote d loss / d input: grad * incoming * scale."""
    if backend == "cpu" and _plain(grad):
        return _backend._C.ScaledGradBackward(grad, scale)
    return None
