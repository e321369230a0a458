"""The kernel API: one function per kernel, on the NumPy reference or the native CPU path.

Every function takes ``backend="numpy" | "cpu"`` (``"cuda"`` once built with CUDA);
``None`` picks ``kiln.default_backend()``. Inputs may be float32 or float64 arrays;
the native backends compute in float32, the NumPy backend in the inputs' dtype.
Arguments are checked before any kernel runs: TypeError for a wrong type or dtype,
ValueError for a wrong shape or value, naming the argument and the shapes.
"""

from __future__ import annotations

import math

import numpy as np

from . import _args, reference
from ._backend import native, resolve


def _as_c_layout(x: np.ndarray, transposed: bool) -> tuple[np.ndarray, bool]:
    """A matrix view the native GEMM reads without a copy: unit stride along the last axis.

    A transposed view (x.T of a C-contiguous matrix) is passed as its base with the
    transpose flag flipped; anything else without unit inner stride is copied.
    """
    x32 = x if x.dtype == np.float32 else x.astype(np.float32)
    inner_ok = x32.shape[-1] <= 1 or x32.strides[-1] == 4
    if inner_ok and all(s >= 0 and s % 4 == 0 for s in x32.strides):
        return x32, transposed
    flipped = np.swapaxes(x32, -1, -2)
    if (flipped.shape[-1] <= 1 or flipped.strides[-1] == 4) and all(s >= 0 and s % 4 == 0 for s in flipped.strides):
        return flipped, not transposed
    return np.ascontiguousarray(x32), transposed


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None,
           alpha=1.0, beta=0.0, out=None, backend=None) -> np.ndarray:
    """act(alpha * op(a) @ op(b) + beta * out + bias), the GEMM with a fused epilogue.

    Args:
        a: (m, k), or (k, m) with ``transpose_a``; a leading batch axis (batch, ., .)
            makes the product batched (a 2-D operand is broadcast over the batch).
        b: (k, n), or (n, k) with ``transpose_b``; batched likewise.
        bias: (n,), added to every row, or None.
        activation: None, "relu", "sigmoid", "tanh", "gelu" or "gelu_tanh".
        alpha, beta: scale of the product and of the prior contents of ``out``.
        out: float32 (m, n) or (batch, m, n) to write into (required when beta != 0).
    Returns:
        (m, n) or (batch, m, n): ``out`` when given.
    """
    fn = "matmul"
    backend = resolve(backend)
    a = _args.float_array(fn, "a", a)
    b = _args.float_array(fn, "b", b)
    bias = _args.optional_float_array(fn, "bias", bias)
    alpha = _args.real(fn, "alpha", alpha)
    beta = _args.real(fn, "beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError("matmul: beta != 0 accumulates into out, so out must be given")
    for name, x in (("a", a), ("b", b)):
        if x.ndim not in (2, 3):
            raise ValueError(f"matmul: {name} must be 2-D or 3-D, got shape {x.shape}")
    if activation not in reference.ACTIVATIONS:
        raise ValueError(f"matmul: unknown activation {activation!r}; expected one of {reference.ACTIVATIONS}")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    kb, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
    if k != kb:
        raise ValueError(f"matmul: inner dimensions differ: a{'.T' if transpose_a else ''} {a.shape} "
                         f"@ b{'.T' if transpose_b else ''} {b.shape}")
    batch = [x.shape[0] for x in (a, b) if x.ndim == 3]
    if len(batch) == 2 and batch[0] != batch[1] and 1 not in batch:
        raise ValueError(f"matmul: batch sizes differ: a {a.shape}, b {b.shape}")
    shape = ((max(batch),) if batch else ()) + (m, n)
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"matmul: bias must have shape ({n},), got {bias.shape}")

    if backend == "numpy":
        result = reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=bias,
                                  activation=activation, alpha=alpha, beta=beta,
                                  c=out if beta else None)
        if out is None:
            return result
        out = _args.output(fn, out, shape)
        out[...] = result
        return out

    out = _args.output(fn, out, shape)
    a32, transpose_a = _as_c_layout(a, transpose_a)
    b32, transpose_b = _as_c_layout(b, transpose_b)
    native().matmul(a32, b32, out, _args.native_input(bias), transpose_a, transpose_b, alpha, beta,
                    activation)
    return out


# ---- LSTM ---------------------------------------------------------------------------------
# torch.nn.LSTMCell / torch.nn.LSTM (one layer, sequence first). B = batch, I = input size,
# H = hidden size, T = steps; gates are chunked i, f, g, o along the last axis.
# ---- conv2d and pooling -------------------------------------------------------------------
#
# x is (N, C, H, W); stride, padding, dilation and kernel_size are an int or an (h, w) pair.
# Every argument is checked here, so both backends refuse the same inputs the same way.

_MAX_ELEMENTS = 2**31 - 1  # kiln's limit per operand (kiln::kMaxElements)


def _lstm_hidden_size(fn: str, w_hh: np.ndarray) -> int:
    """H from w_hh, which must be (4H, H)."""
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise ValueError(f"{fn}: w_hh must have shape (4*H, H), got {w_hh.shape}")
    return w_hh.shape[1]


def _lstm_require_shape(fn: str, name: str, x: np.ndarray | None, shape: tuple, layout: str) -> None:
    if x is not None and x.shape != shape:
        raise ValueError(f"{fn}: {name} must have shape {layout} = {shape}, got {x.shape}")


def _lstm_check_sizes(fn: str, steps: int, batch: int, inputs: int, hidden: int) -> None:
    """Refuse sizes whose operands exceed kiln's limit, before anything is allocated."""
    for what, elements in (("x", steps * batch * inputs), ("the gates", steps * batch * 4 * hidden),
                           ("w_ih", 4 * hidden * inputs), ("w_hh", 4 * hidden * hidden)):
        if elements > _MAX_ELEMENTS:
            raise ValueError(f"{fn}: {what} would have {elements} elements, more than kiln's limit "
                             f"of {_MAX_ELEMENTS} per operand")


