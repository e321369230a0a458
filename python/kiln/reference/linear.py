"""Backward of a fully connected layer with a fused activation."""

from __future__ import annotations

import numpy as np

from .pointwise import relu_backward, sigmoid_backward, tanh_backward

_FROM_OUTPUT = {None: None, "relu": relu_backward, "sigmoid": sigmoid_backward, "tanh": tanh_backward}


def linear_backward(x: np.ndarray, w: np.ndarray, y: np.ndarray, grad_y: np.ndarray, *,
                    weight_is_out_by_in: bool = True, activation: str | None = None,
                    input_grad: bool = True, weight_grad: bool = True, bias_grad: bool = True):
    """Gradients of y = act(x @ op(w) + bias) from grad_y and the forward output y.

    x (m, in); w (out, in) when ``weight_is_out_by_in`` (nn.Linear) else (in, out) (Keras
    Dense); y, grad_y (m, out); activation None, "relu", "sigmoid" or "tanh" (each
    derivative follows from y; relu's because y > 0 exactly where x > 0).
    Returns (dx (m, in), dw (w's shape), db (out,)), None for each one not asked for.
    """
    if activation not in _FROM_OUTPUT:
        raise ValueError(f"linear_backward: activation must be None, 'relu', 'sigmoid' or 'tanh', "
                         f"got {activation!r}")
    dz = grad_y if activation is None else _FROM_OUTPUT[activation](grad_y, y)
    dx = (dz @ (w if weight_is_out_by_in else w.T)) if input_grad else None
    dw = ((dz.T @ x) if weight_is_out_by_in else (x.T @ dz)) if weight_grad else None
    db = dz.sum(axis=0) if bias_grad else None
    return dx, dw, db
