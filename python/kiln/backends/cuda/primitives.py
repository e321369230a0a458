"""The primitives (base.PRIMITIVES) on CudaArrays, with NumPy's semantics.

Result dtypes are NumPy's own: each operation asks NumPy what it would give for empty arrays
of the operands' dtypes (and a Python scalar stays weak, as NumPy 2's rules say), then casts
the operands to the dtype the kernel computes in. Views (basic indexing, reshape of a
contiguous array, transpose, broadcast_to) cost no kernel. Advanced indexing (integer
arrays, masks, take/put along an axis) is NumPy's too: NumPy computes, on the host, the
element offsets the index addresses, and one gather or scatter kernel moves the data.
Device index arrays are copied to the host for that (a synchronisation); the kernels that
index in a training step (embedding, cross-entropy) index on the device.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from ..base import Backend
from .arrays import CudaArray, c_strides, dtype_code
from .native import _cuda

_BINARY = _cuda.BINARY_OPS
_UNARY = _cuda.UNARY_OPS
_REDUCE = _cuda.REDUCE_OPS
_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
_LOGICAL = {"logical_and", "logical_or"}
_BOOL = np.dtype(bool)
_INT64 = np.dtype(np.int64)


def _is_scalar(x) -> bool:
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, np.ndarray)


def _numpy_probe(x):
    """What NumPy's type rules see for an operand: an empty array of its dtype, or the scalar."""
    return np.empty(0, x.dtype) if isinstance(x, CudaArray) else x


@functools.lru_cache(maxsize=1024)
def _result_dtype_cached(op: str, *kinds):
    probes = [np.empty(0, k) if isinstance(k, np.dtype) else k() for k in kinds]
    return getattr(np, op)(*probes).dtype


def _result_dtype(op: str, *operands) -> np.dtype:
    """The dtype NumPy's ``op`` gives for these operands."""
    kinds = []
    for x in operands:
        if isinstance(x, CudaArray) or isinstance(x, np.generic):
            kinds.append(x.dtype)
        else:
            kinds.append(type(x))  # weak Python scalar: bool, int, float
    return _result_dtype_cached(op, *kinds)


def _scalar_args(value) -> tuple:
    """(real, integer) for the binding: the integer exact for integer dtypes."""
    if isinstance(value, (bool, np.bool_)):
        return float(value), int(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        v = int(value)
        return float(v), max(min(v, 2**63 - 1), -(2**63))
    v = complex(value) if isinstance(value, complex) else float(value)
    if isinstance(v, complex):
        raise TypeError("the cuda device has no complex dtypes")
    integer = int(v) if math.isfinite(v) and abs(v) < 2**63 else 0
    return v, integer


def _broadcast_strides(a: CudaArray, shape: tuple) -> list:
    """a's element strides as an operand of `shape` (0 along broadcast dimensions)."""
    extra = len(shape) - a.ndim
    if extra < 0:
        raise ValueError(f"cannot broadcast an array of shape {a.shape} to {shape}")
    strides = [0] * extra
    for n, s, want in zip(a.shape, a.element_strides(), shape[extra:]):
        if n == want:
            strides.append(s if n != 1 else 0)
        elif n == 1:
            strides.append(0)
        else:
            raise ValueError(f"operands could not be broadcast together: {a.shape} to {shape}")
    return strides


def _operand(a: CudaArray, shape: tuple) -> tuple:
    return (a.address, dtype_code(a.dtype), _broadcast_strides(a, shape))


def _normalize_axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1) or (ndim == 0 and ax not in (0, -1)):
            raise np.exceptions.AxisError(ax, ndim)
        out.append(ax % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(out) if ndim else ()


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (slice, type(None), type(Ellipsis))) or
               (isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_)))
               for i in items)


