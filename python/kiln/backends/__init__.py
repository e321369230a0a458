"""The one table: where data lives decides which backend runs it.

    device  -> backend that runs its data     array type -> device
    "cpu"   -> "cpu" (kiln._C; "numpy" when kiln._C is not built)     numpy.ndarray -> "cpu"
    names: "numpy" (alias "reference": the NumPy reference path), "cpu", and any registered one

Every kernel call (``kiln.ops``) and every Tensor primitive finds its backend here from the
device of its inputs; inputs on two devices are an error that names both. The reference
backend lives on the "cpu" device beside the native one and is chosen explicitly:
``backend="numpy"`` on a kernel call, or ``kiln.use_backend("numpy")`` for a block (gradient
checks in float64). ``KILN_BACKEND`` sets the process default for the "cpu" device.

Adding a backend is one module with one ``Backend`` subclass (see ``base.py``) and one
``register(...)`` call; a test registers a toy one (tests/test_backends.py).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from . import cudnn as cudnn, mps as mps, reference  # cudnn, mps: torch.backends' flags and queries; nothing registered
from .base import KERNELS, PRIMITIVES, Backend

_by_name: dict[str, Backend] = {}
_default_for_device: dict[str, Backend] = {}
_device_of_type: dict[type, str] = {np.ndarray: "cpu"}
_ALIASES = {"reference": "numpy"}
# Every name and alias -> its backend: get's and select's one lookup (kept by register/unregister).
_named: dict[str, Backend] = {}


def _index_names() -> None:
    _named.clear()
    _named.update(_by_name)
    _named.update({alias: _by_name[name] for alias, name in _ALIASES.items() if name in _by_name})


def register(backend: Backend, *, default: bool = True) -> Backend:
    """Add ``backend`` to the table; with ``default``, it runs its device's data from now on."""
    for name in PRIMITIVES + KERNELS:
        if not callable(getattr(backend, name, None)):
            raise TypeError(f"backend {backend.name!r} does not implement {name!r}")
    _by_name[backend.name] = backend
    _index_names()
    _device_of_type[backend.array_type] = backend.device
    if default or backend.device not in _default_for_device:
        _default_for_device[backend.device] = backend
    return backend


def unregister(name: str) -> None:
    """Remove a backend (and its device, if nothing else runs it)."""
    backend = _by_name.pop(name)
    _index_names()
    if _default_for_device.get(backend.device) is backend:
        others = [b for b in _by_name.values() if b.device == backend.device]
        if others:
            _default_for_device[backend.device] = others[-1]
        else:
            del _default_for_device[backend.device]
            for t in [t for t, d in _device_of_type.items() if d == backend.device]:
                del _device_of_type[t]


def get(name: str) -> Backend:
    """The backend called ``name`` ("numpy", "reference", "cpu", ...)."""
    backend = _named.get(name) if isinstance(name, str) else None
    if backend is None:
        known = ", ".join(sorted(_by_name))
        if name == "cpu":
            raise RuntimeError(f"kiln's native module is not built ({_cpu_import_error}); use backend='numpy'")
        if name == "cuda":
            raise RuntimeError("kiln was built without CUDA; use backend='cpu' or 'numpy'")
        raise ValueError(f"unknown backend {name!r}; expected one of {known}")
    return backend


def names() -> list[str]:
    """Registered backends, the native ones first."""
    return sorted(_by_name, key=lambda n: (n == "numpy", n))


def devices() -> list[str]:
    return list(_default_for_device)


def is_array(x) -> bool:
    """True for an ndarray or a device array of a registered backend."""
    return isinstance(x, np.ndarray) or type(x) in _device_of_type


def device_of(x) -> str | None:
    """The device an array lives on ("cpu" for ndarrays); None for anything else."""
    device = _device_of_type.get(type(x))
    if device is None and isinstance(x, np.ndarray):
        return "cpu"
    return device


def for_device(device: str) -> Backend:
    """The backend that runs ``device``'s data now (``use_backend`` honoured)."""
    override = _override.backend
    if override is not None and override.device == device:
        return override
    backend = _default_for_device.get(device)
    if backend is None:
        raise RuntimeError(f"no backend for device {device!r}; kiln has {', '.join(devices())}")
    return backend


