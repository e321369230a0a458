"""Saving and loading arrays: the safetensors format, written atomically, read with checks.

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length, a JSON header mapping each name to its dtype, shape and byte range, then the
raw little-endian bytes. No pickle: loading a file never runs code. kiln adds a CRC-32
of the data to the header's ``__metadata__``, so a damaged file is refused, not loaded.

A save writes a temporary file beside the target, flushes it to disk and renames it
over the target: an interrupted save leaves the previous file as it was.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class CorruptFileError(ValueError):
    """A file that is not a complete, intact kiln/safetensors file."""


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_arrays(arrays: dict, path, metadata: dict | None = None) -> None:
    """Write named arrays to ``path`` in the safetensors format, atomically."""
    header, chunks, offset = {}, [], 0
    for name, value in arrays.items():
        arr = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value)
        if arr.dtype not in _CODES:
            raise TypeError(f"save: {name!r} has dtype {arr.dtype}, which the format cannot hold")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _CODES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta["kiln.crc32"] = f"{crc:08x}"
    header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for chunk in chunks:
            f.write(chunk)

    atomic_write(path, write)


def load_arrays(path) -> tuple["OrderedDict[str, np.ndarray]", dict]:
    """Read a file written by ``save_arrays`` (or any safetensors file): (arrays, metadata)."""
    path = Path(path)
    raw = path.read_bytes()

    def bad(why: str):
        return CorruptFileError(f"{path}: not a valid kiln weights file ({why}); it may be truncated or damaged")

    if len(raw) < 8:
        raise bad("shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise bad(f"header of {n} bytes in a file of {len(raw)}")
    try:
        header = json.loads(raw[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad(f"unreadable header: {error}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + n:]
    arrays, end = OrderedDict(), 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1].get("data_offsets", [0])[0]
                              if isinstance(kv[1], dict) else 0):
        try:
            dtype = np.dtype(_DTYPES[entry["dtype"]])
            shape = tuple(int(s) for s in entry["shape"])
            begin, stop = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise bad(f"bad entry for {name!r}") from None
        if begin != end or stop < begin or stop > len(data) or any(s < 0 for s in shape) \
                or stop - begin != int(np.prod(shape)) * dtype.itemsize:
            raise bad(f"byte range of {name!r} does not match its shape or the file")
        arrays[name] = np.frombuffer(data[begin:stop], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
        end = stop
    if end != len(data):
        raise bad(f"{len(data) - end} bytes past the last array")
    expected = metadata.get("kiln.crc32")
    if expected is not None and f"{zlib.crc32(data):08x}" != expected:
        raise bad("checksum mismatch")
    order = {name: i for i, name in enumerate(header)}
    return OrderedDict(sorted(arrays.items(), key=lambda kv: order[kv[0]])), metadata


def save(obj: dict, path) -> None:
    """Save a state dict (name -> Tensor or ndarray), as ``torch.save(model.state_dict(), path)``."""
    if not isinstance(obj, dict):
        raise TypeError("kiln.save stores a dict of arrays (e.g. model.state_dict()); "
                        f"got {type(obj).__name__} (kiln never pickles objects)")
    save_arrays(obj, path)


def load(path, map_location=None, weights_only=True) -> "OrderedDict[str, np.ndarray]":
    """Load a dict saved by ``kiln.save``: name -> ndarray, ready for ``load_state_dict``."""
    return load_arrays(path)[0]
