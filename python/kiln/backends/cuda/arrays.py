"""CudaArray: an n-dimensional view of device memory, the cuda backend's array type.

A CudaArray is (owner, address, shape, strides, dtype), as an ndarray is over host memory:
``owner`` keeps the memory alive (a ``kiln._cuda.DeviceBuffer`` from the caching allocator,
or what a DLPack producer handed over), ``address`` is the first element's device address,
``strides`` are in bytes (0 where broadcast). Views (slices, reshapes of contiguous arrays,
transposes, broadcasts) share the owner; nothing outside the backend reads the memory: there
is no ``__array__``, so NumPy cannot turn a device array into a host one by accident.

Interchange: ``__cuda_array_interface__`` (version 3) and ``__dlpack__`` /
``__dlpack_device__`` (DLPack 1.x versioned capsules, the legacy unversioned one for
consumers that ask for no version).
"""

from __future__ import annotations

import math

import numpy as np

from .native import _cuda

SUPPORTED_DTYPES = tuple(np.dtype(name) for name in _cuda.DTYPES)
_CODES = {np.dtype(name): code for name, code in _cuda.DTYPES.items()}
_DLPACK_CUDA = 2
_DLPACK_TYPE_CODES = {"b": 6, "u": 1, "i": 0, "f": 2}


def dtype_code(dtype) -> int:
    """kiln._cuda's code for a NumPy dtype; TypeError for one the device does not hold."""
    code = _CODES.get(np.dtype(dtype))
    if code is None:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise TypeError(f"the cuda device holds arrays of {names}; not {np.dtype(dtype)}")
    return code


def c_strides(shape, itemsize: int) -> tuple:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class CudaArray:
    """A strided view of device memory (see the module docstring)."""

    __slots__ = ("address", "dtype", "owner", "read_only", "shape", "strides")

    def __init__(self, owner, address: int, shape: tuple, strides: tuple, dtype, read_only: bool = False):
        self.owner = owner
        self.address = address
        self.shape = tuple(shape)
        self.strides = tuple(strides)
        self.dtype = np.dtype(dtype)
        self.read_only = read_only

    @classmethod
    def allocate(cls, shape, dtype) -> CudaArray:
        dtype = np.dtype(dtype)
        dtype_code(dtype)
        shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"negative dimensions are not allowed: {shape}")
        buffer = _cuda.DeviceBuffer(math.prod(shape) * dtype.itemsize)
        return cls(buffer, buffer.ptr, shape, c_strides(shape, dtype.itemsize), dtype)

    @property
    def ptr(self) -> int:
        return self.address

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def c_contiguous(self) -> bool:
        step = self.dtype.itemsize
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n == 0:
                return True
            if n != 1 and s != step:
                return False
            step *= n
        return True

    def element_strides(self) -> list:
        return [s // self.dtype.itemsize for s in self.strides]

    def view(self, address: int, shape, strides) -> CudaArray:
        return CudaArray(self.owner, address, shape, strides, self.dtype, self.read_only)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"CudaArray(shape={self.shape}, dtype={self.dtype})"

    # ---- interchange ----------------------------------------------------------------------

    @property
    def __cuda_array_interface__(self) -> dict:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.address if self.size else 0, self.read_only),
            "strides": None if self.c_contiguous else self.strides,
            "version": 3,
            # Work is enqueued on the legacy default stream, which orders with every other.
            "stream": 1,
        }

    def __dlpack_device__(self) -> tuple:
        return (_DLPACK_CUDA, 0)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule viewing this array (versioned when the consumer's max_version is 1.x).

        ``stream``: the consumer's stream; kiln's work runs on the legacy default stream,
        which every stream waits for, so no extra synchronisation is needed (-1 means none).
        ``copy=True`` exports a copy; ``dl_device`` must be this device.
        """
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"__dlpack__: a cuda array cannot be exported to device {dl_device}")
        if stream is not None and not isinstance(stream, int):
            raise TypeError("__dlpack__: stream must be an int or None")
        source = self
        if copy:
            from . import get_backend
            source = get_backend().copy(self)
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        code = _DLPACK_TYPE_CODES[source.dtype.kind]
        return _cuda.to_dlpack(source, source.address, list(source.shape), source.element_strides(), code,
                               source.dtype.itemsize * 8, _DLPACK_CUDA, 0, versioned)


def from_dlpack_capsule(capsule) -> CudaArray:
    """A CudaArray viewing the tensor a DLPack capsule of a cuda device holds."""
    address, shape, strides, code, bits, device_type, _device_id, read_only, keeper = _cuda.from_dlpack(capsule)
    if device_type != _DLPACK_CUDA:
        raise BufferError(f"from_dlpack: the tensor is on DLPack device type {device_type}, not cuda")
    kinds = {v: k for k, v in _DLPACK_TYPE_CODES.items()}
    if code not in kinds:
        raise TypeError(f"from_dlpack: DLPack type code {code} is not one the cuda device holds")
    dtype = np.dtype("?") if kinds[code] == "b" else np.dtype(f"{kinds[code]}{bits // 8}")
    dtype_code(dtype)
    return CudaArray(keeper, address, tuple(shape), tuple(s * dtype.itemsize for s in strides), dtype, read_only)
