"""Saving and loading arrays: the safetensors format, written atomically, read with checks.

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length, a JSON header mapping each name to its dtype, shape and byte range, then the
raw little-endian bytes. No pickle: loading a file never runs code. kiln adds two
CRC-32s to the header's ``__metadata__``: ``kiln.crc32`` of the data and
``kiln.crc32.header`` of the header itself (its canonical JSON, without that one
entry), so a damaged file is refused, not loaded. Files written before the header
checksum existed carry only ``kiln.crc32`` and are read with their data checked; plain
safetensors files, with neither, are read unchecked. The checksums catch damage, not
tampering: anyone who edits a file can recompute them.

Reading follows the safetensors rules, and every violation is a ``CorruptFileError``:
the header length within the file and at most 100 MiB; the header UTF-8 JSON, an
object, without duplicate names or NaN/Infinity; each entry exactly ``dtype`` (one of
``_DTYPES``), ``shape`` (a list of at most 32 non-negative ints) and ``data_offsets``
(two ints); byte ranges exactly the size the shape and dtype need (computed with
Python ints, so nothing wraps; no shape beyond what NumPy can hold, even an empty one),
contiguous, and covering the data to the last byte. Nothing is allocated beyond one copy
of the data the file holds, and nothing is written: ``decode_arrays`` reads from memory.

A save writes a uniquely named temporary file beside the target (``.NAME.<random>.tmp``,
created with O_EXCL, so it never follows a planted link), flushes it to disk and renames
it over the target: a save interrupted at any point, SIGKILL included, leaves the previous
file as it was. While it writes, the save holds an ``flock`` on its temporary file; the
next save of the same target removes temporaries whose writer has died (their lock is
free), so killed saves leave nothing behind for long, and concurrent saves never remove
each other's files.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import sys
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # no flock (Windows): saves stay atomic, stale temporaries are not collected
    fcntl = None

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own bound
_MAX_DIMS = 32
_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_DATA_CRC = "kiln.crc32"
_HEADER_CRC = "kiln.crc32.header"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class CorruptFileError(ValueError):
    """A file that is not a complete, intact kiln/safetensors file."""


# ---- writing ----------------------------------------------------------------------------------

def _temporary_prefix(path: Path) -> str:
    """``.NAME.``: a temporary's name is this, 16 hex digits, ``.tmp`` (within NAME_MAX)."""
    name = path.name
    if len(os.fsencode(name)) > 200:
        name = zlib.crc32(os.fsencode(name)).to_bytes(4, "big").hex() + ".long-name"
    return f".{name}."


def _is_temporary_of(name: str, prefix: str) -> bool:
    middle = name[len(prefix):-len(".tmp")]
    return name.startswith(prefix) and name.endswith(".tmp") and len(middle) == 16 and \
        all(c in "0123456789abcdef" for c in middle)


def _names_same_file(path: Path, fd: int) -> bool:
    try:
        named, held = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, locked temporary file beside ``path``: (fd, its path)."""
    prefix = _temporary_prefix(path)
    for _ in range(100):
        tmp = path.parent / f"{prefix}{secrets.token_hex(8)}.tmp"
        try:  # O_EXCL: never an existing file, never through a link planted at the name
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A cleaner may have taken the unlocked file for a dead save's and removed it.
        if _names_same_file(tmp, fd):
            return fd, tmp
        os.close(fd)
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _remove_if_abandoned(tmp: Path) -> None:
    """Remove a temporary file whose writer is gone (its lock is free); leave a live save's."""
    try:
        fd = os.open(tmp, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a save is writing it
            return
        if _names_same_file(tmp, fd):  # still the file locked, not a name reused since
            os.unlink(tmp)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(path) -> None:
    """Remove the temporary files that killed saves of ``path`` left beside it."""
    path = Path(path)
    if fcntl is None:
        return
    prefix = _temporary_prefix(path)
    try:
        with os.scandir(path.parent) as entries:
            stale = [entry.name for entry in entries if _is_temporary_of(entry.name, prefix)]
    except OSError:
        return
    for name in stale:
        _remove_if_abandoned(path.parent / name)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a new temporary file beside ``path``, then rename it over ``path``.

    The target is never truncated or removed: readers see the old file or the new one.
    An existing target's permissions are kept; a new file gets the usual 0o666 & ~umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = _create_temporary(path)
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        except (OSError, AttributeError):
            pass
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # while the lock is held: no cleaner takes the file before
        _sync_folder(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def encode_arrays(arrays: dict, metadata: dict | None = None) -> list:
    """Named arrays in the safetensors format, as a list of byte strings to write in order."""
    header, chunks, offset = {}, [], 0
    for name, value in arrays.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"save: array names must be strings other than '__metadata__', got {name!r}")
        # force: a tensor on a device is copied to host memory (torch.save takes cuda tensors too)
        arr = np.ascontiguousarray(value.numpy(force=True) if hasattr(value, "numpy") else value)
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
    meta[_DATA_CRC] = f"{crc:08x}"
    meta.pop(_HEADER_CRC, None)
    header["__metadata__"] = meta
    meta[_HEADER_CRC] = f"{_header_crc(header):08x}"
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return [len(blob).to_bytes(8, "little"), blob] + chunks


def _header_crc(header: dict) -> int:
    """CRC-32 of the header's canonical JSON, leaving out the header checksum itself."""
    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != _HEADER_CRC}
    canonical = {**header, "__metadata__": meta}
    return zlib.crc32(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())


