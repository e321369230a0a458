"""Array arguments of ``kiln.ops``: dtype checks, conversions, outputs.

Inputs may be any float32/float64 array-like (float64 is converted for the native
backends; the NumPy backend keeps it) or a device array of a registered backend (checked
by its metadata only: shape and dtype). Integer, float16, object, string and None
arguments are refused with TypeError. Outputs (``out=``) are never copied: a
float32, writeable array of the right shape, or a ValueError/TypeError.
"""

from __future__ import annotations

import math

import numpy as np

from .._args import MAX_ELEMENTS as _MAX_ELEMENTS
from ..backends import is_array

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(fn: str, name: str, x) -> np.ndarray:
    """``x`` as an ndarray of float32 or float64 (no copy when it already is one)."""
    if x is None:
        raise TypeError(f"{fn}: {name} must be a float32 or float64 array, got None")
    arr = x if is_array(x) else _asarray(fn, name, x)
    if arr.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{fn}: {name} must be a float32 or float64 array, got dtype {arr.dtype}")
    return arr


def _asarray(fn: str, name: str, x) -> np.ndarray:
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{fn}: {name} could not be read as an array: {error}") from None


def optional_float_array(fn: str, name: str, x) -> np.ndarray | None:
    return None if x is None else float_array(fn, name, x)


def index_array(fn: str, name: str, x) -> np.ndarray:
    """Integer indices as a C-contiguous int64 array; floats, bools and None are refused."""
    if x is None:
        raise TypeError(f"{fn}: {name} must be an integer array, got None")
    arr = x if is_array(x) else _asarray(fn, name, x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must be an integer array, got dtype {arr.dtype}")
    if math.prod(arr.shape) > _MAX_ELEMENTS:  # before the copy below could take gigabytes
        raise ValueError(f"{fn}: {name} of shape {tuple(arr.shape)} has more than kiln's limit of "
                         f"{_MAX_ELEMENTS} elements per operand")
    return np.asarray(arr, dtype=np.int64, order="C") if isinstance(arr, np.ndarray) else arr


def output(fn: str, out, shape: tuple[int, ...]):
    """``out`` checked as a float32 output of ``shape`` (None stays None: the backend allocates)."""
    if out is None:
        return None
    if not is_array(out):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != np.float32:
        raise TypeError(f"{fn}: out must be float32, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{fn}: out must have shape {tuple(shape)}, got {out.shape}")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only; kiln writes outputs in place and will not copy them")
    return out


def inplace_array(fn: str, name: str, x, shape: tuple[int, ...] | None, *, native: bool) -> np.ndarray:
    """An array a kernel updates in place, never converted or copied: an array of
    float32 (float32 or float64 on the NumPy path), writeable, of ``shape`` when given,
    and C-contiguous on the native path."""
    if not is_array(x):
        raise TypeError(f"{fn}: {name} is updated in place, so it must be a numpy.ndarray, "
                        f"got {type(x).__name__}")
    allowed = (np.dtype(np.float32),) if native else _FLOAT_DTYPES
    if x.dtype not in allowed:
        raise TypeError(f"{fn}: {name} must be {' or '.join(map(str, allowed))} "
                        f"(it is updated in place, never converted), got dtype {x.dtype}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)}, got {x.shape}")
    if not isinstance(x, np.ndarray):
        return x  # device arrays are always writeable and contiguous
    if not x.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only; kiln updates it in place and will not copy it")
    if native and not x.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous: it is updated in place and "
                         "a copy would not reach the caller")
    return x


def contiguous_output(fn: str, out, shape: tuple[int, ...]):
    """As ``output``, and C-contiguous (for kernels over flat buffers)."""
    out = output(fn, out, shape)
    if isinstance(out, np.ndarray) and not out.flags.c_contiguous:
        raise ValueError(f"{fn}: out must be C-contiguous; kiln writes outputs in place and will not copy them")
    return out


def disjoint(fn: str, arrays: dict) -> None:
    """ValueError when two of the named arrays (None skipped) may share memory."""
    named = [(name, a) for name, a in arrays.items() if isinstance(a, np.ndarray)]
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1:]:
            if np.may_share_memory(a, b):
                raise ValueError(f"{fn}: {name_a} shares memory with {name_b}; pass separate arrays")