class DeviceArrays(Backend):
    """Primitives on CudaArrays (base.PRIMITIVES, docs/DESIGN.md's table)."""

    device = "cuda"
    array_type = CudaArray
    stream = 0  # the legacy default stream: every kernel of kiln runs in one order

    # ---- moving data -------------------------------------------------------------------------

    def from_numpy(self, a) -> CudaArray:
        if isinstance(a, CudaArray):
            return a
        host = np.asarray(a)
        dtype_code(host.dtype)
        host = np.asarray(host, order="C")  # not ascontiguousarray: it makes 0-D arrays 1-D
        out = CudaArray.allocate(host.shape, host.dtype)
        _cuda.copy_from_host(out.address, host)
        return out

    def to_numpy(self, a) -> np.ndarray:
        if isinstance(a, np.ndarray):
            return a
        a = self.contiguous(a)
        host = np.empty(a.shape, a.dtype)
        if a.size:
            _cuda.copy_to_host(host, a.address)
        return host

    def empty(self, shape, dtype) -> CudaArray:
        return CudaArray.allocate(tuple(shape) if not isinstance(shape, int) else (shape,), dtype)

    def full(self, shape, value, dtype) -> CudaArray:
        out = self.empty(shape, dtype)
        self.fill(out, value)
        return out

    def arange(self, start, stop, step, dtype) -> CudaArray:
        return self.from_numpy(np.arange(start, stop, step, dtype=dtype))

    def astype(self, a, dtype, copy: bool = True) -> CudaArray:
        dtype = np.dtype(dtype)
        if a.dtype == dtype and not copy:
            return a
        out = CudaArray.allocate(a.shape, dtype)
        self._copy_kernel(out, a)
        return out

    def copy(self, a) -> CudaArray:
        return self.astype(a, a.dtype, copy=True)

    def copy_into(self, dst, src) -> None:
        if _is_scalar(src):
            self.fill(dst, src)
            return
        self._copy_kernel(dst, self._device(src))

    def fill(self, dst, value) -> None:
        real, integer = _scalar_args(value)
        _cuda.fill(list(dst.shape), (dst.address, dtype_code(dst.dtype), dst.element_strides()), real, integer,
                   self.stream)

    def _copy_kernel(self, dst: CudaArray, src: CudaArray) -> None:
        _cuda.copy(list(dst.shape), (dst.address, dtype_code(dst.dtype), dst.element_strides()),
                   _operand(src, dst.shape), self.stream)

    def _device(self, x) -> CudaArray:
        """x as a CudaArray (a host array or scalar is copied over)."""
        return x if isinstance(x, CudaArray) else self.from_numpy(np.asarray(x))

    # ---- elementwise -------------------------------------------------------------------------

    def _binary(self, op: str, a, b, out: CudaArray | None = None) -> CudaArray:
        if op in _COMPARISONS:
            result = _BOOL
            compute = np.result_type(*[x.dtype if isinstance(x, CudaArray) else x for x in (a, b)])
        elif op in _LOGICAL:
            result = compute = _BOOL
        else:
            result = compute = _result_dtype(op, a, b)
        scalar_a, scalar_b = _is_scalar(a), _is_scalar(b)
        if scalar_a and scalar_b:
            return self.from_numpy(np.asarray(getattr(np, op)(a, b)))
        if isinstance(a, np.ndarray):
            a = self.from_numpy(a)
        if isinstance(b, np.ndarray):
            b = self.from_numpy(b)
        if scalar_a or scalar_b:
            array, scalar = (b, a) if scalar_a else (a, b)
            array = self.astype(array, compute, copy=False)
            shape = array.shape
            out = out if out is not None else CudaArray.allocate(shape, result)
            real, integer = _scalar_args(scalar)
            _cuda.binary_scalar(_BINARY[op], list(shape), _operand(out, shape), _operand(array, shape), real,
                                integer, scalar_a, self.stream)
            return out
        shape = np.broadcast_shapes(a.shape, b.shape)
        a, b = self.astype(a, compute, copy=False), self.astype(b, compute, copy=False)
        out = out if out is not None else CudaArray.allocate(shape, result)
        _cuda.binary(_BINARY[op], list(shape), _operand(out, shape), _operand(a, shape), _operand(b, shape),
                     self.stream)
        return out

    def _unary(self, op: str, a, numpy_name: str | None = None) -> CudaArray:
        """The unary kernel ``op``; the result dtype is NumPy's ``numpy_name`` (default: op's) but
        round's, which keeps the input's (np.round of ints stays int, np.rint's would not)."""
        result = a.dtype if op == "round" else _result_dtype(numpy_name or op, a)
        a = self.astype(a, result if op != "logical_not" else a.dtype, copy=False)
        out = CudaArray.allocate(a.shape, result)
        _cuda.unary(_UNARY[op], list(a.shape), _operand(out, a.shape), _operand(a, a.shape), self.stream)
        return out

    def add(self, a, b):
        return self._binary("add", a, b)

    def subtract(self, a, b):
        return self._binary("subtract", a, b)

    def multiply(self, a, b):
        return self._binary("multiply", a, b)

    def divide(self, a, b):
        return self._binary("divide", a, b)

    def power(self, a, b):
        return self._binary("power", a, b)

    def maximum(self, a, b):
        return self._binary("maximum", a, b)

    def minimum(self, a, b):
        return self._binary("minimum", a, b)

    def equal(self, a, b):
        return self._binary("equal", a, b)

    def not_equal(self, a, b):
        return self._binary("not_equal", a, b)

    def less(self, a, b):
        return self._binary("less", a, b)

    def less_equal(self, a, b):
        return self._binary("less_equal", a, b)

    def greater(self, a, b):
        return self._binary("greater", a, b)

    def greater_equal(self, a, b):
        return self._binary("greater_equal", a, b)

    def logical_and(self, a, b):
        return self._binary("logical_and", a, b)

    def logical_or(self, a, b):
        return self._binary("logical_or", a, b)

    def logical_not(self, a):
        return self._unary("logical_not", a)

    def negative(self, a):
        return self._unary("negative", a)

    def exp(self, a):
        return self._unary("exp", a)

    def log(self, a):
        return self._unary("log", a)

    def sqrt(self, a):
        return self._unary("sqrt", a)

    def abs(self, a):
        return self._unary("abs", a, "absolute")

    def sign(self, a):
        return self._unary("sign", a)

    def round(self, a):
        return self._unary("round", a)

    def clip(self, a, low, high):
        result = np.clip(np.empty(0, a.dtype), *(x if _is_scalar(x) or x is None else np.empty(0, x.dtype)
                                                   for x in (low, high))).dtype
        out = self.astype(a, result, copy=False)
        if low is not None:
            out = self._binary("maximum", out, low)
        if high is not None:
            out = self._binary("minimum", out, high)
        return self.astype(out, result, copy=False)

    def where(self, condition, a, b):
        result = np.where(np.empty(0, bool), *(_numpy_probe(x) for x in (a, b))).dtype
        condition = self.astype(self._device(condition), _BOOL, copy=False)
        a = self.astype(self._device(a) if not _is_scalar(a) else self.full((), a, result), result, copy=False)
        b = self.astype(self._device(b) if not _is_scalar(b) else self.full((), b, result), result, copy=False)
        shape = np.broadcast_shapes(condition.shape, a.shape, b.shape)
        out = CudaArray.allocate(shape, result)
        _cuda.where(list(shape), _operand(out, shape), _operand(condition, shape), _operand(a, shape),
                    _operand(b, shape), self.stream)
        return out

    def add_into(self, dst, src) -> None:
        """dst += src, in place (src broadcast to dst's shape, converted to dst's dtype)."""
        if not _is_scalar(src):
            src = self.astype(self._device(src), dst.dtype, copy=False)
        elif dst.dtype.kind in "biu" and not isinstance(src, (numbers.Integral, np.integer)):
            src = self.full((), src, dst.dtype)
        self._binary_into("add", dst, dst, src)

    def _binary_into(self, op, out, a, b) -> None:
        shape = out.shape
        if _is_scalar(b):
            real, integer = _scalar_args(b)
            _cuda.binary_scalar(_BINARY[op], list(shape), _operand(out, shape), _operand(a, shape), real, integer,
                                False, self.stream)
        else:
            _cuda.binary(_BINARY[op], list(shape), _operand(out, shape), _operand(a, shape), _operand(b, shape),
                         self.stream)

    # ---- reductions ------------------------------------------------------------------------------

    def _reduce(self, op: str, a, axis, keepdims: bool) -> CudaArray:
        if op in ("argmax", "argmin") and axis is not None and not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or None")
        axes = _normalize_axes(axis, a.ndim)
        kept = [d for d in range(a.ndim) if d not in axes]
        rows = math.prod(a.shape[d] for d in kept)
        cols = math.prod(a.shape[d] for d in axes)
        if cols == 0 and op != "sum" and rows:
            name = {"max": "maximum", "min": "minimum"}.get(op, op)
            raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
        if op == "sum":
            out_dtype = np.sum(np.empty(0, a.dtype)).dtype
            kernel_dtype = np.dtype(np.int64) if out_dtype.kind in "biu" else out_dtype
        else:
            out_dtype = _INT64 if op in ("argmax", "argmin") else a.dtype
            kernel_dtype = out_dtype
        source = self.contiguous(self.transpose(a, kept + list(axes))) if axes != tuple(range(a.ndim - len(axes), a.ndim)) \
            else self.contiguous(a)
        if keepdims:
            shape = tuple(1 if d in axes else a.shape[d] for d in range(a.ndim))
        else:
            shape = tuple(a.shape[d] for d in kept)
        out = CudaArray.allocate(shape, kernel_dtype)
        if rows:
            _cuda.reduce_rows(_REDUCE[op], rows, cols, source.address, dtype_code(source.dtype), out.address,
                              self.stream)
        return self.astype(out, out_dtype, copy=False)

    def sum(self, a, axis=None, keepdims: bool = False):
        return self._reduce("sum", a, axis, keepdims)

    def max(self, a, axis=None, keepdims: bool = False):
        return self._reduce("max", a, axis, keepdims)

    def min(self, a, axis=None, keepdims: bool = False):
        return self._reduce("min", a, axis, keepdims)

    def argmax(self, a, axis=None, keepdims: bool = False):
        return self._reduce("argmax", a, axis, keepdims)

    def argmin(self, a, axis=None, keepdims: bool = False):
        return self._reduce("argmin", a, axis, keepdims)

    def unbroadcast(self, grad, shape: tuple):
        """Sum a broadcast gradient back down to ``shape``."""
        shape = tuple(shape)
        if grad.shape == shape:
            return grad
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = self.sum(grad, tuple(range(extra)))
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = self.sum(grad, axes, keepdims=True)
        return self.reshape(grad, shape)

    # ---- shapes ----------------------------------------------------------------------------------

    def reshape(self, a, shape):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
        if shape.count(-1) > 1:
            raise ValueError("can only specify one unknown dimension")
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            if known == 0 or a.size % known:
                raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
            shape = tuple(a.size // known if n == -1 else n for n in shape)
        if math.prod(shape) != a.size:
            raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
        a = self.contiguous(a)
        return a.view(a.address, shape, c_strides(shape, a.itemsize))

    def transpose(self, a, axes=None):
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(int(x) % max(a.ndim, 1) for x in axes)
        if sorted(axes) != list(range(a.ndim)):
            raise ValueError("axes don't match array")
        return a.view(a.address, tuple(a.shape[d] for d in axes), tuple(a.strides[d] for d in axes))

    def broadcast_to(self, a, shape):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
        strides = _broadcast_strides(a, shape)
        return a.view(a.address, shape, tuple(s * a.itemsize for s in strides))

    def contiguous(self, a):
        if a.c_contiguous:
            return a
        out = CudaArray.allocate(a.shape, a.dtype)
        self._copy_kernel(out, a)
        return out

    def concatenate(self, arrays, axis: int):
        arrays = [self._device(x) for x in arrays]
        if not arrays:
            raise ValueError("need at least one array to concatenate")
        ndim = arrays[0].ndim
        if ndim == 0:
            raise ValueError("zero-dimensional arrays cannot be concatenated")
        axis = _normalize_axes(axis, ndim)[0]
        for x in arrays:
            if x.ndim != ndim or any(x.shape[d] != arrays[0].shape[d] for d in range(ndim) if d != axis):
                raise ValueError("all the input array dimensions except for the concatenation axis must match "
                                 f"exactly: {arrays[0].shape} and {x.shape}")
        dtype = np.result_type(*[x.dtype for x in arrays])
        shape = list(arrays[0].shape)
        shape[axis] = sum(x.shape[axis] for x in arrays)
        out = CudaArray.allocate(tuple(shape), dtype)
        start = 0
        for x in arrays:
            index = (slice(None),) * axis + (slice(start, start + x.shape[axis]),)
            self._copy_kernel(self.getitem(out, index), x)
            start += x.shape[axis]
        return out

    def stack(self, arrays, axis: int):
        arrays = [self._device(x) for x in arrays]
        if not arrays:
            raise ValueError("need at least one array to stack")
        if any(x.shape != arrays[0].shape for x in arrays):
            raise ValueError("all input arrays must have the same shape")
        axis = _normalize_axes(axis, arrays[0].ndim + 1)[0]
        expanded = [self.reshape(x, x.shape[:axis] + (1,) + x.shape[axis:]) for x in arrays]
        return self.concatenate(expanded, axis)

    def tile(self, a, reps):
        reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
        ndim = max(a.ndim, len(reps))
        shape = (1,) * (ndim - a.ndim) + a.shape
        reps = (1,) * (ndim - len(reps)) + reps
        a = self.reshape(a, shape)
        interleaved = self.reshape(a, tuple(x for n in shape for x in (1, n)))
        spread = self.broadcast_to(interleaved, tuple(x for r, n in zip(reps, shape) for x in (r, n)))
        return self.reshape(self.contiguous(spread), tuple(r * n for r, n in zip(reps, shape)))

    def pad(self, a, widths, value):
        widths = np.broadcast_to(np.asarray(widths, dtype=np.int64), (a.ndim, 2))
        if (widths < 0).any():
            raise ValueError("index can't contain negative values")
        shape = tuple(int(n + lo + hi) for n, (lo, hi) in zip(a.shape, widths))
        out = self.full(shape, value, a.dtype)
        inside = tuple(slice(int(lo), int(lo) + n) for n, (lo, _hi) in zip(a.shape, widths))
        self._copy_kernel(self.getitem(out, inside), a)
        return out

    # ---- indexing ----------------------------------------------------------------------------------

    def _basic_view(self, a: CudaArray, index) -> CudaArray:
        items = list(index) if isinstance(index, tuple) else [index]
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        if used > a.ndim:
            raise IndexError(f"too many indices for array: array is {a.ndim}-dimensional, but {used} were indexed")
        if Ellipsis in items:
            if items.count(Ellipsis) > 1:
                raise IndexError("an index can only have a single ellipsis ('...')")
            at = items.index(Ellipsis)
            items[at:at + 1] = [slice(None)] * (a.ndim - used)
        else:
            items += [slice(None)] * (a.ndim - used)
        address, shape, strides, d = a.address, [], [], 0
        for item in items:
            if item is None:
                shape.append(1)
                strides.append(0)
                continue
            n, s = a.shape[d], a.strides[d]
            if isinstance(item, slice):
                start, stop, step = item.indices(n)
                length = len(range(start, stop, step))
                if length:
                    address += start * s
                shape.append(length)
                strides.append(s * step)
            else:
                i = int(item)
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
                address += (i % n) * s
            d += 1
        return a.view(address, tuple(shape), tuple(strides))

    def _offsets(self, a: CudaArray, index) -> np.ndarray:
        """The element offsets (from a's first element) that a NumPy ``a[index]`` reads."""
        grid = np.zeros(a.shape, np.int64)
        for d, (n, s) in enumerate(zip(a.shape, a.element_strides())):
            grid += (np.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (a.ndim - d - 1))
        items = index if isinstance(index, tuple) else (index,)
        items = tuple(self.to_numpy(i) if isinstance(i, CudaArray) else i for i in items)
        return np.asarray(grid[items if isinstance(index, tuple) else items[0]])

    def getitem(self, a, index):
        if _is_basic_index(index):
            return self._basic_view(a, index)
        offsets = self._offsets(a, index)
        out = CudaArray.allocate(offsets.shape, a.dtype)
        if offsets.size:
            device_offsets = self.from_numpy(offsets)
            _cuda.gather(offsets.size, a.address, device_offsets.address, out.address, dtype_code(a.dtype),
                         self.stream)
        return out

    def _values_for(self, offsets: np.ndarray, values, dtype) -> CudaArray:
        if _is_scalar(values):
            return self.full(offsets.shape, values, dtype)
        values = self.astype(self._device(values), dtype, copy=False)
        return self.contiguous(self.broadcast_to(values, offsets.shape))

    def setitem(self, a, index, value) -> None:
        if _is_basic_index(index):
            self.copy_into(self._basic_view(a, index), value)
            return
        offsets = self._offsets(a, index)
        if offsets.size:
            values = self._values_for(offsets, value, a.dtype)
            _cuda.scatter(offsets.size, a.address, self.from_numpy(offsets).address, values.address,
                          dtype_code(a.dtype), self.stream)

    def index_add(self, a, index, values) -> None:
        """a[index] += values, repeated indices adding up (np.add.at)."""
        offsets = self._offsets(a, index)
        if offsets.size:
            values = self._values_for(offsets, values, a.dtype)
            _cuda.scatter_add(offsets.size, a.address, self.from_numpy(offsets).address, values.address,
                              dtype_code(a.dtype), self.stream)

    def _along_axis_offsets(self, a, indices, axis: int) -> np.ndarray:
        grid = self._offsets(a, ())
        return np.take_along_axis(grid, self.to_numpy(indices), axis)

    def take_along_axis(self, a, indices, axis: int):
        offsets = self._along_axis_offsets(a, indices, axis)
        out = CudaArray.allocate(offsets.shape, a.dtype)
        if offsets.size:
            _cuda.gather(offsets.size, a.address, self.from_numpy(offsets).address, out.address,
                         dtype_code(a.dtype), self.stream)
        return out

    def put_along_axis(self, a, indices, values, axis: int) -> None:
        offsets = self._along_axis_offsets(a, indices, axis)
        if offsets.size:
            values = self._values_for(offsets, values, a.dtype)
            _cuda.scatter(offsets.size, a.address, self.from_numpy(offsets).address, values.address,
                          dtype_code(a.dtype), self.stream)
