"""The NumPy reference path: every kernel of kiln, written plainly.

This is the yardstick: tests compare the native kernels with these functions in
float64, and benchmarks measure speed against them. Each function accepts float32
and float64 and computes in the wider dtype of its inputs. Semantics follow
PyTorch (see docs and ``kiln.ops``); shapes are in each docstring.
"""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


def _dtype(*arrays) -> np.dtype:
    return np.result_type(*[a for a in arrays if a is not None])


# ---- pointwise ------------------------------------------------------------------------


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), NaN propagating. Any shape."""
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0)).astype(x.dtype, copy=False)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), stable for large |x|. Any shape."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x). Any shape."""
    return np.tanh(x)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) (``approximate="none"``, erf) or its tanh approximation. Any shape."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def activate(x: np.ndarray, activation: str | None) -> np.ndarray:
    """Apply one of ``ACTIVATIONS`` by name."""
    if activation is None or activation == "none":
        return x
    if activation == "relu":
        return relu(x)
    if activation == "sigmoid":
        return sigmoid(x)
    if activation == "tanh":
        return tanh(x)
    if activation == "gelu":
        return gelu(x)
    if activation == "gelu_tanh":
        return gelu(x, approximate="tanh")
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


# ---- matmul -----------------------------------------------------------------------------


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None,
           alpha=1.0, beta=0.0, c=None) -> np.ndarray:
    """act(alpha * op(a) @ op(b) + beta * c + bias).

    a: (m, k), or (k, m) with transpose_a; optionally (batch, ., .)
    b: (k, n), or (n, k) with transpose_b; optionally (batch, ., .)
    bias: (n,) or None; c: the result's shape, read only when beta != 0
    returns (m, n) or (batch, m, n)
    """
    dtype = _dtype(a, b, bias, c if beta else None)
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    result = alpha * np.matmul(a.astype(dtype), b.astype(dtype))
    if beta:
        result = result + beta * c
    if bias is not None:
        result = result + bias
    return activate(np.asarray(result, dtype=dtype), activation)


# ---- conv2d and pooling -----------------------------------------------------------------
#
# Shapes: x (N, C, H, W); conv weight (K, C/groups, R, S); outputs (N, K or C, OH, OW).
# stride, padding, dilation and kernel_size are an int or an (h, w) pair.


def _pair(value) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