def _lstm_weights(fn: str, inputs: int, w_ih, w_hh, b_ih, b_hh):
    """The checked weights and biases, and H."""
    w_ih = _args.float_array(fn, "w_ih", w_ih)
    w_hh = _args.float_array(fn, "w_hh", w_hh)
    b_ih = _args.optional_float_array(fn, "b_ih", b_ih)
    b_hh = _args.optional_float_array(fn, "b_hh", b_hh)
    hidden = _lstm_hidden_size(fn, w_hh)
    _lstm_require_shape(fn, "w_ih", w_ih, (4 * hidden, inputs), "(4*H, I)")
    _lstm_require_shape(fn, "b_ih", b_ih, (4 * hidden,), "(4*H,)")
    _lstm_require_shape(fn, "b_hh", b_hh, (4 * hidden,), "(4*H,)")
    return w_ih, w_hh, b_ih, b_hh, hidden


def _lstm_x(fn: str, x, ndim: int, layout: str) -> np.ndarray:
    x = _args.float_array(fn, "x", x)
    if x.ndim != ndim:
        raise ValueError(f"{fn}: x must be {ndim}-D {layout}, got shape {x.shape}")
    return x


def _lstm_native_inputs(*arrays):
    return [_args.native_input(a) for a in arrays]


def _lstm_empty(*shape: int) -> np.ndarray:
    return np.empty(shape, dtype=np.float32)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, *, backend=None):
    """One LSTM cell step, as torch.nn.LSTMCell.

    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, chunked i, f, g, o; i, f, o = sigmoid,
    g = tanh; c_new = f * c + i * g; h_new = o * tanh(c_new).

    Args:
        x: (B, I). h, c: (B, H). w_ih: (4H, I). w_hh: (4H, H). b_ih, b_hh: (4H,) or None.
    Returns:
        h_new (B, H), c_new (B, H), gates (B, 4H): the activated i, f, g, o, which
        ``lstm_cell_backward`` takes.
    """
    fn = "lstm_cell"
    backend = resolve(backend)
    x = _lstm_x(fn, x, 2, "(B, I)")
    h = _args.float_array(fn, "h", h)
    c = _args.float_array(fn, "c", c)
    batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _lstm_require_shape(fn, "h", h, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "c", c, (batch, hidden), "(B, H)")
    _lstm_check_sizes(fn, 1, batch, inputs, hidden)
    if backend == "numpy":
        return reference.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)

    h_new, c_new = _lstm_empty(batch, hidden), _lstm_empty(batch, hidden)
    gates = _lstm_empty(batch, 4 * hidden)
    native().lstm_cell_forward(*_lstm_native_inputs(x, h, c, w_ih, w_hh, b_ih, b_hh), h_new, c_new, gates)
    return h_new, c_new, gates


def lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new, *, backend=None):
    """Gradients of one LSTM cell step (``lstm_cell``).

    Args:
        grad_h: (B, H), the gradient of h_new. grad_c: (B, H) or None, that of c_new.
        x, h, c, w_ih, w_hh: the step's inputs, as in ``lstm_cell``.
        gates: (B, 4H) and c_new: (B, H), the step's outputs.
    Returns:
        dx (B, I), dh (B, H), dc (B, H), dw_ih (4H, I), dw_hh (4H, H), and db (4H,): the
        gradient of b_ih, equal to that of b_hh.
    """
    fn = "lstm_cell_backward"
    backend = resolve(backend)
    grad_h = _args.float_array(fn, "grad_h", grad_h)
    grad_c = _args.optional_float_array(fn, "grad_c", grad_c)
    x = _lstm_x(fn, x, 2, "(B, I)")
    h = _args.float_array(fn, "h", h)
    c = _args.float_array(fn, "c", c)
    gates = _args.float_array(fn, "gates", gates)
    c_new = _args.float_array(fn, "c_new", c_new)
    batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h", grad_h), ("grad_c", grad_c), ("h", h), ("c", c), ("c_new", c_new)):
        _lstm_require_shape(fn, name, a, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "gates", gates, (batch, 4 * hidden), "(B, 4*H)")
    _lstm_check_sizes(fn, 1, batch, inputs, hidden)
    if backend == "numpy":
        return reference.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)

    grads = (_lstm_empty(batch, inputs), _lstm_empty(batch, hidden), _lstm_empty(batch, hidden),
             _lstm_empty(4 * hidden, inputs), _lstm_empty(4 * hidden, hidden), _lstm_empty(4 * hidden))
    native().lstm_cell_backward(*_lstm_native_inputs(x, h, c, w_ih, w_hh, gates, c_new, grad_h, grad_c),
                                *grads)
    return grads


def lstm_sequence(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *, backend=None):
    """A single-layer LSTM over a sequence, as torch.nn.LSTM (sequence first): ``lstm_cell``
    at each step, with the input projection of all steps computed as one GEMM.

    Args:
        x: (T, B, I). w_ih: (4H, I). w_hh: (4H, H). b_ih, b_hh: (4H,) or None.
        h0, c0: (B, H), or None for zeros.
    Returns:
        y (T, B, H) every h_t, h_n (B, H), c_n (B, H), and for ``lstm_sequence_backward``
        gates (T, B, 4H) every step's activated i, f, g, o, and cells (T, B, H) every c_t.
    """
    fn = "lstm_sequence"
    backend = resolve(backend)
    x = _lstm_x(fn, x, 3, "(T, B, I)")
    h0 = _args.optional_float_array(fn, "h0", h0)
    c0 = _args.optional_float_array(fn, "c0", c0)
    steps, batch, inputs = x.shape
    w_ih, w_hh, b_ih, b_hh, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, b_ih, b_hh)
    _lstm_require_shape(fn, "h0", h0, (batch, hidden), "(B, H)")
    _lstm_require_shape(fn, "c0", c0, (batch, hidden), "(B, H)")
    _lstm_check_sizes(fn, steps, batch, inputs, hidden)
    if backend == "numpy":
        return reference.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0)

    outputs = (_lstm_empty(steps, batch, hidden), _lstm_empty(batch, hidden), _lstm_empty(batch, hidden),
               _lstm_empty(steps, batch, 4 * hidden), _lstm_empty(steps, batch, hidden))
    native().lstm_sequence_forward(*_lstm_native_inputs(x, h0, c0, w_ih, w_hh, b_ih, b_hh), *outputs)
    return outputs


def lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells, *,
                           backend=None):
    """Backward through time of ``lstm_sequence``.

    Args:
        grad_y: (T, B, H), grad_h_n: (B, H), grad_c_n: (B, H): gradients of y, h_n and c_n,
            each None for zero.
        x, w_ih, w_hh, h0, c0: the forward's inputs (h0, c0 None for zeros).
        y (T, B, H), gates (T, B, 4H), cells (T, B, H): the forward's outputs.
    Returns:
        dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4H, I), dw_hh (4H, H), and db (4H,):
        the gradient of b_ih, equal to that of b_hh.
    """
    fn = "lstm_sequence_backward"
    backend = resolve(backend)
    grad_y = _args.optional_float_array(fn, "grad_y", grad_y)
    grad_h_n = _args.optional_float_array(fn, "grad_h_n", grad_h_n)
    grad_c_n = _args.optional_float_array(fn, "grad_c_n", grad_c_n)
    x = _lstm_x(fn, x, 3, "(T, B, I)")
    h0 = _args.optional_float_array(fn, "h0", h0)
    c0 = _args.optional_float_array(fn, "c0", c0)
    y = _args.float_array(fn, "y", y)
    gates = _args.float_array(fn, "gates", gates)
    cells = _args.float_array(fn, "cells", cells)
    steps, batch, inputs = x.shape
    w_ih, w_hh, _, _, hidden = _lstm_weights(fn, inputs, w_ih, w_hh, None, None)
    for name, a in (("grad_h_n", grad_h_n), ("grad_c_n", grad_c_n), ("h0", h0), ("c0", c0)):
        _lstm_require_shape(fn, name, a, (batch, hidden), "(B, H)")
    for name, a in (("grad_y", grad_y), ("y", y), ("cells", cells)):
        _lstm_require_shape(fn, name, a, (steps, batch, hidden), "(T, B, H)")
    _lstm_require_shape(fn, "gates", gates, (steps, batch, 4 * hidden), "(T, B, 4*H)")
    _lstm_check_sizes(fn, steps, batch, inputs, hidden)
    if backend == "numpy":
        return reference.lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0,
                                                y, gates, cells)

    grads = (_lstm_empty(steps, batch, inputs), _lstm_empty(batch, hidden), _lstm_empty(batch, hidden),
             _lstm_empty(4 * hidden, inputs), _lstm_empty(4 * hidden, hidden), _lstm_empty(4 * hidden))
    native().lstm_sequence_backward(*_lstm_native_inputs(x, h0, c0, w_ih, w_hh, y, gates, cells, grad_y,
                                                    grad_h_n, grad_c_n), *grads)
    return grads
# ---- pointwise ------------------------------------------------------------------------------


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def _pointwise_out(fn: str, out, shape: tuple[int, ...], inputs: dict) -> np.ndarray | None:
    """``out`` checked (float32, shape, writeable, C-contiguous): it may be one of the
    inputs itself (in place) but may not overlap one partly. None stays None."""
    if out is None:
        return None
    out = _args.contiguous_output(fn, out, shape)
    for name, x in inputs.items():
        if np.may_share_memory(out, x) and not _same_memory(out, x):
            raise ValueError(f"{fn}: out overlaps {name} partly; pass {name} itself (in place) "
                             "or a separate array")
    return out


