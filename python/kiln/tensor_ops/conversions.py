"""Moving Tensors between devices and dtypes, in-place updates, and the matrix product."""

from __future__ import annotations

import numpy as np

from .. import backends, ops, versions
from ..random import generator
from ..tensor import Tensor, device
from ._common import _operand, _record, as_tensor
from .shapes import expand, reshape, squeeze


def _move(x: Tensor, target: str) -> Tensor:
    """x on device ``target``: copied through host memory, the gradient copied back."""
    source = backends.select(None, x._array)
    dest = backends.for_device(target)
    if dest.device == source.device:
        return x
    # np.asarray(order="C"), not ascontiguousarray: that makes a 0-d tensor (a buffer such as
    # num_batches_tracked, a loss) 1-d
    out = dest.from_numpy(np.asarray(source.to_numpy(x._array), order="C"))
    return _record(out, (x,), lambda g: (source.from_numpy(np.asarray(dest.to_numpy(g), order="C")),))


def type(x, dtype) -> Tensor:  # noqa: A001 (torch's name)
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    a = x._array
    be = backends.select(None, a)
    src = x.dtype
    if dtype.kind == "f" and src.kind == "f":
        return _record(be.astype(a, dtype), (x,), lambda g: (be.astype(g, src),))
    return Tensor._wrap(be.astype(a, dtype))


def to(x, *args, **kwargs) -> Tensor:
    """``.to("cpu")``, ``.to(kiln.device(...))``, ``.to(dtype)`` or ``.to(device, dtype)``."""
    dtype, target = kwargs.get("dtype"), kwargs.get("device")
    for a in args:
        if isinstance(a, (str, device)) or isinstance(getattr(a, "type", None), str):  # a torch.device too
            target = a
        elif a is not None:
            dtype = a
    out = x if target is None else _move(x, device(str(target)).type)
    return out if dtype is None else type(out, dtype)


def cpu(x) -> Tensor:
    return to(x, "cpu")


def cuda(x, device=None) -> Tensor:
    """x on the cuda device (``device``: None, 0, "cuda" or "cuda:0"; kiln drives one device)."""
    if device not in (None, 0, "cuda", "cuda:0") and not (hasattr(device, "type") and device.type == "cuda"):
        raise ValueError(f"cuda(): kiln drives one cuda device (cuda:0), not {device!r}")
    return to(x, "cuda")


# ---- interchange: DLPack and __cuda_array_interface__ ------------------------------------------


def dlpack(x, *, stream=None, max_version=None, dl_device=None, copy=None):
    """``Tensor.__dlpack__``: the array's DLPack capsule (NumPy's for host tensors)."""
    a = x._array
    if isinstance(a, np.ndarray):
        kwargs = {"stream": stream} if max_version is None else {"stream": stream, "max_version": max_version,
                                                                 "dl_device": dl_device, "copy": copy}
        return a.__dlpack__(**kwargs)
    return a.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)


def dlpack_device(x):
    return x._array.__dlpack_device__()


def cuda_array_interface(x):
    a = x._array
    if isinstance(a, np.ndarray):
        raise AttributeError("a cpu tensor has no __cuda_array_interface__ (it has __array_interface__)")
    return a.__cuda_array_interface__


def from_dlpack(obj) -> Tensor:
    """A Tensor sharing the memory of any DLPack producer (a torch/CuPy/NumPy array, a capsule).

    Host data becomes a cpu tensor (through NumPy), cuda data a cuda tensor.
    """
    if isinstance(obj, Tensor):
        return obj
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else None
    if device_type in (None, 1, 3) and hasattr(obj, "__dlpack__"):
        return Tensor._wrap(np.from_dlpack(obj))
    from ..backends import cuda as cuda_backend
    if cuda_backend is None:
        raise RuntimeError("from_dlpack: the tensor is on a cuda device and kiln was built without CUDA")
    if hasattr(obj, "__dlpack__"):
        try:
            capsule = obj.__dlpack__(stream=1, max_version=(1, 0))
        except TypeError:  # a producer of the 0.x protocol
            capsule = obj.__dlpack__(stream=1)
    else:
        capsule = obj
    return Tensor._wrap(cuda_backend.from_dlpack_capsule(capsule))


def clone(x) -> Tensor:
    be = backends.select(None, x._array)
    return _record(be.copy(x._array), (x,), lambda g: (g,))


def float(x):  # noqa: A001
    return type(x, np.float32)


def double(x):
    return type(x, np.float64)


def long(x):
    return type(x, np.int64)


def int(x):  # noqa: A001
    return type(x, np.int32)


def bool(x):  # noqa: A001
    return type(x, np.bool_)


# ---- in place, outside the graph -------------------------------------------------------------


def _inplace(x, value):
    x._check_inplace()
    be = backends.select(None, x._array)
    be.copy_into(x._array, value(be, x._array))
    versions.bump(x._array)
    return x


def zero_(x):
    return fill_(x, 0)


def fill_(x, value):
    x._check_inplace()
    backends.select(None, x._array).fill(x._array, value)
    versions.bump(x._array)
    return x


def copy_(x, src):
    return _inplace(x, lambda be, a: _operand(src, a, be))


