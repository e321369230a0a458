"""kiln: a compiled numerical core for neural networks.

C++ kernels (GEMM, conv2d, LSTM, Adam, and the small kernels a training step
needs) under a thin Python layer. ``kiln.ops`` is the kernel API, one function
per kernel with ``backend="numpy" | "cpu"``; ``kiln.reference`` is the NumPy
reference path every kernel is tested against.
"""

from . import ops, reference
from ._backend import available_backends, cpu_isa, default_backend, get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "ops",
    "reference",
    "available_backends",
    "default_backend",
    "cpu_isa",
    "get_num_threads",
    "set_num_threads",
]
