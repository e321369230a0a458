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


# ---- conv2d and pooling -------------------------------------------------------------------
#
# x is (N, C, H, W); stride, padding, dilation and kernel_size are an int or an (h, w) pair.
# Every argument is checked here, so both backends refuse the same inputs the same way.

_MAX_ELEMENTS = 2**31 - 1  # kiln's limit per operand (kiln::kMaxElements)


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
