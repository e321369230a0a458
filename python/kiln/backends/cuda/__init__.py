"""The cuda backend: kiln's CUDA kernels over device memory (kiln._cuda).

One folder, composed of one class per concern: ``DeviceArrays`` (primitives.py: the array
primitives with NumPy's semantics) and the kernel families, each a mixin over CudaArrays
with reference.py's signatures: ``LinearAlgebra`` (linalg.py: matmul, linear, conv2d, the
LSTM: the GEMM engine's users), ``NeuralKernels`` (nn_kernels.py: pooling, embedding, CSR
products, losses, activations, softmax, random fills), ``OptimizerKernels`` (Adam).
Switches in flags.py (``kiln.backends.cuda.matmul.allow_tf32``). It runs on an NVIDIA GPU
(KILN_CUDA=ON) or on kiln's emulated device (KILN_CUDA=EMULATE), where every kernel runs on
the CPU, thread by thread.
"""

from __future__ import annotations

from .arrays import CudaArray, from_dlpack_capsule
from .flags import matmul
from .linalg import LinearAlgebra
from .native import _cuda
from .nn_kernels import NeuralKernels
from .optimizer_kernels import OptimizerKernels
from .primitives import DeviceArrays
# attention
from .attention import AttentionKernels


# normalization
from .norm_kernels import NormKernels


# conv/pool breadth
from .conv_pool import ConvPoolKernels


# gru
from .gru import GruKernels


class CudaBackend(LinearAlgebra, NeuralKernels, OptimizerKernels, DeviceArrays,
                  AttentionKernels, NormKernels, ConvPoolKernels, GruKernels):
    """Every primitive and kernel on the cuda device."""

    name = "cuda"
    description = "kiln's CUDA kernels (emulated device)" if _cuda.emulated else "kiln's CUDA kernels"
    float32_only = True  # the kernels compute in float32 (the primitives take every dtype)
    native_nodes: dict = {}
    native_ops: dict = {}


def available() -> bool:
    """True when a device is there (a GPU, or the emulated device of an EMULATE build)."""
    return _cuda.device_count() > 0


_backend = None


def get_backend() -> CudaBackend:
    global _backend
    if _backend is None:
        _backend = CudaBackend()
    return _backend


__all__ = ["matmul", "CudaArray", "CudaBackend", "available", "from_dlpack_capsule", "get_backend"]