def save_arrays(arrays: dict, path, metadata: dict | None = None) -> None:
    """Write named arrays to ``path`` in the safetensors format, atomically."""
    chunks = encode_arrays(arrays, metadata)

    def write(f):
        for chunk in chunks:
            f.write(chunk)

    atomic_write(path, write)


# ---- reading ----------------------------------------------------------------------------------

class _DuplicateName(ValueError):
    pass


def _object_without_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateName(f"the name {key!r} appears twice")
        out[key] = value
    return out


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, what: str):
    """Strict JSON from bytes (UTF-8, no duplicate names, no NaN/Infinity); ValueError if not."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_object_without_duplicates,
                          parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, the duplicates, huge ints
        raise ValueError(f"{what} is not valid JSON: {error}") from None


def _is_int(value) -> bool:
    return type(value) is int  # JSON ints: not bools, not floats


def decode_arrays(raw, source="<bytes>") -> tuple["OrderedDict[str, np.ndarray]", dict]:
    """Read safetensors bytes (``encode_arrays``, or any safetensors file): (arrays, metadata).

    Nothing touches the disk. Every array is a fresh, writeable copy in native byte order.
    """
    raw = bytes(raw)

    def bad(why: str):
        return CorruptFileError(f"{source}: not a valid kiln weights file ({why}); it may be truncated or damaged")

    if len(raw) < 8:
        raise bad("shorter than its 8-byte header length")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise bad(f"a header of {n} bytes in a file of {len(raw)}")
    if n > _MAX_HEADER:
        raise bad(f"a header of {n} bytes, more than the {_MAX_HEADER} allowed")
    try:
        header = parse_json(raw[8:8 + n], "the header")
    except ValueError as error:
        raise bad(str(error)) from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ is not an object of strings")
    data_size = len(raw) - 8 - n
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise bad(f"the entry for {name!r} is not an object of dtype, shape and data_offsets")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise bad(f"{name!r} has dtype {code!r}; known: {', '.join(_DTYPES)}")
        if not isinstance(shape, list) or len(shape) > _MAX_DIMS or \
                not all(_is_int(s) and s >= 0 for s in shape):
            raise bad(f"{name!r} has shape {shape!r}, not a list of at most {_MAX_DIMS} non-negative ints")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(v) for v in offsets):
            raise bad(f"{name!r} has data_offsets {offsets!r}, not two ints")
        begin, stop = offsets
        dtype = np.dtype(_DTYPES[code])
        size = math.prod(shape) * dtype.itemsize  # Python ints: no wraparound
        if math.prod(s for s in shape if s) * dtype.itemsize > sys.maxsize:  # NumPy's bound, even when empty
            raise bad(f"{name!r} has shape {tuple(shape)}, too large for any array")
        if not 0 <= begin <= stop <= data_size:
            raise bad(f"{name!r} has the byte range [{begin}, {stop}), outside the {data_size} bytes of data")
        if stop - begin != size:
            raise bad(f"{name!r} has {stop - begin} bytes, its shape {tuple(shape)} of {code} needs {size}")
        entries.append((begin, stop, name, dtype, tuple(shape)))
    if _HEADER_CRC in metadata and f"{_header_crc({**header, '__metadata__': metadata}):08x}" != metadata[_HEADER_CRC]:
        raise bad("header checksum mismatch")
    end = 0
    for begin, stop, name, _, _ in sorted(entries, key=lambda e: (e[0], e[1])):
        if begin != end:
            raise bad(f"{name!r} starts at byte {begin}, " + ("overlapping the array before it" if begin < end
                                                              else f"leaving a gap after byte {end}"))
        end = stop
    if end != data_size:
        raise bad(f"{data_size - end} bytes past the last array")
    data = memoryview(raw)[8 + n:]
    if _DATA_CRC in metadata and f"{zlib.crc32(data):08x}" != metadata[_DATA_CRC]:
        raise bad("checksum mismatch")
    arrays = OrderedDict()
    for begin, stop, name, dtype, shape in entries:  # header order
        if dtype == np.bool_:  # any non-zero byte is True, as safetensors' readers take it
            arr = np.frombuffer(data[begin:stop], dtype=np.uint8) != 0
        else:
            arr = np.frombuffer(data[begin:stop], dtype=dtype.newbyteorder("<")).astype(dtype)
        arrays[name] = arr.reshape(shape)
    return arrays, metadata


def load_arrays(path) -> tuple["OrderedDict[str, np.ndarray]", dict]:
    """Read a file written by ``save_arrays`` (or any safetensors file): (arrays, metadata)."""
    return decode_arrays(Path(path).read_bytes(), path)


def save(obj: dict, path) -> None:
    """Save a state dict (name -> Tensor or ndarray), as ``torch.save(model.state_dict(), path)``."""
    if not isinstance(obj, dict):
        raise TypeError("kiln.save stores a dict of arrays (e.g. model.state_dict()); "
                        f"got {type(obj).__name__} (kiln never pickles objects)")
    save_arrays(obj, path)


def load(path, map_location=None, weights_only=True) -> "OrderedDict[str, np.ndarray]":
    """Load a dict saved by ``kiln.save``: name -> ndarray, ready for ``load_state_dict``."""
    return load_arrays(path)[0]
