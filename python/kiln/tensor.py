"""kiln.Tensor: a NumPy array with autograd, in the PyTorch idiom.

A Tensor wraps an ndarray (float32 by default; float64 for gradient checks on the
NumPy backend; int64/bool for indices and masks). Operations that need a kernel
(matmul, convolution, LSTM, losses, activations) go through ``kiln.ops`` on the
current backend; cheap elementwise arithmetic is NumPy's. Each differentiable
operation records how to compute its gradient (see ``kiln.autograd``).
"""

from __future__ import annotations

import numbers
from collections import namedtuple
from typing import Iterable

import numpy as np

from . import ops
from ._backend import current_backend
from .autograd import _creation_counter, is_grad_enabled, record, run_backward

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _to_dtype(dtype):
    if dtype is None:
        return None
    return np.dtype(dtype)


def _default_array(data, dtype=None) -> np.ndarray:
    """As torch.tensor: Python floats become float32, ints int64, ndarrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data._array
    if dtype is not None:
        return np.array(data, dtype=_to_dtype(dtype))
    if isinstance(data, np.ndarray):
        return data.copy()
    arr = np.array(data)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back down to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _array_of(x, like: np.ndarray | None = None) -> np.ndarray:
    """The ndarray behind a Tensor, or a Python/NumPy scalar/array as one (weakly typed)."""
    if isinstance(x, Tensor):
        return x._array
    if isinstance(x, numbers.Number) and like is not None and like.dtype.kind == "f":
        return np.asarray(x, dtype=like.dtype)
    return np.asarray(x)


def _float_dtype(*arrays) -> np.dtype:
    dtypes = [a.dtype for a in arrays]
    return np.result_type(*dtypes) if any(d.kind == "f" for d in dtypes) else np.dtype(np.float32)


class Tensor:
    """An n-dimensional array with reverse-mode autograd (see module docstring)."""

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators
    # Slots: a training step makes a dozen Tensors, and slot stores are cheaper than a dict's
    # (__dict__ stays for anything else a caller attaches).
    __slots__ = ("_array", "requires_grad", "grad", "_parents", "_backward", "_seq", "_grad_buffer",
                 "_grad_tensor", "__dict__", "__weakref__")

    def __init__(self, data=None, dtype=None, requires_grad: bool = False):
        self._array = _default_array([] if data is None else data, dtype)
        self.requires_grad = False
        self.grad: Tensor | None = None
        self._parents: tuple = ()
        self._backward = None
        self._seq = 0  # creation number on the tape (autograd.record); 0 for leaves
        self._grad_buffer: np.ndarray | None = None  # where an optimizer wants this leaf's grad
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray) -> "Tensor":
        t = cls.__new__(cls)
        t._array = array
        t.requires_grad = False
        t.grad = None
        t._parents = ()
        t._backward = None
        t._grad_buffer = None
        t._seq = 0
        return t

    @classmethod
    def _recorded(cls, array: np.ndarray, parents: tuple, backward) -> "Tensor":
        """``autograd.record`` for a layer that has checked ``autograd.wants_grad`` itself."""
        t = cls.__new__(cls)
        t._array = array
        t.requires_grad = True
        t.grad = None
        t._parents = parents
        t._backward = backward
        t._grad_buffer = None
        t._seq = next(_creation_counter)
        return t

    # ---- basic properties -------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self._array.shape

    @property
    def dtype(self):
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def data(self) -> "Tensor":
        """The same memory as a Tensor outside the graph (as torch's ``.data``)."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value) -> None:
        new = _array_of(value)
        if new.shape == self._array.shape:
            self._array[...] = new  # keep the storage: it may be a view into a flat buffer
        else:
            self._array = np.array(new, dtype=self._array.dtype)

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self._array.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self._array, separator=", ", precision=4, prefix="tensor(")
        return f"tensor({body}{grad})"

    # ---- conversion ---------------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The ndarray itself (shared memory)."""
        return self._array

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def item(self):
        a = self._array
        if a.size != 1:
            raise ValueError(f"item(): the tensor has {a.size} elements, not 1")
        return a.item()

    def tolist(self):
        return self._array.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._array.size != 1:
            raise RuntimeError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self._array.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._array)

    def clone(self) -> "Tensor":
        return record(self._array.copy(), (self,), lambda g: (g,))

    def contiguous(self) -> "Tensor":
        return self

    def to(self, *args, **kwargs) -> "Tensor":
        """``.to("cpu")``, ``.to(dtype)`` or ``.to(device, dtype)``: kiln tensors live on the CPU."""
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if a is None:
                continue
            if isinstance(a, str) or getattr(a, "type", None) is not None and not isinstance(a, type):
                device = str(a).split(":")[0]
                if device != "cpu":
                    raise RuntimeError(f"kiln was built without {device} support; tensors live on the CPU")
            else:
                dtype = a
        return self.type(dtype) if dtype is not None else self

    def cpu(self) -> "Tensor":
        return self

    def type(self, dtype) -> "Tensor":
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        src = self.dtype
        if dtype.kind == "f" and src.kind == "f":
            return record(self._array.astype(dtype), (self,), lambda g: (g.astype(src),))
        return Tensor._wrap(self._array.astype(dtype))

    def float(self) -> "Tensor":
        return self.type(np.float32)

    def double(self) -> "Tensor":
        return self.type(np.float64)

    def long(self) -> "Tensor":
        return self.type(np.int64)

    def int(self) -> "Tensor":
        return self.type(np.int32)

    def bool(self) -> "Tensor":
        return self.type(np.bool_)

    # ---- autograd -----------------------------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self._array.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, not {self.dtype}")
        if not self.is_leaf:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Compute d self / d leaf for every leaf that requires grad, summed into ``leaf.grad``."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no parameter it depends on has requires_grad=True)")
        if gradient is None:
            if self._array.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar; this tensor has shape "
                                   f"{self.shape} (pass gradient=, or reduce with .sum() or .mean())")
            grad = None  # ones, made by whichever walker takes the graph
        else:
            grad = np.array(_array_of(gradient), dtype=self.dtype).reshape(self.shape)
        run_backward(self, grad, retain_graph=retain_graph)

    def _accumulate_grad(self, g: np.ndarray) -> None:
        if self.grad is None:
            if self._grad_buffer is not None:
                np.copyto(self._grad_buffer, g)
                self.grad = Tensor._wrap(self._grad_buffer)
            else:
                self.grad = Tensor._wrap(np.array(g, dtype=self.dtype))
        else:
            self.grad._array += g

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad is not supported by kiln's tape")

    # ---- in-place (outside the graph) -------------------------------------------------------

    def _check_inplace(self) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("in-place change of a tensor that requires grad; "
                               "wrap it in `with kiln.no_grad():`")

    def zero_(self) -> "Tensor":
        self._check_inplace()
        self._array[...] = 0
        return self

    def fill_(self, value) -> "Tensor":
        self._check_inplace()
        self._array[...] = value
        return self

    def copy_(self, src) -> "Tensor":
        self._check_inplace()
        self._array[...] = _array_of(src)
        return self

    def normal_(self, mean=0.0, std=1.0) -> "Tensor":
        from .random import generator

        self._check_inplace()
        self._array[...] = generator().normal(mean, std, self.shape)
        return self

    def uniform_(self, a=0.0, b=1.0) -> "Tensor":
        from .random import generator

        self._check_inplace()
        self._array[...] = generator().uniform(a, b, self.shape)
        return self

    def _inplace(self, other, op) -> "Tensor":
        self._check_inplace()
        op(self._array, _array_of(other, self._array), out=self._array, casting="unsafe")
        return self

    def __iadd__(self, other):
        return self._inplace(other, np.add)

    def __isub__(self, other):
        return self._inplace(other, np.subtract)

    def __imul__(self, other):
        return self._inplace(other, np.multiply)

    def __itruediv__(self, other):
        return self._inplace(other, np.true_divide)

    def add_(self, other, alpha=1.0):
        return self._inplace(_array_of(other) * alpha, np.add)

    def sub_(self, other, alpha=1.0):
        return self._inplace(_array_of(other) * alpha, np.subtract)

    def mul_(self, other):
        return self._inplace(other, np.multiply)

    def clamp_(self, min=None, max=None):  # noqa: A002
        self._check_inplace()
        np.clip(self._array, min, max, out=self._array)
        return self

    # ---- arithmetic ---------------------------------------------------------------------------

    def _binary(self, other, forward, grad_self, grad_other) -> "Tensor":
        a = self._array
        other_t = other if isinstance(other, Tensor) else None
        b = _array_of(other, a)
        out = forward(a, b)
        if other_t is None:
            return record(out, (self,), lambda g: (_unbroadcast(grad_self(g, a, b, out), a.shape),))
        return record(out, (self, other_t), lambda g: (
            _unbroadcast(grad_self(g, a, b, out), a.shape) if self.requires_grad else None,
            _unbroadcast(grad_other(g, a, b, out), b.shape) if other_t.requires_grad else None))

    def __add__(self, other):
        return self._binary(other, np.add, lambda g, a, b, o: g, lambda g, a, b, o: g)

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, np.subtract, lambda g, a, b, o: g, lambda g, a, b, o: -g)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        return self._binary(other, np.multiply, lambda g, a, b, o: g * b, lambda g, a, b, o: g * a)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._binary(other, np.true_divide, lambda g, a, b, o: g / b,
                            lambda g, a, b, o: -g * a / (b * b))

    def __rtruediv__(self, other):
        return self.reciprocal() * other

    def __pow__(self, other):
        return self._binary(other, np.power, lambda g, a, b, o: g * b * np.power(a, b - 1),
                            lambda g, a, b, o: g * o * np.log(np.where(a > 0, a, 1)))

    def __rpow__(self, other):
        return (self * float(np.log(other))).exp()

    def __neg__(self):
        return record(-self._array, (self,), lambda g: (-g,))

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(Tensor._wrap(_array_of(other)), self)

    def reciprocal(self):
        out = 1 / self._array
        return record(out, (self,), lambda g: (-g * out * out,))

    def exp(self):
        out = np.exp(self._array)
        return record(out, (self,), lambda g: (g * out,))

    def log(self):
        a = self._array
        return record(np.log(a), (self,), lambda g: (g / a,))

    def sqrt(self):
        out = np.sqrt(self._array)
        return record(out, (self,), lambda g: (g * 0.5 / out,))

    def abs(self):
        a = self._array
        return record(np.abs(a), (self,), lambda g: (g * np.sign(a),))

    def pow(self, exponent):
        return self ** exponent

    def clamp(self, min=None, max=None):  # noqa: A002
        a = self._array
        out = np.clip(a, min, max)
        inside = np.ones(a.shape, bool)
        if min is not None:
            inside &= a >= min
        if max is not None:
            inside &= a <= max
        return record(out, (self,), lambda g: (g * inside,))

    clip = clamp

    def relu(self):
        from . import functional

        return functional.relu(self)

    def sigmoid(self):
        from . import functional

        return functional.sigmoid(self)

    def tanh(self):
        from . import functional

        return functional.tanh(self)

    def softmax(self, dim=-1):
        from . import functional

        return functional.softmax(self, dim)

    def log_softmax(self, dim=-1):
        from . import functional

        return functional.log_softmax(self, dim)

    # ---- comparisons (no gradient) ------------------------------------------------------------

    def _compare(self, other, op):
        return Tensor._wrap(op(self._array, _array_of(other, self._array)))

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__

    def eq(self, other):
        return self == other

    def __invert__(self):
        return Tensor._wrap(~self._array)

    def __and__(self, other):
        return Tensor._wrap(self._array & _array_of(other))

    def __or__(self, other):
        return Tensor._wrap(self._array | _array_of(other))

    def round(self):
        return Tensor._wrap(np.round(self._array))

    # ---- reductions ---------------------------------------------------------------------------

    def sum(self, dim=None, keepdim: bool = False, axis=None):
        dim = axis if dim is None else dim
        a = self._array
        out = np.sum(a, axis=dim, keepdims=keepdim)

        def backward(g):
            if dim is not None and not keepdim:
                g = np.expand_dims(g, dim)
            return (np.broadcast_to(g, a.shape).astype(a.dtype, copy=True),)

        return record(np.asarray(out, dtype=_float_dtype(a) if a.dtype.kind == "b" else a.dtype),
                      (self,), backward)

    def mean(self, dim=None, keepdim: bool = False, axis=None):
        dim = axis if dim is None else dim
        a = self._array
        count = a.size if dim is None else np.prod([a.shape[d] for d in np.atleast_1d(dim)])
        return self.sum(dim, keepdim) * (1.0 / max(int(count), 1)) if a.dtype.kind == "f" \
            else Tensor._wrap(np.asarray(np.mean(a, axis=dim, keepdims=keepdim), np.float32))

    def _extremum(self, dim, keepdim, arg, pick):
        a = self._array
        if dim is None:
            idx = int(arg(a.reshape(-1)))
            mask = np.zeros(a.size, a.dtype)
            mask[idx] = 1
            return record(np.asarray(a.reshape(-1)[idx]), (self,),
                          lambda g: ((mask * g).reshape(a.shape),))
        indices = np.expand_dims(arg(a, axis=dim), dim)
        values = np.take_along_axis(a, indices, dim)

        def backward(g):
            grad = np.zeros_like(a)
            np.put_along_axis(grad, indices, g if keepdim else np.expand_dims(g, dim), dim)
            return (grad,)

        out = record(values if keepdim else np.squeeze(values, dim), (self,), backward)
        return MaxResult(out, Tensor._wrap(indices if keepdim else np.squeeze(indices, dim)))

    def max(self, dim=None, keepdim: bool = False):
        """Largest element; with ``dim``, (values, indices) along it, as torch."""
        return self._extremum(dim, keepdim, np.argmax, np.max)

    def min(self, dim=None, keepdim: bool = False):
        return self._extremum(dim, keepdim, np.argmin, np.min)

    def argmax(self, dim=None, keepdim: bool = False):
        return argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(self._array)))
        return Tensor._wrap(np.argmin(self._array, axis=dim, keepdims=keepdim))

    # ---- shape --------------------------------------------------------------------------------

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        a = self._array
        return record(a.reshape(shape), (self,), lambda g: (g.reshape(a.shape),))

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        nd = max(self.ndim, 1)
        start, end = start_dim % nd, end_dim % nd
        shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return self.reshape(shape) if self.ndim else self.reshape(1)

    def unsqueeze(self, dim: int):
        return self.reshape(np.expand_dims(self._array, dim).shape)

    def squeeze(self, dim=None):
        a = self._array
        if dim is None:
            return self.reshape(tuple(n for n in a.shape if n != 1))
        return self.reshape(np.squeeze(a, dim).shape) if a.shape[dim] == 1 else self

    def permute(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        inverse = np.argsort(dims)
        return record(np.transpose(self._array, dims), (self,), lambda g: (np.transpose(g, inverse),))

    def transpose(self, dim0: int, dim1: int):
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def t(self):
        return self.transpose(0, 1) if self.ndim == 2 else self

    def expand(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        a = self._array
        shape = tuple(a.shape[i - (len(shape) - a.ndim)] if n == -1 else n for i, n in enumerate(shape))
        return record(np.broadcast_to(a, shape), (self,), lambda g: (_unbroadcast(g, a.shape),))

    def repeat(self, *reps):
        reps = tuple(reps[0]) if len(reps) == 1 and isinstance(reps[0], (tuple, list)) else reps
        a = self._array
        out = np.tile(a, reps)

        def backward(g):
            lead = len(reps) - a.ndim
            shape = (1,) * lead + a.shape
            split = []
            for r, n in zip(reps, shape):
                split += [r, n]
            return (g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(a.shape),)

        return record(out, (self,), backward)

    def __getitem__(self, index):
        index = _index_of(index)
        a = self._array

        def backward(g):
            grad = np.zeros_like(a)
            np.add.at(grad, index, g)
            return (grad,)

        return record(a[index], (self,), backward)

    def __setitem__(self, index, value):
        self._check_inplace()
        self._array[_index_of(index)] = _array_of(value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def _index_of(index):
    if isinstance(index, Tensor):
        return index._array
    if isinstance(index, tuple):
        return tuple(i._array if isinstance(i, Tensor) else i for i in index)
    return index


# ---- construction ---------------------------------------------------------------------------


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new Tensor copying ``data`` (floats become float32, ints int64, as torch.tensor)."""
    t = Tensor(data, dtype=dtype, requires_grad=requires_grad)
    return t.to(device) if device is not None else t


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


as_tensor = tensor


def _shape_of(shape) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape_of(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape_of(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value, dtype=np.float32) -> Tensor:
    return Tensor(np.full(tuple(shape), fill_value, dtype=dtype))


def zeros_like(t: Tensor, dtype=None) -> Tensor:
    return Tensor(np.zeros(t.shape, dtype=dtype or t.dtype))


def ones_like(t: Tensor, dtype=None) -> Tensor:
    return Tensor(np.ones(t.shape, dtype=dtype or t.dtype))


def arange(*args, dtype=None) -> Tensor:
    arr = np.arange(*args)
    return Tensor(arr, dtype=dtype or (np.int64 if arr.dtype.kind in "iu" else np.float32))


def randn(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    from .random import generator

    return Tensor(generator().standard_normal(_shape_of(shape)).astype(dtype), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    from .random import generator

    return Tensor(generator().random(_shape_of(shape)).astype(dtype), requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64) -> Tensor:
    from .random import generator

    if high is None:
        low, high = 0, low
    return Tensor(generator().integers(low, high, size=tuple(size)).astype(dtype))


def randperm(n: int) -> Tensor:
    from .random import generator

    return Tensor(generator().permutation(n).astype(np.int64))


# ---- functions over tensors -----------------------------------------------------------------


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))


def matmul(a, b) -> Tensor:
    """a @ b with NumPy's rules (1-D operands promoted, batch axes broadcast), on kiln's GEMM."""
    a, b = _as_tensor(a), _as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension")
    if a.ndim == 1:
        return matmul(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).squeeze(-1)
    A, B = a._array, b._array
    if a.ndim > 3 or b.ndim > 3:  # fold leading axes into one batch axis
        lead = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        a3 = a.expand(*lead, *A.shape[-2:]).reshape(-1, *A.shape[-2:])
        b3 = b.expand(*lead, *B.shape[-2:]).reshape(-1, *B.shape[-2:])
        return matmul(a3, b3).reshape(*lead, A.shape[-2], B.shape[-1])
    backend = current_backend()
    out = ops.matmul(A, B, backend=backend)

    def backward(g):
        ga = gb = None
        if a.requires_grad:  # dA = g @ B^T, summed over a broadcast batch
            ga = _unbroadcast(ops.matmul(g, B, transpose_b=True, backend=backend), A.shape)
        if b.requires_grad:  # dB = A^T @ g
            if A.ndim == 3 and B.ndim == 2:  # B shared by the batch: fold the batch into rows
                gb = ops.matmul(A.reshape(-1, A.shape[-1]), g.reshape(-1, g.shape[-1]), transpose_a=True,
                                backend=backend)
            else:
                gb = _unbroadcast(ops.matmul(A, g, transpose_a=True, backend=backend), B.shape)
        return (_cast(ga, A.dtype), _cast(gb, B.dtype))

    return record(out.astype(_float_dtype(A, B), copy=False), (a, b), backward)


def _cast(x, dtype):
    return None if x is None else x.astype(dtype, copy=False)


def cat(tensors: Iterable[Tensor], dim: int = 0) -> Tensor:
    tensors = [_as_tensor(t) for t in tensors]
    arrays = [t._array for t in tensors]
    out = np.concatenate(arrays, axis=dim)
    bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
    return record(out, tensors, lambda g: tuple(np.split(g, bounds, axis=dim)))


concatenate = cat


def stack(tensors: Iterable[Tensor], dim: int = 0) -> Tensor:
    tensors = [_as_tensor(t) for t in tensors]
    out = np.stack([t._array for t in tensors], axis=dim)
    return record(out, tensors, lambda g: tuple(np.moveaxis(g, dim, 0)))


def argmax(t, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened), or along ``dim``; an int64 tensor."""
    a = _as_tensor(t)._array
    if dim is None:
        return Tensor._wrap(np.asarray(np.argmax(a), dtype=np.int64))
    return Tensor._wrap(np.argmax(a, axis=dim, keepdims=keepdim).astype(np.int64))


def where(condition, x, y) -> Tensor:
    cond = _array_of(condition).astype(bool)
    x, y = _as_tensor(x), _as_tensor(y)
    out = np.where(cond, x._array, y._array)
    return record(out, (x, y), lambda g: (_unbroadcast(np.where(cond, g, 0), x.shape),
                                          _unbroadcast(np.where(cond, 0, g), y.shape)))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)
