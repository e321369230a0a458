"""kiln._cuda, the device backend's native module (built with KILN_CUDA=ON or EMULATE)."""

from __future__ import annotations

from ... import _cuda

__all__ = ["_cuda"]
