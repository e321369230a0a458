"""linear_backward: the whole backward of a fully connected layer in one kernel call."""

from __future__ import annotations

from .. import backends
from . import _arrays

# The activations a layer's GEMM fuses into its epilogue (and linear_backward differentiates).
FUSED_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")


def linear_backward(x, w, y, grad_y, *, weight_is_out_by_in=True, activation=None, input_grad=True,
                    weight_grad=True, bias_grad=True, backend=None):
    """Gradients of y = act(x @ op(w) + bias), from grad_y and the forward output y.

    Args:
        x: (m, in), the layer's input.
        w: (out, in) when ``weight_is_out_by_in`` (torch nn.Linear), else (in, out) (Keras Dense).
        y, grad_y: (m, out), the forward output and the gradient arriving at it.
        activation: None, "relu", "sigmoid" or "tanh": the fused activation of the forward.
        input_grad, weight_grad, bias_grad: which gradients to compute.
    Returns:
        (dx (m, in), dw (w's shape), db (out,)), None for each one not asked for.
    """
    fn = "linear_backward"
    be = backends.select(backend, x, w, y, grad_y)
    x = _arrays.float_array(fn, "x", x)
    w = _arrays.float_array(fn, "w", w)
    y = _arrays.float_array(fn, "y", y)
    grad_y = _arrays.float_array(fn, "grad_y", grad_y)
    for name, a in (("x", x), ("w", w), ("y", y), ("grad_y", grad_y)):
        if a.ndim != 2:
            raise ValueError(f"{fn}: {name} must be 2-D, got shape {a.shape}")
    m, in_features = x.shape
    out_features, w_in = w.shape if weight_is_out_by_in else w.shape[::-1]
    if w_in != in_features:
        raise ValueError(f"{fn}: x {x.shape} has {in_features} features, w {w.shape} expects {w_in}")
    for name, a in (("y", y), ("grad_y", grad_y)):
        if a.shape != (m, out_features):
            raise ValueError(f"{fn}: {name} must have shape {(m, out_features)}, got {a.shape}")
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"{fn}: activation must be None, 'relu', 'sigmoid' or 'tanh', got {activation!r}")
    return be.linear_backward(x, w, y, grad_y, weight_is_out_by_in, activation, bool(input_grad),
                              bool(weight_grad), bool(bias_grad))