def normal_(x, mean=0.0, std=1.0):
    return _inplace(x, lambda be, a: be.from_numpy(generator().normal(mean, std, x.shape)))


def uniform_(x, low=0.0, high=1.0):
    return _inplace(x, lambda be, a: be.from_numpy(generator().uniform(low, high, x.shape)))


def _binary_inplace(op: str):
    def update(x, other):
        return _inplace(x, lambda be, a: getattr(be, op)(a, _operand(other, a, be)))
    return update


iadd, isub, imul, itruediv = (_binary_inplace(op) for op in ("add", "subtract", "multiply", "divide"))


def _augmented(inplace, out_of_place: str):
    """``x += y`` & co: in place outside the graph; inside it (x computed from parameters, or
    y requiring grad) the out-of-place op, recorded on the tape, which Python then binds to
    the name, so ``loss = 0; for ...: loss += criterion(...)`` trains as in torch. A leaf that
    requires grad is still refused, as torch refuses it."""
    def update(x, other):
        from .. import autograd
        from . import math
        if autograd.is_grad_enabled() and ((x.requires_grad and not x.is_leaf)
                                           or (isinstance(other, Tensor) and other.requires_grad and
                                               not x.requires_grad)):
            return getattr(math, out_of_place)(x, other)
        return inplace(x, other)
    return update


# examples/battery: the augmented operators inside the graph (char_rnn_classification's batch_loss += loss)
iadd_graph, isub_graph, imul_graph, itruediv_graph = (
    _augmented(fn, op) for fn, op in ((iadd, "add"), (isub, "sub"), (imul, "mul"), (itruediv, "div")))


def add_(x, other, alpha=1.0):
    return _inplace(x, lambda be, a: be.add(a, be.multiply(_operand(other, a, be), alpha)))


def sub_(x, other, alpha=1.0):
    return _inplace(x, lambda be, a: be.subtract(a, be.multiply(_operand(other, a, be), alpha)))


def mul_(x, other):
    return imul(x, other)


def div_(x, other):
    return itruediv(x, other)


def masked_fill_(x, mask, value):
    """x[mask] = value in place (mask a bool tensor broadcast to x's shape), outside the graph."""
    def filled(be, a):
        m = _operand(mask, a, be)
        if m.dtype.kind != "b":
            raise TypeError(f"masked_fill_: mask must be a bool tensor, got {m.dtype}")
        return be.where(m, be.from_numpy(np.asarray(value, dtype=a.dtype)), a)
    return _inplace(x, filled)


def clamp_(x, min=None, max=None):  # noqa: A002
    return _inplace(x, lambda be, a: be.clip(a, min, max))


# ---- the matrix product ------------------------------------------------------------------------


def matmul(a, b) -> Tensor:
    """a @ b with NumPy's rules (1-D operands promoted, batch axes broadcast), on kiln's GEMM."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension")
    if a.ndim == 1:
        return squeeze(matmul(reshape(a, 1, -1), b), -2)
    if b.ndim == 1:
        return squeeze(matmul(a, reshape(b, -1, 1)), -1)
    A, B = a._array, b._array
    if a.ndim > 3 or b.ndim > 3:  # fold leading axes into one batch axis
        lead = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        a3 = reshape(expand(a, *lead, *A.shape[-2:]), -1, *A.shape[-2:])
        b3 = reshape(expand(b, *lead, *B.shape[-2:]), -1, *B.shape[-2:])
        return reshape(matmul(a3, b3), *lead, A.shape[-2], B.shape[-1])
    be = backends.select(None, A, B)
    dtypes = [A.dtype, B.dtype]
    result_dtype = np.result_type(*dtypes) if any(d.kind == "f" for d in dtypes) else np.dtype(np.float32)
    out = be.astype(ops.matmul(A, B), result_dtype, copy=False)

    def backward(g):
        ga = gb = None
        if a.requires_grad:  # dA = g @ B^T, summed over a broadcast batch
            ga = be.astype(be.unbroadcast(ops.matmul(g, B, transpose_b=True), tuple(A.shape)), A.dtype, copy=False)
        if b.requires_grad:  # dB = A^T @ g
            if A.ndim == 3 and B.ndim == 2:  # B shared by the batch: fold the batch into rows
                gb = ops.matmul(be.reshape(A, (-1, A.shape[-1])), be.reshape(g, (-1, g.shape[-1])), transpose_a=True)
            else:
                gb = be.unbroadcast(ops.matmul(A, g, transpose_a=True), tuple(B.shape))
            gb = be.astype(gb, B.dtype, copy=False)
        return ga, gb
    return _record(out, (a, b), backward)


def mm(a, b) -> Tensor:
    """The matrix product of a (n, m) and b (m, p) -> (n, p); no broadcasting (use matmul for that)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"mm: expected matrices (n, m) and (m, p), got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def bmm(a, b) -> Tensor:
    """Batched matrix product of a (B, n, m) and b (B, m, p) -> (B, n, p); no broadcasting."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm: expected batches (B, n, m) and (B, m, p), got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def rmatmul(b, a):
    return matmul(a, b)