def _deliver(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """The NumPy path's result, written into ``out`` when given."""
    if out is None:
        return result
    out[...] = result
    return out


def _activation(fn: str, activation: str, x, out, backend) -> np.ndarray:
    backend = resolve(backend)
    x = _args.float_array(fn, "x", x)
    out = _pointwise_out(fn, out, x.shape, {"x": x})
    if backend == "numpy":
        return _deliver(reference.activate(x, activation), out)
    out = _args.output(fn, out, x.shape)
    native().activation_forward(_args.native_input(x), out, activation)
    return out


def _activation_backward(fn: str, activation: str, grad_y, saved_name: str, saved, out, backend,
                         numpy_backward) -> np.ndarray:
    backend = resolve(backend)
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    saved = _args.float_array(fn, saved_name, saved)
    if saved.shape != grad_y.shape:
        raise ValueError(f"{fn}: {saved_name} must have grad_y's shape {grad_y.shape}, got {saved.shape}")
    out = _pointwise_out(fn, out, grad_y.shape, {"grad_y": grad_y, saved_name: saved})
    if backend == "numpy":
        return _deliver(numpy_backward(grad_y, saved), out)
    out = _args.output(fn, out, grad_y.shape)
    native().activation_backward(_args.native_input(grad_y), _args.native_input(saved), out, activation)
    return out


def _gelu_activation(fn: str, approximate) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{fn}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return "gelu" if approximate == "none" else "gelu_tanh"


def relu(x, *, out=None, backend=None) -> np.ndarray:
    """max(x, 0), NaN propagating. x: any shape; returns x's shape (``out`` when given,
    which may be x itself)."""
    return _activation("relu", "relu", x, out, backend)


def sigmoid(x, *, out=None, backend=None) -> np.ndarray:
    """1 / (1 + exp(-x)), stable. x: any shape; returns x's shape."""
    return _activation("sigmoid", "sigmoid", x, out, backend)


def tanh(x, *, out=None, backend=None) -> np.ndarray:
    """tanh(x). x: any shape; returns x's shape."""
    return _activation("tanh", "tanh", x, out, backend)


def gelu(x, approximate="none", *, out=None, backend=None) -> np.ndarray:
    """x * Phi(x) (``approximate="none"``, erf) or its tanh approximation (``"tanh"``),
    as torch.nn.functional.gelu. x: any shape; returns x's shape."""
    return _activation("gelu", _gelu_activation("gelu", approximate), x, out, backend)


def relu_backward(grad_y, x, *, out=None, backend=None) -> np.ndarray:
    """grad_y where x > 0, else 0 (torch's threshold_backward). grad_y, x: one shape."""
    return _activation_backward("relu_backward", "relu", grad_y, "x", x, out, backend,
                                reference.relu_backward)


def sigmoid_backward(grad_y, y, *, out=None, backend=None) -> np.ndarray:
    """grad_y * y * (1 - y), y = sigmoid(x) the forward output. grad_y, y: one shape."""
    return _activation_backward("sigmoid_backward", "sigmoid", grad_y, "y", y, out, backend,
                                reference.sigmoid_backward)


def tanh_backward(grad_y, y, *, out=None, backend=None) -> np.ndarray:
    """grad_y * (1 - y**2), y = tanh(x) the forward output. grad_y, y: one shape."""
    return _activation_backward("tanh_backward", "tanh", grad_y, "y", y, out, backend,
                                reference.tanh_backward)


def gelu_backward(grad_y, x, approximate="none", *, out=None, backend=None) -> np.ndarray:
    """grad_y * gelu'(x), from the forward input x. grad_y, x: one shape."""
    fn = "gelu_backward"
    activation = _gelu_activation(fn, approximate)
    return _activation_backward(fn, activation, grad_y, "x", x, out, backend,
                                lambda g, x: reference.gelu_backward(g, x, approximate))


def _softmax_axis(fn: str, x: np.ndarray, axis) -> int:
    axis = _args.integer(fn, "axis", axis)
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one axis, got a 0-D array")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for an array of shape {x.shape}")
    return axis % x.ndim


def _along_last_axis(kernel, arrays: list[np.ndarray], axis: int, out) -> np.ndarray:
    """Run a native last-axis kernel(*arrays, out) along ``axis``: in place of out when
    ``axis`` is the last one, else on contiguous moved copies, moved back into out."""
    last = arrays[0].ndim - 1
    if axis == last:
        result = out if out is not None else np.empty(arrays[0].shape, np.float32)
        kernel(*[_args.native_input(a) for a in arrays], result)
        return result
    moved = [np.ascontiguousarray(np.moveaxis(a, axis, -1), dtype=np.float32) for a in arrays]
    result = np.empty(moved[0].shape, np.float32)
    kernel(*moved, result)
    return _deliver(np.ascontiguousarray(np.moveaxis(result, -1, axis)), out)


def _softmax(fn: str, log: bool, x, axis, out, backend) -> np.ndarray:
    backend = resolve(backend)
    x = _args.float_array(fn, "x", x)
    axis = _softmax_axis(fn, x, axis)
    out = _pointwise_out(fn, out, x.shape, {"x": x})
    if backend == "numpy":
        forward = reference.log_softmax if log else reference.softmax
        return _deliver(forward(x, axis=axis), out)
    return _along_last_axis(lambda x, y: native().softmax_forward(x, y, log), [x], axis, out)


def _softmax_backward(fn: str, log: bool, grad_y, y, axis, out, backend) -> np.ndarray:
    backend = resolve(backend)
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    y = _args.float_array(fn, "y", y)
    if y.shape != grad_y.shape:
        raise ValueError(f"{fn}: y must have grad_y's shape {grad_y.shape}, got {y.shape}")
    axis = _softmax_axis(fn, grad_y, axis)
    out = _pointwise_out(fn, out, grad_y.shape, {"grad_y": grad_y, "y": y})
    if backend == "numpy":
        backward = reference.log_softmax_backward if log else reference.softmax_backward
        return _deliver(backward(grad_y, y, axis=axis), out)
    return _along_last_axis(lambda dy, y, dx: native().softmax_backward(dy, y, dx, log),
                            [grad_y, y], axis, out)


