"""The cuda backend: kiln's CUDA kernels over device memory (kiln._cuda).

One folder, composed of one class per concern: ``DeviceArrays`` (primitives.py: the array
primitives with NumPy's semantics), and the kernel families, each a mixin over CudaArrays
with reference.py's signatures. It runs on an NVIDIA GPU (KILN_CUDA=ON) or on kiln's
emulated device (KILN_CUDA=EMULATE), where every kernel runs on the CPU, thread by thread.
"""

from __future__ import annotations

from ..base import KERNELS, PRIMITIVES
from .arrays import CudaArray, from_dlpack_capsule
from .native import _cuda
from .optimizer_kernels import OptimizerKernels
from .primitives import DeviceArrays

_families = [OptimizerKernels]
try:  # the kernel families still being written elsewhere join when they exist
    from .linalg import LinearAlgebra
    _families.insert(0, LinearAlgebra)
except ImportError:
    pass
try:
    from .nn_kernels import NeuralKernels
    _families.insert(0, NeuralKernels)
except ImportError:
    pass


class MatmulSettings:
    """As ``torch.backends.cuda.matmul``: ``allow_tf32`` lets float32 GEMMs (matmul, linear,
    conv2d, LSTM) use the tensor cores' TF32 inputs (10-bit mantissas, ~1e-3 relative error);
    off by default, as in PyTorch."""

    allow_tf32: bool = False


matmul = MatmulSettings()


class CudaBackend(*_families, DeviceArrays):
    """Every primitive and kernel on the cuda device."""

    name = "cuda"
    description = "kiln's CUDA kernels (emulated device)" if _cuda.emulated else "kiln's CUDA kernels"
    float32_only = True  # the kernels compute in float32 (the primitives take every dtype)
    native_nodes: dict = {}
    native_ops: dict = {}


def available() -> bool:
    """True when a device is there (a GPU, or the emulated device of an EMULATE build)."""
    return _cuda.device_count() > 0


def missing() -> list:
    """The primitives and kernels CudaBackend does not implement yet."""
    return [n for n in PRIMITIVES + KERNELS if not callable(getattr(CudaBackend, n, None))]


_backend = None


def get_backend() -> CudaBackend:
    global _backend
    if _backend is None:
        _backend = CudaBackend()
    return _backend


__all__ = ["matmul", "CudaArray", "CudaBackend", "available", "from_dlpack_capsule", "get_backend", "missing"]