def conv2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis of a convolution (torch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool2d_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                       ceil_mode: bool = False) -> int:
    """Output length along one axis of a pooling: floor or ceil, and with ceil_mode the
    last window must start inside the input or its left padding (torch's rule)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _windows(x, kernel, stride, padding, dilation, out_hw, fill=0.0):
    """(N, C, OH, OW, R, S) view of the windows of x padded with ``fill``, each tap a
    dilated kernel position. Padded past the right edge too when a ceil_mode window
    reaches beyond it (pooling)."""
    (r, s), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_hw
    span_h, span_w = dh * (r - 1) + 1, dw * (s - 1) + 1
    extra_h = max(0, (oh - 1) * sh + span_h - (x.shape[2] + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + span_w - (x.shape[3] + 2 * pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return views[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _scatter_windows(grad_windows, input_shape, kernel, stride, padding, dilation):
    """The adjoint of _windows: sum grad_windows (N, C, OH, OW, R, S) back onto the input
    (N, C, H, W) positions each tap read; taps in the padding are dropped."""
    n, c, h, w = input_shape
    (r, s), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = grad_windows.shape[2:4]
    rows, cols = (oh - 1) * sh + dh * (r - 1) + 1, (ow - 1) * sw + dw * (s - 1) + 1
    padded = np.zeros((n, c, max(rows, h + 2 * ph), max(cols, w + 2 * pw)), grad_windows.dtype)
    for i in range(r):
        for j in range(s):
            padded[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                   j * dw:j * dw + (ow - 1) * sw + 1:sw] += grad_windows[..., i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]


def _conv_geometry(x_shape, weight_shape, stride, padding, dilation):
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    kernel = tuple(weight_shape[2:])
    out_hw = tuple(conv2d_output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a])
                   for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """torch.nn.functional.conv2d: x (N, C, H, W), weight (K, C/groups, R, S), bias (K,) or
    None -> (N, K, OH, OW)."""
    dtype = _dtype(x, weight, bias)
    n, k, cg = x.shape[0], weight.shape[0], weight.shape[1]
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    windows = _windows(x.astype(dtype, copy=False), *geometry)
    windows = windows.reshape(n, groups, cg, oh, ow, *weight.shape[2:])
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, *weight.shape[2:])
    y = np.einsum("ngchwrs,gkcrs->ngkhw", windows, w, optimize=True).reshape(n, k, oh, ow)
    if bias is not None:
        y = y + bias.astype(dtype, copy=False).reshape(1, k, 1, 1)
    return np.ascontiguousarray(y, dtype=dtype)


def conv2d_backward(x, weight, grad_y, *, stride=1, padding=0, dilation=1, groups=1,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv2d given grad_y (N, K, OH, OW): (grad_x (N, C, H, W),
    grad_weight (K, C/groups, R, S), grad_bias (K,)), each None when not asked for."""
    dtype = _dtype(x, weight, grad_y)
    n, c = x.shape[:2]
    k, cg, r, s = weight.shape
    geometry = _conv_geometry(x.shape, weight.shape, stride, padding, dilation)
    oh, ow = geometry[-1]
    dy = grad_y.astype(dtype, copy=False).reshape(n, groups, k // groups, oh, ow)
    w = weight.astype(dtype, copy=False).reshape(groups, k // groups, cg, r, s)
    grad_x = grad_weight = grad_bias = None
    if input_grad:
        grad_windows = np.einsum("ngkhw,gkcrs->ngchwrs", dy, w, optimize=True)
        grad_x = _scatter_windows(grad_windows.reshape(n, c, oh, ow, r, s), x.shape, *geometry[:-1])
        grad_x = np.ascontiguousarray(grad_x, dtype=dtype)
    if weight_grad:
        windows = _windows(x.astype(dtype, copy=False), *geometry).reshape(n, groups, cg, oh, ow, r, s)
        grad_weight = np.einsum("ngkhw,ngchwrs->gkcrs", dy, windows, optimize=True)
        grad_weight = np.ascontiguousarray(grad_weight.reshape(k, cg, r, s), dtype=dtype)
    if bias_grad:
        grad_bias = grad_y.astype(dtype, copy=False).sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


def _pool_geometry(input_shape, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = _pair(kernel_size)
    stride = kernel if stride is None else _pair(stride)
    padding, dilation = _pair(padding), _pair(dilation)
    out_hw = tuple(pool2d_output_size(input_shape[2 + a], kernel[a], stride[a], padding[a],
                                      dilation[a], ceil_mode) for a in (0, 1))
    return kernel, stride, padding, dilation, out_hw


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool2d: x (N, C, H, W) -> y (N, C, OH, OW), and with
    return_indices the int64 position h * W + w of each maximum in its plane. Padding never
    wins; the first maximum does, or the last NaN (NaN propagates), as in torch."""
    n, c, h, w = x.shape
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    (kh, kw), (oh, ow) = geometry[0], geometry[-1]
    values = _windows(x, *geometry, fill=-np.inf).reshape(n, c, oh, ow, kh * kw)
    flat_positions = np.arange(h * w, dtype=np.int64).reshape(1, 1, h, w)
    positions = _windows(flat_positions, *geometry, fill=-1).reshape(1, 1, oh, ow, kh * kw)
    inside = positions >= 0
    nan = np.isnan(values)
    last_nan = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    candidates = np.where(inside & ~nan, values, -np.inf)
    best = candidates.max(axis=-1, keepdims=True)
    first_max = np.argmax(inside & (candidates == best), axis=-1)
    chosen = np.where(nan.any(axis=-1), last_nan, first_max)[..., None]
    y = np.take_along_axis(values, chosen, axis=-1)[..., 0]
    if not return_indices:
        return y
    positions = np.broadcast_to(positions, values.shape)
    return y, np.take_along_axis(positions, chosen, axis=-1)[..., 0]


def max_pool2d_backward(grad_y, indices, input_shape):
    """Gradient of max_pool2d: grad_y (N, C, OH, OW) summed into the input positions that
    indices (N, C, OH, OW) name -> (N, C, H, W)."""
    n, c, h, w = input_shape
    grad_x = np.zeros((n * c, h * w), grad_y.dtype)
    planes = np.arange(n * c)[:, None]
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    np.add.at(grad_x, (planes, indices.reshape(n * c, per_plane)), grad_y.reshape(n * c, per_plane))
    return grad_x.reshape(n, c, h, w)


def _avg_divisors(input_shape, geometry, count_include_pad, divisor_override):
    """(OH, OW) divisor of each window and whether it covers any input element (torch's rule)."""
    (kh, kw), stride, padding, _, out_hw = geometry
    per_axis = []
    for a, k in ((0, kh), (1, kw)):
        size = input_shape[2 + a]
        start = np.arange(out_hw[a]) * stride[a] - padding[a]
        end = np.minimum(start + k, size + padding[a])
        inside = np.minimum(end, size) - np.maximum(start, 0)
        per_axis.append((end - start, inside))
    (pool_h, inside_h), (pool_w, inside_w) = per_axis
    covers = np.outer(inside_h > 0, inside_w > 0)
    if divisor_override:
        divisor = np.full(covers.shape, divisor_override)
    elif count_include_pad:
        divisor = np.outer(pool_h, pool_w)
    else:
        divisor = np.outer(inside_h, inside_w)
    return np.where(covers, divisor, 1), covers


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW)."""
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    sums = _windows(x, *geometry).sum(axis=(-2, -1))
    divisor, covers = _avg_divisors(x.shape, geometry, count_include_pad, divisor_override)
    return np.where(covers, sums / divisor.astype(x.dtype), 0).astype(x.dtype, copy=False)


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d: grad_y (N, C, OH, OW) -> (N, C, H, W)."""
    geometry = _pool_geometry(input_shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor, covers = _avg_divisors(input_shape, geometry, count_include_pad, divisor_override)
    share = np.where(covers, grad_y / divisor.astype(grad_y.dtype), 0).astype(grad_y.dtype, copy=False)
    kh, kw = geometry[0]
    grad_windows = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
    return np.ascontiguousarray(_scatter_windows(grad_windows, input_shape, *geometry[:-1]))
