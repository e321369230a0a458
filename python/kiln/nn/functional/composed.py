"""Functions composed from Tensor ops (so from backend primitives, on every device), their
gradients the tape's: one_hot, l1_loss, smooth_l1_loss, huber_loss, dropout2d, interpolate
(nearest), adaptive_avg_pool2d. Names, arguments and defaults follow ``torch.nn.functional``.

None has a kernel of its own: each is a handful of elementwise, reshape and matmul steps,
cheap beside the layers around it (a fused adaptive pooling kernel would only pay at sizes
the reshape path below does not cover).
"""

from __future__ import annotations

import math

import numpy as np

from ... import backends, tensor_ops
from ...tensor import Tensor
from ...tensor_ops import as_tensor, where

_REDUCTIONS = ("mean", "sum", "none")


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices of any shape (*) -> int64 (*, num_classes) with a 1 at each index;
    ``num_classes=-1`` takes the largest index + 1."""
    t = as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {t.dtype}")
    be = backends.select(None, t._array)
    a = t._array
    lo = int(be.to_numpy(be.min(a))) if t.numel() else 0
    hi = int(be.to_numpy(be.max(a))) if t.numel() else -1
    if num_classes == -1:
        if not t.numel():
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = hi + 1
    if lo < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {lo}")
    if hi >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes ({num_classes}), got {hi}")
    classes = be.arange(0, num_classes, 1, np.int64)
    hits = be.equal(be.reshape(a, tuple(a.shape) + (1,)), classes)
    return Tensor._wrap(be.astype(hits, np.int64))


def _reduce(loss: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


def _difference(fn: str, input, target) -> Tensor:
    x, y = as_tensor(input), as_tensor(target)
    if x.shape != y.shape:
        raise ValueError(f"{fn}: input {x.shape} and target {y.shape} differ in shape "
                         "(kiln does not broadcast a loss silently)")
    return x - y


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) of |input - target|; same shapes."""
    return _reduce(_difference("l1_loss", input, target).abs(), reduction, "l1_loss")


def _huber_terms(d: Tensor, delta: float) -> tuple:
    """(|d|, the quadratic part 0.5 d^2, where |d| < delta)."""
    size = d.abs()
    return size, tensor_ops.math.less(size, delta), d * d * 0.5


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta 0 is l1_loss."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = _difference("smooth_l1_loss", input, target)
    if beta == 0:
        return _reduce(d.abs(), reduction, "smooth_l1_loss")
    size, inside, half_square = _huber_terms(d, beta)
    return _reduce(where(inside, half_square * (1.0 / beta), size - 0.5 * beta), reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target): beta * smooth_l1."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    size, inside, half_square = _huber_terms(_difference("huber_loss", input, target), delta)
    return _reduce(where(inside, half_square, (size - 0.5 * delta) * delta), reduction, "huber_loss")


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability p, scale the rest by 1/(1-p) (training only).

    input (N, C, H, W); a 3-D input is (N, C, L), as torch reads it today (channel-wise 1-D).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D (N, C, H, W) or 3-D (N, C, L) input, got shape {x.shape}")
    if not training or p == 0.0:
        return x
    be = backends.select(None, x._array)
    shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    keep = be.full(shape, 0, x.dtype) if p == 1.0 else be.dropout_mask(shape, p, x.dtype)
    return x * Tensor._wrap(keep)


# ---- resampling ---------------------------------------------------------------------------------


def _spatial(fn: str, value, dims: int, name: str) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise ValueError(f"{fn}: {name} needs {dims} values for this input, got {value!r}")
    return values


