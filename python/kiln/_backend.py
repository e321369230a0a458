"""Which backends exist in this process, and the native module behind "cpu"."""

from __future__ import annotations

import contextlib
import os
import threading

try:
    from . import _C
except ImportError as error:  # a source checkout without a build: the NumPy path still works
    _C = None
    _import_error = error
else:
    _import_error = None

BACKENDS = ("numpy", "cpu", "cuda")


def available_backends() -> list[str]:
    """Backends usable in this process, fastest first."""
    return (["cpu"] if _C is not None else []) + ["numpy"]


def default_backend() -> str:
    """The backend ``kiln.ops`` uses when none is named: ``KILN_BACKEND`` or the fastest.

    ``KILN_BACKEND`` is read once, at the first call: every layer asks for the backend on
    every call, and an environment lookup each time was a measurable part of a small step.
    """
    global _default
    if _default is None:
        chosen = os.environ.get("KILN_BACKEND")
        _default = resolve(chosen) if chosen else available_backends()[0]
    return _default


_default: str | None = None


class _Selected(threading.local):
    # A class default, not getattr(..., None): a missing thread-local attribute raises and
    # catches an AttributeError inside getattr, ~0.6 us on every layer call.
    backend: "str | None" = None


_selected = _Selected()


@contextlib.contextmanager
def use_backend(backend: str):
    """Run the Tensor and layer code inside the block on ``backend`` ("numpy", "cpu").

    ``with kiln.use_backend("numpy"):`` runs a model on the NumPy reference path, in
    float64 if its parameters are float64 (``model.double()``): how gradients are checked.
    """
    previous = _selected.backend
    _selected.backend = resolve(backend)
    try:
        yield
    finally:
        _selected.backend = previous


def current_backend() -> str:
    """The backend Tensor operations use now: ``use_backend``'s, else the default."""
    return _selected.backend or _default or default_backend()


def resolve(backend: str | None) -> str:
    """Validate a ``backend=`` argument; ``None`` means the default."""
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "cpu" and _C is None:
        raise RuntimeError(f"kiln's native module is not built ({_import_error}); use backend='numpy'")
    if backend == "cuda":
        raise RuntimeError("kiln was built without CUDA; use backend='cpu' or 'numpy'")
    return backend


def native():
    """The compiled module kiln._C (raises if it is not built)."""
    resolve("cpu")
    return _C


def set_num_threads(n: int) -> None:
    """Threads the CPU kernels use from now on; 0 returns to OpenMP's default (``OMP_NUM_THREADS``)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    native().set_num_threads(n)


def get_num_threads() -> int:
    """Threads the CPU kernels use."""
    return native().get_num_threads() if _C is not None else 1


def cpu_isa() -> str:
    """Instruction set of the CPU kernels in use: "avx512", "avx2" or "portable" (see ``KILN_CPU``)."""
    return native().cpu_isa()
