"""kiln.accelerator, as ``torch.accelerator``: the device beside the CPU, when kiln has one.

kiln's one accelerator is its cuda device (a GPU, or the emulated device of a
``KILN_CUDA=EMULATE`` build). A build without CUDA has none: ``current_accelerator()`` is
None and ``is_available()`` False, so ``device = torch.accelerator.current_accelerator() or
"cpu"`` picks the right place either way.
"""

from __future__ import annotations

from . import cuda
from .tensor import device as _device


def current_accelerator(check_available: bool = False) -> "_device | None":
    """``kiln.device("cuda")`` when kiln was built with CUDA (and, with ``check_available``,
    the device is there now), else None. The index is None, as torch's."""
    if cuda.is_built() and (not check_available or is_available()):
        return _device("cuda")
    return None


def is_available() -> bool:
    """True when the accelerator can run tensors now."""
    return cuda.is_available()


def device_count() -> int:
    """How many accelerator devices kiln can use (it drives one at most)."""
    return min(cuda.device_count(), 1) if is_available() else 0


def current_device_index() -> int:
    """The index of the accelerator device in use: 0 (kiln drives one)."""
    return 0


current_device_idx = current_device_index


def synchronize(device=None) -> None:
    """Wait for every kernel queued on the accelerator (nothing to wait for without one)."""
    if is_available():
        cuda.synchronize()


__all__ = ["current_accelerator", "is_available", "device_count", "current_device_index", "synchronize"]
