"""kiln.Tensor: an array on a device, with the slots reverse-mode autograd needs.

The array is a NumPy ndarray on "cpu", or a device array of another backend; the Tensor
never computes with it itself. Arithmetic, reductions, shapes and indexing (with their
gradients) are the functions of ``kiln.tensor_ops``, attached there as methods; kernels
(matmul, convolution, LSTM, losses) are in ``kiln.nn.functional``. Both reach a kernel or
a primitive through the backend table (``kiln.backends``), chosen by where the array lives.

Autograd state is one slot, ``_node``: None (no gradient), a ``Leaf`` (a leaf that requires
grad; its gradient lives there), or the tape node that produced this tensor.
"""

from __future__ import annotations

import math

import numpy as np

from . import autograd, backends, versions


class device:
    """Where a tensor's data lives, as ``torch.device``: ``kiln.device("cpu")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec, index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu', got {type(spec).__name__}")
        kind, _, number = spec.partition(":")
        self.type = kind
        self.index = int(number) if number else index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def host_array(data, dtype=None) -> np.ndarray:
    """As torch.tensor: Python floats become float32, ints int64, ndarrays keep their dtype (copied)."""
    if isinstance(data, Tensor):
        data = data.numpy(force=True)
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray):
        return data.copy()
    arr = np.array(data)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autograd (see module docstring)."""

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators
    # Slots: a training step makes dozens of Tensors; __dict__ stays for what callers attach.
    __slots__ = ("_array", "_node", "__dict__", "__weakref__")

    def __init__(self, data=None, dtype=None, requires_grad: bool = False):
        self._array = host_array([] if data is None else data, dtype)
        self._node = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array) -> "Tensor":
        """A Tensor over ``array`` (no copy), outside the graph."""
        t = cls.__new__(cls)
        t._array = array
        t._node = None
        return t

    @classmethod
    def _recorded(cls, array, node) -> "Tensor":
        """The output of a recorded op: ``node`` (or ``node.output(k)``) computes its gradient."""
        t = cls.__new__(cls)
        t._array = array
        t._node = node
        return t

    # ---- what it is --------------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def device(self) -> device:
        return device(backends.device_of(self._array) or "cpu")

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self._array.shape)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(force=True), separator=", ", precision=4, prefix="tensor(")
        where = "" if self.device.type == "cpu" else f", device='{self.device}'"
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{where}{grad})"

    # ---- to Python and NumPy -----------------------------------------------------------------

    def numpy(self, force: bool = False) -> np.ndarray:
        """The ndarray itself (shared memory) for a CPU tensor; with ``force``, a host copy of any."""
        if isinstance(self._array, (np.ndarray, np.generic)):  # NumPy gives 0-D results as scalars
            return self._array
        if not force:
            raise TypeError(f"can't convert {self.device} tensor to numpy: use .cpu() (or .numpy(force=True)) "
                            "to copy it to host memory first")
        return backends.for_device(self.device.type).to_numpy(self._array)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy(force=True)
        return a if dtype is None else a.astype(dtype)

    def item(self):
        a = self._array
        if type(a) is np.ndarray and a.size == 1:
            return a.item()
        if self.numel() != 1:
            raise ValueError(f"item(): the tensor has {self.numel()} elements, not 1")
        return self.numpy(force=True).item()

    def tolist(self):
        return self.numpy(force=True).tolist()

    def __float__(self):
        return float(self.item())

    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``), as torch's; others as repr."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    # ---- autograd ------------------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._node is not None

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    @property
    def is_leaf(self) -> bool:
        return self._node is None or isinstance(self._node, autograd.Leaf)

    @property
    def grad(self) -> "Tensor | None":
        """d loss / d self after ``backward()`` (leaves that require grad), else None."""
        node = self._node
        if isinstance(node, autograd.Leaf) and node.grad is not None:
            return Tensor._wrap(node.grad)
        return None

    @grad.setter
    def grad(self, value) -> None:
        node = self._node
        if not isinstance(node, autograd.Leaf):
            if value is None:
                return
            raise RuntimeError("only leaf tensors that require grad hold a gradient in kiln")
        node.grad = None if value is None else (value._array if isinstance(value, Tensor) else value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; use detach()")
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, not {self.dtype}")
        if bool(requires_grad) != self.requires_grad:
            self._node = autograd.Leaf() if requires_grad else None
        return self

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Compute d self / d leaf for every leaf that requires grad, summed into ``leaf.grad``."""
        autograd.backward(self, gradient, retain_graph)

    def retain_grad(self) -> None:
        raise NotImplementedError("retain_grad is not supported by kiln's tape")

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._array)

    @property
    def _version(self) -> int:
        """How many in-place writes kiln has made to this tensor's storage (kiln.versions)."""
        return versions.version(self._array)

    def _check_inplace(self) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("in-place change of a tensor that requires grad; wrap it in `with kiln.no_grad():`")

    @property
    def data(self) -> "Tensor":
        """The same memory as a Tensor outside the graph (as torch's ``.data``)."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value) -> None:
        new = value._array if isinstance(value, Tensor) else np.asarray(value)
        if tuple(new.shape) == self.shape:
            backends.select(None, self._array).copy_into(self._array, new)  # keep the storage: a flat-buffer view
            versions.bump(self._array)
        else:
            self._array = backends.select(None, new).astype(new, self.dtype)