def softmax(x, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, stable. x: any shape with at least one axis;
    returns x's shape."""
    return _softmax("softmax", False, x, axis, out, backend)


def log_softmax(x, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, stable. x: any shape; returns x's shape."""
    return _softmax("log_softmax", True, x, axis, out, backend)


def softmax_backward(grad_y, y, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """y * (grad_y - sum(grad_y * y)) along ``axis``; y = softmax(x), one shape with grad_y."""
    return _softmax_backward("softmax_backward", False, grad_y, y, axis, out, backend)


def log_softmax_backward(grad_y, y, axis=-1, *, out=None, backend=None) -> np.ndarray:
    """grad_y - exp(y) * sum(grad_y) along ``axis``; y = log_softmax(x), one shape with grad_y."""
    return _softmax_backward("log_softmax_backward", True, grad_y, y, axis, out, backend)


# ---- adam -----------------------------------------------------------------------------------


def _at_least(fn: str, name: str, value, minimum: float) -> float:
    value = _args.real(fn, name, value)
    if not value >= minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


def _beta(fn: str, name: str, value) -> float:
    value = _args.real(fn, name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{fn}: {name} must be in [0, 1), got {value}")
    return value


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None,
              maximize=False, backend=None) -> None:
    """One step of torch.optim.Adam (AdamW with ``decoupled=True``), in place, one pass.

    Args:
        param, exp_avg, exp_avg_sq: one shape, any; updated in place, so never copied:
            on the native path float32, C-contiguous and writeable, else refused.
        grad: param's shape, float32 or float64 (converted for the native path).
        step: the 1-based step count including this step (torch's state["step"]).
        lr, beta1, beta2, eps, weight_decay: as torch; weight decay is added to the
            gradient (Adam) or applied as param *= 1 - lr * weight_decay (decoupled).
        amsgrad: keep max_exp_avg_sq (param's shape, updated in place) and use it.
        maximize: ascend instead of descend.
    """
    fn = "adam_step"
    backend = resolve(backend)
    on_native = backend != "numpy"
    param = _args.inplace_array(fn, "param", param, None, native=on_native)
    grad = _args.float_array(fn, "grad", grad)
    if grad.shape != param.shape:
        raise ValueError(f"{fn}: grad must have param's shape {param.shape}, got {grad.shape}")
    exp_avg = _args.inplace_array(fn, "exp_avg", exp_avg, param.shape, native=on_native)
    exp_avg_sq = _args.inplace_array(fn, "exp_avg_sq", exp_avg_sq, param.shape, native=on_native)
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError(f"{fn}: amsgrad=True needs max_exp_avg_sq")
        max_exp_avg_sq = _args.inplace_array(fn, "max_exp_avg_sq", max_exp_avg_sq, param.shape,
                                             native=on_native)
    else:
        max_exp_avg_sq = None
    step = _args.integer(fn, "step", step, minimum=1)
    lr = _at_least(fn, "lr", lr, 0.0)
    beta1 = _beta(fn, "beta1", beta1)
    beta2 = _beta(fn, "beta2", beta2)
    eps = _at_least(fn, "eps", eps, 0.0)
    weight_decay = _at_least(fn, "weight_decay", weight_decay, 0.0)
    _args.disjoint(fn, {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                        "max_exp_avg_sq": max_exp_avg_sq})
    flags = {"decoupled": bool(decoupled), "amsgrad": bool(amsgrad), "maximize": bool(maximize)}
    if backend == "numpy":
        reference.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1,
                            beta2=beta2, eps=eps, weight_decay=weight_decay,
                            max_exp_avg_sq=max_exp_avg_sq, **flags)
        return
    native().adam_step(param, _args.native_input(grad), exp_avg, exp_avg_sq, max_exp_avg_sq, step,
                       lr, beta1, beta2, eps, weight_decay, **flags)


# ---- embedding ------------------------------------------------------------------------------


def _padding_index(fn: str, padding_idx, num_embeddings: int) -> int | None:
    """torch's padding_idx: None, or in [-V, V) with negative values counted from the end."""
    if padding_idx is None:
        return None
    padding_idx = _args.integer(fn, "padding_idx", padding_idx)
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: padding_idx must be in [{-num_embeddings}, {num_embeddings}), "
                         f"got {padding_idx}")
    return padding_idx % num_embeddings


def _check_indices(fn: str, indices: np.ndarray, num_embeddings: int) -> None:
    bad = (indices < 0) | (indices >= num_embeddings)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{fn}: indices[{', '.join(map(str, where))}] = {indices[tuple(where)]} "
                         f"is out of range [0, {num_embeddings})")


def embedding(indices, weight, padding_idx=None, *, backend=None) -> np.ndarray:
    """weight[indices], as torch.nn.functional.embedding.

    Args:
        indices: integer array of any shape, each in [0, V).
        weight: (V, D).
        padding_idx: None or a row in [-V, V); only the gradient treats it specially.
    Returns:
        (*indices.shape, D).
    """
    fn = "embedding"
    backend = resolve(backend)
    indices = _args.index_array(fn, "indices", indices)
    weight = _args.float_array(fn, "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    num_embeddings, dim = weight.shape
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    _check_indices(fn, indices, num_embeddings)
    if backend == "numpy":
        return reference.embedding(indices, weight, padding_idx)
    out = np.empty(indices.shape + (dim,), np.float32)
    native().embedding(indices, _args.native_input(weight), out)
    return out


def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None, *, backend=None) -> np.ndarray:
    """The weight gradient of ``embedding``: grad_out's rows summed into the rows of a
    zero (V, D) by indices; the row padding_idx stays zero.

    Args:
        indices: integer array of any shape, each in [0, num_embeddings).
        grad_out: (*indices.shape, D).
        num_embeddings: V.
        padding_idx: None or a row in [-V, V).
    Returns:
        (V, D).
    """
    fn = "embedding_backward"
    backend = resolve(backend)
    indices = _args.index_array(fn, "indices", indices)
    grad_out = _args.float_array(fn, "grad_out", grad_out)
    if grad_out.ndim != indices.ndim + 1 or grad_out.shape[:-1] != indices.shape:
        raise ValueError(f"{fn}: grad_out must have shape (*indices.shape, D) = {indices.shape + ('D',)}, "
                         f"got {grad_out.shape}")
    num_embeddings = _args.integer(fn, "num_embeddings", num_embeddings, minimum=0)
    padding_idx = _padding_index(fn, padding_idx, num_embeddings)
    _check_indices(fn, indices, num_embeddings)
    if backend == "numpy":
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
    grad_weight = np.empty((num_embeddings, grad_out.shape[-1]), np.float32)
    native().embedding_backward(indices, _args.native_input(grad_out),
                                -1 if padding_idx is None else padding_idx, grad_weight)
    return grad_weight


# ---- losses (mean reduction) ----------------------------------------------------------------


def _loss_result(loss: float, grad, return_grad: bool):
    return (float(loss), grad) if return_grad else float(loss)