def select(name, *arrays) -> Backend:
    """The backend ``name`` names (a name, or a Backend a caller already chose), or (None)
    the one that runs the arrays' device.

    None entries and plain Python values are skipped; arrays on two devices raise
    RuntimeError naming both.
    """
    # This runs for every op, where a small product's whole call is a few microseconds: the
    # common cases (a name, plain ndarrays, no use_backend block open) take the fewest steps.
    if name is not None:
        if type(name) is str:
            backend = _named.get(name)
            if backend is not None:
                return backend
        return name if isinstance(name, Backend) else get(name)
    for a in arrays:  # nothing but ndarrays and None (nearly every call) takes one test each
        if a is not None and type(a) is not _ndarray:
            device = _device_of(arrays)
            break
    else:
        device = "cpu"
    if _open_overrides:  # for_device's body, inline
        override = _override.backend
        if override is not None and override.device == device:
            return override
    backend = _default_for_device.get(device)
    return backend if backend is not None else for_device(device)


def _device_of(arrays) -> str:
    """The one device of the arrays among ``arrays`` ("cpu" when there are none)."""
    device = None
    for a in arrays:
        d = "cpu" if type(a) is np.ndarray else _device_of_type.get(type(a))
        if d is None or d == device:
            continue
        if device is not None:
            raise RuntimeError(f"expected all arrays on one device, but found at least two: {device} and {d}")
        device = d
    return device or "cpu"


def reference_for(backend: Backend) -> Backend:
    """The reference backend when ``backend`` shares its device (float64 in-place updates), else itself."""
    ref = _by_name["numpy"]
    return ref if ref.device == backend.device else backend


class _Override(threading.local):
    backend: "Backend | None" = None  # a class default: a missing thread-local attribute costs a raise


_override = _Override()
_ndarray = np.ndarray
# use_backend blocks open in any thread: while there are none, select skips the thread-local.
_open_overrides = 0
_open_overrides_lock = threading.Lock()


@contextlib.contextmanager
def use_backend(name: str):
    """Run the Tensor and layer code inside the block on backend ``name`` ("numpy", "cpu")
    for data on that backend's device.

    ``with kiln.use_backend("numpy"):`` runs a model on the NumPy reference path, in float64
    if its parameters are float64 (``model.double()``): how gradients are checked.
    """
    global _open_overrides
    backend = get(name)
    with _open_overrides_lock:
        _open_overrides += 1
    previous = _override.backend
    _override.backend = backend
    try:
        yield
    finally:
        _override.backend = previous
        with _open_overrides_lock:
            _open_overrides -= 1


def current(device: str = "cpu") -> str:
    """The name of the backend that runs ``device``'s data now."""
    return for_device(device).name


def available_backends() -> list[str]:
    """Backends usable in this process, fastest first."""
    return names()


def default_backend() -> str:
    """The backend that runs "cpu" data when none is chosen: ``KILN_BACKEND`` or the fastest."""
    return _default_for_device["cpu"].name


def current_backend() -> str:
    """The backend that runs "cpu" data now: ``use_backend``'s, else the default."""
    return current("cpu")


def set_num_threads(n: int) -> None:
    """Threads the CPU kernels use from now on; 0 returns to OpenMP's default (``OMP_NUM_THREADS``)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    get("cpu").set_num_threads(n)


def get_num_threads() -> int:
    """Threads the CPU kernels use."""
    return get("cpu").get_num_threads() if "cpu" in _by_name else 1


def cpu_isa() -> str:
    """Instruction set of the CPU kernels in use: "avx512", "avx2" or "portable" (see ``KILN_CPU``)."""
    return get("cpu").isa()


register(reference.ReferenceBackend())
try:
    from . import cpu
except ImportError as error:  # a source checkout without a build: the NumPy path still works
    _cpu_import_error = error
else:
    _cpu_import_error = None
    register(cpu.CpuBackend())
try:
    from . import cuda
except ImportError:  # kiln built without CUDA (KILN_CUDA=OFF): no cuda device
    cuda = None
if cuda is not None and cuda.available():
    register(cuda.get_backend(), default=True)
_chosen = os.environ.get("KILN_BACKEND")
if _chosen:
    _default_for_device["cpu"] = get(_chosen)

__all__ = ["Backend", "PRIMITIVES", "KERNELS", "register", "unregister", "get", "names", "devices", "select",
           "for_device", "device_of", "is_array", "use_backend", "current", "reference_for", "available_backends",
           "default_backend", "current_backend", "set_num_threads", "get_num_threads", "cpu_isa"]
