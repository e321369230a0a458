"""kiln: a compiled numerical core for neural networks.

C++ kernels (GEMM, conv2d, LSTM, Adam, and the small kernels a training step
needs) under a thin Python layer:

- ``kiln.ops``: the kernel API, one function per kernel, ``backend="numpy" | "cpu"``;
- ``kiln.reference``: the NumPy reference path every kernel is tested against;
- ``kiln.Tensor``, ``kiln.nn``, ``kiln.optim``: models in the PyTorch idiom;
- ``kiln.keras``: the same layers in the Keras idiom (``Sequential``, ``compile``, ``fit``).
"""

from . import ops, reference
from ._backend import (available_backends, cpu_isa, current_backend, default_backend, get_num_threads,
                       set_num_threads, use_backend)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .io import load, save
from .random import manual_seed
from .dtypes import bool_, double, float, float16, float32, float64, int32, int64, long
from .tensor import (Tensor, arange, argmax, as_tensor, cat, concatenate, from_numpy, full, is_tensor, matmul,
                     ones, ones_like, rand, randint, randn, randperm, stack, tensor, where, zeros, zeros_like)
from ._functions import abs, clamp, exp, flatten, log, max, mean, sqrt, sum
from .functional import gelu, log_softmax, relu, sigmoid, softmax, tanh
from . import functional, nn, optim, profiler, utils  # noqa: E402  (nn and optim build on the names above)

__version__ = "0.1.0"

__all__ = [
    "ops", "reference", "nn", "optim", "utils", "functional", "profiler",
    "available_backends", "default_backend", "current_backend", "use_backend", "cpu_isa",
    "get_num_threads", "set_num_threads", "save", "load",
    "Tensor", "tensor", "from_numpy", "as_tensor", "zeros", "ones", "full", "zeros_like", "ones_like",
    "arange", "randn", "rand", "randint", "randperm", "manual_seed",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "matmul", "cat", "concatenate", "stack", "argmax", "where", "sum", "mean", "max", "exp", "log", "sqrt",
    "abs", "clamp", "flatten", "is_tensor", "relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax",
    "float32", "float64", "float16", "int32", "int64", "long", "bool_", "float", "double",
]