def softmax_cross_entropy(logits, target, *, ignore_index=-100, label_smoothing=0.0,
                          return_grad=False, grad_scale=1.0, backend=None):
    """torch.nn.functional.cross_entropy with mean reduction, numerically stable.

    Args:
        logits: (N, C), C >= 1.
        target: integer class indices (N,), each in [0, C) or equal to ignore_index
            (those rows count for nothing; the mean runs over the others), or
            probabilities (N, C) (float; the mean runs over N).
        label_smoothing: in [0, 1], mixes the target with the uniform distribution.
        return_grad: also return d loss / d logits (N, C), times grad_scale.
    Returns:
        loss (float; NaN when no row counts), or (loss, grad).
    """
    fn = "softmax_cross_entropy"
    backend = resolve(backend)
    logits = _args.float_array(fn, "logits", logits)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"{fn}: logits must be 2-D (N, C) with C >= 1, got shape {logits.shape}")
    n, c = logits.shape
    if target is None:
        raise TypeError(f"{fn}: target must be an integer or float array, got None")
    target_array = target if isinstance(target, np.ndarray) else _args._asarray(fn, "target", target)
    if target_array.dtype.kind in "iu":
        target = _args.index_array(fn, "target", target_array)
        if target.shape != (n,):
            raise ValueError(f"{fn}: class-index target must have shape ({n},), got {target.shape}")
    else:
        target = _args.float_array(fn, "target", target_array)
        if target.shape != (n, c):
            raise ValueError(f"{fn}: probability target must have logits' shape {(n, c)}, got {target.shape}")
    ignore_index = _args.integer(fn, "ignore_index", ignore_index)
    label_smoothing = _args.real(fn, "label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if target.dtype == np.int64:
        bad = (target != ignore_index) & ((target < 0) | (target >= c))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{fn}: target[{i}] = {target[i]} is out of range [0, {c}) "
                             f"and is not ignore_index ({ignore_index})")
    if backend == "numpy":
        return reference.softmax_cross_entropy(logits, target, ignore_index=ignore_index,
                                               label_smoothing=label_smoothing,
                                               return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty((n, c), np.float32) if return_grad else None
    native_target = target if target.dtype == np.int64 else _args.native_input(target)
    loss = native().softmax_cross_entropy(_args.native_input(logits), native_target, grad,
                                          ignore_index, label_smoothing, grad_scale)
    return _loss_result(loss, grad, return_grad)


def _same_shape(fn: str, name: str, x: np.ndarray, like_name: str, like: np.ndarray) -> None:
    if x.shape != like.shape:
        raise ValueError(f"{fn}: {name} must have {like_name}'s shape {like.shape}, got {x.shape}")


def bce_with_logits(logits, target, *, pos_weight=None, return_grad=False, grad_scale=1.0,
                    backend=None):
    """torch.nn.functional.binary_cross_entropy_with_logits with mean reduction, stable.

    Args:
        logits, target: one shape, any (target in [0, 1]).
        pos_weight: (C,) with C = logits.shape[-1], the weight of positive examples
            of each class, broadcast over the last axis; or None.
        return_grad: also return d loss / d logits (logits' shape), times grad_scale.
    Returns:
        loss (float; NaN for empty inputs), or (loss, grad).
    """
    fn = "bce_with_logits"
    backend = resolve(backend)
    logits = _args.float_array(fn, "logits", logits)
    target = _args.float_array(fn, "target", target)
    _same_shape(fn, "target", target, "logits", logits)
    pos_weight = _args.optional_float_array(fn, "pos_weight", pos_weight)
    if pos_weight is not None and (logits.ndim == 0 or pos_weight.shape != logits.shape[-1:]):
        raise ValueError(f"{fn}: pos_weight must have shape {logits.shape[-1:] or '(C,)'} "
                         f"(logits' last axis), got {pos_weight.shape}")
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if backend == "numpy":
        return reference.bce_with_logits(logits, target, pos_weight=pos_weight,
                                         return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty(logits.shape, np.float32) if return_grad else None
    loss = native().bce_with_logits(_args.native_input(logits), _args.native_input(target),
                                    _args.native_input(pos_weight), grad, grad_scale)
    return _loss_result(loss, grad, return_grad)


def mse(pred, target, *, return_grad=False, grad_scale=1.0, backend=None):
    """Mean squared error, torch.nn.functional.mse_loss with mean reduction.

    Args:
        pred, target: one shape, any.
        return_grad: also return d loss / d pred (pred's shape), times grad_scale.
    Returns:
        loss (float; NaN for empty inputs), or (loss, grad).
    """
    fn = "mse"
    backend = resolve(backend)
    pred = _args.float_array(fn, "pred", pred)
    target = _args.float_array(fn, "target", target)
    _same_shape(fn, "target", target, "pred", pred)
    grad_scale = _args.real(fn, "grad_scale", grad_scale)
    if backend == "numpy":
        return reference.mse(pred, target, return_grad=return_grad, grad_scale=grad_scale)
    grad = np.empty(pred.shape, np.float32) if return_grad else None
    loss = native().mse(_args.native_input(pred), _args.native_input(target), grad, grad_scale)
    return _loss_result(loss, grad, return_grad)
def _batch_of_images(fn: str, name: str, x) -> np.ndarray:
    x = _args.float_array(fn, name, x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: {name} must be 4-D (N, C, H, W), got shape {x.shape}")
    return x


def _check_elements(fn: str, name: str, shape) -> None:
    count = math.prod(shape)
    if count > _MAX_ELEMENTS:
        raise ValueError(f"{fn}: {name} of shape {tuple(shape)} would have {count} elements, "
                         f"more than kiln's limit of {_MAX_ELEMENTS} per operand")


def _conv2d_args(fn, x, weight, stride, padding, dilation, groups):
    """Checked (x, weight, stride, padding, dilation, groups, output shape)."""
    x = _batch_of_images(fn, "x", x)
    weight = _args.float_array(fn, "weight", weight)
    if weight.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (K, C/groups, R, S), got shape {weight.shape}")
    stride = _args.pair(fn, "stride", stride, minimum=1)
    padding = _args.pair(fn, "padding", padding, minimum=0)
    dilation = _args.pair(fn, "dilation", dilation, minimum=1)
    groups = _args.integer(fn, "groups", groups, minimum=1)
    n, c, h, w = x.shape
    k, cg, r, s = weight.shape
    if c % groups or k % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels of x {x.shape} "
                         f"and the output channels of weight {weight.shape}")
    if cg * groups != c:
        raise ValueError(f"{fn}: weight {weight.shape} has {cg} input channels per group, but x "
                         f"{x.shape} with groups={groups} needs {c // groups}")
    if r < 1 or s < 1:
        raise ValueError(f"{fn}: the kernel must be at least 1x1, got weight {weight.shape}")
    span = (dilation[0] * (r - 1) + 1, dilation[1] * (s - 1) + 1)
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{fn}: the dilated kernel {span} of weight {weight.shape} is larger than "
                         f"the padded input {padded} of x {x.shape}")
    out_shape = (n, k) + tuple(reference.conv2d_output_size((h, w)[a], (r, s)[a], stride[a], padding[a],
                                                            dilation[a]) for a in (0, 1))
    _check_elements(fn, "x", x.shape)
    _check_elements(fn, "weight", weight.shape)
    _check_elements(fn, "the output", out_shape)
    return x, weight, stride, padding, dilation, groups, out_shape


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
           backend=None) -> np.ndarray:
    """torch.nn.functional.conv2d.

    Args:
        x: (N, C, H, W).
        weight: (K, C/groups, R, S).
        bias: (K,) or None.
        stride, padding, dilation: int or (h, w); groups divides C and K.
    Returns:
        (N, K, OH, OW), OH = (H + 2*padding_h - dilation_h*(R-1) - 1) // stride_h + 1.
    """
    fn = "conv2d"
    backend = resolve(backend)
    x, weight, stride, padding, dilation, groups, out_shape = _conv2d_args(
        fn, x, weight, stride, padding, dilation, groups)
    bias = _args.optional_float_array(fn, "bias", bias)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{fn}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if backend == "numpy":
        return reference.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                                groups=groups)
    out = np.empty(out_shape, np.float32)
    native().conv2d_forward(_args.native_input(x), _args.native_input(weight), _args.native_input(bias),
                            out, stride, padding, dilation, groups)
    return out