def _nearest_indices(size_in: int, size_out: int, scale, exact: bool) -> np.ndarray:
    """Source index of each output position along one axis, as torch's nearest kernels (float32)."""
    if scale is None:
        step = np.float32(size_in / size_out)
    else:
        step = np.float32(1.0 / scale)
    out = np.arange(size_out, dtype=np.float32)
    src = np.floor((out + np.float32(0.5)) * step) if exact else np.floor(out * step)
    return np.minimum(src.astype(np.int64), size_in - 1)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resample the spatial axes of input (N, C, *spatial), 1 to 3 of them: to ``size``, or by
    ``scale_factor`` (output size floor(in * scale)). Modes "nearest" (torch's: the source index is
    floor(out * in/out_size)) and "nearest-exact"; an integer upscale is a broadcast (its gradient a
    sum), any other a gather along each axis."""
    x = as_tensor(input)
    if mode not in ("nearest", "nearest-exact"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported yet (kiln has 'nearest' and "
                                  "'nearest-exact')")
    if align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    dims = x.ndim - 2
    if dims not in (1, 2, 3):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape {x.shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    spatial = x.shape[2:]
    if size is not None:
        sizes, scales = tuple(int(s) for s in _spatial("interpolate", size, dims, "size")), (None,) * dims
    else:
        scales = tuple(float(s) for s in _spatial("interpolate", scale_factor, dims, "scale_factor"))
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(spatial, scales))
        if recompute_scale_factor:
            scales = (None,) * dims
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: output sizes must be positive, got {sizes} for input {x.shape}")
    out = x
    for axis, (n, m, scale) in enumerate(zip(spatial, sizes, scales)):
        dim = axis + 2
        if m == n:
            continue
        index = _nearest_indices(n, m, scale, mode == "nearest-exact")
        factor = m // n
        if m == factor * n and np.array_equal(index, np.arange(m) // factor):  # repeat each entry `factor` times
            shape = out.shape
            out = out.unsqueeze(dim + 1).expand(*shape[:dim + 1], factor, *shape[dim + 1:])
            out = out.reshape(*shape[:dim], m, *shape[dim + 1:])
        else:
            out = out.index_select(dim, Tensor._wrap(backends.select(None, x._array).from_numpy(index)))
    return out


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """input (N, C, H, W) or (C, H, W) -> (..., OH, OW): output cell i averages input rows
    floor(i H / OH) to ceil((i + 1) H / OH) (and likewise for columns), as torch. A size that
    divides the input is a reshape and a mean; any other, a product with an averaging matrix."""
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.ndim == 3:
        return adaptive_avg_pool2d(x.unsqueeze(0), output_size).squeeze(0)
    n, c, h, w = x.shape
    oh, ow = _spatial("adaptive_avg_pool2d", output_size, 2, "output_size")
    oh, ow = h if oh is None else int(oh), w if ow is None else int(ow)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {(oh, ow)}")
    if h % oh == 0 and w % ow == 0:
        return x.reshape(n, c, oh, h // oh, ow, w // ow).mean((3, 5))
    be = backends.select(None, x._array)
    rows = Tensor._wrap(be.from_numpy(_averaging_matrix(h, oh, x.dtype).T))   # (H, OH)
    cols = Tensor._wrap(be.from_numpy(_averaging_matrix(w, ow, x.dtype).T))   # (W, OW)
    y = tensor_ops.matmul(x.reshape(n * c * h, w), cols).reshape(n, c, h, ow)  # columns pooled
    y = tensor_ops.matmul(y.transpose(2, 3).reshape(n * c * ow, h), rows)    # then rows: (N*C*OW, OH)
    return y.reshape(n, c, ow, oh).transpose(2, 3)


def _averaging_matrix(size_in: int, size_out: int, dtype) -> np.ndarray:
    """(size_out, size_in): row i holds 1/len over torch's adaptive window of output i."""
    matrix = np.zeros((size_out, size_in), dtype=np.float64)
    for i in range(size_out):
        start, end = (i * size_in) // size_out, -(-((i + 1) * size_in) // size_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix.astype(dtype)


__all__ = ["one_hot", "l1_loss", "smooth_l1_loss", "huber_loss", "dropout2d", "interpolate", "adaptive_avg_pool2d"]


def kl_div(input, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise target * (log target - input) with ``input`` log-probabilities, as torch.nn.functional.kl_div
    (``reduction="batchmean"`` divides the sum by the batch size; "mean" by the element count)."""
    x, t = as_tensor(input), as_tensor(target)
    if log_target:
        pointwise = t.exp() * (t - x)
    else:
        safe = where(t > 0, t, t * 0.0 + 1.0)  # 0 * log 0 is 0: the log never sees a zero
        pointwise = where(t > 0, t * (safe.log() - x), t * 0.0)
    if reduction == "batchmean":
        return pointwise.sum() / (x.shape[0] if x.ndim else 1)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
    return pointwise.mean() if reduction == "mean" else pointwise.sum() if reduction == "sum" else pointwise


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p along dim, eps), as torch.nn.functional.normalize."""
    x = as_tensor(input)
    return x / x.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (broadcasting), as torch."""
    a, b = as_tensor(x1), as_tensor(x2)
    norms = a.norm(2, dim).clamp(min=eps) * b.norm(2, dim).clamp(min=eps)
    return (a * b).sum(dim) / norms


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dimension, as torch.nn.functional.pairwise_distance."""
    return (as_tensor(x1) - as_tensor(x2) + eps).norm(p, -1, keepdim=keepdim)
