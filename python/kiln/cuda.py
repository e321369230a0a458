"""kiln.cuda: the CUDA device, as ``torch.cuda``.

The device is an NVIDIA GPU when kiln was built with ``KILN_CUDA=ON``, or kiln's emulated
device with ``KILN_CUDA=EMULATE`` (every kernel runs on the CPU, thread by thread: correct,
slow; ``is_emulated()`` tells which). With ``KILN_CUDA=OFF`` (the default build) there is
none and ``is_available()`` is False.
"""

from __future__ import annotations

from . import backends

try:
    from . import _cuda
except ImportError:
    _cuda = None


def is_available() -> bool:
    """True when kiln has a cuda device: a GPU, or the emulated device."""
    return _cuda is not None and "cuda" in backends.names()


def is_emulated() -> bool:
    """True when the cuda device is kiln's emulated one (times mean nothing there)."""
    return _cuda is not None and bool(_cuda.emulated)


def is_built() -> bool:
    """True when kiln was built with CUDA (KILN_CUDA=ON or EMULATE)."""
    return _cuda is not None


def _require() -> None:
    if _cuda is None:
        raise RuntimeError("kiln was built without CUDA: rebuild with KILN_CUDA=ON (a GPU) or "
                           "KILN_CUDA=EMULATE (the emulated device), e.g. KILN_CUDA=EMULATE pip install .")


def device_count() -> int:
    return _cuda.device_count() if _cuda is not None else 0


def get_device_name(device: int = 0) -> str:
    _require()
    return _cuda.device_name(int(device))


def synchronize() -> None:
    """Wait until every kernel kiln enqueued has finished (raises for an earlier failure)."""
    _require()
    _cuda.synchronize()


def memory_allocated() -> int:
    """Bytes of device memory held by kiln's arrays now (the caching allocator's rounded sizes)."""
    return _cuda.memory_stats()["allocated"] if _cuda is not None else 0


def max_memory_allocated() -> int:
    """The peak of memory_allocated() since the start or reset_peak_memory_stats()."""
    return _cuda.memory_stats()["max_allocated"] if _cuda is not None else 0


def memory_reserved() -> int:
    """Bytes held from the driver: allocated plus cached for reuse."""
    return _cuda.memory_stats()["reserved"] if _cuda is not None else 0


def reset_peak_memory_stats() -> None:
    if _cuda is not None:
        _cuda.reset_peak_memory_stats()


def empty_cache() -> None:
    """Give the cached (unused) device memory back to the driver."""
    if _cuda is not None:
        _cuda.empty_cache()


__all__ = [
    "device_count",
    "empty_cache",
    "get_device_name",
    "is_available",
    "is_built",
    "is_emulated",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "synchronize",
]