def conv2d_backward(x, weight, grad_y, *, stride=1, padding=0, dilation=1, groups=1,
                    input_grad=True, weight_grad=True, bias_grad=True, backend=None):
    """Gradients of conv2d.

    Args:
        x: (N, C, H, W); weight: (K, C/groups, R, S); grad_y: (N, K, OH, OW).
        stride, padding, dilation, groups: as given to conv2d.
        input_grad, weight_grad, bias_grad: which gradients to compute.
    Returns:
        (grad_x (N, C, H, W), grad_weight (K, C/groups, R, S), grad_bias (K,)), each None
        when not asked for.
    """
    fn = "conv2d_backward"
    backend = resolve(backend)
    x, weight, stride, padding, dilation, groups, out_shape = _conv2d_args(
        fn, x, weight, stride, padding, dilation, groups)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    if grad_y.shape != out_shape:
        raise ValueError(f"{fn}: grad_y must have shape {out_shape} (the output of x {x.shape} and "
                         f"weight {weight.shape}), got {grad_y.shape}")
    input_grad, weight_grad, bias_grad = bool(input_grad), bool(weight_grad), bool(bias_grad)
    if backend == "numpy":
        return reference.conv2d_backward(x, weight, grad_y, stride=stride, padding=padding,
                                         dilation=dilation, groups=groups, input_grad=input_grad,
                                         weight_grad=weight_grad, bias_grad=bias_grad)
    grad_x = np.empty(x.shape, np.float32) if input_grad else None
    grad_weight = np.empty(weight.shape, np.float32) if weight_grad else None
    grad_bias = np.empty(weight.shape[:1], np.float32) if bias_grad else None
    native().conv2d_backward(_args.native_input(x), _args.native_input(weight), _args.native_input(grad_y),
                             grad_x, grad_weight, grad_bias, stride, padding, dilation, groups)
    return grad_x, grad_weight, grad_bias


def _pool2d_args(fn, input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked (kernel, stride, padding, dilation, ceil_mode, output shape) for an input shape."""
    kernel = _args.pair(fn, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else _args.pair(fn, "stride", stride, minimum=1)
    padding = _args.pair(fn, "padding", padding, minimum=0)
    dilation = _args.pair(fn, "dilation", dilation, minimum=1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{fn}: ceil_mode must be a bool, got {type(ceil_mode).__name__}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half of kernel_size {kernel}")
    n, c, h, w = input_shape
    out_hw = tuple(reference.pool2d_output_size((h, w)[a], kernel[a], stride[a], padding[a],
                                                dilation[a], bool(ceil_mode)) for a in (0, 1))
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: the input {tuple(input_shape)} is too small for kernel_size {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}: output size {out_hw}")
    _check_elements(fn, "the input", input_shape)
    _check_elements(fn, "the output", (n, c) + out_hw)
    return kernel, stride, padding, dilation, bool(ceil_mode), (n, c) + out_hw


def _check_windows_reach_input(fn, input_shape, kernel, stride, padding, dilation, out_shape):
    """Max pooling has no answer for a window wholly in the padding (possible with dilation)."""
    for a, axis in ((0, "row"), (1, "column")):
        start = np.arange(out_shape[2 + a], dtype=np.int64) * stride[a] - padding[a]
        first_tap = np.where(start >= 0, 0, (-start + dilation[a] - 1) // dilation[a])
        reaches = (first_tap < kernel[a]) & (start + first_tap * dilation[a] < input_shape[2 + a])
        if not reaches.all():
            raise ValueError(f"{fn}: the window of output {axis} {int(np.argmin(reaches))} covers only "
                             f"padding (kernel_size {kernel}, dilation {dilation}, padding {padding})")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, backend=None):
    """torch.nn.functional.max_pool2d.

    Args:
        x: (N, C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2),
            dilation: int or (h, w).
        ceil_mode: round the output size up (a window must still start inside the input
            or its left padding).
    Returns:
        y (N, C, OH, OW); with return_indices also indices (N, C, OH, OW) int64, the flat
        position h * W + w of each maximum in its plane. NaN wins, as in torch.
    """
    fn = "max_pool2d"
    backend = resolve(backend)
    x = _batch_of_images(fn, "x", x)
    kernel, stride, padding, dilation, ceil_mode, out_shape = _pool2d_args(
        fn, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    _check_windows_reach_input(fn, x.shape, kernel, stride, padding, dilation, out_shape)
    if backend == "numpy":
        return reference.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices)
    out = np.empty(out_shape, np.float32)
    indices = np.empty(out_shape, np.int64) if return_indices else None
    native().max_pool2d_forward(_args.native_input(x), out, indices, kernel, stride, padding, dilation,
                                ceil_mode)
    return (out, indices) if return_indices else out


def _input_shape(fn: str, input_shape, grad_y: np.ndarray) -> tuple[int, int, int, int]:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 4:
        raise ValueError(f"{fn}: input_shape must be (N, C, H, W), got {input_shape!r}")
    shape = tuple(_args.integer(fn, "input_shape", v, minimum=0) for v in input_shape)
    if shape[:2] != grad_y.shape[:2]:
        raise ValueError(f"{fn}: input_shape {shape} and grad_y {grad_y.shape} differ in (N, C)")
    return shape


def max_pool2d_backward(grad_y, indices, input_shape, *, backend=None) -> np.ndarray:
    """Gradient of max_pool2d.

    Args:
        grad_y: (N, C, OH, OW).
        indices: (N, C, OH, OW) integers from max_pool2d(..., return_indices=True), each in
            [0, H * W).
        input_shape: (N, C, H, W) of max_pool2d's input.
    Returns:
        grad_x (N, C, H, W): grad_y summed into the positions indices name.
    """
    fn = "max_pool2d_backward"
    backend = resolve(backend)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    indices = _args.index_array(fn, "indices", indices)
    if indices.shape != grad_y.shape:
        raise ValueError(f"{fn}: indices must have the shape of grad_y {grad_y.shape}, got {indices.shape}")
    input_shape = _input_shape(fn, input_shape, grad_y)
    _check_elements(fn, "grad_x", input_shape)
    plane = input_shape[2] * input_shape[3]
    if indices.size and (indices.min() < 0 or indices.max() >= plane):
        raise ValueError(f"{fn}: indices must lie in [0, {plane}) (H * W of input_shape {input_shape}), "
                         f"got values from {indices.min()} to {indices.max()}")
    if backend == "numpy":
        return reference.max_pool2d_backward(grad_y, indices, input_shape)
    grad_x = np.empty(input_shape, np.float32)
    native().max_pool2d_backward(_args.native_input(grad_y), indices, grad_x)
    return grad_x


def _divisor_override(fn: str, value) -> int:
    if value is None:
        return 0
    value = _args.integer(fn, "divisor_override", value)
    if value == 0:
        raise ValueError(f"{fn}: divisor_override must not be 0 (None: no override)")
    return value


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, backend=None) -> np.ndarray:
    """torch.nn.functional.avg_pool2d.

    Args:
        x: (N, C, H, W).
        kernel_size, stride (default: kernel_size), padding (at most kernel_size // 2):
            int or (h, w).
        count_include_pad: divide by the window's size within the padded input, not by the
            number of input elements it covers. divisor_override: a fixed divisor, or None.
    Returns:
        (N, C, OH, OW).
    """
    fn = "avg_pool2d"
    backend = resolve(backend)
    x = _batch_of_images(fn, "x", x)
    kernel, stride, padding, _, ceil_mode, out_shape = _pool2d_args(
        fn, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor = _divisor_override(fn, divisor_override)
    count_include_pad = bool(count_include_pad)
    if backend == "numpy":
        return reference.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor or None)
    out = np.empty(out_shape, np.float32)
    native().avg_pool2d_forward(_args.native_input(x), out, kernel, stride, padding, ceil_mode,
                                count_include_pad, divisor)
    return out


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, backend=None) -> np.ndarray:
    """Gradient of avg_pool2d.

    Args:
        grad_y: (N, C, OH, OW).
        input_shape: (N, C, H, W) of avg_pool2d's input; the other arguments as given to it.
    Returns:
        grad_x (N, C, H, W).
    """
    fn = "avg_pool2d_backward"
    backend = resolve(backend)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    input_shape = _input_shape(fn, input_shape, grad_y)
    kernel, stride, padding, _, ceil_mode, out_shape = _pool2d_args(
        fn, input_shape, kernel_size, stride, padding, 1, ceil_mode)
    if grad_y.shape != out_shape:
        raise ValueError(f"{fn}: grad_y must have shape {out_shape} (the output for input_shape "
                         f"{input_shape}), got {grad_y.shape}")
    divisor = _divisor_override(fn, divisor_override)
    count_include_pad = bool(count_include_pad)
    if backend == "numpy":
        return reference.avg_pool2d_backward(grad_y, input_shape, kernel, stride, padding, ceil_mode,
                                             count_include_pad, divisor or None)
    grad_x = np.empty(input_shape, np.float32)
    native().avg_pool2d_backward(_args.native_input(grad_y), grad_x, kernel, stride, padding, ceil_mode,
                                 count_include_pad, divisor)
    return grad_x
